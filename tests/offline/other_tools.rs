//! Verdicts on runs made by other tools, built packet by packet in the shapes they take:
//! PATHspider's order (baseline first, then the cookie request, then the SYN-data), many
//! targets interleaved, cookies asked for twice, cookies cached before the capture, data on
//! SYNs without any TFO option, SYN-ACK TTLs that wobble on ECMP paths. No collector records:
//! the rounds come from the connections alone.

#![allow(non_snake_case)]

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::packets::{Capture, Conn, SynOption};
use common::*;
use serde_json::Value;

pub(crate) const COOKIE: &[u8] = &[0xc0, 0x0c, 0x1e, 0x5a, 0x11, 0x22, 0x33, 0x44];
pub(crate) const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";

/// What a target does, as PATHspider would meet it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Grants a cookie, acks the SYN data.
    Clean,
    /// A box drops SYNs that carry data; the plain retransmission gets through a second later.
    DropsSynData,
    /// The first cookie request is answered without a cookie, the second with one.
    CookieOnSecondRequest,
    /// Grants a cookie, then acknowledges only the SYN of the SYN-data.
    IgnoresSynData,
    /// The client sends data on its SYN without any TFO option; the server accepts it.
    CookielessData,
    /// The client had a cookie cached: no request, the SYN-data is acked.
    CachedCookie,
    /// Clean, but the baseline's SYN-ACKs wobble by a hop between rounds (ECMP).
    EcmpTtl,
    /// A box nearer than the origin answers the TFO SYNs (TTL 64 against the origin's 57).
    NearerBoxForTfo,
}

const ORIGINS: [Origin; 8] = [
    Origin::Clean,
    Origin::DropsSynData,
    Origin::CookieOnSecondRequest,
    Origin::IgnoresSynData,
    Origin::CookielessData,
    Origin::CachedCookie,
    Origin::EcmpTtl,
    Origin::NearerBoxForTfo,
];

/// The steps of one round in PATHspider's order; the second request only where asked twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Baseline,
    Request,
    SecondRequest,
    Data,
}

struct Run {
    capture: Capture,
    next_port: u16,
}

impl Run {
    fn conn(&mut self, server: SocketAddr) -> Conn {
        self.next_port += 1;
        let client: SocketAddr = SocketAddr::new("192.0.2.1".parse().unwrap(), self.next_port);
        Conn::new(client, server, 0x1000_0000u32.wrapping_mul(u32::from(self.next_port)))
    }

    /// One step of one target's round at `t` ms.
    fn step(&mut self, t: u64, server: SocketAddr, origin: Origin, step: Step, round: usize) {
        let mut c = self.conn(server);
        let cap = &mut self.capture;
        match step {
            Step::Baseline => {
                c.syn(cap, t, SynOption::None, &[]);
                if origin == Origin::EcmpTtl && round == 1 {
                    c.ttl = 56;
                }
                c.synack(cap, t + 3, 0, false, None);
                c.ack(cap, t + 4, c.server_isn);
            }
            Step::Request | Step::SecondRequest => {
                c.syn(cap, t, SynOption::Request, &[]);
                let granted = !(origin == Origin::CookieOnSecondRequest && step == Step::Request);
                if origin == Origin::NearerBoxForTfo {
                    c.ttl = 64;
                }
                c.synack(cap, t + 3, 0, false, granted.then_some(COOKIE));
                c.ack(cap, t + 4, c.server_isn);
            }
            Step::Data => {
                let option = if origin == Origin::CookielessData {
                    SynOption::None
                } else {
                    SynOption::Cookie(COOKIE.to_vec())
                };
                c.syn(cap, t, option, REQUEST);
                if origin == Origin::NearerBoxForTfo {
                    c.ttl = 64;
                }
                match origin {
                    Origin::DropsSynData => {
                        // The kernel's plain retransmission, a second later, gets through.
                        c.syn(cap, t + 1000, SynOption::None, &[]);
                        c.synack(cap, t + 1003, 1, false, None);
                    }
                    Origin::IgnoresSynData => {
                        c.synack(cap, t + 3, 0, false, None);
                    }
                    _ => {
                        c.synack(cap, t + 3, 0, true, None);
                    }
                }
                c.ack(cap, t + 1004, c.server_isn);
            }
        }
    }
}

/// Each origin this many times over: 48 targets interleaved, as a PATHspider run of a target
/// list would be.
const COPIES: usize = 6;

fn server_of(i: usize) -> SocketAddr {
    SocketAddr::new(format!("198.51.100.{}", 10 + i).parse().unwrap(), 80)
}

/// Two rounds of PATHspider's order over every origin, the targets interleaved step by step.
fn pathspider_run(path: &Path) {
    let mut run = Run { capture: Capture::default(), next_port: 40000 };
    let mut t = 0;
    for round in 0..2 {
        for step in [Step::Baseline, Step::Request, Step::SecondRequest, Step::Data] {
            for (i, origin) in ORIGINS.iter().cycle().take(ORIGINS.len() * COPIES).enumerate() {
                let asked_twice = *origin == Origin::CookieOnSecondRequest;
                let skip = match step {
                    Step::SecondRequest => !asked_twice,
                    Step::Request => *origin == Origin::CachedCookie || *origin == Origin::CookielessData,
                    _ => false,
                };
                if !skip {
                    run.step(t, server_of(i), *origin, step, round);
                }
                t += 10;
            }
        }
        t += 5000;
    }
    run.capture.write(path);
}

pub(crate) fn analyze_json(name: &str, args: &[&str], captures: &[PathBuf]) -> (Vec<Value>, Vec<Value>) {
    let out_dir = tempdir(name);
    analyze_to_json(&out_dir, args, captures);
    common::judge::assert_judge_equals_analyze(name, args, captures);
    (json_table(&out_dir, "targets"), json_table(&out_dir, "connections"))
}

pub(crate) fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

/// What the connections table says of one frame: the values an explanation may quote of it.
#[derive(Debug, Default, Clone)]
struct FrameFacts {
    ttl: Option<u64>,
    mss: Option<u64>,
    data_len: Option<u64>,
}

/// Every "frame N" of every explanation is a frame of one of that target's connections, and
/// every value quoted of a frame ("frame N, TTL T", "frame N has TTL T", "frame N, MSS M",
/// "frame N carried B bytes") is that frame's in the connections table: the numbers come from
/// the frames they name.
fn assert_explanations_name_their_frames(targets: &[Value], connections: &[Value]) {
    for t in targets {
        let vantage = t["vantage"].as_str().unwrap();
        let server = (t["server_ip"].as_str().unwrap_or(""), t["server_port"].as_u64().unwrap());
        let mut frames: BTreeMap<u64, FrameFacts> = BTreeMap::new();
        for c in connections.iter().filter(|c| {
            c["vantage"] == vantage
                && (c["server_ip"].as_str().unwrap(), c["server_port"].as_u64().unwrap()) == server
        }) {
            for column in ["retransmitted_syn_frame", "reset_frame", "icmp_frame", "second_synack_frame"] {
                if let Some(f) = c[column].as_u64() {
                    frames.entry(f).or_default();
                }
            }
            if let Some(f) = c["first_syn_frame"].as_u64() {
                frames.insert(f, FrameFacts { data_len: c["syn_data_len"].as_u64(), ..Default::default() });
            }
            if let Some(f) = c["synack_frame"].as_u64() {
                let facts = FrameFacts {
                    ttl: c["synack_ttl"].as_u64(),
                    mss: c["synack_mss"].as_u64(),
                    data_len: c["synack_data_len"].as_u64(),
                };
                frames.insert(f, facts);
            }
        }
        let text = t["explanation"].as_str().unwrap();
        let words: Vec<&str> = text
            .split(|ch: char| ch.is_whitespace() || ch == ',' || ch == '(' || ch == ')')
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_end_matches([';', ':', '.']))
            .collect();
        let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        for i in (0..words.len()).filter(|i| words[*i] == "frame") {
            let Some(frame) = number(i + 1) else { continue };
            let facts = frames.get(&frame).unwrap_or_else(|| {
                panic!("{vantage} {server:?}: frame {frame} is none of the target's frames: {text}")
            });
            let quoted = match (words.get(i + 2), words.get(i + 3)) {
                (Some(&"TTL"), _) => Some(("TTL", number(i + 3), facts.ttl)),
                (Some(&"has"), Some(&"TTL")) => Some(("TTL", number(i + 4), facts.ttl)),
                (Some(&"MSS"), _) => Some(("MSS", number(i + 3), facts.mss)),
                (Some(&"carried"), _) => Some(("bytes", number(i + 3), facts.data_len)),
                _ => None,
            };
            if let Some((what, said, table)) = quoted {
                assert_eq!(said, table, "{vantage}: {what} of frame {frame} is not the table's: {text}");
            }
        }
    }
}

#[test]
fn pathspider_order_interleaved_targets_get_their_own_verdicts() {
    let dir = tempdir("pathspider-order");
    let path = dir.join("pathspider_run.pcap");
    pathspider_run(&path);
    let (targets, connections) = analyze_json("pathspider-order-out", &[], std::slice::from_ref(&path));
    assert_eq!(targets.len(), ORIGINS.len() * COPIES);
    for copy in 0..COPIES {
        let row = |origin: Origin| -> &Value {
            let i = copy * ORIGINS.len() + ORIGINS.iter().position(|o| *o == origin).unwrap();
            targets.iter().find(|t| t["server_ip"] == format!("198.51.100.{}", 10 + i)).unwrap()
        };
        let facts = |origin| {
            let r = row(origin);
            (
                r["connectivity"].as_str().unwrap(),
                r["cookie"].as_str().unwrap(),
                r["syn_data"].as_str().unwrap(),
            )
        };
        for origin in ORIGINS {
            let r = row(origin);
            assert_eq!(r["rounds"], 2, "{origin:?}: {}", r["explanation"]);
            assert!(
                r["explanation"]
                    .as_str()
                    .unwrap()
                    .contains("2 rounds told apart by the kinds of their first SYNs"),
                "{origin:?}: {}",
                r["explanation"]
            );
        }
        assert_eq!(facts(Origin::Clean), ("works", "received", "acked"));
        // No control or expectation: signature 3 untested, so "could not tell", never "no".
        assert_eq!(row(Origin::Clean)["middlebox"], Value::Null);
        assert_eq!(strs(&row(Origin::Clean)["untested"]), ["negotiation"]);
        assert_eq!(facts(Origin::DropsSynData), ("works", "received", "dropped"));
        assert_eq!(strs(&row(Origin::DropsSynData)["signatures"]), ["syn_data_dropped"]);
        assert_eq!(row(Origin::DropsSynData)["middlebox"], true);
        assert_eq!(facts(Origin::CookieOnSecondRequest), ("works", "received", "acked"));
        assert!(
            row(Origin::CookieOnSecondRequest)["explanation"]
                .as_str()
                .unwrap()
                .contains("had been answered without one"),
            "{}",
            row(Origin::CookieOnSecondRequest)["explanation"]
        );
        assert_eq!(facts(Origin::IgnoresSynData), ("works", "received", "not_acked"));
        assert_eq!(facts(Origin::CookielessData), ("works", "not_requested", "acked"));
        assert!(row(Origin::CookielessData)["explanation"]
            .as_str()
            .unwrap()
            .contains("without any TFO option"));
        // A TFO exchange took place (data on the SYN), so it is no "-"; without a control,
        // signature 3 is untested: "could not tell".
        assert_eq!(row(Origin::CookielessData)["middlebox"], Value::Null);
        assert_eq!(strs(&row(Origin::CookielessData)["untested"]), ["negotiation"]);
        assert_eq!(facts(Origin::CachedCookie), ("works", "cached", "acked"));
        assert_eq!(
            row(Origin::EcmpTtl)["synack_differs"],
            false,
            "a hop of ECMP wobble is not another stack"
        );
        assert_eq!(row(Origin::NearerBoxForTfo)["synack_differs"], true);
        assert!(row(Origin::NearerBoxForTfo)["explanation"]
            .as_str()
            .unwrap()
            .contains("TTL 64) differs from the baseline's"));
        for origin in [
            Origin::Clean,
            Origin::CookieOnSecondRequest,
            Origin::CachedCookie,
            Origin::CookielessData,
            Origin::EcmpTtl,
        ] {
            assert_eq!(
                strs(&row(origin)["signatures"]),
                Vec::<&str>::new(),
                "{origin:?}: {}",
                row(origin)["explanation"]
            );
        }
    }
    assert_explanations_name_their_frames(&targets, &connections);

    // Every origin known to do TFO: a cookie cached before the capture, or data sent without
    // asking, is no failure to negotiate (no false signature 3).
    let expect = dir.join("expect.csv");
    let mut csv = String::from("server_ip,server_port,expected_tfo\n");
    for i in 0..ORIGINS.len() * COPIES {
        csv.push_str(&format!("198.51.100.{},80,true\n", 10 + i));
    }
    std::fs::write(&expect, csv).unwrap();
    let (targets, _) =
        analyze_json("pathspider-order-expect", &["--expect", expect.to_str().unwrap()], &[path]);
    for t in &targets {
        assert!(!strs(&t["signatures"]).contains(&"not_negotiated_expected"), "{}", t["explanation"]);
    }
}

#[test]
fn explanations_of_the_lab_captures_name_their_frames() {
    let (targets, connections) = analyze_json("explanation-frames", &[], &captures_in(&testdata()));
    assert!(targets.len() >= 15);
    assert_explanations_name_their_frames(&targets, &connections);
}

pub(crate) fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn two_synacks_for_one_syn__a_conflict_and_the_acknowledged_one_wins() {
    let dir = tempdir("synack-conflict");
    let mut cap = Capture::default();
    // A box nearer than the origin answers the cookie request too (same TSecr, another ISN);
    // the client goes on with the origin's, the second.
    let mut c = Conn::new(addr("192.0.2.1:41000"), addr("198.51.100.30:80"), 7000);
    c.syn(&mut cap, 0, SynOption::Request, &[]);
    let injected = c.synack_from(&mut cap, 2, 0, false, None, 0x0bad_0000, 64, &[]);
    let origin = c.synack_from(&mut cap, 5, 0, false, Some(COOKIE), c.server_isn, 57, &[]);
    c.ack(&mut cap, 6, c.server_isn);
    let mut base = Conn::new(addr("192.0.2.1:41001"), addr("198.51.100.30:80"), 9000);
    base.syn(&mut cap, 20, SynOption::None, &[]);
    base.synack(&mut cap, 23, 0, false, None);
    base.ack(&mut cap, 24, base.server_isn);
    // Another origin forgets the SYN-data: its retransmission is answered with a new ISN after
    // the first answer (different transmissions: normal, no signature). The data was acked by
    // the answer to the SYN that carried it.
    let mut d = Conn::new(addr("192.0.2.1:41002"), addr("198.51.100.31:80"), 11000);
    d.syn(&mut cap, 40, SynOption::Cookie(COOKIE.to_vec()), REQUEST);
    d.syn(&mut cap, 1040, SynOption::None, &[]);
    let first_answer = d.synack_from(&mut cap, 1041, 0, true, None, 0x1111_0000, 57, &[]);
    let second_answer = d.synack_from(&mut cap, 1042, 1, false, None, 0x2222_0000, 57, &[]);
    d.ack(&mut cap, 1043, 0x2222_0000);
    let path = dir.join("conflict.pcap");
    cap.write(&path);

    let out_dir = dir.join("out");
    analyze_to_json(&out_dir, &[], std::slice::from_ref(&path));
    common::judge::assert_judge_equals_analyze("conflict", &[], &[path]);
    let conns = json_table(&out_dir, "connections");
    let request = conns.iter().find(|c| c["client_port"] == 41000).unwrap();
    assert_eq!(request["synack_conflict"], serde_json::json!([injected, origin]));
    assert_eq!(request["synack_frame"], origin, "the SYN-ACK the client acknowledged");
    assert_eq!(request["second_synack_frame"], injected);
    assert_eq!(request["synack_ttl"], 57);
    assert_eq!(request["synack_tfo"], "cookie");
    let forgot = conns.iter().find(|c| c["client_port"] == 41002).unwrap();
    assert_eq!(forgot["synack_conflict"], Value::Null);
    assert_eq!(
        (forgot["synack_frame"].as_u64(), forgot["second_synack_frame"].as_u64()),
        (Some(second_answer), Some(first_answer))
    );
    assert_eq!(forgot["syn_data_acked"], "acked", "told by the answer to the SYN that carried the data");
    assert_eq!(forgot["outcome"], "established_after_fallback");

    let targets = json_table(&out_dir, "targets");
    let t30 = targets.iter().find(|t| t["server_ip"] == "198.51.100.30").unwrap();
    assert_eq!(strs(&t30["signatures"]), ["synack_conflict"]);
    assert_eq!(t30["middlebox"], true);
    assert!(t30["explanation"]
        .as_str()
        .unwrap()
        .contains(&format!("SYN-ACK frames {injected} and {origin} answered the same SYN")));
    let t31 = targets.iter().find(|t| t["server_ip"] == "198.51.100.31").unwrap();
    assert!(!strs(&t31["signatures"]).contains(&"synack_conflict"), "{}", t31["explanation"]);
    assert_explanations_name_their_frames(&targets, &conns);
}

#[test]
fn connections_into_the_vantage__inbound_targets_left_out_of_the_findings() {
    let dir = tempdir("inbound");
    let mut cap = Capture::default();
    let mut t = 0;
    // The capturing host fetches from two origins...
    for (i, server) in ["198.51.100.40:80", "198.51.100.41:80"].iter().enumerate() {
        for (j, option) in [SynOption::Request, SynOption::None].into_iter().enumerate() {
            let mut c =
                Conn::new(addr(&format!("192.0.2.1:{}", 42000 + 10 * i + j)), addr(server), 100 + t as u32);
            c.syn(&mut cap, t, option, &[]);
            c.synack(&mut cap, t + 2, 0, false, Some(COOKIE).filter(|_| j == 0));
            c.ack(&mut cap, t + 3, c.server_isn);
            t += 10;
        }
    }
    // ...and is scanned: a TFO SYN to its port 22, refused.
    let mut scan = Conn::new(addr("198.51.100.66:50000"), addr("192.0.2.1:22"), 555);
    scan.syn(&mut cap, t, SynOption::Request, &[]);
    scan.reset(&mut cap, t + 1);
    let path = dir.join("scanned.pcap");
    cap.write(&path);
    let out_dir = dir.join("out");
    let stdout = analyze_to_json(&out_dir, &[], &[path]);
    let targets = json_table(&out_dir, "targets");
    assert_eq!(targets.len(), 3);
    for t in &targets {
        let expected = if t["server_ip"] == "192.0.2.1" { "inbound" } else { "outbound" };
        assert_eq!(t["direction"], expected, "{t}");
    }
    assert!(stdout.contains("192.0.2.1:22 (inbound)"), "{stdout}");
    assert!(stdout.contains("0 of 2 outbound targets show a middlebox; 1 inbound targets"), "{stdout}");
}

#[test]
fn a_capture_begun_mid_handshake__half_seen_handshakes_counted() {
    let dir = tempdir("half-seen");
    let mut cap = Capture::default();
    // The SYN went before the capture started: a SYN-ACK and the client's ACK only.
    let mut early = Conn::new(addr("192.0.2.1:43000"), addr("198.51.100.50:80"), 3000);
    let mut throwaway = Capture::default();
    early.syn(&mut throwaway, 0, SynOption::Request, &[]);
    early.synack(&mut cap, 1, 0, false, Some(COOKIE));
    early.ack(&mut cap, 2, early.server_isn);
    let mut whole = Conn::new(addr("192.0.2.1:43001"), addr("198.51.100.50:80"), 4000);
    whole.syn(&mut cap, 10, SynOption::None, &[]);
    whole.synack(&mut cap, 12, 0, false, None);
    let path = dir.join("midway.pcap");
    cap.write(&path);
    let out_dir = dir.join("out");
    let stdout = analyze_to_json(&out_dir, &[], &[path]);
    assert_eq!(json_table(&out_dir, "connections").len(), 1);
    let files = json_table(&out_dir, "files");
    assert_eq!(files[0]["half_seen_handshakes"], 1);
    assert!(
        stdout.contains("1 SYN-ACKs without their SYN (handshakes begun before the capture)"),
        "{stdout}"
    );
}
