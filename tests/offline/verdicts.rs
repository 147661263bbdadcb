//! The whole targets row for every lab case (testdata/, made by lab/scripts/make-testdata.sh) and for
//! the public captures, with and without expectations. The full tables are snapshotted so a
//! rule change shows its effect on every case in review.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use common::*;
use serde_json::Value;

fn targets(args: &[&str], captures: &[PathBuf]) -> Vec<Value> {
    let out_dir = tempdir(&format!("verdicts-{}", captures.len() * 31 + args.len()));
    analyze_to_json(&out_dir, args, captures);
    json_table(&out_dir, "targets")
}

fn by_vantage(rows: &[Value]) -> BTreeMap<String, Value> {
    rows.iter().map(|r| (r["vantage"].as_str().unwrap().to_string(), r.clone())).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// The columns a reader judges by, as one line.
fn summary(row: &Value) -> String {
    format!(
        "{} {} | {} | cookie {} | syn_data {} | signatures {:?} | middlebox {} | expected {} | synack_differs {} | valid {}\n    {}",
        row["vantage"].as_str().unwrap(),
        row["target"].as_str().unwrap(),
        row["connectivity"].as_str().unwrap(),
        row["cookie"].as_str().unwrap(),
        row["syn_data"].as_str().unwrap(),
        strs(&row["signatures"]),
        row["middlebox"],
        row["expected_tfo"],
        row["synack_differs"],
        row["measurement_valid"],
        row["explanation"].as_str().unwrap(),
    )
}

fn testdata_file(name: &str) -> PathBuf {
    testdata().join(name)
}

#[test]
fn every_lab_case_without_expectations() {
    let rows = targets(&[], &captures_in(&testdata()));
    let t = by_vantage(&rows);
    let row = |v: &str| &t[v];

    for clean in [
        "clean_http",
        "clean_https",
        "clean_ipv6_nanosecond",
        "clean_http_sll",
        "clean_http_sll2",
        "clean_http_vlan",
    ] {
        let r = row(clean);
        assert_eq!(r["connectivity"], "works", "{clean}");
        assert_eq!(r["cookie"], "received", "{clean}");
        assert_eq!(r["syn_data"], "acked", "{clean}");
        assert_eq!(strs(&r["signatures"]), Vec::<&str>::new(), "{clean}");
        // Signature 3 untested without an expectation: "could not tell", not "no".
        assert_eq!(r["middlebox"], Value::Null, "{clean}");
        assert_eq!(strs(&r["untested"]), vec!["negotiation"], "{clean}");
        assert_eq!(r["synack_differs"], false, "{clean}");
        assert_eq!(
            strs(&r["conditions"]),
            vec!["tfo.connectivity.works", "tfo.cookie.received", "tfo.syndata.acked"]
        );
    }
    assert_eq!(row("clean_ipv6_nanosecond")["ip_version"], 6);

    let r = row("option_dropped");
    assert_eq!((r["connectivity"].as_str(), r["cookie"].as_str()), (Some("works"), Some("not_received")));
    assert_eq!(strs(&r["signatures"]), vec!["option_dropped"]);
    assert_eq!(r["middlebox"], true);
    assert_eq!(strs(&r["untested"]), vec!["syn_data", "negotiation"]);

    let r = row("option_reset");
    assert_eq!(r["connectivity"], "tfo_broken");
    assert_eq!(strs(&r["signatures"]), vec!["option_reset"]);

    for case in ["syndata_dropped", "syndata_dropped_snap128"] {
        let r = row(case);
        assert_eq!(
            (r["cookie"].as_str(), r["syn_data"].as_str()),
            (Some("received"), Some("dropped")),
            "{case}"
        );
        assert_eq!(strs(&r["signatures"]), vec!["syn_data_dropped"], "{case}");
        assert_eq!(r["measurement_valid"], true, "{case}: 128 bytes keep every option");
    }

    let r = row("syndata_reset");
    assert_eq!((r["connectivity"].as_str(), r["syn_data"].as_str()), (Some("tfo_broken"), Some("reset")));
    assert_eq!(strs(&r["signatures"]), vec!["syn_data_reset"]);

    // Without an expectation, stripping and proxies are only "no cookie": signature 3 is never
    // claimed, and the target could not tell (a stripping box must not read as a clean path).
    for case in ["option_stripped", "proxy_no_tfo", "origin_no_tfo"] {
        let r = row(case);
        assert_eq!(r["cookie"], "not_received", "{case}");
        assert_eq!(strs(&r["signatures"]), Vec::<&str>::new(), "{case}");
        assert_eq!(r["middlebox"], Value::Null, "{case}");
        assert_eq!(strs(&r["untested"]), vec!["syn_data", "negotiation"], "{case}");
        assert_eq!(r["expected_tfo"], Value::Null, "{case}");
    }
    assert!(row("option_stripped")["explanation"].as_str().unwrap().contains("answered without a cookie"));

    let r = row("host_down");
    assert_eq!(r["connectivity"], "offline");
    assert_eq!(r["middlebox"], Value::Null);
    assert_eq!(strs(&r["conditions"])[0], "tfo.connectivity.offline");

    let r = row("port_closed");
    assert_eq!(r["connectivity"], "closed");
    assert_eq!(r["middlebox"], Value::Null);
    assert_eq!(strs(&r["signatures"]), Vec::<&str>::new());

    let r = row("clean_http_snap64");
    assert_eq!(r["measurement_valid"], false, "options cut at 64 bytes");
    assert_eq!(r["middlebox"], Value::Null);
    assert!(r["explanation"].as_str().unwrap().contains("snap length"));

    let table: Vec<String> = rows.iter().map(summary).collect();
    insta::assert_snapshot!("lab_without_expectations", table.join("\n"));
}

#[test]
fn signature_three_against_a_clean_control() {
    let measured: Vec<PathBuf> =
        ["option_stripped.pcap", "proxy_no_tfo.pcap", "proxy_tfo_origin_no_tfo.pcap", "clean_http_vlan.pcap"]
            .iter()
            .map(|f| testdata_file(f))
            .collect();
    let control_http = testdata_file("clean_http.pcap");
    let control_8080 = testdata_file("origin_no_tfo.pcap");
    let rows = targets(
        &["--control", control_http.to_str().unwrap(), "--control", control_8080.to_str().unwrap()],
        &measured,
    );
    let t = by_vantage(&rows);
    // The controls appear as rows of their own vantage.
    assert_eq!(t["clean_http"]["expected_tfo"], Value::Null);
    assert_eq!(t["origin_no_tfo"]["cookie"], "not_received");

    let r = &t["option_stripped"];
    assert_eq!(r["expected_tfo"], true);
    assert_eq!(strs(&r["signatures"]), vec!["not_negotiated_expected"]);
    assert_eq!(r["middlebox"], true);
    assert_eq!(r["synack_differs"], false, "a stripping router does not change the SYN-ACK");

    let r = &t["proxy_no_tfo"];
    assert_eq!(strs(&r["signatures"]), vec!["not_negotiated_expected"]);
    assert_eq!(r["synack_differs"], true, "the proxy is one hop nearer: TTL 64, control 63");
    assert!(r["explanation"].as_str().unwrap().contains("TTL 64 where the control saw 63"));

    let r = &t["proxy_tfo_origin_no_tfo"];
    assert_eq!(r["expected_tfo"], false);
    assert_eq!(strs(&r["signatures"]), vec!["negotiated_unexpected"]);
    assert_eq!(r["synack_differs"], true);

    let r = &t["clean_http_vlan"];
    assert_eq!(r["expected_tfo"], true);
    assert_eq!(strs(&r["signatures"]), Vec::<&str>::new());
    assert_eq!(r["middlebox"], false);
    assert_eq!(strs(&r["untested"]), Vec::<&str>::new());

    let table: Vec<String> = rows.iter().map(summary).collect();
    insta::assert_snapshot!("lab_with_controls", table.join("\n"));
}

#[test]
fn expect_file_wins_over_the_control() {
    let dir = tempdir("expect");
    let expect = dir.join("expect.csv");
    fs::write(&expect, "server_ip,server_port,expected_tfo\n198.51.100.1,80,false\n").unwrap();
    let control = testdata_file("clean_http.pcap");
    let rows = targets(
        &["--control", control.to_str().unwrap(), "--expect", expect.to_str().unwrap()],
        &[testdata_file("clean_http_vlan.pcap"), testdata_file("option_stripped.pcap")],
    );
    let t = by_vantage(&rows);
    assert_eq!(t["clean_http_vlan"]["expected_tfo"], false);
    assert_eq!(strs(&t["clean_http_vlan"]["signatures"]), vec!["negotiated_unexpected"]);
    assert_eq!(strs(&t["option_stripped"]["signatures"]), Vec::<&str>::new());
}

#[test]
fn controls_that_disagree_give_no_expectation() {
    // clean_http got a cookie from 198.51.100.1:80; option_stripped (as a "control") got none.
    let a = testdata_file("clean_http.pcap");
    let b = testdata_file("option_stripped.pcap");
    let out_dir = tempdir("disagree");
    let out = tfoscope()
        .args(["analyze", "--format", "json", "-o", out_dir.to_str().unwrap()])
        .args(["--control", a.to_str().unwrap(), "--control", b.to_str().unwrap()])
        .arg(testdata_file("clean_http_vlan.pcap"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: controls disagree about 198.51.100.1:80"), "{stderr}");
    let text = fs::read_to_string(out_dir.join("targets.jsonl")).unwrap();
    let vlan: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["vantage"] == "clean_http_vlan")
        .unwrap();
    assert_eq!(vlan["expected_tfo"], Value::Null);
    assert!(strs(&vlan["untested"]).contains(&"negotiation"));
}

#[test]
fn public_captures_get_sensible_verdicts() {
    let Some(shared) = shared_captures() else { return };
    let rows = targets(&[], &captures_in(&shared));
    let t = by_vantage(&rows);
    let r = &t["tcpdump__tfo-5c1fa7f9ae91"];
    assert_eq!(r["cookie"], "received_exp_only");
    assert_eq!(r["syn_data"], "dropped");
    assert_eq!(strs(&r["signatures"]), vec!["syn_data_dropped"], "the NAT gateway drops SYN-data");
    assert_eq!(t["go-dnscollector__dnsdump_tcp_fastopen"]["syn_data"], "acked");
    assert_eq!(t["pathspider__tfo_cookie_request"]["cookie"], "received_exp_only");
    assert_eq!(t["pathspider__tfo_cookie_request_b"]["cookie"], "not_requested");
    assert_eq!(t["ptcpdump__tfo"]["cookie"], "received");
    for r in rows.iter().filter(|r| r["vantage"] != "tcpdump__tfo-5c1fa7f9ae91") {
        // Without a control nothing tests signature 3 (negotiation), so no "no" is said of
        // any of them (the kind-255 capture and its data-on-SYN twin included).
        assert_eq!(r["middlebox"], Value::Null, "{} shows no middlebox, and cannot say no", r["vantage"]);
        assert!(strs(&r["untested"]).contains(&"negotiation"), "{}", r["vantage"]);
    }
    let table: Vec<String> = rows.iter().map(summary).collect();
    insta::assert_snapshot!("public_captures", table.join("\n"));
}
