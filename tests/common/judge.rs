//! The property of `tfoscope judge`: for the same captures, `analyze` and then `judge` give
//! the targets `analyze` gives alone, from a plain output and from a partitioned dataset, in
//! one bucket or several.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::tables::read_parquet;
use super::{tempdir, tfoscope};

fn run(args: &[&str]) -> String {
    let out = tfoscope().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tfoscope {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The targets sorted by vantage and target: buckets hand them on in another order.
fn sorted(df: &DataFrame) -> DataFrame {
    df.sort(["vantage", "target", "server_ip", "server_port"], SortMultipleOptions::default()).unwrap()
}

fn assert_same(what: &str, expected: &DataFrame, found: &DataFrame) {
    if expected.equals_missing(found) {
        return;
    }
    let mut differing = Vec::new();
    for column in expected.get_column_names() {
        let (a, b) = (expected.column(column).unwrap(), found.column(column));
        if b.is_err() || !a.as_materialized_series().equals_missing(b.unwrap().as_materialized_series()) {
            differing.push(column.to_string());
        }
    }
    panic!(
        "{what}: judge's targets differ from analyze's ({} rows vs {}) in {differing:?}:\n{expected}\n{found}",
        expected.height(),
        found.height()
    );
}

/// The vantages the files table marks as controls.
fn control_vantages(out: &Path) -> Vec<String> {
    let files = read_parquet(&out.join("files.parquet"));
    let vantage = files.column("vantage").unwrap().str().unwrap().clone();
    let role = files.column("role").unwrap().str().unwrap().clone();
    let mut names: Vec<String> = vantage
        .iter()
        .zip(role.iter())
        .filter(|(_, r)| *r == Some("control"))
        .filter_map(|(v, _)| v.map(str::to_string))
        .collect();
    names.dedup();
    names
}

/// Runs analyze on `captures` with `args` (controls, server captures, ...), then judge on its
/// output and on a partitioned dataset of the same, and asserts the targets are analyze's:
/// the same rows in the same order from the plain output, the same rows in 1 and 3 buckets
/// from the dataset (written in row groups of two, read on three threads), the same OONI
/// measurements. Returns the number of targets.
pub fn assert_judge_equals_analyze(name: &str, args: &[&str], captures: &[PathBuf]) -> usize {
    let dir = tempdir(&format!("judge-{name}"));
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let captures: Vec<String> = captures.iter().map(|c| path(c)).collect();
    let analyzed = dir.join("analyzed");
    let ooni = path(&dir.join("analyze.jsonl"));
    let mut a = vec!["analyze", "-o", analyzed.to_str().unwrap(), "--ooni", &ooni];
    a.extend(args);
    a.extend(captures.iter().map(String::as_str));
    run(&a);
    let expected = read_parquet(&analyzed.join("targets.parquet"));

    // An expectations file is judge's input too; controls are in the tables.
    let expect: Vec<&str> = match args.iter().position(|a| *a == "--expect") {
        Some(i) => vec!["--expect", args[i + 1]],
        None => vec![],
    };
    let judged = dir.join("judged");
    let judged_ooni = path(&dir.join("judge.jsonl"));
    let mut j = vec!["judge", "-o", judged.to_str().unwrap(), "--ooni", &judged_ooni];
    j.extend(&expect);
    j.push(analyzed.to_str().unwrap());
    run(&j);
    assert_same(&format!("{name}, plain output"), &expected, &read_parquet(&judged.join("targets.parquet")));
    let expected_rates = read_parquet(&analyzed.join("rates.parquet"));
    assert!(expected_rates.height() > 0, "{name}: analyze wrote rates");
    assert_same(&format!("{name}, rates"), &expected_rates, &read_parquet(&judged.join("rates.parquet")));
    let (a, b) = (std::fs::read_to_string(&ooni).unwrap(), std::fs::read_to_string(&judged_ooni).unwrap());
    assert!(a == b, "{name}: judge's OONI measurements differ from analyze's:\n{a}\n{b}");

    // Row groups of two connections: judge decodes a part's row groups on several threads and
    // takes their rows in order (and analyze's verdicts do not depend on its batches).
    let dataset = dir.join("dataset");
    let mut a =
        vec!["analyze", "--partition-by", "vantage", "--batch-rows", "2", "-o", dataset.to_str().unwrap()];
    a.extend(args);
    a.extend(captures.iter().map(String::as_str));
    run(&a);
    let controls = control_vantages(&analyzed);
    let expected = sorted(&expected);
    for buckets in ["1", "3"] {
        let out = dir.join(format!("buckets-{buckets}"));
        let mut j = vec!["judge", "--buckets", buckets, "--threads", "3", "-o", out.to_str().unwrap()];
        j.extend(&expect);
        for c in &controls {
            j.extend(["--control", c.as_str()]);
        }
        j.push(dataset.to_str().unwrap());
        run(&j);
        let found = sorted(&read_parquet(&out.join("targets.parquet")));
        let mut left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        left.sort();
        assert_eq!(left, ["rates.parquet", "targets.parquet"], "the bucket files are removed");
        assert_same(&format!("{name}, dataset in {buckets} buckets"), &expected, &found);
        // The rates, gathered bucket by bucket, are those of one pass.
        assert_same(
            &format!("{name}, rates in {buckets} buckets"),
            &expected_rates,
            &read_parquet(&out.join("rates.parquet")),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    expected.height()
}
