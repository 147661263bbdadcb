//! Connection-builder tests, named after the rows of TFO-FIELD-NOTES.md.
#![allow(non_snake_case)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use crate::decode::{IcmpError, IpInfo, Packet, QuotedTcp, TcpSegment};
use crate::record::SynTfo;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const ISN: u32 = 1000;
const MS: i64 = 1_000_000;

#[derive(Clone)]
struct Seg {
    at_ms: i64,
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: u32,
    options: Vec<u8>,
}

fn syn(at_ms: i64, options: Vec<u8>, payload: u32) -> Seg {
    Seg { at_ms, from_client: true, flags: TCP_SYN, seq: ISN, ack: 0, payload, options }
}
fn synack(at_ms: i64, ack: u32, options: Vec<u8>) -> Seg {
    Seg { at_ms, from_client: false, flags: TCP_SYN | TCP_ACK, seq: 5000, ack, payload: 0, options }
}
fn client(at_ms: i64, flags: u8, seq: u32, payload: u32) -> Seg {
    Seg { at_ms, from_client: true, flags, seq, ack: 5001, payload, options: vec![] }
}
fn server(at_ms: i64, flags: u8, ack: u32) -> Seg {
    Seg { at_ms, from_client: false, flags, seq: 5001, ack, payload: 0, options: vec![] }
}
fn ts(tsval: u32, tsecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&tsecr.to_be_bytes());
    o
}
fn with(mut a: Vec<u8>, b: &[u8]) -> Vec<u8> {
    a.extend_from_slice(b);
    while !a.len().is_multiple_of(4) {
        a.push(1);
    }
    a
}
const REQUEST: &[u8] = &[34, 2];
const COOKIE: &[u8] = &[34, 10, 1, 2, 3, 4, 5, 6, 7, 8];

fn run_with(table: &mut FlowTable, capture: &Arc<str>, segs: &[Seg]) {
    for (i, s) in segs.iter().enumerate() {
        let (src, dst, sport, dport) =
            if s.from_client { (CLIENT, SERVER, 40000, 80) } else { (SERVER, CLIENT, 80, 40000) };
        let tcp = TcpSegment {
            src_port: sport,
            dst_port: dport,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: 65535,
            header_len: 20 + s.options.len(),
            captured_options: &s.options,
            payload_len: s.payload,
            checksum: 0,
            captured_payload: &[],
        };
        let ip = IpInfo { src, dst, ttl: if s.from_client { 64 } else { 57 } };
        table.push(PacketRef { capture, frame: i as u64 + 1, ts_ns: s.at_ms * MS }, &Packet::Tcp { ip, tcp });
    }
}

/// Pushes one option-less segment outside the CLIENT:40000 -> SERVER:80 template.
fn push_bare(
    table: &mut FlowTable,
    cap: &Arc<str>,
    (frame, ts_ns): (u64, i64),
    (src, src_port): (IpAddr, u16),
    (dst, dst_port): (IpAddr, u16),
    (seq, flags): (u32, u8),
) {
    let tcp = TcpSegment {
        src_port,
        dst_port,
        seq,
        ack: 0,
        flags,
        window: 0,
        header_len: 20,
        captured_options: &[],
        payload_len: 0,
        checksum: 0,
        captured_payload: &[],
    };
    let ip = IpInfo { src, dst, ttl: 64 };
    table.push(PacketRef { capture: cap, frame, ts_ns }, &Packet::Tcp { ip, tcp });
}

fn run(segs: &[Seg]) -> Vec<Connection> {
    let mut table = FlowTable::default();
    run_with(&mut table, &Arc::from("t.pcap"), segs);
    table.finish().0
}

fn one(segs: &[Seg]) -> Connection {
    let conns = run(segs);
    assert_eq!(conns.len(), 1, "{conns:#?}");
    conns.into_iter().next().unwrap()
}

#[test]
fn cookie_request__synack_with_cookie() {
    let c = one(&[
        syn(0, with(ts(100, 0), REQUEST), 0),
        synack(1, ISN + 1, with(ts(9, 100), COOKIE)),
        client(2, TCP_ACK, ISN + 1, 0),
    ]);
    assert_eq!(c.first_syn().tfo, SynTfo::CookieRequest);
    assert_eq!(c.syn_tfo_kind, Some(34));
    let s = c.synack.as_ref().unwrap();
    assert_eq!(s.tfo, SynAckTfo::Cookie);
    assert_eq!(s.cookie.as_deref(), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
    assert_eq!(s.answers, SynAckAnswers::FirstSyn);
    assert_eq!(s.option_kinds, vec![1, 1, 8, 34, 1, 1]);
    assert_eq!(s.ttl, 57);
    assert_eq!(c.syn_data_acked, None);
    assert_eq!(c.outcome, Outcome::Established);
    assert_eq!(c.connect_ms(), Some(1.0));
}

#[test]
fn syn_data_with_cookie__acked() {
    let c = one(&[syn(0, with(ts(100, 0), COOKIE), 77), synack(1, ISN + 78, ts(9, 100))]);
    assert_eq!(c.first_syn().tfo, SynTfo::Cookie);
    assert_eq!(c.syn_cookie.as_deref(), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
    assert_eq!(c.first_syn().data_len, 77);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
    assert!(!c.syn_data_resent);
    assert_eq!(c.outcome, Outcome::Established);
}

#[test]
fn plain_resend_within_the_same_timestamp_tick__a_retransmission_not_a_duplicate() {
    // After an ICMP too-big Linux resends the SYN at once, without data: the same TSval.
    let resent =
        one(&[syn(0, with(ts(100, 0), COOKIE), 1400), syn(0, ts(100, 0), 0), synack(1, ISN + 1, ts(9, 100))]);
    assert_eq!(resent.syn_count, 2);
    assert_eq!(resent.synack.as_ref().unwrap().answers, SynAckAnswers::RetransmittedSyn);
    // The same SYN captured twice is still one transmission.
    let twice = one(&[syn(0, with(ts(100, 0), COOKIE), 77), syn(0, with(ts(100, 0), COOKIE), 77)]);
    assert_eq!(twice.syn_count, 1);
    // A SYN-ACK acking the data answered the first, whichever shares its TSval.
    let acked =
        one(&[syn(0, with(ts(100, 0), COOKIE), 77), syn(0, ts(100, 0), 0), synack(1, ISN + 78, ts(9, 100))]);
    assert_eq!(acked.synack.as_ref().unwrap().answers, SynAckAnswers::FirstSyn);
}

#[test]
fn option_dropped__plain_retransmit_answered() {
    let c = one(&[
        syn(0, with(ts(100, 0), REQUEST), 0),
        syn(1000, ts(1100, 0), 0),
        synack(1001, ISN + 1, ts(9, 1100)),
    ]);
    assert_eq!(c.syn_count, 2);
    assert_eq!(c.first_syn().tfo, SynTfo::CookieRequest);
    assert_eq!(c.syns[1].tfo, SynTfo::None);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::RetransmittedSyn);
    assert_eq!(c.synack.as_ref().unwrap().tfo, SynAckTfo::None);
    assert_eq!(c.outcome, Outcome::EstablishedAfterFallback);
}

#[test]
fn option_reset__rst_answers_the_tfo_syn() {
    let c = one(&[syn(0, with(ts(100, 0), REQUEST), 0), server(1, TCP_RST | TCP_ACK, ISN + 1)]);
    assert_eq!(c.outcome, Outcome::Reset);
    let r = c.reset.unwrap();
    assert!(r.answers_first_syn);
    assert_eq!(r.frame, 2);
}

#[test]
fn syn_data_unanswered__plain_retransmit_answered__data_resent() {
    let c = one(&[
        syn(0, with(ts(100, 0), COOKIE), 77),
        syn(1000, ts(1100, 0), 0),
        synack(1001, ISN + 1, ts(9, 1100)),
        client(1002, TCP_ACK | 0x08, ISN + 1, 77),
    ]);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::RetransmittedSyn);
    assert_eq!(c.syn_data_acked, Some(DataAcked::NotAcked));
    assert!(c.syn_data_resent);
    assert_eq!(c.outcome, Outcome::EstablishedAfterFallback);
}

#[test]
fn syn_data_not_acked_by_server__first_syn_answered() {
    // A server that rejects the cookie acks only the SYN; the client sends the data again.
    let c = one(&[
        syn(0, with(ts(100, 0), COOKIE), 77),
        synack(1, ISN + 1, ts(9, 100)),
        client(2, TCP_ACK | 0x08, ISN + 1, 77),
    ]);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::FirstSyn);
    assert_eq!(c.syn_data_acked, Some(DataAcked::NotAcked));
    assert!(c.syn_data_resent);
    assert_eq!(c.outcome, Outcome::Established);
}

#[test]
fn syn_data_reset__rst_acks_the_data() {
    let c = one(&[syn(0, with(ts(100, 0), COOKIE), 77), server(1, TCP_RST | TCP_ACK, ISN + 78)]);
    assert_eq!(c.outcome, Outcome::Reset);
    assert!(c.reset.unwrap().answers_first_syn);
}

#[test]
fn rst_after_a_retransmission_without_ack_evidence_is_not_pinned_on_the_first_syn() {
    let c = one(&[
        syn(0, with(ts(100, 0), REQUEST), 0),
        syn(1000, ts(1100, 0), 0),
        server(1001, TCP_RST | TCP_ACK, ISN + 1),
    ]);
    assert_eq!(c.outcome, Outcome::Reset);
    assert!(!c.reset.unwrap().answers_first_syn);
}

#[test]
fn no_timestamps__two_syns__plain_ack_is_ambiguous() {
    let c = one(&[syn(0, REQUEST.to_vec(), 0), syn(1000, vec![], 0), synack(1001, ISN + 1, vec![])]);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::Ambiguous);
    assert_eq!(c.outcome, Outcome::Established);
}

#[test]
fn no_timestamps__ack_covering_the_data_answers_the_first_syn() {
    let c = one(&[syn(0, COOKIE.to_vec(), 40), syn(1000, vec![], 0), synack(1001, ISN + 41, vec![])]);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::FirstSyn);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
}

#[test]
fn no_timestamps__single_syn_is_answered_by_the_synack() {
    let c = one(&[syn(0, REQUEST.to_vec(), 0), synack(5, ISN + 1, vec![])]);
    assert_eq!(c.synack.as_ref().unwrap().answers, SynAckAnswers::FirstSyn);
}

#[test]
fn host_down__unanswered_syns_time_out_when_the_capture_runs_on() {
    let mut table = FlowTable::default();
    let cap: Arc<str> = Arc::from("t.pcap");
    run_with(
        &mut table,
        &cap,
        &[syn(0, with(ts(1, 0), REQUEST), 0), syn(1000, ts(2, 0), 0), syn(3000, ts(3, 0), 0)],
    );
    // Unrelated traffic keeps the capture going.
    push_bare(&mut table, &cap, (9, 7000 * MS), (SERVER, 1), (SERVER, 2), (0, TCP_ACK));
    let (conns, stats) = table.finish();
    assert_eq!(conns[0].outcome, Outcome::Timeout);
    assert_eq!(conns[0].syn_count, 3);
    assert_eq!(stats.untracked_segments, 1);
}

#[test]
fn capture_ends_right_after_the_syn__incomplete() {
    let c = one(&[syn(0, REQUEST.to_vec(), 0)]);
    assert_eq!(c.outcome, Outcome::Incomplete);
}

#[test]
fn port_reused_with_a_new_isn__two_connections() {
    let mut second = syn(5000, vec![], 0);
    second.seq = 777;
    let conns = run(&[syn(0, vec![], 0), synack(1, ISN + 1, vec![]), second]);
    assert_eq!(conns.len(), 2);
    assert_eq!(conns.iter().map(|c| c.isn).collect::<Vec<_>>(), vec![ISN, 777]);
}

#[test]
fn sequence_numbers_wrap() {
    let isn = u32::MAX - 5;
    let mut s = syn(0, COOKIE.to_vec(), 10);
    s.seq = isn;
    let c = one(&[s.clone(), synack(1, isn.wrapping_add(11), vec![])]);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked));
    let partial = one(&[s.clone(), synack(1, isn.wrapping_add(6), vec![])]);
    assert_eq!(partial.syn_data_acked, Some(DataAcked::Partial));
    let bogus = one(&[s, synack(1, isn.wrapping_add(400), vec![])]);
    assert_eq!(bogus.syn_data_acked, Some(DataAcked::Bogus));
}

#[test]
fn icmp_unreachable_quoting_the_syn__icmp_error() {
    let mut table = FlowTable::default();
    let cap: Arc<str> = Arc::from("t.pcap");
    run_with(&mut table, &cap, &[syn(0, REQUEST.to_vec(), 0)]);
    let quoted = QuotedTcp { src: CLIENT, dst: SERVER, src_port: 40000, dst_port: 80, seq: ISN, tcp_len: 8 };
    let error = IcmpError { version: 4, icmp_type: 3, code: 1, quoted, quote: &[], mtu: None };
    let ip = IpInfo { src: SERVER, dst: CLIENT, ttl: 60 };
    table.push(PacketRef { capture: &cap, frame: 2, ts_ns: 5 * MS }, &Packet::IcmpError { ip, error });
    let (conns, _) = table.finish();
    assert_eq!(conns[0].outcome, Outcome::IcmpError);
    assert_eq!(conns[0].icmp.unwrap().icmp, Some((3, 1)));
}

#[test]
fn same_syn_seen_on_two_interfaces_counts_once() {
    let mut table = FlowTable::default();
    let cap: Arc<str> = Arc::from("t.pcap");
    let mut twice = syn(0, with(ts(100, 0), REQUEST), 0);
    run_with(&mut table, &cap, &[twice.clone()]);
    twice.at_ms = 0;
    run_with(&mut table, &cap, &[twice]);
    let (conns, stats) = table.finish();
    assert_eq!(conns[0].syn_count, 1);
    assert_eq!(stats.duplicate_syns, 1);
}

#[test]
fn closed_connections_are_emitted_while_streaming() {
    let mut table = FlowTable::default();
    let cap: Arc<str> = Arc::from("t.pcap");
    run_with(
        &mut table,
        &cap,
        &[
            syn(0, vec![], 0),
            synack(1, ISN + 1, vec![]),
            client(2, TCP_ACK | TCP_FIN, ISN + 1, 0),
            server(3, TCP_ACK | TCP_FIN, ISN + 2),
        ],
    );
    assert_eq!(table.open_connections(), 1);
    // Twenty seconds later, another client port connects.
    push_bare(&mut table, &cap, (5, 20_000 * MS), (CLIENT, 50000), (SERVER, 80), (1, TCP_SYN));
    let done = table.take_done();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].client.port(), 40000);
    assert_eq!(table.open_connections(), 1);
}

#[test]
fn malformed_kind_34_in_the_syn() {
    let c = one(&[syn(0, vec![34, 4, 0xf9, 0x89], 0)]);
    assert_eq!(c.first_syn().tfo, SynTfo::Malformed);
    assert_eq!(c.syn_tfo_kind, Some(34));
    // The bytes are kept, as tshark shows them.
    assert_eq!(c.syn_cookie.as_deref(), Some(&[0xf9, 0x89][..]));
}

#[test]
fn cookies_of_lengths_the_rfc_forbids__kept_as_on_the_wire_and_flagged() {
    for cookie in [&[0xaa, 0xbb][..], &[1, 2, 3], &[7; 18], &[1, 2, 3, 4, 5]] {
        let mut option = vec![34, cookie.len() as u8 + 2];
        option.extend_from_slice(cookie);
        let c = one(&[syn(0, with(vec![], REQUEST), 0), synack(1, ISN + 1, with(vec![], &option))]);
        let s = c.synack.as_ref().expect("answered");
        assert_eq!(s.tfo, SynAckTfo::CookieBadLength, "{cookie:?}");
        assert_eq!(s.cookie.as_deref(), Some(cookie));
        assert_eq!(s.tfo_kind, Some(34));
    }
    // Lengths the RFC allows stay cookies; a request in a SYN-ACK is malformed, without bytes.
    let c = one(&[syn(0, with(vec![], REQUEST), 0), synack(1, ISN + 1, with(vec![], &[34, 6, 1, 2, 3, 4]))]);
    assert_eq!(c.synack.as_ref().unwrap().tfo, SynAckTfo::Cookie);
    let c = one(&[syn(0, with(vec![], REQUEST), 0), synack(1, ISN + 1, with(vec![], REQUEST))]);
    let s = c.synack.as_ref().unwrap();
    assert_eq!((s.tfo, s.cookie.as_deref()), (SynAckTfo::Malformed, None));
}

#[test]
fn options_cut_by_snap_length__truncated_never_none() {
    let mut s = syn(0, with(ts(100, 0), REQUEST), 0);
    let declared = s.options.len();
    s.options.truncate(6);
    let mut table = FlowTable::default();
    let cap: Arc<str> = Arc::from("t.pcap");
    let tcp = TcpSegment {
        src_port: 40000,
        dst_port: 80,
        seq: ISN,
        ack: 0,
        flags: TCP_SYN,
        window: 0,
        header_len: 20 + declared,
        captured_options: &s.options,
        payload_len: 0,
        checksum: 0,
        captured_payload: &[],
    };
    let ip = IpInfo { src: CLIENT, dst: SERVER, ttl: 64 };
    table.push(PacketRef { capture: &cap, frame: 1, ts_ns: 0 }, &Packet::Tcp { ip, tcp });
    let (conns, _) = table.finish();
    assert_eq!(conns[0].first_syn().tfo, SynTfo::Truncated);
}

mod properties {
    use proptest::prelude::*;

    use super::super::syn_data_acked;
    use crate::record::DataAcked;

    proptest! {
        #[test]
        fn data_acked_is_judged_with_wrapping_arithmetic(isn in any::<u32>(), len in 1u32..100_000, extra in 0u32..100_000) {
            prop_assert_eq!(syn_data_acked(isn, len, isn.wrapping_add(1).wrapping_add(len)), DataAcked::Acked);
            prop_assert_eq!(syn_data_acked(isn, len, isn.wrapping_add(1)), DataAcked::NotAcked);
            if extra > 0 && extra < len {
                prop_assert_eq!(syn_data_acked(isn, len, isn.wrapping_add(1).wrapping_add(extra)), DataAcked::Partial);
            }
            prop_assert_eq!(syn_data_acked(isn, len, isn.wrapping_add(1).wrapping_add(len).wrapping_add(1 + extra)), DataAcked::Bogus);
            // An ack below ISN+1 is as bogus as one beyond the data.
            prop_assert_eq!(syn_data_acked(isn, len, isn.wrapping_sub(extra)), DataAcked::Bogus);
        }

        /// Whatever a router (or an attacker) puts in an ICMP error's quote, the connection it
        /// names takes it in without a panic, and a quote too short for a TCP header is said so.
        #[test]
        fn any_quote_is_taken_in_without_panic(quote in prop::collection::vec(any::<u8>(), 0..120), tcp_len in 0u16..100) {
            use std::sync::Arc;
            use super::*;
            let mut table = FlowTable::default();
            let cap: Arc<str> = Arc::from("t.pcap");
            run_with(&mut table, &cap, &[syn(0, REQUEST.to_vec(), 0)]);
            let quoted = QuotedTcp { src: CLIENT, dst: SERVER, src_port: 40000, dst_port: 80, seq: ISN, tcp_len };
            let error = IcmpError { version: 4, icmp_type: 11, code: 0, quoted, quote: &quote, mtu: None };
            let ip = IpInfo { src: SERVER, dst: CLIENT, ttl: 60 };
            table.push(PacketRef { capture: &cap, frame: 2, ts_ns: 5 * MS }, &Packet::IcmpError { ip, error });
            let (conns, _) = table.finish();
            let reply = conns[0].icmp_reply.as_deref().expect("the quote names the connection");
            prop_assert!(reply.time_exceeded);
            if quote.len() < 40 {
                prop_assert!(reply.quoted.is_none() || quote.len() >= 20);
            }
        }
    }
}

#[test]
fn open_connection_cap__new_attempts_counted_not_tracked() {
    let mut table = FlowTable::new(FlowConfig { max_open: 2, ..FlowConfig::default() });
    let cap: Arc<str> = Arc::from("t.pcap");
    for (i, port) in [40001u16, 40002, 40003].iter().enumerate() {
        push_bare(&mut table, &cap, (i as u64 + 1, 0), (CLIENT, *port), (SERVER, 80), (1, TCP_SYN));
    }
    let (conns, stats) = table.finish();
    assert_eq!(conns.len(), 2);
    assert_eq!(stats.over_capacity, 1);
}

#[test]
fn two_synacks_answer_one_syn__conflict_and_the_acknowledged_one_wins() {
    // The same TSecr, another ISN: a box answering beside the origin.
    let c = one(&[
        syn(0, with(ts(100, 0), REQUEST), 0),
        Seg { seq: 9000, ..synack(1, ISN + 1, ts(7, 100)) },
        synack(2, ISN + 1, with(ts(9, 100), COOKIE)),
        Seg { ack: 5001, ..client(3, TCP_ACK, ISN + 1, 0) },
    ]);
    assert!(c.synack_conflict);
    let (s, other) = (c.synack.as_ref().unwrap(), c.other_synack.as_ref().unwrap());
    assert_eq!((s.frame, s.isn, s.tfo), (3, 5000, SynAckTfo::Cookie), "the one the client acknowledged");
    assert_eq!((other.frame, other.isn), (2, 9000));
    assert_eq!(c.outcome, Outcome::Established);
    // Without the client's ACK, the first stays; a lone SYN without timestamps conflicts too.
    let c = one(&[
        syn(0, vec![], 0),
        Seg { seq: 9000, ..synack(1, ISN + 1, vec![]) },
        synack(2, ISN + 1, vec![]),
    ]);
    assert!(c.synack_conflict);
    assert_eq!(c.synack.as_ref().unwrap().isn, 9000);
}

#[test]
fn synacks_with_new_isns_for_different_transmissions__recorded_no_conflict() {
    // The server forgot the SYN-data's SYN and answered the retransmission anew.
    let c = one(&[
        syn(0, with(ts(100, 0), COOKIE), 77),
        syn(1000, ts(1100, 0), 0),
        synack(1001, ISN + 78, ts(9, 100)),
        Seg { seq: 9000, ..synack(1002, ISN + 1, ts(10, 1100)) },
        Seg { ack: 9001, ..client(1003, TCP_ACK, ISN + 1, 0) },
    ]);
    assert!(!c.synack_conflict);
    assert_eq!(c.synack.as_ref().unwrap().isn, 9000, "the one the client acknowledged");
    assert_eq!(c.other_synack.as_ref().unwrap().frame, 3);
    assert_eq!(c.syn_data_acked, Some(DataAcked::Acked), "told by the answer to the data's SYN");
    assert_eq!(c.synack_to_first_syn().unwrap().frame, 3);
    // A retransmitted SYN-ACK (the same ISN) is no second answer.
    let c =
        one(&[syn(0, ts(100, 0), 0), synack(1, ISN + 1, ts(9, 100)), synack(1001, ISN + 1, ts(1009, 100))]);
    assert!(c.other_synack.is_none() && !c.synack_conflict);
}

#[test]
fn synack_without_its_syn__counted_as_half_seen() {
    let mut table = FlowTable::default();
    run_with(
        &mut table,
        &Arc::from("t.pcap"),
        &[synack(1, ISN + 1, ts(9, 100)), client(2, TCP_ACK, ISN + 1, 0)],
    );
    let (conns, stats) = table.finish();
    assert!(conns.is_empty());
    assert_eq!((stats.half_seen_handshakes, stats.untracked_segments), (1, 2));
}

#[test]
fn synack_data__its_length_recorded() {
    let c = one(&[syn(0, ts(100, 0), 0), Seg { payload: 12, ..synack(1, ISN + 1, ts(9, 100)) }]);
    assert_eq!(c.synack.as_ref().unwrap().data_len, 12);
}
