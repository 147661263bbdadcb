//! `analyze --partition-by vantage`: a Hive-partitioned dataset that runs add to, read back
//! whole by polars and DuckDB (from Python, as notebooks do), each file carrying its table's
//! schema version, no part left half-written where readers look.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn python() -> Option<PathBuf> {
    python_with("polars, duckdb, pyarrow").then(|| PathBuf::from("python3"))
}

#[test]
fn two_runs_make_one_dataset_that_polars_and_duckdb_read_whole() {
    // Two vantages, one named by its folder: `2026-11/eth0`.
    let captures = tempdir("partition-in");
    std::fs::create_dir_all(captures.join("2026-11")).unwrap();
    std::fs::copy(testdata().join("clean_http.pcap"), captures.join("2026-11/eth0.pcap")).unwrap();
    std::fs::copy(testdata().join("option_dropped.pcap"), captures.join("other.pcap")).unwrap();
    let out = tempdir("partition-out");
    for _ in 0..2 {
        let run = tfoscope()
            .args(["analyze", "--partition-by", "vantage", "-o", out.to_str().unwrap()])
            .arg(&captures)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
        assert!(stdout.contains("no targets table"), "{stdout}");
    }
    let files = files_under(&out);
    assert!(
        files.iter().all(|f| !f.split('/').any(|part| part.starts_with('.'))),
        "nothing hidden left: {files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("targets")), "{files:?}");
    for table in ["connections", "files"] {
        for vantage in ["vantage=2026-11%2Feth0", "vantage=other"] {
            let parts: Vec<&String> =
                files.iter().filter(|f| f.starts_with(&format!("{table}/{vantage}/part-"))).collect();
            assert_eq!(parts.len(), 2, "a part per run: {table}/{vantage} in {files:?}");
        }
    }
    // The same captures without partitions: the rows to expect, twice.
    let single = tempdir("partition-single");
    let status =
        tfoscope().args(["analyze", "-o", single.to_str().unwrap()]).arg(&captures).status().unwrap();
    assert!(status.success());

    let Some(python) = python() else { return };
    let script = format!(
        r#"
import duckdb, json, polars as pl, pyarrow.parquet as pq, glob
out, single, schemas = {out:?}, {single:?}, {schemas:?}
whole = pl.scan_parquet(out + "/connections/**/*.parquet", hive_partitioning=True).collect()
one = pl.read_parquet(single + "/connections.parquet")
assert whole.height == 2 * one.height, (whole.height, one.height)
assert sorted(whole["vantage"].unique().to_list()) == ["2026-11/eth0", "other"], whole["vantage"].unique()
n = duckdb.sql(f"select count(*) from read_parquet('{{out}}/connections/**/*.parquet', hive_partitioning=1) where vantage = '2026-11/eth0'").fetchall()[0][0]
assert n == 2 * one.filter(pl.col("vantage") == "2026-11/eth0").height, n
files = pl.scan_parquet(out + "/files/**/*.parquet", hive_partitioning=True).collect()
assert files.height == 4, files
for path in glob.glob(out + "/*/*/*.parquet"):
    meta = pq.read_metadata(path).metadata
    table = meta[b"tfoscope.table"].decode()
    assert table in ("connections", "files", "hops"), (path, meta)
    version = json.load(open(f"{{schemas}}/{{table}}.json"))["x-schema-version"]
    assert meta[b"tfoscope.schema_version"] == str(version).encode(), (path, meta)
print("ok")
"#,
        out = out.display().to_string(),
        single = single.display().to_string(),
        schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"),
    );
    let run = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(
        run.status.success() && String::from_utf8_lossy(&run.stdout).contains("ok"),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}
