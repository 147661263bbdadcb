#![allow(non_snake_case)]
use std::net::SocketAddr;
use std::sync::Arc;

use super::rounds::{majority, split_rounds};
use super::*;
use crate::attempt::{AttemptRecord, FetchKind};
use crate::decode::options::KIND_FASTOPEN;
use crate::expect::{Expectation, Expectations};
use crate::record::{
    AttemptLink, Connection, DataAcked, Features, Outcome, Refusal, SynAck, SynAckAnswers, SynAckTfo,
    SynShape, SynTfo, SynTransmission,
};
use crate::summary::{ConnSummary, TargetConnections};

const KIND: Option<u8> = Some(KIND_FASTOPEN);

/// The collector's record of a `fetch` from `local_port` to http://`ip`/ (port 80, round 1),
/// nothing more known: a test fills in what it is about.
pub(crate) fn attempt_record(ip: &str, fetch: FetchKind, local_port: u16) -> AttemptRecord {
    AttemptRecord {
        url: format!("http://{ip}/"),
        host: ip.into(),
        server_ip: ip.into(),
        server_port: 80,
        fetch,
        features: None,
        round: 1,
        local_port,
        start_ns: 0,
        end_ns: 0,
        syn_data_acked: None,
        fastopen_client_fail: None,
        cookie_flushed: None,
        cache_before: None,
        cache_after: None,
        category: None,
        request_headers: None,
        result: crate::attempt::AppResult::default(),
        echo: None,
        echo_error: None,
        tcp_info: None,
    }
}

/// One connection to 198.51.100.1:80 from `port`; `answer` is which SYN got the SYN-ACK.
pub(crate) fn conn(
    port: u16,
    tfo: SynTfo,
    data_len: u32,
    answer: Option<SynAckAnswers>,
    cookie: bool,
) -> Connection {
    let isn = 1000;
    let first = SynTransmission {
        frame: u64::from(port),
        time_ns: i64::from(port) * 1_000_000,
        tfo,
        data_len,
        tsval: None,
        shape: SynShape::new(64, 64240, Some(1460), Some(7), &[2, 4, 8, 1, 3, 34]),
        features: if tfo == SynTfo::None { Features::NONE } else { Features::TFO },
    };
    let mut syns = vec![first];
    if answer == Some(SynAckAnswers::RetransmittedSyn) || answer.is_none() {
        syns.push(SynTransmission {
            frame: u64::from(port) + 1,
            time_ns: 0,
            tfo: SynTfo::None,
            data_len: 0,
            tsval: None,
            shape: SynShape::new(64, 64240, Some(1460), Some(7), &[2, 4, 8, 1, 3]),
            features: Features::NONE,
        });
    }
    let synack = answer.map(|answers| SynAck {
        frame: u64::from(port) + 2,
        time_ns: 0,
        isn: 5000,
        data_len: 0,
        tsecr: None,
        answers,
        tfo: if cookie { SynAckTfo::Cookie } else { SynAckTfo::None },
        tfo_kind: if cookie { KIND } else { None },
        cookie: cookie.then(|| vec![1, 2, 3, 4]),
        ack: if answers == SynAckAnswers::FirstSyn { isn + 1 + data_len } else { isn + 1 },
        ttl: 63,
        window: 65535,
        mss: Some(1460),
        option_kinds: vec![2, 4, 8, 1, 3],
        features: if cookie { Features::TFO } else { Features::NONE },
    });
    let syn_data_acked = match (&synack, data_len) {
        (Some(s), n) if n > 0 => {
            Some(if s.ack == isn + 1 + n { DataAcked::Acked } else { DataAcked::NotAcked })
        }
        _ => None,
    };
    let outcome = match answer {
        Some(SynAckAnswers::RetransmittedSyn) => Outcome::EstablishedAfterFallback,
        Some(_) => Outcome::Established,
        None => Outcome::Timeout,
    };
    Connection {
        capture: Arc::from("t"),
        client: SocketAddr::new("192.0.2.1".parse().unwrap(), port),
        server: SocketAddr::new("198.51.100.1".parse().unwrap(), 80),
        isn,
        syn_count: syns.len() as u32,
        syns,
        syn_tfo_kind: (tfo != SynTfo::None).then_some(KIND_FASTOPEN),
        syn_tfo_duplicate: false,
        syn_cookie: (tfo == SynTfo::Cookie).then(|| vec![1, 2, 3, 4]),
        syn_options_error: None,
        synack,
        other_synack: None,
        synack_conflict: false,
        syn_data_acked,
        syn_data_resent: false,
        reset: None,
        icmp: None,
        outcome,
        last_time_ns: 0,
        attempt: None,
        arrival: None,
        request_print: None,
        icmp_reply: None,
    }
}

pub(super) fn round(cookie_granted: bool, data: Option<SynAckAnswers>, base: u16) -> Vec<Connection> {
    let mut round = vec![conn(base, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), cookie_granted)];
    if let Some(answer) = data {
        round.push(conn(base + 10, SynTfo::Cookie, 76, Some(answer), false));
    }
    round.push(conn(base + 20, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false));
    round
}

pub(super) fn judge(conns: &[Connection], expected: Option<bool>) -> TargetVerdict {
    let mut expectations = Expectations::new();
    if let Some(e) = expected {
        let key = ("198.51.100.1".parse().unwrap(), 80);
        expectations
            .insert(key, Expectation { expected_tfo: Some(e), source: "test".into(), ..Default::default() });
    }
    let mut v = judge_vantage("v", conns, &expectations, false);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

#[test]
fn clean_round__no_signature() {
    let v = judge(&round(true, Some(SynAckAnswers::FirstSyn), 100), None);
    assert_eq!(
        (v.connectivity, v.cookie, v.syn_data),
        (Connectivity::Works, CookieResult::Received, SynDataResult::Acked)
    );
    assert_eq!(v.signatures, vec![]);
    // Without an expectation signature 3 was not tested: "no" would claim more than we looked.
    assert_eq!(v.middlebox.as_bool(), None);
    assert_eq!(v.untested, vec![Untested::Negotiation]);
    assert_eq!(v.rounds, 1);
    let v = judge(&round(true, Some(SynAckAnswers::FirstSyn), 100), Some(true));
    assert_eq!((v.middlebox.as_bool(), v.untested.clone()), (Some(false), vec![]), "{}", v.explanation);
}

#[test]
fn clean_cookie_but_no_syn_data__cannot_tell() {
    // Cookie received, no SYN-data fetch: signature 2 untested even with an expectation.
    let v = judge(&round(true, None, 100), Some(true));
    assert_eq!((v.syn_data, v.untested.clone()), (SynDataResult::NotAttempted, vec![Untested::SynData]));
    assert_eq!(v.middlebox.as_bool(), None);
}

/// A clean round whose connections carry the collector's records; `tfo_status` and
/// `tfo_cert` are what the TFO fetches got, the baseline got 200 and certificate "a".
pub(super) fn recorded_round(round_no: u32, base: u16, tfo_status: u16, tfo_cert: &str) -> Vec<Connection> {
    let mut conns = round(true, Some(SynAckAnswers::FirstSyn), base);
    for (c, fetch) in conns.iter_mut().zip(FetchKind::ALL) {
        let (status, cert) = if fetch == FetchKind::Plain { (200, "a") } else { (tfo_status, tfo_cert) };
        c.attempt = Some(Arc::new(AttemptLink {
            url: "https://lab.test/".into(),
            host: "lab.test".into(),
            fetch,
            features: if fetch.tfo() { Features::TFO } else { Features::NONE },
            round: round_no,
            app_result: status.to_string(),
            status: Some(status),
            size: Some(612),
            cert_sha256: Some(cert.into()),
            cert_error: None,
            cached_syn_drops: Some(0),
            category: None,
            echo: false,
        }));
    }
    conns
}

#[test]
fn tfo_fetches_answered_otherwise__response_differs() {
    let v = judge(&recorded_round(1, 100, 403, "a"), None);
    assert_eq!(v.signatures, vec![Signature::ResponseDiffers]);
    assert_eq!(v.middlebox.as_bool(), Some(true));
    assert!(
        v.explanation.contains("tfo cookie request fetch got status 403 where the baseline got 200"),
        "{}",
        v.explanation
    );
    let v = judge(&recorded_round(1, 100, 200, "b"), None);
    assert_eq!(v.signatures, vec![Signature::ResponseDiffers]);
    assert!(v.explanation.contains("another certificate"), "{}", v.explanation);
    let v = judge(&recorded_round(1, 100, 200, "a"), None);
    assert_eq!((v.signatures.clone(), v.middlebox.as_bool()), (vec![], None), "{}", v.explanation);
    let v = judge(&recorded_round(1, 100, 200, "a"), Some(true));
    assert_eq!((v.signatures.clone(), v.middlebox.as_bool()), (vec![], Some(false)), "{}", v.explanation);
}

#[test]
fn response_differs_in_one_of_three_rounds__not_claimed() {
    let conns: Vec<Connection> = [(1, 100, 403), (2, 200, 200), (3, 300, 200)]
        .into_iter()
        .flat_map(|(r, base, status)| recorded_round(r, base, status, "a"))
        .collect();
    let v = judge(&conns, None);
    assert_eq!(v.rounds, 3);
    assert_eq!(v.signatures, vec![]);
}

#[test]
fn syn_drops_cached_before_a_tfo_fetch__measurement_not_valid() {
    let mut conns = recorded_round(1, 100, 200, "a");
    assert!(judge(&conns, None).measurement_valid);
    Arc::make_mut(conns[1].attempt.as_mut().unwrap()).cached_syn_drops = Some(2);
    let v = judge(&conns, None);
    assert!(!v.measurement_valid);
    assert!(v.explanation.contains("already remembered 2 SYN-data loss(es)"), "{}", v.explanation);
    // Drops remembered before the plain fetch change nothing about TFO's SYNs.
    let mut conns = recorded_round(1, 100, 200, "a");
    Arc::make_mut(conns[2].attempt.as_mut().unwrap()).cached_syn_drops = Some(1);
    assert!(judge(&conns, None).measurement_valid);
}

#[test]
fn fetches_that_never_reached_the_wire__a_row_from_the_records() {
    use crate::attempt::AppResult;
    let record = |ip: &str, error: &str| AttemptRecord {
        result: AppResult { error: Some(error.into()), ..AppResult::default() },
        ..attempt_record(ip, FetchKind::Plain, 0)
    };
    let conns = round(true, Some(SynAckAnswers::FirstSyn), 100);
    let records = [record("198.51.100.99", "no_route"), record("198.51.100.1", "timeout")];
    let verdicts = judge_vantage_with_records(
        "v",
        &TargetConnections::of(&conns),
        &Expectations::new(),
        super::CaptureHealth::default(),
        &records,
        &[],
    );
    assert_eq!(verdicts.len(), 2, "the address with packets is judged from them, once");
    let silent = verdicts.iter().find(|v| v.target == "http://198.51.100.99/").unwrap();
    assert_eq!(
        (silent.connectivity, silent.middlebox.as_bool(), silent.connections),
        (Connectivity::Offline, None, 0)
    );
    assert!(silent.explanation.contains("no_route"), "{}", silent.explanation);
}

#[test]
fn control_on_another_address_of_the_same_name__judges_by_host() {
    // The control reached lab.test at 198.51.100.1 and got a cookie; the measured vantage
    // reached lab.test at 198.51.100.9 and got none.
    let control = recorded_round(1, 100, 200, "a");
    let mut measured = round(false, None, 200);
    for (c, fetch) in measured.iter_mut().zip([FetchKind::TfoCookieRequest, FetchKind::Plain]) {
        c.server = SocketAddr::new("198.51.100.9".parse().unwrap(), 80);
        c.attempt = Some(Arc::new(AttemptLink {
            url: "https://LAB.test/".into(),
            host: "LAB.test".into(),
            fetch,
            features: if fetch.tfo() { Features::TFO } else { Features::NONE },
            round: 1,
            app_result: "200".into(),
            status: Some(200),
            size: Some(612),
            cert_sha256: Some("a".into()),
            cert_error: None,
            cached_syn_drops: Some(0),
            category: None,
            echo: false,
        }));
    }
    let vantage = |name: &str, connections: Vec<Connection>| crate::result::VantageResult {
        name: name.into(),
        targets: TargetConnections::of(&connections),
        connections,
        hops: vec![],
        report: Default::default(),
    };
    let (verdicts, warnings) = judge_all(&[vantage("m", measured.clone())], &[vantage("ctl", control)], None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let v = verdicts.iter().find(|v| v.vantage == "m").unwrap();
    assert_eq!(v.expected_tfo, Some(true));
    assert_eq!(v.signatures, vec![Signature::NotNegotiatedExpected]);
    assert!(v.explanation.contains("for the name lab.test"), "{}", v.explanation);
    // Without the name, no expectation reaches the other address.
    for c in &mut measured {
        c.attempt = None;
    }
    let (verdicts, _) =
        judge_all(&[vantage("m", measured)], &[vantage("ctl", recorded_round(1, 100, 200, "a"))], None);
    let v = verdicts.iter().find(|v| v.vantage == "m").unwrap();
    assert_eq!((v.expected_tfo, v.signatures.clone()), (None, vec![]));
}

#[test]
fn syn_data_dropped_in_two_of_three_rounds__holds_and_says_so() {
    let mut conns = round(true, Some(SynAckAnswers::RetransmittedSyn), 100);
    conns.extend(round(true, Some(SynAckAnswers::FirstSyn), 200));
    conns.extend(round(true, Some(SynAckAnswers::RetransmittedSyn), 300));
    let v = judge(&conns, None);
    assert_eq!(v.rounds, 3);
    assert_eq!(v.signatures, vec![Signature::SynDataDropped]);
    assert_eq!(v.syn_data, SynDataResult::Dropped);
    assert!(v.explanation.contains("syn_data_dropped in 2 of 3 rounds"), "{}", v.explanation);
}

#[test]
fn syn_data_dropped_in_one_of_three_rounds__a_random_loss_decides_nothing() {
    let mut conns = round(true, Some(SynAckAnswers::RetransmittedSyn), 100);
    conns.extend(round(true, Some(SynAckAnswers::FirstSyn), 200));
    conns.extend(round(true, Some(SynAckAnswers::FirstSyn), 300));
    let v = judge(&conns, None);
    assert_eq!(v.signatures, vec![]);
    assert_eq!(v.syn_data, SynDataResult::Acked);
}

#[test]
fn ambiguous_synack__never_a_signature() {
    let v = judge(&round(true, Some(SynAckAnswers::Ambiguous), 100), None);
    assert_eq!(v.signatures, vec![]);
    assert_eq!(v.syn_data, SynDataResult::NotAcked);
}

#[test]
fn no_cookie_with_tfo_expected__not_negotiated_expected() {
    let v = judge(&round(false, None, 100), Some(true));
    assert_eq!(v.signatures, vec![Signature::NotNegotiatedExpected]);
    assert_eq!(v.untested, vec![Untested::SynData]);
    assert_eq!(v.expected_tfo, Some(true));
}

#[test]
fn no_cookie_without_expectation__plain_fact_only() {
    let v = judge(&round(false, None, 100), None);
    assert_eq!(v.cookie, CookieResult::NotReceived);
    assert_eq!(v.signatures, vec![]);
    assert_eq!(v.untested, vec![Untested::SynData, Untested::Negotiation]);
}

#[test]
fn cookie_where_none_expected__negotiated_unexpected() {
    let v = judge(&round(true, Some(SynAckAnswers::FirstSyn), 100), Some(false));
    assert_eq!(v.signatures, vec![Signature::NegotiatedUnexpected]);
}

#[test]
fn cookie_request_reset__option_reset_and_tfo_broken() {
    let mut request = conn(100, SynTfo::CookieRequest, 0, None, false);
    request.syns.truncate(1);
    request.syn_count = 1;
    request.outcome = Outcome::Reset;
    request.reset =
        Some(Refusal { frame: 101, time_ns: 0, icmp: None, answers_first_syn: true, ttl: 64, mtu: None });
    let base = conn(120, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false);
    let v = judge(&[request, base], None);
    assert_eq!(v.connectivity, Connectivity::TfoBroken);
    assert_eq!(v.signatures, vec![Signature::OptionReset]);
    assert!(v.explanation.contains("frame 101 refused the TFO SYN in frame 100"), "{}", v.explanation);
}

#[test]
fn nothing_answers__offline_and_no_verdict_on_middleboxes() {
    let conns: Vec<Connection> =
        [(100, SynTfo::CookieRequest), (110, SynTfo::CookieRequest), (120, SynTfo::None)]
            .iter()
            .map(|(p, t)| conn(*p, *t, 0, None, false))
            .collect();
    let v = judge(&conns, Some(true));
    assert_eq!(v.connectivity, Connectivity::Offline);
    assert_eq!(v.middlebox.as_bool(), None);
    assert_eq!(v.signatures, vec![], "no exchange, so no signature 3 either");
}

/// Round sizes of `conns` (in order), and how they were formed.
fn round_sizes(conns: &[Connection]) -> (Vec<usize>, super::rounds::RoundsFormed) {
    let summaries: Vec<ConnSummary> = conns.iter().map(|c| ConnSummary::of(c, &mut |_| 0)).collect();
    let refs: Vec<&ConnSummary> = summaries.iter().collect();
    let (rounds, formed) = split_rounds(&refs);
    (rounds.iter().map(Vec::len).collect(), formed)
}

/// A connection of `kind` at `port` (ports order them): a granted or refused cookie request,
/// SYN-data acked, a baseline.
fn of_kind(kind: &str, port: u16) -> Connection {
    match kind {
        "request" => conn(port, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), true),
        "refused" => conn(port, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), false),
        "data" => conn(port, SynTfo::Cookie, 76, Some(SynAckAnswers::FirstSyn), false),
        "plain" => conn(port, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false),
        "cut" => conn(port, SynTfo::Truncated, 0, Some(SynAckAnswers::FirstSyn), false),
        _ => unreachable!(),
    }
}

fn sequence(kinds: &[&str]) -> Vec<Connection> {
    let mut conns: Vec<Connection> =
        kinds.iter().enumerate().map(|(i, k)| of_kind(k, 100 + 10 * i as u16)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.syns[0].time_ns = i as i64;
    }
    conns
}

#[test]
fn rounds_come_out_the_same_for_any_order_of_the_three_fetches() {
    use super::rounds::RoundsFormed::ByKinds;
    for order in [["request", "data", "plain"], ["plain", "request", "data"], ["request", "plain", "data"]] {
        let twice: Vec<&str> = order.iter().chain(order.iter()).copied().collect();
        assert_eq!(round_sizes(&sequence(&twice)), (vec![3, 3], ByKinds), "{order:?}");
    }
    // A second request after one answered without a cookie is the same round.
    assert_eq!(round_sizes(&sequence(&["refused", "request", "data", "plain"])).0, vec![4]);
    // After a granted one, it is the next round's.
    assert_eq!(round_sizes(&sequence(&["request", "request", "data"])).0, vec![1, 2]);
    // Only some of the three; options cut by the snap length take no place.
    assert_eq!(round_sizes(&sequence(&["request", "plain", "request", "plain"])).0, vec![2, 2]);
    assert_eq!(round_sizes(&sequence(&["plain", "cut", "cut", "plain"])).0, vec![3, 1]);
}

#[test]
fn a_fetch_seen_twice__one_round() {
    // Both sides of a NAT that rewrites ISNs: the second request began (1 ms) before the first
    // was answered (1.5 ms), so it is the same fetch, not the next round.
    let mut conns = sequence(&["request", "request", "data"]);
    for (i, c) in conns.iter_mut().enumerate() {
        c.syns[0].time_ns = i as i64 * 1_000_000;
        c.synack.as_mut().unwrap().time_ns = i as i64 * 1_000_000 + 1_500_000;
    }
    assert_eq!(round_sizes(&conns).0, vec![3]);
    // Answered before the next began: two rounds.
    conns[0].synack.as_mut().unwrap().time_ns = 500_000;
    assert_eq!(round_sizes(&conns).0, vec![1, 2]);
}

#[test]
fn pathspider_order__every_round_judged_not_a_lone_baseline() {
    // Baseline first, as PATHspider does: before, the first baseline was a round of its own
    // and the tie left the target not_requested / not_attempted.
    let v = judge(&sequence(&["plain", "request", "data", "plain", "request", "data"]), None);
    assert_eq!((v.rounds, v.cookie, v.syn_data), (2, CookieResult::Received, SynDataResult::Acked));
    assert!(
        v.explanation.contains("2 rounds told apart by the kinds of their first SYNs"),
        "{}",
        v.explanation
    );
}

#[test]
fn rounds_of_only_a_baseline__never_outvote_the_tfo_rounds() {
    let v = judge(&sequence(&["plain", "plain", "plain", "request", "data"]), Some(true));
    assert_eq!(v.rounds, 3);
    assert_eq!(
        (v.cookie, v.syn_data, v.middlebox.as_bool()),
        (CookieResult::Received, SynDataResult::Acked, Some(false))
    );
    assert!(v.explanation.contains("2 of them holding only a baseline and not counted"), "{}", v.explanation);
    // SYN-data dropped in the one TFO round is a signature, however many baselines follow.
    let mut conns = sequence(&["request", "data", "plain", "plain", "plain"]);
    conns[1] = conn(110, SynTfo::Cookie, 76, Some(SynAckAnswers::RetransmittedSyn), false);
    conns[1].syns[0].time_ns = 1;
    let v = judge(&conns, None);
    assert_eq!(v.signatures, vec![Signature::SynDataDropped], "{}", v.explanation);
}

#[test]
fn cookie_granted_on_a_second_request__received_and_said() {
    let v = judge(&sequence(&["refused", "request", "data", "plain"]), None);
    assert_eq!(v.cookie, CookieResult::Received);
    assert!(
        v.explanation.contains("after the cookie request in frame 100 had been answered without one"),
        "{}",
        v.explanation
    );
}

#[test]
fn cookie_sent_but_never_requested__cached_and_no_false_signature_3() {
    let conns = sequence(&["data", "plain"]);
    let v = judge(&conns, Some(true));
    assert_eq!((v.cookie, v.syn_data), (CookieResult::Cached, SynDataResult::Acked));
    assert_eq!(v.signatures, vec![], "{}", v.explanation);
    assert!(v.explanation.contains("cached from an earlier negotiation"), "{}", v.explanation);
    // Where no TFO is expected, the acked SYN data proves it was negotiated.
    assert_eq!(judge(&conns, Some(false)).signatures, vec![Signature::NegotiatedUnexpected]);
}

#[test]
fn data_on_a_syn_without_any_option__judged_like_any_syn_data() {
    let dropped = conn(100, SynTfo::None, 60, Some(SynAckAnswers::RetransmittedSyn), false);
    let mut plain = conn(120, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false);
    plain.syns[0].time_ns = 1;
    let v = judge(&[dropped.clone(), plain.clone()], None);
    assert_eq!(v.syn_data, SynDataResult::Dropped);
    assert_eq!(v.signatures, vec![Signature::SynDataDropped]);
    assert_eq!(v.middlebox.as_bool(), Some(true));
    assert!(v.explanation.contains("carried 60 bytes of data without any TFO option"), "{}", v.explanation);
    let acked = conn(100, SynTfo::None, 60, Some(SynAckAnswers::FirstSyn), false);
    let v = judge(&[acked, plain], Some(true));
    assert_eq!((v.syn_data, v.middlebox.as_bool()), (SynDataResult::Acked, Some(false)));
}

#[test]
fn no_tfo_exchange_of_any_kind__middlebox_unknown() {
    let v = judge(&sequence(&["plain", "plain"]), None);
    assert_eq!(
        (v.connectivity, v.cookie, v.middlebox.as_bool()),
        (Connectivity::Works, CookieResult::NotRequested, None)
    );
}

#[test]
fn synack_data__said_in_the_explanation() {
    let mut conns = sequence(&["request", "data", "plain"]);
    conns[1].synack.as_mut().unwrap().data_len = 12;
    let v = judge(&conns, None);
    assert!(v.explanation.contains("SYN-ACK frame 112 carried 12 bytes of data"), "{}", v.explanation);
}

/// `request, data, plain`, the TFO SYN-ACKs with `tfo_ttl`, the baselines' with `plain_ttls`
/// (one round each).
fn with_ttls(tfo_ttl: u8, plain_ttls: &[u8]) -> Vec<Connection> {
    let mut conns = Vec::new();
    for (i, ttl) in plain_ttls.iter().enumerate() {
        let mut round = sequence(&["request", "data", "plain"]);
        for (j, c) in round.iter_mut().enumerate() {
            c.client.set_port(1000 + 10 * (3 * i + j) as u16);
            c.syns[0].time_ns = (3 * i + j) as i64;
            c.synack.as_mut().unwrap().frame = 1000 + (3 * i + j) as u64;
            c.synack.as_mut().unwrap().ttl = if j == 2 { *ttl } else { tfo_ttl };
        }
        conns.extend(round);
    }
    conns
}

#[test]
fn synack_ttl_wobble_of_a_hop__not_another_stack_unless_consistent() {
    // ECMP: the baselines' TTLs 61 and 60, the TFO ones 61: no difference.
    let v = judge(&with_ttls(61, &[61, 60]), None);
    assert_eq!(v.synack_differs, Some(false), "{}", v.explanation);
    // Every TFO SYN-ACK a hop off every baseline one: consistent, so reported, naming the pair.
    let v = judge(&with_ttls(62, &[61, 61]), None);
    assert_eq!(v.synack_differs, Some(true));
    assert!(
        v.explanation.contains(
            "the SYN-ACK to a TFO SYN (frame 1000, TTL 62) differs from the baseline's (frame 1002, TTL 61)"
        ),
        "{}",
        v.explanation
    );
    // Far off: reported even when one baseline matches, and the pair named is the one that differs.
    let v = judge(&with_ttls(64, &[64, 57]), None);
    assert_eq!(v.synack_differs, Some(true));
    assert!(
        v.explanation.contains("(frame 1000, TTL 64) differs from the baseline's (frame 1005, TTL 57)"),
        "{}",
        v.explanation
    );
}

#[test]
fn majority_prefers_the_most_common_then_the_earliest() {
    assert_eq!(majority([1, 2, 2].into_iter()), 2);
    assert_eq!(majority([3, 1].into_iter()), 3);
}

#[test]
fn conditions_use_pathspider_words() {
    let conditions =
        |c, k, s| super::explain::conditions(c, k, s).iter().map(|c| c.as_str()).collect::<Vec<_>>();
    assert_eq!(
        conditions(Connectivity::Works, CookieResult::Received, SynDataResult::Dropped),
        vec!["tfo.connectivity.works", "tfo.cookie.received", "tfo.syndata.failed"]
    );
    // As PATHspider: no cookie or SYN-data words when the TFO connection did not get through.
    assert_eq!(
        conditions(Connectivity::Closed, CookieResult::NotReceived, SynDataResult::NotAttempted),
        vec!["tfo.connectivity.closed"]
    );
    assert_eq!(
        conditions(Connectivity::Offline, CookieResult::NotReceived, SynDataResult::NotAttempted),
        vec!["tfo.connectivity.offline"]
    );
    assert_eq!(
        conditions(Connectivity::TfoBroken, CookieResult::Received, SynDataResult::Reset),
        vec!["tfo.connectivity.broken"]
    );
    assert_eq!(
        conditions(Connectivity::Transient, CookieResult::Cached, SynDataResult::NotAcked),
        vec!["tfo.connectivity.transient", "tfo.cookie.received", "tfo.syndata.not_acked"]
    );
}

#[test]
fn every_signature_has_exactly_one_rule() {
    for signature in Signature::ALL {
        let rows = ROUND_RULES.iter().filter(|r| r.signature == *signature).count()
            + TARGET_RULES.iter().filter(|r| r.signature == *signature).count();
        assert_eq!(rows, 1, "{signature}");
    }
    for notes in ROUND_RULES.iter().map(|r| r.field_notes).chain(TARGET_RULES.iter().map(|r| r.field_notes)) {
        assert_eq!(
            notes.split(" | ").count(),
            3,
            "signature | middlebox action | what the capture shows: {notes}"
        );
    }
}

#[test]
fn blackhole_pause__only_the_targets_measured_after_it_are_spoiled() {
    use crate::attempt::{RunPhase, RunRecord};
    // Target .1 measured first, cleanly; then the kernel paused TFO: target .2's TFO fetches
    // went out as plain SYNs (their records say TFO was meant).
    let mut conns = recorded_round(1, 100, 200, "a");
    let mut after = recorded_round(1, 200, 200, "a");
    for (i, c) in after.iter_mut().enumerate() {
        c.server = "198.51.100.2:80".parse().unwrap();
        c.syns[0].tfo = SynTfo::None;
        c.syns[0].data_len = 0;
        c.syns[0].time_ns = 10_000_000_000 + i as i64;
        c.syn_data_acked = None;
        if let Some(s) = c.synack.as_mut() {
            s.tfo = SynAckTfo::None;
            s.time_ns = c.syns[0].time_ns + 1;
        }
    }
    conns.extend(after);
    let run = |phase, blackholes: u64| RunRecord {
        tool: "tfoscope".into(),
        version: "0".into(),
        phase,
        tcp_fastopen: Some(1),
        tcp_fastopen_blackhole_timeout_sec: Some(3600),
        counters: [("TCPFastOpenBlackhole".to_string(), blackholes)].into_iter().collect(),
        captured: Some(true),
        cookies_flushable: Some(true),
        features: None,
        features_skipped: vec![],
        mptcp_blackhole_timeout: None,
    };
    let verdicts = judge_vantage_with_records(
        "v",
        &TargetConnections::of(&conns),
        &Expectations::new(),
        super::CaptureHealth::default(),
        &[],
        &[run(RunPhase::Start, 0), run(RunPhase::End, 1)],
    );
    let by = |ip: &str| verdicts.iter().find(|v| v.server_ip == Some(ip.parse().unwrap())).unwrap();
    assert!(
        by("198.51.100.1").measurement_valid,
        "measured before the pause: {}",
        by("198.51.100.1").explanation
    );
    let spoiled = by("198.51.100.2");
    assert!(!spoiled.measurement_valid);
    assert!(
        spoiled.explanation.contains("paused TFO from") && spoiled.explanation.contains("198.51.100.2:80"),
        "{}",
        spoiled.explanation
    );
}
