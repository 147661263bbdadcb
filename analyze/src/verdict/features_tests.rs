//! The features beside TFO, judged on connections built packet by packet: the first attempt
//! with every feature, each alone after trouble, and another tool's capture with no records.

use std::sync::Arc;

use super::tests::conn;
use super::*;
use crate::attempt::FetchKind;
use crate::expect::{Expectation, Expectations};
use crate::record::{AttemptLink, Connection, Feature, Features, Outcome, Refusal, SynAckAnswers, SynTfo};

fn all() -> Features {
    Features::parse_list("tfo,mptcp,ecn").unwrap()
}

/// `c` as the collector's fetch of `kind` asking for `asked` (its first SYN carrying them),
/// its SYN-ACK granting `granted` of them.
fn fetch(mut c: Connection, kind: FetchKind, asked: Features, granted: Features) -> Connection {
    c.syns[0].features = asked;
    if let Some(s) = c.synack.as_mut() {
        s.features = granted;
    }
    c.attempt = Some(Arc::new(AttemptLink {
        url: "http://198.51.100.1/".into(),
        host: "198.51.100.1".into(),
        fetch: kind,
        features: asked,
        round: 1,
        app_result: "200".into(),
        status: Some(200),
        size: Some(10),
        cert_sha256: None,
        cert_error: None,
        cached_syn_drops: None,
        category: None,
        echo: false,
    }));
    c
}

/// The control's word: TFO expected, and `granted` the features its SYN-ACKs granted.
fn judge_with(conns: &[Connection], granted: Option<Features>) -> TargetVerdict {
    let mut expectations = Expectations::new();
    expectations.insert(
        ("198.51.100.1".parse().unwrap(), 80),
        Expectation {
            expected_tfo: Some(true),
            source: "test".into(),
            features_granted: granted,
            ..Default::default()
        },
    );
    let mut v = judge_vantage("v", conns, &expectations, false);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// The first attempt, its two TFO fetches answered as `answer` says, the baseline at once.
fn first_attempt(answer: SynAckAnswers, granted: Features) -> Vec<Connection> {
    vec![
        fetch(
            conn(100, SynTfo::CookieRequest, 0, Some(answer), true),
            FetchKind::TfoCookieRequest,
            all(),
            granted,
        ),
        fetch(conn(110, SynTfo::Cookie, 76, Some(answer), false), FetchKind::TfoData, all(), granted),
        fetch(
            conn(120, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false),
            FetchKind::Plain,
            Features::NONE,
            Features::NONE,
        ),
    ]
}

/// TFO alone (clean), MPTCP alone and ECN alone answered as given (granted when answered at
/// once: a lost SYN's resend asks for nothing).
fn each_alone(mptcp: Connection, ecn: Connection) -> Vec<Connection> {
    let only = |f| Features::of([f]);
    let granted = |c: &Connection, f| match &c.synack {
        Some(s) if s.answers == SynAckAnswers::FirstSyn => only(f),
        _ => Features::NONE,
    };
    let (mptcp_granted, ecn_granted) = (granted(&mptcp, Feature::Mptcp), granted(&ecn, Feature::Ecn));
    vec![
        fetch(
            conn(130, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), true),
            FetchKind::TfoCookieRequest,
            Features::TFO,
            Features::TFO,
        ),
        fetch(
            conn(140, SynTfo::Cookie, 76, Some(SynAckAnswers::FirstSyn), false),
            FetchKind::TfoData,
            Features::TFO,
            Features::NONE,
        ),
        fetch(mptcp, FetchKind::Plain, only(Feature::Mptcp), mptcp_granted),
        fetch(ecn, FetchKind::Plain, only(Feature::Ecn), ecn_granted),
    ]
}

fn plain(port: u16, answer: Option<SynAckAnswers>) -> Connection {
    conn(port, SynTfo::None, 0, answer, false)
}

#[test]
fn a_clean_path_is_judged_on_the_first_attempt_alone() {
    let v = judge_with(&first_attempt(SynAckAnswers::FirstSyn, all()), Some(all()));
    assert_eq!(
        (v.connectivity, v.cookie, v.syn_data),
        (Connectivity::Works, CookieResult::Received, SynDataResult::Acked)
    );
    assert_eq!(v.features_tried, all());
    assert_eq!(v.features_negotiated, all());
    assert!(v.feature_failures.is_empty());
    assert_eq!((v.middlebox.as_bool(), v.connections), (Some(false), 3), "{}", v.explanation);
}

#[test]
fn an_mptcp_drop_is_named_on_mptcp_alone_and_tfo_judged_on_its_own_retry() {
    let mut conns = first_attempt(SynAckAnswers::RetransmittedSyn, Features::NONE);
    conns.extend(each_alone(
        plain(150, Some(SynAckAnswers::RetransmittedSyn)),
        plain(160, Some(SynAckAnswers::FirstSyn)),
    ));
    let v = judge_with(&conns, Some(all()));
    assert_eq!(v.feature_failures, ["mptcp:option_dropped"]);
    // The combined SYNs' losses are MPTCP's: no TFO signature, TFO alone was clean.
    assert!(v.signatures.is_empty(), "{:?}", v.signatures);
    assert_eq!((v.cookie, v.syn_data), (CookieResult::Received, SynDataResult::Acked));
    assert_eq!(v.middlebox.as_bool(), Some(true));
    assert_eq!(v.features_negotiated.names(), ["tfo", "ecn"]);
    assert_eq!(v.connections, 7);
    assert!(
        v.explanation.contains("MPTCP (MP_CAPABLE) SYN in frame 150 went unanswered"),
        "{}",
        v.explanation
    );
}

#[test]
fn an_ecn_reset_is_named_and_a_baseline_that_failed_too_names_nothing() {
    let mut reset = plain(160, None);
    reset.syns.truncate(1);
    reset.syn_count = 1;
    reset.outcome = Outcome::Reset;
    reset.reset =
        Some(Refusal { frame: 161, time_ns: 0, icmp: None, answers_first_syn: true, ttl: 64, mtu: None });
    let mut conns = first_attempt(SynAckAnswers::FirstSyn, all());
    conns.extend(each_alone(plain(150, Some(SynAckAnswers::FirstSyn)), reset.clone()));
    let v = judge_with(&conns, Some(all()));
    assert_eq!(v.feature_failures, ["ecn:reset"]);
    assert!(
        v.explanation.contains("a reset in frame 161 refused the ECN-setup (ECE+CWR) SYN"),
        "{}",
        v.explanation
    );

    // The baseline lost its first SYN too: the path or the origin, not ECN.
    let mut conns = first_attempt(SynAckAnswers::FirstSyn, all());
    conns[2] = fetch(
        plain(120, Some(SynAckAnswers::RetransmittedSyn)),
        FetchKind::Plain,
        Features::NONE,
        Features::NONE,
    );
    conns.extend(each_alone(plain(150, Some(SynAckAnswers::FirstSyn)), reset));
    assert!(judge_with(&conns, Some(all())).feature_failures.is_empty());
}

#[test]
fn trouble_once_and_every_feature_fine_alone_is_inconclusive_not_a_middlebox() {
    let mut conns = first_attempt(SynAckAnswers::RetransmittedSyn, Features::NONE);
    conns.extend(each_alone(
        plain(150, Some(SynAckAnswers::FirstSyn)),
        plain(160, Some(SynAckAnswers::FirstSyn)),
    ));
    let v = judge_with(&conns, Some(all()));
    assert!(v.feature_failures.is_empty());
    assert!(v.signatures.is_empty());
    assert_eq!(v.middlebox.as_bool(), Some(false));
    assert!(v.explanation.contains("inconclusive"), "{}", v.explanation);
}

#[test]
fn a_feature_not_granted_is_a_failure_only_where_the_control_granted_it() {
    // MP_CAPABLE stripped on the path: nothing late, no retry, the SYN-ACKs grant TFO and ECN.
    let granted = Features::parse_list("tfo,ecn").unwrap();
    let conns = first_attempt(SynAckAnswers::FirstSyn, granted);
    let v = judge_with(&conns, Some(all()));
    assert_eq!(v.feature_failures, ["mptcp:not_negotiated_expected"]);
    assert_eq!(v.middlebox.as_bool(), Some(true));
    // An origin the control never saw grant MPTCP: it does not speak it.
    let v = judge_with(&conns, Some(granted));
    assert!(v.feature_failures.is_empty());
    assert_eq!(v.middlebox.as_bool(), Some(false));
}

#[test]
fn another_tools_capture_shows_its_features_on_the_wire() {
    // No records: what the SYNs asked for and the SYN-ACKs granted is all there is.
    let mut conns: Vec<Connection> = super::tests::round(true, Some(SynAckAnswers::FirstSyn), 100);
    let asked = Features::parse_list("tfo,ecn").unwrap();
    for c in conns.iter_mut().take(2) {
        c.syns[0].features = asked;
        if let Some(s) = c.synack.as_mut() {
            s.features = Features::of([Feature::Ecn]);
        }
    }
    let v = judge_with(&conns, None);
    assert_eq!(v.features_tried, asked);
    // ECN granted by the SYN-ACKs; TFO by the cookie and the data acked.
    assert_eq!(v.features_negotiated.names(), ["tfo", "ecn"]);
    assert!(v.feature_failures.is_empty());
    assert_eq!((v.cookie, v.syn_data), (CookieResult::Received, SynDataResult::Acked));
}

#[test]
fn tfo_alone_lists_its_signatures_as_tfo_failures() {
    let v = judge_with(&super::tests::round(true, Some(SynAckAnswers::RetransmittedSyn), 100), None);
    assert_eq!(v.signatures, [Signature::SynDataDropped]);
    assert_eq!(v.feature_failures, ["tfo:syn_data_dropped"]);
    assert_eq!(v.features_tried, Features::TFO);
}

#[test]
fn mptcp_paused_by_the_kernel_claims_nothing_of_mptcp() {
    // The MPTCP-alone fetch asked for MPTCP, its SYN went out without MP_CAPABLE (the kernel's
    // MPTCP blackhole pause): its loss says nothing of a box.
    let mut conns = first_attempt(SynAckAnswers::RetransmittedSyn, Features::NONE);
    conns.extend(each_alone(
        plain(150, Some(SynAckAnswers::RetransmittedSyn)),
        plain(160, Some(SynAckAnswers::FirstSyn)),
    ));
    conns[5].syns[0].features = Features::NONE;
    let v = judge_with(&conns, Some(all()));
    assert!(v.feature_failures.is_empty(), "{:?}", v.feature_failures);
    assert!(v.explanation.contains("MPTCP blackhole detection paused MPTCP"), "{}", v.explanation);
    assert!(v.explanation.contains("frame 150"), "{}", v.explanation);
}

#[test]
fn fetches_of_one_other_feature_alone_are_still_judged() {
    // Another tool's capture of MPTCP connections only: no TFO fetch to judge TFO on, yet a
    // verdict (nothing tried of TFO), never a panic.
    let only = Features::of([Feature::Mptcp]);
    let conns: Vec<Connection> = [100, 110]
        .into_iter()
        .map(|port| {
            let mut c = plain(port, Some(SynAckAnswers::FirstSyn));
            c.syns[0].features = only;
            c
        })
        .collect();
    let v = judge_with(&conns, None);
    assert_eq!(v.features_tried, only);
    assert_eq!(v.connections, 2);
    assert_eq!(v.cookie, CookieResult::NotRequested);
}

#[test]
fn a_host_whose_every_syn_asks_for_ecn_is_judged_as_without_it() {
    // Another tool's capture from a host with net.ipv4.tcp_ecn = 1: the plain SYN asks for ECN
    // too. No records say which fetch was the baseline, so no feature is judged alone: the
    // verdict is the one without ECN, and a lost plain SYN names no ECN box.
    let plain_round = super::tests::round(true, Some(SynAckAnswers::FirstSyn), 100);
    let with_ecn = |mut conns: Vec<Connection>| {
        for c in &mut conns {
            c.syns[0].features = c.syns[0].features.with(Feature::Ecn);
        }
        conns
    };
    let (without, with) =
        (judge_with(&plain_round, Some(all())), judge_with(&with_ecn(plain_round.clone()), Some(all())));
    assert_eq!(
        (with.connectivity, with.cookie, with.syn_data, with.signatures.clone(), with.middlebox),
        (
            without.connectivity,
            without.cookie,
            without.syn_data,
            without.signatures.clone(),
            without.middlebox
        )
    );
    assert_eq!(with.connections, 3);
    assert!(with.features_tried.contains(Feature::Ecn));
    let mut lost = with_ecn(plain_round);
    lost[2] = {
        let mut c = plain(120, Some(SynAckAnswers::RetransmittedSyn));
        c.syns[0].features = Features::of([Feature::Ecn]);
        c
    };
    assert!(judge_with(&lost, Some(all())).feature_failures.is_empty());
}
