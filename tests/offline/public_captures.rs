//! The public captures of other projects (../shared/captures), held to their known contents,
//! including the negative cases tshark cannot referee.

use crate::common;

use common::*;
use tfoscope_analyze::record::{Connection, DataAcked, Outcome, SynAckTfo, SynTfo};
use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs};

/// The connections of a public capture; None (the test skipped, loudly) without ../shared.
fn connections(name: &str) -> Option<Vec<Connection>> {
    let path = shared_captures()?.join(name);
    let result = analyze(&Inputs::file(name, path), &AnalyzeOptions::in_memory()).into_single().unwrap();
    assert!(result.report.complete(), "{name}: {:?}", result.report.warnings);
    Some(result.connections)
}

#[test]
fn pathspider_kind_255_is_not_tfo() {
    for name in ["pathspider__tfo_cookie_request_b.pcap", "pathspider__tfo_data_on_syn_b.pcap"] {
        let Some(conns) = connections(name) else { return };
        assert_eq!(conns.len(), 1, "{name}");
        assert_eq!(conns[0].first_syn().tfo, SynTfo::None, "{name}");
        assert_eq!(conns[0].synack.as_ref().unwrap().tfo, SynAckTfo::None, "{name}");
        assert!(!conns[0].tried_tfo());
    }
}

#[test]
fn pathspider_kind_34_of_length_4_is_malformed() {
    let Some(conns) = connections("pathspider__tfo_cookie_request_official.pcap") else { return };
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c.first_syn().tfo, SynTfo::Malformed);
    assert_eq!(c.syn_tfo_kind, Some(34));
    // The option's two bytes, as on the wire (tshark shows them as the cookie).
    assert_eq!(c.syn_cookie.as_deref(), Some(&[0xf9, 0x89][..]));
    let synack = c.synack.as_ref().unwrap();
    assert_eq!(synack.tfo, SynAckTfo::Cookie);
    let cookie = synack.cookie.as_ref().unwrap();
    assert_eq!(cookie.len(), 10);
    assert_eq!(&cookie[..2], &[0xf9, 0x89]);
}

#[test]
fn pathspider_official_data_on_syn_is_a_ten_byte_cookie_with_acked_data() {
    let Some(conns) = connections("pathspider__tfo_data_on_syn_official.pcap") else { return };
    let c = &conns[0];
    assert_eq!(c.first_syn().tfo, SynTfo::Cookie);
    assert_eq!(c.syn_cookie.as_ref().unwrap().len(), 10);
    assert_eq!(c.first_syn().data_len, 39);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
    assert_eq!(c.synack.as_ref().unwrap().tfo, SynAckTfo::None);
}

#[test]
fn pathspider_experimental_option_with_bad_checksums() {
    let Some(conns) = connections("pathspider__tfo_cookie_request.pcap") else { return };
    assert_eq!(conns[0].first_syn().tfo, SynTfo::CookieRequest);
    assert_eq!(conns[0].syn_tfo_kind, Some(254));
    let synack = conns[0].synack.as_ref().unwrap();
    assert_eq!(synack.cookie.as_deref(), Some(&[0x06, 0x8d, 0x53, 0xd0, 0x9b, 0x2c, 0xb2, 0xff][..]));
    assert_eq!(synack.tfo_kind, Some(254));

    let Some(conns) = connections("pathspider__tfo_data_on_syn.pcap") else { return };
    let c = &conns[0];
    assert!(c.client.is_ipv6());
    assert_eq!(c.syn_cookie.as_deref(), Some(&[0x9a, 0xb4, 0x9b, 0x22, 0x54, 0xa0, 0x24, 0x75][..]));
    assert_eq!(c.first_syn().data_len, 39);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
}

#[test]
fn tcpdump_nat_gateway_drops_the_syn_data() {
    let Some(conns) = connections("tcpdump__tfo-5c1fa7f9ae91.pcap") else { return };
    assert_eq!(conns.len(), 3, "LAN and WAN sides of the cookie request, then the SYN-data");
    for c in &conns[..2] {
        assert_eq!(c.first_syn().tfo, SynTfo::CookieRequest);
        assert_eq!(c.synack.as_ref().unwrap().cookie.as_deref(), Some(&[9, 9, 9, 9, 0, 0][..]));
    }
    assert_eq!(conns[0].isn, conns[1].isn, "the same connection seen on both sides of the NAT");
    let data = &conns[2];
    assert_eq!(data.first_syn().tfo, SynTfo::Cookie);
    assert_eq!(data.first_syn().data_len, 4);
    assert!(data.synack.is_none());
    assert_eq!(data.syn_count, 1, "never retransmitted");
    assert_eq!(data.outcome, Outcome::Timeout);
}

#[test]
fn ptcpdump_sll2_cookie_next_to_mptcp() {
    let Some(conns) = connections("ptcpdump__tfo.pcap") else { return };
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].first_syn().tfo, SynTfo::CookieRequest);
    let synack = conns[0].synack.as_ref().unwrap();
    assert_eq!(synack.cookie.as_deref(), Some(&[0x26, 0x57, 0xf5, 0x8b, 0x2d, 0xe4, 0x3e, 0x0e][..]));
    assert!(synack.option_kinds.contains(&30), "MPTCP option kept: {:?}", synack.option_kinds);
    // A real client's SYN asking for TFO and MPTCP at once, both granted: the features read
    // from another tool's capture.
    assert_eq!(conns[0].first_syn().features.to_string(), "tfo+mptcp");
    assert_eq!(synack.features.to_string(), "tfo+mptcp");
}

#[test]
fn go_dnscollector_four_syn_data_connections_accepted() {
    let Some(conns) = connections("go-dnscollector__dnsdump_tcp_fastopen.pcap") else { return };
    assert_eq!(conns.len(), 4);
    for c in &conns {
        assert_eq!(c.server.port(), 53);
        assert_eq!(c.syn_cookie.as_deref(), Some(&[0x94, 0x1c, 0x88, 0xee, 0x16, 0xe7, 0x6a, 0x80][..]));
        assert_eq!(c.first_syn().data_len, 34);
        assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
        assert_eq!(c.outcome, Outcome::Established);
    }
}

#[test]
fn attempt_schema_names_every_field_the_collector_writes() {
    use tfoscope_analyze::attempt::{AppResult, AttemptRecord, CollectorRecord};
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/attempt.json")).unwrap()).unwrap();
    // Every optional field filled, nested ones included (the echo document has a schema of its
    // own, schemas/echo.json, held to the serve crate's documents there).
    let record = CollectorRecord::Attempt(AttemptRecord {
        url: "http://198.51.100.1/".into(),
        host: "198.51.100.1".into(),
        server_ip: "198.51.100.1".into(),
        server_port: 80,
        fetch: tfoscope_analyze::attempt::FetchKind::Plain,
        features: Some(tfoscope_analyze::record::Features::parse_list("mptcp").unwrap()),
        round: 1,
        local_port: 42000,
        start_ns: 1,
        end_ns: 2,
        syn_data_acked: Some(false),
        fastopen_client_fail: Some(3),
        cookie_flushed: Some(true),
        cache_before: Some(tfoscope_analyze::attempt::CacheState {
            cookie: true,
            syn_drops: 0,
            cookie_hex: Some("a1b2c3d4e5f60708".into()),
        }),
        cache_after: Some(tfoscope_analyze::attempt::CacheState {
            cookie: true,
            syn_drops: 1,
            cookie_hex: Some("0102030405060708".into()),
        }),
        category: Some("NEWS".into()),
        request_headers: Some(vec![("host".into(), "example.test".into())]),
        result: AppResult {
            status: Some(200),
            size: Some(20),
            cert_sha256: Some("ab".repeat(32)),
            cert_error: Some("invalid peer certificate: UnknownIssuer".into()),
            error: None,
        },
        echo: None,
        echo_error: Some("not json".into()),
        tcp_info: Some(tfoscope_analyze::attempt::KernelView {
            state: 1,
            options: 0x27,
            fastopen_client_fail: 3,
            total_retrans: 1,
            rtt_us: 120,
            snd_mss: 1448,
            rcv_mss: 1448,
            pmtu: 1500,
            mptcp_flags: Some(2),
        }),
    });
    let json: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
    // What is written is documented, nested objects included, and what is required is written.
    assert_collector_record_in_schema(&json);
    // What is documented is written: the schema names no field the collector leaves out.
    let branch = &doc["oneOf"][0];
    fn names(schema: &serde_json::Value, value: &serde_json::Value, at: &str, missing: &mut Vec<String>) {
        let Some(props) = schema["properties"].as_object() else { return };
        for (key, sub) in props {
            match value.get(key) {
                Some(v) => names(sub, v, &format!("{at}.{key}"), missing),
                None => missing.push(format!("{at}.{key}")),
            }
        }
    }
    let mut missing = Vec::new();
    names(branch, &json, "attempt", &mut missing);
    assert_eq!(missing, ["attempt.echo"], "documented but not written (echo is None here)");
    // Padding after the document is not part of it.
    assert_eq!(CollectorRecord::from_json(&[record.to_json(), vec![0, 0, 0]].concat()), Some(record));
}
