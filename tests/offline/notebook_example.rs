//! README's notebook example (examples/read_targets.py) runs against real output: polars,
//! pandas and DuckDB read the Parquet files tfoscope writes.

use crate::common;

use std::process::Command;

use common::*;

#[test]
fn polars_pandas_and_duckdb_read_the_tables() {
    if !python_with("polars, pandas, pyarrow, duckdb") {
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
