#![allow(non_snake_case)]
use std::net::SocketAddr;
use std::sync::Arc;

use super::explain::conditions;
use super::rounds::{majority, split_rounds};
use super::*;
use crate::attempt::{AttemptRecord, FetchKind};
use crate::decode::options::KIND_FASTOPEN;
use crate::expect::{Expectation, Expectations};
use crate::record::{
    AttemptLink, Connection, DataAcked, Outcome, Refusal, SynAck, SynAckAnswers, SynAckTfo, SynTfo,
    SynTransmission,
};
use crate::summary::{ConnSummary, TargetConnections};

const KIND: Option<u8> = Some(KIND_FASTOPEN);

/// One connection to 198.51.100.1:80 from `port`; `answer` is which SYN got the SYN-ACK.
fn conn(port: u16, tfo: SynTfo, data_len: u32, answer: Option<SynAckAnswers>, cookie: bool) -> Connection {
    let isn = 1000;
    let first = SynTransmission {
        frame: u64::from(port),
        time_ns: i64::from(port) * 1_000_000,
        tfo,
        data_len,
        tsval: None,
    };
    let mut syns = vec![first];
    if answer == Some(SynAckAnswers::RetransmittedSyn) || answer.is_none() {
        syns.push(SynTransmission {
            frame: u64::from(port) + 1,
            time_ns: 0,
            tfo: SynTfo::None,
            data_len: 0,
            tsval: None,
        });
    }
    let synack = answer.map(|answers| SynAck {
        frame: u64::from(port) + 2,
        time_ns: 0,
        answers,
        tfo: if cookie { SynAckTfo::Cookie } else { SynAckTfo::None },
        tfo_kind: if cookie { KIND } else { None },
        cookie: cookie.then(|| vec![1, 2, 3, 4]),
        ack: if answers == SynAckAnswers::FirstSyn { isn + 1 + data_len } else { isn + 1 },
        ttl: 63,
        window: 65535,
        mss: Some(1460),
        option_kinds: vec![2, 4, 8, 1, 3],
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
        syn_data_acked,
        syn_data_resent: false,
        reset: None,
        icmp: None,
        outcome,
        last_time_ns: 0,
        attempt: None,
    }
}

fn round(cookie_granted: bool, data: Option<SynAckAnswers>, base: u16) -> Vec<Connection> {
    let mut round = vec![conn(base, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), cookie_granted)];
    if let Some(answer) = data {
        round.push(conn(base + 10, SynTfo::Cookie, 76, Some(answer), false));
    }
    round.push(conn(base + 20, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false));
    round
}

fn judge(conns: &[Connection], expected: Option<bool>) -> TargetVerdict {
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
    assert_eq!(v.middlebox, Some(false));
    assert_eq!(v.untested, vec![Untested::Negotiation]);
    assert_eq!(v.rounds, 1);
}

/// A clean round whose connections carry the collector's records; `tfo_status` and
/// `tfo_cert` are what the TFO fetches got, the baseline got 200 and certificate "a".
fn recorded_round(round_no: u32, base: u16, tfo_status: u16, tfo_cert: &str) -> Vec<Connection> {
    let mut conns = round(true, Some(SynAckAnswers::FirstSyn), base);
    for (c, fetch) in conns.iter_mut().zip(FetchKind::ALL) {
        let (status, cert) = if fetch == FetchKind::Plain { (200, "a") } else { (tfo_status, tfo_cert) };
        c.attempt = Some(Arc::new(AttemptLink {
            url: "https://lab.test/".into(),
            host: "lab.test".into(),
            fetch,
            round: round_no,
            app_result: status.to_string(),
            status: Some(status),
            size: Some(612),
            cert_sha256: Some(cert.into()),
            cached_syn_drops: Some(0),
        }));
    }
    conns
}

#[test]
fn tfo_fetches_answered_otherwise__response_differs() {
    let v = judge(&recorded_round(1, 100, 403, "a"), None);
    assert_eq!(v.signatures, vec![Signature::ResponseDiffers]);
    assert_eq!(v.middlebox, Some(true));
    assert!(
        v.explanation.contains("tfo cookie request fetch got status 403 where the baseline got 200"),
        "{}",
        v.explanation
    );
    let v = judge(&recorded_round(1, 100, 200, "b"), None);
    assert_eq!(v.signatures, vec![Signature::ResponseDiffers]);
    assert!(v.explanation.contains("another certificate"), "{}", v.explanation);
    let v = judge(&recorded_round(1, 100, 200, "a"), None);
    assert_eq!((v.signatures.clone(), v.middlebox), (vec![], Some(false)), "{}", v.explanation);
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
    let record = |url: &str, ip: &str, error: &str| AttemptRecord {
        url: url.into(),
        host: ip.into(),
        server_ip: ip.into(),
        server_port: 80,
        fetch: FetchKind::Plain,
        round: 1,
        local_port: 0,
        start_ns: 0,
        end_ns: 0,
        syn_data_acked: None,
        fastopen_client_fail: None,
        cookie_flushed: None,
        cache_before: None,
        result: AppResult { error: Some(error.into()), ..AppResult::default() },
    };
    let conns = round(true, Some(SynAckAnswers::FirstSyn), 100);
    let records = [
        record("http://198.51.100.99/", "198.51.100.99", "no_route"),
        record("http://198.51.100.1/", "198.51.100.1", "timeout"),
    ];
    let verdicts = judge_vantage_with_records(
        "v",
        &TargetConnections::of(&conns),
        &Expectations::new(),
        false,
        &records,
        &[],
    );
    assert_eq!(verdicts.len(), 2, "the address with packets is judged from them, once");
    let silent = verdicts.iter().find(|v| v.target == "http://198.51.100.99/").unwrap();
    assert_eq!((silent.connectivity, silent.middlebox, silent.connections), (Connectivity::Offline, None, 0));
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
            round: 1,
            app_result: "200".into(),
            status: Some(200),
            size: Some(612),
            cert_sha256: Some("a".into()),
            cached_syn_drops: Some(0),
        }));
    }
    let vantage = |name: &str, connections: Vec<Connection>| crate::result::VantageResult {
        name: name.into(),
        targets: TargetConnections::of(&connections),
        connections,
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
    request.reset = Some(Refusal { frame: 101, time_ns: 0, icmp: None, answers_first_syn: true });
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
    assert_eq!(v.middlebox, None);
    assert_eq!(v.signatures, vec![], "no exchange, so no signature 3 either");
}

#[test]
fn rounds_split_where_a_tfo_connection_follows_a_plain_one() {
    let mut conns = round(true, Some(SynAckAnswers::FirstSyn), 100);
    conns.extend(round(true, Some(SynAckAnswers::FirstSyn), 200));
    let summaries: Vec<ConnSummary> = conns.iter().map(|c| ConnSummary::of(c, &mut |_| 0)).collect();
    let refs: Vec<&ConnSummary> = summaries.iter().collect();
    assert_eq!(split_rounds(&refs).iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3]);
}

#[test]
fn majority_prefers_the_most_common_then_the_earliest() {
    assert_eq!(majority([1, 2, 2].into_iter()), 2);
    assert_eq!(majority([3, 1].into_iter()), 3);
}

#[test]
fn conditions_use_pathspider_words() {
    assert_eq!(
        conditions(Connectivity::Works, CookieResult::Received, SynDataResult::Dropped),
        vec!["tfo.connectivity.works", "tfo.cookie.received", "tfo.syndata.failed"]
    );
    assert_eq!(
        conditions(Connectivity::Closed, CookieResult::NotReceived, SynDataResult::NotAttempted).len(),
        2
    );
}
