//! `analyze --ooni`: the verdicts as OONI measurements, read back with OONI's own library.

#![allow(non_snake_case)]

use crate::common;

use common::*;
use serde_json::Value;

fn is_ooni_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn captures_without_records__one_measurement_per_target_read_back_by_oonidata() {
    let dir = tempdir("ooni-testdata");
    let file = dir.join("measurements.jsonl");
    let stdout = analyze_to_json(
        &dir,
        &["--ooni", file.to_str().unwrap(), "--probe-asn", "AS64496", "--probe-cc", "NL"],
        &[testdata()],
    );
    assert!(stdout.contains("OONI measurements -> "), "{stdout}");
    let targets = json_table(&dir, "targets");
    let connections = json_table(&dir, "connections");
    let raw: Vec<Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(raw.len(), targets.len(), "one measurement per target");
    for (m, t) in raw.iter().zip(&targets) {
        // The test keys as schemas/ooni.json describes them, and their values those of the
        // tables (below): what a reader of the measurements relies on.
        assert_in_ooni_schema(m);
        let input = format!(
            "tcp://{}",
            std::net::SocketAddr::new(
                t["server_ip"].as_str().unwrap().parse().unwrap(),
                t["server_port"].as_u64().unwrap() as u16
            )
        );
        assert_eq!(m["input"], input.as_str());
        let verdict = &m["test_keys"]["verdicts"][0];
        for key in [
            "connectivity",
            "cookie",
            "syn_data",
            "signatures",
            "middlebox",
            "explanation",
            "conditions",
            "direction",
        ] {
            assert_eq!(verdict[key], t[key], "{input}: {key}");
        }
        let conns = connections
            .iter()
            .filter(|c| {
                c["vantage"] == t["vantage"]
                    && c["server_ip"] == t["server_ip"]
                    && c["server_port"] == t["server_port"]
            })
            .count();
        assert_eq!(m["test_keys"]["tcp_connect"].as_array().unwrap().len(), conns, "{input}");
        assert_eq!(m["annotations"]["vantage"], t["vantage"]);
    }
    // A refused connection in OONI's failure words, a timed-out one likewise.
    let failures: Vec<&str> = raw
        .iter()
        .flat_map(|m| m["test_keys"]["tcp_connect"].as_array().unwrap())
        .filter_map(|c| c["status"]["failure"].as_str())
        .collect();
    assert!(
        failures.contains(&"connection_refused") && failures.contains(&"generic_timeout_error"),
        "{failures:?}"
    );

    let Some(python) = oonidata_python() else { return };
    let read = ooni_read_back(&python, &file);
    assert_eq!(read.len(), raw.len());
    for (r, m) in read.iter().zip(&raw) {
        assert_eq!(r["class"], "BaseMeasurement");
        for key in [
            "input",
            "report_id",
            "measurement_start_time",
            "test_start_time",
            "test_name",
            "test_version",
            "test_runtime",
            "software_name",
            "software_version",
            "data_format_version",
            "annotations",
        ] {
            assert_eq!(r[key], m[key], "{key}");
        }
        // Only where oonidata holds test keys of its own are they compared (it keeps none for a
        // test it does not know); the values are checked against the tables above.
        if !r["test_keys"].is_null() {
            assert_eq!(r["test_keys"], m["test_keys"]);
        }
        assert_eq!((r["probe_asn"].as_str(), r["probe_cc"].as_str()), (Some("AS64496"), Some("NL")));
        assert_eq!(r["test_name"], "tcp_fast_open");
        assert!(
            is_ooni_time(r["measurement_start_time"].as_str().unwrap()),
            "{}",
            r["measurement_start_time"]
        );
        assert!(r["report_id"].as_str().unwrap().contains("_tcpfastopen_NL_64496_n1_"), "{}", r["report_id"]);
    }
}

#[test]
fn a_probe_in_forms_ooni_refuses__a_clear_error() {
    let dir = tempdir("ooni-bad-probe");
    let out = tfoscope()
        .args(["analyze", "-o", dir.to_str().unwrap(), "--ooni", dir.join("m.jsonl").to_str().unwrap()])
        .args(["--probe-cc", "Germany"])
        .arg(testdata().join("clean_http.pcap"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("two capital letters"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_field_is_in_schemas_ooni_json() {
    let dir = tempdir("ooni-schema");
    let file = dir.join("m.jsonl");
    analyze_to_json(&dir, &["--ooni", file.to_str().unwrap()], &[testdata()]);
    for line in std::fs::read_to_string(&file).unwrap().lines() {
        assert_in_ooni_schema(&serde_json::from_str(line).unwrap());
    }
}
