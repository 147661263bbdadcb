//! README's notebook example (examples/read_targets.py) runs against real output: polars,
//! pandas and DuckDB read the Parquet files tfoscope writes.

mod common;

use std::process::Command;

use common::*;

#[test]
fn polars_pandas_and_duckdb_read_the_tables() {
    let probe = Command::new("python3").args(["-c", "import polars, pandas, pyarrow, duckdb"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!in_ci(), "CI installs polars, pandas, pyarrow and duckdb (.ci/run)");
        loud_skip("python3 with polars, pandas, pyarrow, duckdb is missing");
        return;
    }
    let out_dir = tempdir("notebook");
    let mut captures = Vec::new();
    for name in [
        "option_stripped.pcap",
        "proxy_tfo_origin_no_tfo.pcap",
        "syndata_dropped.pcap",
        "option_dropped.pcap",
    ] {
        captures.push(testdata().join(name));
    }
    let control = testdata().join("clean_http.pcap");
    let control_8080 = testdata().join("origin_no_tfo.pcap");
    let status = tfoscope()
        .args(["analyze", "-o", out_dir.to_str().unwrap(), "--control"])
        .arg(&control)
        .arg("--control")
        .arg(&control_8080)
        .args(&captures)
        .status()
        .unwrap();
    assert!(status.success());
    let out =
        Command::new("python3").arg(root().join("examples/read_targets.py")).arg(&out_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("syn_data_dropped: 1"), "{stdout}");
    assert!(stdout.contains("negotiated_unexpected: 1"), "{stdout}");
    assert!(stdout.contains("option_dropped frame 1:"), "{stdout}");
}
