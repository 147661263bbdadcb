//! python/ (tfoscope-dask): analyze run by Dask, one task per vantage on a LocalCluster of
//! worker processes, then judge once, gives the targets of one analyze run (the Python test
//! python/tests/test_local_cluster.py); and its command line does the same end to end.

use crate::common;

use std::process::Command;

use common::*;

fn python(args: &[&str], work: &std::path::Path) -> std::process::Output {
    let src = root().join("python/src");
    let tests = root().join("python/tests");
    Command::new("python3")
        .args(args)
        .env("PYTHONPATH", format!("{}:{}", src.display(), tests.display()))
        .env("TFOSCOPE", env!("CARGO_BIN_EXE_tfoscope"))
        .env("TESTDATA", testdata())
        .env("WORK", work)
        .output()
        .unwrap()
}

#[test]
fn dask_local_cluster_equals_one_analyze_run() {
    if !python_with("dask, distributed, fsspec, polars") {
        return;
    }
    let work = tempdir("dask");
    let out = python(&[root().join("python/tests/test_local_cluster.py").to_str().unwrap()], &work);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("ok"), "{stdout}\n{stderr}");

    // The command line: two workers, every testdata capture a vantage, judged with a control.
    let dataset = work.join("cli-dataset");
    let judged = work.join("cli-judged");
    let mut args = vec![
        "-m".to_string(),
        "tfoscope_dask".into(),
        "--local-workers".into(),
        "2".into(),
        "--tfoscope".into(),
        env!("CARGO_BIN_EXE_tfoscope").into(),
        "--out".into(),
        dataset.display().to_string(),
        "--judge-out".into(),
        judged.display().to_string(),
        "--control".into(),
        "clean_http".into(),
    ];
    for capture in captures_in(&testdata()) {
        let name = capture.file_stem().unwrap().to_string_lossy().into_owned();
        args.push(format!("{name}={}", capture.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = python(&args, &work);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("captures/s"), "{stdout}");
    let expected = work.join("cli-single");
    let control = testdata().join("clean_http.pcap");
    let status = tfoscope()
        .args(["analyze", "-o", expected.to_str().unwrap(), "--control"])
        .arg(&control)
        .args(captures_in(&testdata()).into_iter().filter(|c| *c != control))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let sorted = |path: &std::path::Path| {
        use polars::prelude::*;
        let key = ["vantage", "target", "server_ip", "server_port"];
        tables::read_parquet(path).sort(key, SortMultipleOptions::default()).unwrap()
    };
    let (found, single) =
        (sorted(&judged.join("targets.parquet")), sorted(&expected.join("targets.parquet")));
    assert!(found.equals_missing(&single), "{found}\n{single}");
    let _ = std::fs::remove_dir_all(&work);
}
