//! Hop-limited probes, built packet by packet in the shape of a tracebox-style run (no
//! collector records: probes told by their TTL), for what no Linux lab makes: routers that
//! quote 8 bytes of TCP (RFC 792). A path of four routers and the origin at hop 5; the box at
//! router 3. The lab holds the same for real (tests/lab_cmd.rs, `locate_*` scenarios).

#![allow(non_snake_case)]

use crate::common;

use std::net::{IpAddr, SocketAddr};

use common::packets::{ip_packet, syn_options, synack_options, Capture, Segment, SynOption};
use common::tables::{assert_matches_schema, read_parquet, schema_of};
use common::*;
use serde_json::Value;

const CLIENT: &str = "192.0.2.1:40000";
const SERVER: &str = "198.51.100.1";
const COOKIE: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8];
const DATA: &[u8] = b"GET / HTTP/1.1\r\nHost: probe.test\r\n\r\n";

#[derive(Clone, Copy, PartialEq)]
enum Box3 {
    None,
    /// Strips the TFO option as SYNs arrive (before the router's TTL check: its own quote shows it).
    StripsOnArrival,
    /// Drops SYNs with the TFO option after the TTL check (iptables FORWARD).
    DropsTfoWhenForwarding,
}

#[derive(Clone, Copy, PartialEq)]
enum Quotes {
    /// Linux: the IP header and the whole TCP segment.
    Whole,
    /// RFC 792: the IP header and 8 bytes of TCP.
    EightBytes,
}

fn router(hop: u8) -> IpAddr {
    format!("192.0.2.{}", 200 + hop).parse().unwrap()
}

/// Probes of three kinds to port 80 and plain ones to port 81, hop limits 1 to 6.
fn trace(box3: Box3, quotes: Quotes) -> Capture {
    trace_with_silence(box3, quotes, None)
}

/// As [`trace`], the router at `silent` saying nothing to the cookie request (its ICMP rate
/// limit spent).
fn trace_with_silence(box3: Box3, quotes: Quotes, silent: Option<u8>) -> Capture {
    let client: SocketAddr = CLIENT.parse().unwrap();
    let mut cap = Capture::default();
    let mut t = 0;
    for hop in 1..=6u8 {
        for (k, (port, tfo, data)) in [
            (80, SynOption::None, &[][..]),
            (80, SynOption::Request, &[][..]),
            (80, SynOption::Cookie(COOKIE.to_vec()), DATA),
            (81, SynOption::None, &[][..]),
        ]
        .into_iter()
        .enumerate()
        {
            t += 10;
            let server = SocketAddr::new(SERVER.parse().unwrap(), port);
            let isn = 1000 + u32::from(hop) * 16 + k as u32;
            let is_tfo = tfo != SynOption::None;
            let mut probe = Segment {
                src: client,
                dst: server,
                ttl: hop,
                seq: isn,
                ack: None,
                syn: true,
                rst: false,
                options: syn_options(5000, &tfo),
                payload: data.to_vec(),
            };
            cap.push(t, &probe);
            // Along the path, hop by hop.
            let mut dropped = false;
            for at in 1..=hop.min(5) {
                if at == 3 && is_tfo && box3 == Box3::StripsOnArrival {
                    probe.options = syn_options(5000, &SynOption::None);
                    while probe.options.len() < syn_options(5000, &tfo).len() {
                        probe.options.push(1);
                    }
                }
                if at == hop && at <= 4 && silent == Some(at) && tfo == SynOption::Request {
                    dropped = true;
                    break;
                }
                if at == hop && at <= 4 {
                    // Time exceeded at this router, quoting the probe as it arrived.
                    let mut quoted = ip_packet(&Segment { ttl: 1, ..probe.clone() });
                    if quotes == Quotes::EightBytes {
                        quoted.truncate(20 + 8);
                    }
                    cap.push_time_exceeded(t + 1, router(at), client.ip(), 64 - (at - 1), &quoted);
                    dropped = true;
                    break;
                }
                if at == 3 && is_tfo && box3 == Box3::DropsTfoWhenForwarding {
                    dropped = true;
                    break;
                }
            }
            if dropped || hop < 5 {
                continue;
            }
            // The origin, four routers away.
            let answer = Segment {
                src: server,
                dst: client,
                ttl: 60,
                seq: 77_000,
                ack: Some(isn.wrapping_add(1)),
                syn: port == 80,
                rst: port == 81,
                options: if port == 80 { synack_options(1460, 9, 5000, None) } else { vec![] },
                payload: vec![],
            };
            cap.push(t + 2, &answer);
        }
    }
    cap
}

fn analyze_trace(name: &str, cap: &Capture) -> (Value, Vec<Value>, std::path::PathBuf) {
    let dir = tempdir(name);
    let path = dir.join("trace.pcap");
    cap.write(&path);
    let out = dir.join("out");
    let stdout = analyze_to_json(&out, &[], std::slice::from_ref(&path));
    common::judge::assert_judge_equals_analyze(name, &[], &[path]);
    assert!(stdout.contains("hop-limited probes ->"), "{stdout}");
    let targets = json_table(&out, "targets");
    assert_eq!(targets.len(), 1, "one target, the second port is its own: {targets:#?}");
    (targets[0].clone(), json_table(&out, "hops"), dir)
}

fn interval(t: &Value) -> (Option<u64>, Option<u64>) {
    (t["middlebox_hop_min"].as_u64(), t["middlebox_hop_max"].as_u64())
}

#[test]
fn a_clean_path__the_origin_placed_and_no_box() {
    let (t, hops, _) = analyze_trace("locate-clean", &trace(Box3::None, Quotes::Whole));
    assert_eq!(t["origin_hops"], 5);
    assert_eq!(interval(&t), (None, None), "{t}");
    assert_eq!(t["connections"], 0, "probes are no fetches");
    assert_eq!(hops.len(), 24);
    let quote = hops.iter().find(|h| h["hop_limit"] == 2 && h["probe"] == "tfo_data").unwrap();
    assert_eq!(quote["reply"], "time_exceeded");
    assert_eq!(quote["responder_ip"], "192.0.2.202");
    assert_eq!(quote["responder_hops"], 2);
    assert_eq!(quote["quote_has_options"], true);
    assert_eq!(quote["quote_changes"], serde_json::json!([]));
    let origin = hops.iter().find(|h| h["hop_limit"] == 5 && h["probe_port"] == 81).unwrap();
    assert_eq!((origin["reply"].as_str(), origin["responder_hops"].as_u64()), (Some("rst"), Some(5)));
}

#[test]
fn an_option_stripped_at_hop_3__between_2_and_3_by_the_quotes() {
    let (t, hops, dir) = analyze_trace("locate-strip", &trace(Box3::StripsOnArrival, Quotes::Whole));
    assert_eq!(interval(&t), (Some(2), Some(3)), "{t}");
    assert_eq!(t["middlebox_ips"], serde_json::json!(["192.0.2.202", "192.0.2.203"]));
    let explanation = t["explanation"].as_str().unwrap();
    assert!(explanation.contains("between hops 2 and 3"), "{explanation}");
    let at3 = hops.iter().find(|h| h["hop_limit"] == 3 && h["probe"] == "tfo_cookie_request").unwrap();
    let words: Vec<&str> =
        at3["quote_changes"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(words.contains(&"option_removed:34") && words.contains(&"checksum_changed"), "{words:?}");
    assert!(explanation.contains(&format!("frame {}", at3["probe_frame"])), "names the probe: {explanation}");
    // The table as written holds its schema.
    let out = tempdir("locate-strip-parquet");
    let status = tfoscope()
        .args(["analyze", "-o", out.to_str().unwrap()])
        .arg(dir.join("trace.pcap"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_matches_schema(&read_parquet(&out.join("hops.parquet")), &schema_of("hops"));
    assert_matches_schema(&read_parquet(&out.join("targets.parquet")), &schema_of("targets"));
}

#[test]
fn tfo_dropped_when_forwarded_at_hop_3__between_3_and_4_by_the_answers() {
    let (t, _, _) = analyze_trace("locate-drop", &trace(Box3::DropsTfoWhenForwarding, Quotes::Whole));
    assert_eq!(interval(&t), (Some(3), Some(4)), "{t}");
    assert_eq!(t["origin_hops"], 5);
}

#[test]
fn eight_byte_quotes__the_answers_alone_place_a_drop_and_a_strip_is_never_placed_wrong() {
    let (t, hops, _) =
        analyze_trace("locate-8-drop", &trace(Box3::DropsTfoWhenForwarding, Quotes::EightBytes));
    assert_eq!(interval(&t), (Some(3), Some(4)), "{t}");
    let quote = hops.iter().find(|h| h["hop_limit"] == 2 && h["probe"] == "tfo_data").unwrap();
    assert_eq!((quote["quote_len"].as_u64(), quote["quote_has_options"].as_bool()), (Some(8), Some(false)));
    assert!(quote["quote_changes"].is_null());
    // A strip leaves no trace in 8-byte quotes: no interval, rather than a wrong one.
    let (t, _, _) = analyze_trace("locate-8-strip", &trace(Box3::StripsOnArrival, Quotes::EightBytes));
    assert_eq!(interval(&t), (None, None), "{t}");
}

#[test]
fn a_router_silent_once__its_rate_limit_is_no_box() {
    let (t, _, _) =
        analyze_trace("locate-ratelimit", &trace_with_silence(Box3::None, Quotes::Whole, Some(2)));
    assert_eq!(interval(&t), (None, None), "one silent hop is a rate limit, not a drop: {t}");
    assert_eq!(t["origin_hops"], 5);
}
