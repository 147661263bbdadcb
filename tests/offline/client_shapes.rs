//! The shapes a real TFO client produces (Linux's client driven through scripted remote
//! behaviour), each built packet by packet: one client and one server, no timestamps, ICMP
//! too-big, a SYN-data reset with no baseline, cookies of forbidden lengths, partial acks.

#![allow(non_snake_case)]

use crate::common;

use common::packets::{Capture, Conn, SynOption};
use common::*;
use serde_json::Value;

use std::net::SocketAddr;

use super::other_tools::{addr, analyze_json, strs, COOKIE, REQUEST};

/// One target's three fetches as Linux makes them: a cookie request granted, then the
/// SYN-data (its fate written by `data_fate`), then the baseline. RTT 10 ms. Returns the
/// data connection's first SYN frame.
fn linux_fetches(
    cap: &mut Capture,
    client: &str,
    server: &str,
    t0: u64,
    timestamps: bool,
    data: &[u8],
    data_fate: impl FnOnce(&mut Capture, &mut Conn, u64),
) -> u64 {
    let ip = |port: u16| SocketAddr::new(addr(client).ip(), port);
    let base = (t0 % 1000) as u16;
    let mut request = Conn::new(ip(41000 + base), addr(server), 1000 + t0 as u32);
    request.timestamps = timestamps;
    request.syn(cap, t0, SynOption::Request, &[]);
    request.synack(cap, t0 + 10, 0, false, Some(COOKIE));
    request.ack(cap, t0 + 11, request.server_isn);
    let mut data_conn = Conn::new(ip(41001 + base), addr(server), 2000 + t0 as u32);
    data_conn.timestamps = timestamps;
    let syn = data_conn.syn(cap, t0 + 100, SynOption::Cookie(COOKIE.to_vec()), data);
    data_fate(cap, &mut data_conn, t0 + 100);
    let mut plain = Conn::new(ip(41002 + base), addr(server), 3000 + t0 as u32);
    plain.timestamps = timestamps;
    plain.syn(cap, t0 + 3000, SynOption::None, &[]);
    plain.synack(cap, t0 + 3010, 0, false, None);
    plain.ack(cap, t0 + 3011, plain.server_isn);
    syn
}

/// The SYN-data lost on the path: Linux resends a plain SYN after 1 s, answered a round trip
/// later with an ack of the SYN alone.
fn dropped_on_the_path(cap: &mut Capture, c: &mut Conn, t: u64) {
    c.syn(cap, t + 1000, SynOption::None, &[]);
    c.synack(cap, t + 1010, 1, false, None);
    c.ack(cap, t + 1011, c.server_isn);
}

fn target<'a>(targets: &'a [Value], server_ip: &str) -> &'a Value {
    targets
        .iter()
        .find(|t| t["server_ip"] == server_ip)
        .unwrap_or_else(|| panic!("{server_ip}: {targets:#?}"))
}

#[test]
fn one_client_one_server__outbound_for_either_family_and_order_of_addresses() {
    let dir = tempdir("one-server");
    // The client's address sorts after the server's in one file and before it in the other:
    // direction must not follow the addresses' order.
    let cases = [
        ("v4_high_client", "198.51.100.9", "192.0.2.1:80"),
        ("v4_low_client", "192.0.2.9", "198.51.100.1:80"),
        ("v6_high_client", "2001:db8::9", "[2001:db8::1]:80"),
        ("v6_low_client", "2001:db8::1", "[2001:db8::9]:80"),
    ];
    let mut files = Vec::new();
    for (name, client, server) in cases {
        let mut cap = Capture::default();
        let client = if client.contains(':') { format!("[{client}]:1") } else { format!("{client}:1") };
        linux_fetches(&mut cap, &client, server, 0, true, REQUEST, dropped_on_the_path);
        let path = dir.join(format!("{name}.pcap"));
        cap.write(&path);
        files.push(path);
    }
    let out_dir = dir.join("out");
    let stdout = analyze_to_json(&out_dir, &[], &files);
    let targets = json_table(&out_dir, "targets");
    assert_eq!(targets.len(), 4);
    for t in &targets {
        assert_eq!(t["direction"], "outbound", "{}: {}", t["vantage"], t["explanation"]);
        assert_eq!(strs(&t["signatures"]), ["syn_data_dropped"], "{}", t["vantage"]);
        assert_eq!(t["middlebox"], true, "{}", t["vantage"]);
    }
    assert!(!stdout.contains("(inbound)"), "{stdout}");
}

#[test]
fn no_timestamps__a_late_synack_answers_the_retransmission_by_timing() {
    let dir = tempdir("no-timestamps");
    let mut cap = Capture::default();
    // SYN-data dropped, no timestamps anywhere: the SYN-ACK 1010 ms after the data SYN (the
    // other handshakes take 10 ms) answered the plain retransmission.
    let dropped =
        linux_fetches(&mut cap, "192.0.2.1:1", "198.51.100.1:80", 0, false, REQUEST, dropped_on_the_path);
    // A clean target without timestamps: the SYN-ACK acks the data, which decides.
    linux_fetches(&mut cap, "192.0.2.1:1", "198.51.100.2:80", 10_000, false, REQUEST, |cap, c, t| {
        c.synack(cap, t + 10, 0, true, None);
        c.ack(cap, t + 11, c.server_isn);
    });
    // The TFO SYN of a cookie request dropped, no timestamps: its plain retransmission answered.
    let mut request = Conn::new(addr("192.0.2.1:43000"), addr("198.51.100.3:80"), 77);
    request.timestamps = false;
    let option_syn = request.syn(&mut cap, 20_000, SynOption::Request, &[]);
    request.syn(&mut cap, 21_000, SynOption::None, &[]);
    request.synack(&mut cap, 21_010, 1, false, None);
    let mut plain = Conn::new(addr("192.0.2.1:43001"), addr("198.51.100.3:80"), 78);
    plain.timestamps = false;
    plain.syn(&mut cap, 23_000, SynOption::None, &[]);
    plain.synack(&mut cap, 23_010, 0, false, None);
    // A slow origin: every handshake takes 400 ms, so a SYN-ACK 1.1 s after a data SYN that
    // was retransmitted at 1 s is no proof of which SYN it answered.
    let slow = addr("198.51.100.4:80");
    let mut request = Conn::new(addr("192.0.2.1:44000"), slow, 90);
    request.timestamps = false;
    request.syn(&mut cap, 30_000, SynOption::Request, &[]);
    request.synack(&mut cap, 30_400, 0, false, Some(COOKIE));
    let mut data = Conn::new(addr("192.0.2.1:44001"), slow, 91);
    data.timestamps = false;
    data.syn(&mut cap, 31_000, SynOption::Cookie(COOKIE.to_vec()), REQUEST);
    data.syn(&mut cap, 32_000, SynOption::None, &[]);
    data.synack(&mut cap, 32_100, 1, false, None);
    let path = dir.join("windows_like.pcap");
    cap.write(&path);
    let (targets, conns) = analyze_json("no-timestamps-json", &[], std::slice::from_ref(&path));

    let t = target(&targets, "198.51.100.1");
    assert_eq!((t["syn_data"].as_str(), strs(&t["signatures"])), (Some("dropped"), vec!["syn_data_dropped"]));
    let explanation = t["explanation"].as_str().unwrap();
    assert!(explanation.contains(&format!("the SYN-data in frame {dropped} got no answer")), "{explanation}");
    assert!(
        explanation.contains("without TCP timestamps") && explanation.contains("by its timing"),
        "{explanation}"
    );
    // The connections table keeps what the wire alone says.
    let data_conn = conns.iter().find(|c| c["first_syn_frame"] == dropped).unwrap();
    assert_eq!(data_conn["synack_answers"], "ambiguous");

    let t = target(&targets, "198.51.100.2");
    assert_eq!((t["syn_data"].as_str(), t["middlebox"].clone()), (Some("acked"), Value::Null));
    assert!(strs(&t["signatures"]).is_empty());

    let t = target(&targets, "198.51.100.3");
    assert_eq!(strs(&t["signatures"]), ["option_dropped"], "{}", t["explanation"]);
    assert!(t["explanation"]
        .as_str()
        .unwrap()
        .contains(&format!("the TFO SYN in frame {option_syn} got no answer")));

    let t = target(&targets, "198.51.100.4");
    assert!(
        strs(&t["signatures"]).is_empty(),
        "timing proves nothing at a slow origin: {}",
        t["explanation"]
    );
    assert_ne!(t["middlebox"], false);
    assert!(!t["explanation"].as_str().unwrap().contains("by its timing"));
}

#[test]
fn icmp_too_big_answering_the_data_syn__linked_and_no_middlebox() {
    let dir = tempdir("too-big");
    let mut cap = Capture::default();
    let big = vec![b'x'; 1400];
    let mut icmp_frames = Vec::new();
    for (client, server, router) in [
        ("192.0.2.1:1", "198.51.100.1:80", "192.0.2.254"),
        ("[2001:db8::1]:1", "[2001:db8:2::1]:80", "2001:db8::fe"),
    ] {
        linux_fetches(
            &mut cap,
            client,
            server,
            icmp_frames.len() as u64 * 10_000,
            true,
            &big,
            |cap, c, t| {
                let quoted = c.syn_packet(&SynOption::Cookie(COOKIE.to_vec()), &big);
                icmp_frames.push(cap.push_too_big(
                    t + 1,
                    addr(&format!("[{router}]:0").replace("[192.0.2.254]", "192.0.2.254")).ip(),
                    c.client.ip(),
                    1280,
                    &quoted,
                ));
                // Linux resends the SYN at once without the data, which follows the handshake.
                c.syn(cap, t + 2, SynOption::None, &[]);
                c.synack(cap, t + 12, 1, false, None);
                c.ack(cap, t + 13, c.server_isn);
            },
        );
    }
    // The same shape with the ICMP error filtered: it looks like a box dropping SYN data, and
    // the explanation names the SYN's size against the MSS.
    let filtered =
        linux_fetches(&mut cap, "192.0.2.1:1", "198.51.100.5:80", 30_000, true, &big, dropped_on_the_path);
    let path = dir.join("tunnel.pcap");
    cap.write(&path);
    let (targets, conns) = analyze_json("too-big-json", &[], std::slice::from_ref(&path));
    for (server, sender, icmp_type) in
        [("198.51.100.1", "192.0.2.254", 3), ("2001:db8:2::1", "2001:db8::fe", 2)]
    {
        let t = target(&targets, server);
        assert_eq!(t["syn_data"], "too_big", "{}", t["explanation"]);
        assert!(strs(&t["signatures"]).is_empty(), "{}", t["explanation"]);
        assert_eq!(t["middlebox"], Value::Null, "a path MTU is no middlebox, and SYN data was untested");
        assert!(strs(&t["untested"]).contains(&"syn_data"));
        assert!(strs(&t["conditions"]).contains(&"tfo.syndata.too_big"));
        let explanation = t["explanation"].as_str().unwrap();
        assert!(
            explanation.contains("too big for the path") && explanation.contains("MTU of 1280"),
            "{explanation}"
        );
        let c = conns.iter().find(|c| c["server_ip"] == server && c["syn_data_len"] == 1400).unwrap();
        assert!(icmp_frames.contains(&c["icmp_frame"].as_u64().unwrap()), "{c}");
        assert_eq!((c["icmp_type"].as_u64(), c["icmp_mtu"].as_u64()), (Some(icmp_type), Some(1280)));
        assert_eq!(c["icmp_code"], if icmp_type == 3 { 4 } else { 0 });
        assert_eq!(c["icmp_sender"], sender);
    }
    let t = target(&targets, "198.51.100.5");
    assert_eq!(strs(&t["signatures"]), ["syn_data_dropped"]);
    let explanation = t["explanation"].as_str().unwrap();
    assert!(
        explanation.contains(&format!("the SYN-data in frame {filtered} got no answer"))
            && explanation.contains("it carried 1400 bytes of data and the SYN-ACK announced an MSS of 1460"),
        "{explanation}"
    );
}

#[test]
fn syn_data_reset_with_no_baseline__never_a_clean_no() {
    let dir = tempdir("reset-no-baseline");
    let mut cap = Capture::default();
    let server = addr("198.51.100.1:80");
    let mut request = Conn::new(addr("192.0.2.1:45000"), server, 10);
    request.syn(&mut cap, 0, SynOption::Request, &[]);
    let answered = request.synack(&mut cap, 10, 0, false, Some(COOKIE));
    request.ack(&mut cap, 11, request.server_isn);
    let mut data = Conn::new(addr("192.0.2.1:45001"), server, 20);
    let syn = data.syn(&mut cap, 100, SynOption::Cookie(COOKIE.to_vec()), REQUEST);
    let refusal = data.reset(&mut cap, 101);
    let path = dir.join("no_baseline.pcap");
    cap.write(&path);
    // With an expectation, too: the origin's TFO is known, still no "no".
    let expect = dir.join("expect.csv");
    std::fs::write(&expect, "server_ip,server_port,expected_tfo\n198.51.100.1,80,true\n").unwrap();
    for args in [&[][..], &["--expect", expect.to_str().unwrap()][..]] {
        let (targets, _) = analyze_json("reset-no-baseline-json", args, std::slice::from_ref(&path));
        let t = target(&targets, "198.51.100.1");
        assert_eq!(t["syn_data"], "reset", "{}", t["explanation"]);
        let explanation = t["explanation"].as_str().unwrap();
        assert!(
            explanation.contains(&format!(
                "frame {refusal} refused the SYN-data in frame {syn} while a SYN without data was answered (frame {answered})"
            )),
            "{explanation}"
        );
        // The cookie request answered without data is the SYN without data: signature 2 holds.
        assert_eq!(strs(&t["signatures"]), ["syn_data_reset"], "{args:?}: {explanation}");
        assert_eq!(t["middlebox"], true);
    }
    // A script that asks for a cookie twice, then sends the SYN-data, which is reset: told
    // apart by their kinds these are two rounds, the reset in one of them. Not a majority, so
    // no signature; and never "no".
    let mut cap = Capture::default();
    for (i, t) in [(0u32, 0u64), (1, 200)] {
        let mut request = Conn::new(addr(&format!("192.0.2.1:{}", 47000 + i)), server, 50 + i);
        request.syn(&mut cap, t, SynOption::Request, &[]);
        request.synack(&mut cap, t + 10, 0, false, Some(COOKIE));
        request.ack(&mut cap, t + 11, request.server_isn);
    }
    let mut data = Conn::new(addr("192.0.2.1:47002"), server, 60);
    data.syn(&mut cap, 300, SynOption::Cookie(COOKIE.to_vec()), REQUEST);
    data.reset(&mut cap, 301);
    let path = dir.join("asked_twice.pcap");
    cap.write(&path);
    let (targets, _) =
        analyze_json("reset-asked-twice-json", &["--expect", expect.to_str().unwrap()], &[path]);
    let t = target(&targets, "198.51.100.1");
    // Two rounds by kinds, the reset in one: no majority, so no signature, never "no", and the
    // explanation says where it held.
    assert!(strs(&t["signatures"]).is_empty(), "{}", t["explanation"]);
    assert_eq!(t["middlebox"], Value::Null, "{}", t["explanation"]);
    assert!(
        t["explanation"].as_str().unwrap().contains("syn_data_reset in 1 of 2 rounds"),
        "{}",
        t["explanation"]
    );
}

#[test]
fn cookies_of_forbidden_lengths__on_the_wire_as_tshark_shows_them() {
    let dir = tempdir("odd-cookies");
    let mut cap = Capture::default();
    let cookies: [&[u8]; 3] = [&[0xab, 0xcd], &[1, 2, 3], &[0x5e; 18]];
    for (i, cookie) in cookies.iter().enumerate() {
        let server = addr(&format!("198.51.100.{}:80", 10 + i));
        let mut request = Conn::new(addr(&format!("192.0.2.1:{}", 46000 + i)), server, 30 + i as u32);
        request.syn(&mut cap, 100 * i as u64, SynOption::Request, &[]);
        request.synack(&mut cap, 100 * i as u64 + 10, 0, false, Some(cookie));
        request.ack(&mut cap, 100 * i as u64 + 11, request.server_isn);
        // Linux keeps no such cookie: its next fetch asks again.
        let mut again = Conn::new(addr(&format!("192.0.2.1:{}", 46100 + i)), server, 40 + i as u32);
        again.syn(&mut cap, 100 * i as u64 + 50, SynOption::Request, &[]);
        again.synack(&mut cap, 100 * i as u64 + 60, 0, false, Some(cookie));
    }
    let path = dir.join("odd_cookies.pcap");
    cap.write(&path);
    let (targets, conns) = analyze_json("odd-cookies-json", &[], std::slice::from_ref(&path));
    for (i, cookie) in cookies.iter().enumerate() {
        let hex: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
        let server = format!("198.51.100.{}", 10 + i);
        let of_server: Vec<&Value> = conns.iter().filter(|c| c["server_ip"] == server).collect();
        assert_eq!(of_server.len(), 2, "{server}");
        for c in of_server {
            assert_eq!(
                (c["synack_tfo"].as_str(), c["synack_cookie"].as_str()),
                (Some("cookie_bad_length"), Some(hex.as_str()))
            );
        }
        let t = target(&targets, &server);
        assert_eq!(t["cookie"], "not_received");
        assert!(
            t["explanation"].as_str().unwrap().contains("a length RFC 7413 does not allow"),
            "{}",
            t["explanation"]
        );
    }
    if have_tool("tshark") {
        // The bytes are the ones tshark shows (tcp.options.tfo.cookie).
        check_against_tshark(&path);
    }
}

#[test]
fn partial_acks__all_but_one_byte_named_apart_from_other_partial_acks() {
    let dir = tempdir("partial-acks");
    let mut cap = Capture::default();
    let len = REQUEST.len() as u32;
    for (server, acked) in
        [("198.51.100.1:80", len - 1), ("198.51.100.2:80", len / 2), ("198.51.100.3:80", len)]
    {
        linux_fetches(&mut cap, "192.0.2.1:1", server, acked as u64 * 1000, true, REQUEST, |cap, c, t| {
            c.synack_acking(cap, t + 10, acked, None);
            c.ack(cap, t + 11, c.server_isn);
        });
    }
    let path = dir.join("partial.pcap");
    cap.write(&path);
    let (targets, conns) = analyze_json("partial-acks-json", &[], std::slice::from_ref(&path));
    for (server, acked, condition) in [
        ("198.51.100.1", "all_but_one", Some("tfo.syndata.one_byte_proxy")),
        ("198.51.100.2", "partial", Some("tfo.syndata.partial")),
        ("198.51.100.3", "acked", None),
    ] {
        let c = conns.iter().find(|c| c["server_ip"] == server && c["syn_data_len"] == len).unwrap();
        assert_eq!(c["syn_data_acked"], acked);
        let t = target(&targets, server);
        let conditions = strs(&t["conditions"]);
        assert_eq!(
            conditions.iter().find(|c| c.starts_with("tfo.syndata.") && **c != "tfo.syndata.acked").copied(),
            condition,
            "{server}"
        );
        let explanation = t["explanation"].as_str().unwrap();
        assert_eq!(explanation.contains("one-byte proxy"), acked == "all_but_one", "{explanation}");
    }
}

#[test]
fn a_cookie_the_origin_refuses_and_replaces__cookie_rejected_not_a_middlebox() {
    // A load balancer's other backend: the cookie from the first is refused (only the SYN
    // acked) and another granted. The same cookie granted again is no rejection.
    let dir = tempdir("cookie-rejected");
    let mut cap = Capture::default();
    let other: &[u8] = &[0xbe, 0xef, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33];
    for (server, granted_again) in [("198.51.100.1:80", other), ("198.51.100.2:80", COOKIE)] {
        let t0 = if granted_again == other { 0 } else { 10_000 };
        linux_fetches(&mut cap, "192.0.2.1:1", server, t0, true, REQUEST, |cap, c, t| {
            c.synack(cap, t + 10, 0, false, Some(granted_again));
            c.ack(cap, t + 11, c.server_isn);
        });
    }
    let path = dir.join("balanced.pcap");
    cap.write(&path);
    let expect = dir.join("expect.csv");
    std::fs::write(
        &expect,
        "server_ip,server_port,expected_tfo\n198.51.100.1,80,true\n198.51.100.2,80,true\n",
    )
    .unwrap();
    let (targets, _) = analyze_json("cookie-rejected-json", &["--expect", expect.to_str().unwrap()], &[path]);
    let rejected = target(&targets, "198.51.100.1");
    assert_eq!(rejected["cookie_rejected"], true);
    assert_ne!(rejected["middlebox"], true, "an origin's fact, not a middlebox");
    assert!(strs(&rejected["signatures"]).is_empty(), "{}", rejected["explanation"]);
    assert_eq!(rejected["syn_data"], "not_acked");
    assert!(
        rejected["explanation"].as_str().unwrap().contains("the origin rejected the cookie"),
        "{}",
        rejected["explanation"]
    );
    let same = target(&targets, "198.51.100.2");
    assert_eq!(same["cookie_rejected"], false);
    assert!(!same["explanation"].as_str().unwrap().contains("rejected the cookie"));
}
