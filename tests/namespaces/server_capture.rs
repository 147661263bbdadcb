//! `analyze --server-capture`: the server's side of two-ended runs (tcpdump at both ends, no
//! echo) joined to the client's connections, by ISN and time, or where the ISN was rewritten or
//! a proxy opened its own connection, by the request's first bytes. Built packet by packet for
//! the shapes the lab cannot make (an ISN-rewriting box, clocks apart, one request sent three
//! times through a proxy), and end to end in the shell lab's namespaces (root).

#![allow(non_snake_case)]

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::packets::{syn_options, synack_options, Capture, Conn, Segment, SynOption};
use common::*;
use serde_json::Value;

const REQUEST: &[u8] =
    b"GET /same HTTP/1.1\r\nHost: 198.51.100.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// A handshake and the request in its first segment (seq ISN+1), as the capture at one end
/// sees it: the SYN with TSval `tsval` and TTL `ttl` (what is left of it at that end).
fn fetch(cap: &mut Capture, t_ms: u64, client: SocketAddr, isn: u32, ttl: u8, tsval: u32) {
    let server = addr("198.51.100.1:80");
    let server_isn = 0x5a5a_0000;
    let segment = |seq: u32, ack: Option<u32>, syn: bool, options: Vec<u8>, payload: &[u8]| Segment {
        src: client,
        dst: server,
        ttl,
        seq,
        ack,
        syn,
        rst: false,
        options,
        payload: payload.to_vec(),
    };
    cap.push(t_ms, &segment(isn, None, true, syn_options(tsval, &SynOption::None), &[]));
    let synack = Segment {
        src: server,
        dst: client,
        ttl: 60,
        seq: server_isn,
        ack: Some(isn.wrapping_add(1)),
        syn: true,
        rst: false,
        options: synack_options(1460, 5, tsval, None),
        payload: vec![],
    };
    cap.push(t_ms + 1, &synack);
    let ack = Some(server_isn + 1);
    cap.push(t_ms + 2, &segment(isn.wrapping_add(1), ack, false, vec![], &[]));
    cap.push(t_ms + 2, &segment(isn.wrapping_add(1), ack, false, vec![], REQUEST));
}

fn analyze_two_ends(
    name: &str,
    client: &Capture,
    server: &Capture,
    args: &[&str],
) -> (Vec<Value>, Vec<Value>, String) {
    let dir = tempdir(name);
    let (c, s) = (dir.join("client.pcap"), dir.join("server.pcap"));
    client.write(&c);
    server.write(&s);
    let mut all = vec!["--server-capture", s.to_str().unwrap()];
    all.extend_from_slice(args);
    let out_dir = dir.join("out");
    let stdout = analyze_to_json(&out_dir, &all, std::slice::from_ref(&c));
    common::judge::assert_judge_equals_analyze(name, &all, &[c]);
    (json_table(&out_dir, "connections"), json_table(&out_dir, "targets"), stdout)
}

fn words(row: &Value, column: &str) -> Vec<String> {
    row[column]
        .as_array()
        .map(|a| a.iter().map(|w| w.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn isn_rewritten_on_the_way__joined_by_the_request_and_named_a_path_change() {
    let _one_at_a_time = common::namespace_lock();
    let (mut client, mut server) = (Capture::default(), Capture::default());
    fetch(&mut client, 0, addr("192.0.2.1:40000"), 1000, 64, 4242);
    // The server's clock is 3 s ahead; two routers on the way; the box rewrote the ISN, the
    // TSval went through.
    fetch(&mut server, 3000, addr("192.0.2.1:40000"), 0x7777_0000, 62, 4242);
    let (conns, targets, _) = analyze_two_ends("isn", &client, &server, &[]);
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["arrival_source"], "server_capture");
    assert_eq!(c["arrived_isn_same"], false);
    assert_eq!(words(c, "syn_changes"), ["isn_changed"]);
    assert_eq!(
        (c["sent_ttl"].as_u64(), c["arrived_ttl"].as_u64(), c["path_hops"].as_u64()),
        (Some(64), Some(62), Some(2))
    );
    assert_eq!(words(&targets[0], "path_changes"), ["isn_rewritten"]);
    assert_eq!(words(&targets[0], "signatures"), Vec::<String>::new());
}

#[test]
fn one_request_three_times_through_a_proxy__each_joined_to_its_own_in_order() {
    let _one_at_a_time = common::namespace_lock();
    let (mut client, mut server) = (Capture::default(), Capture::default());
    for i in 0..3u16 {
        let t = u64::from(i) * 100;
        fetch(
            &mut client,
            t,
            addr(&format!("192.0.2.1:{}", 40000 + i)),
            1000 + u32::from(i),
            64,
            100 + u32::from(i),
        );
        // The proxy's own connections: its address, its ports, its ISNs and timestamps.
        let mut conn = Conn::new(
            addr(&format!("198.51.100.254:{}", 50000 + i)),
            addr("198.51.100.1:80"),
            9000 + u32::from(i),
        );
        let s = 5000 + t;
        conn.syn(&mut server, s + 50_000, SynOption::None, &[]);
        conn.synack(&mut server, s + 50_001, 0, false, None);
        conn.ack(&mut server, s + 50_002, conn.server_isn);
        server.push(
            s + 50_002,
            &Segment {
                src: conn.client,
                dst: conn.server,
                ttl: 64,
                seq: conn.isn.wrapping_add(1),
                ack: Some(conn.server_isn.wrapping_add(1)),
                syn: false,
                rst: false,
                options: vec![],
                payload: REQUEST.to_vec(),
            },
        );
    }
    // 55 s apart: beyond the default window, nothing is joined, and the run says why.
    let (conns, _, stdout) = analyze_two_ends("proxy-far", &client, &server, &[]);
    assert!(conns.iter().all(|c| c["arrival_source"].is_null()), "{conns:?}");
    assert!(stdout.contains("no measured connection was found in the server captures"), "{stdout}");
    // With the clocks' difference allowed for, each fetch gets its own proxy connection.
    let (conns, targets, _) = analyze_two_ends("proxy", &client, &server, &["--server-clock-skew", "60"]);
    let ports: Vec<(u64, u64)> = conns
        .iter()
        .map(|c| (c["client_port"].as_u64().unwrap(), c["arrived_client_port"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, [(40000, 50000), (40001, 50001), (40002, 50002)]);
    assert!(conns.iter().all(|c| words(c, "syn_changes").contains(&"isn_changed".to_string())));
    assert_eq!(words(&targets[0], "signatures"), ["reoriginated"]);
    let explanation = targets[0]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("SYN frame 1, as server capture") && explanation.contains("server.pcap frame 1"),
        "both sides' frames named: {explanation}"
    );
}

/// What the shell lab's two-ended run must show for each case, without any echo.
const CASES: [(&str, &str, &[&str], &[&str]); 6] = [
    ("clean_http", "clean_http", &[], &[]),
    (
        "option_stripped",
        "option_stripped",
        &["option_removed_on_path"],
        &["option_removed:34", "option_removed:254"],
    ),
    (
        "proxy_no_tfo",
        "proxy_no_tfo",
        &["reoriginated"],
        &["isn_changed", "timestamp_changed", "source_changed"],
    ),
    ("proxy_tfo", "proxy_tfo_origin_no_tfo", &["reoriginated"], &["isn_changed", "timestamp_changed"]),
    ("mss_clamped", "mss_clamped", &[], &["mss:1460>1200"]),
    ("source_nat", "source_nat", &[], &["source_changed"]),
];

fn script_run(out: &Path, server_out: &Path, cases: &[&str]) {
    let status = Command::new("bash")
        .arg(root().join("lab/scripts/make-testdata.sh"))
        .arg(out)
        .args(cases)
        .env("TFOSCOPE", env!("CARGO_BIN_EXE_tfoscope"))
        .env("TFO_LAB_PREFIX", "tfw")
        .env("TFO_LAB_SERVER_CAPTURE", server_out)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn two_ended_tcpdump_runs_in_the_lab__the_server_capture_says_what_arrived() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() || !have_tool("tcpdump") || !have_tool("curl") {
        return;
    }
    let dir = tempdir("two-ended");
    let (client_dir, server_dir) = (dir.join("client"), dir.join("server"));
    let names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    script_run(&client_dir, &server_dir, &names);
    for (case, file, signatures, changes) in CASES {
        let client: PathBuf = client_dir.join(format!("{file}.pcap"));
        let server = server_dir.join(format!("{file}.pcap"));
        let out = dir.join(format!("out-{case}"));
        let args = ["--server-capture", server.to_str().unwrap()];
        analyze_to_json(&out, &args, std::slice::from_ref(&client));
        common::judge::assert_judge_equals_analyze(&format!("two-ended-{case}"), &args, &[client]);
        let conns = json_table(&out, "connections");
        let targets = json_table(&out, "targets");
        assert!(
            conns.iter().all(|c| c["arrival_source"] == "server_capture"),
            "{case}: every connection joined"
        );
        let mut found: Vec<String> = conns.iter().flat_map(|c| words(c, "syn_changes")).collect();
        found.sort_unstable();
        found.dedup();
        for change in changes {
            assert!(found.contains(&change.to_string()), "{case}: {change} in {found:?}");
        }
        if changes.is_empty() {
            assert!(found.is_empty(), "{case}: nothing changed, yet {found:?}");
        }
        assert_eq!(words(&targets[0], "signatures"), *signatures, "{case}: {}", targets[0]["explanation"]);
    }
}
