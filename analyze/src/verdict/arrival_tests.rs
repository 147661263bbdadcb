//! Verdicts with the server's view (echo origin): each path signature, the echo's word on
//! TFO as the expectation, path changes that are no signature, and inferred drops the
//! server's view sets aside.
#![allow(non_snake_case)]

use std::sync::Arc;

use super::tests::{conn, judge, recorded_round, round};
use super::*;
use crate::arrival::{Arrival, ArrivalSource, SynSeen};
use crate::record::{Connection, SynAckAnswers, SynShape, SynTfo};

/// Gives every connection timestamps (TSval = its port) and an echo that saw each SYN as
/// the SYN-ACK answered it; `change` edits what arrived.
fn echoed(
    mut conns: Vec<Connection>,
    origin_tfo: bool,
    change: impl Fn(&Connection, &mut SynSeen),
) -> Vec<Connection> {
    for c in &mut conns {
        let port = u32::from(c.client.port());
        for (i, s) in c.syns.iter_mut().enumerate() {
            s.tsval = Some(port * 10 + i as u32);
        }
        let answered = match c.synack.as_ref().map(|s| s.answers) {
            Some(SynAckAnswers::RetransmittedSyn) => c.syns.len() - 1,
            _ => 0,
        };
        let mut seen = SynSeen::from_transmission(c, &c.syns[answered]);
        change(c, &mut seen);
        c.arrival = Some(Box::new(Arrival {
            source: ArrivalSource::Echo,
            syn: Some(seen),
            syn_data_accepted: None,
            origin_tfo: Some(origin_tfo),
            request_changes: Some(vec![]),
            served_cert: None,
        }));
    }
    conns
}

fn nothing(_: &Connection, _: &mut SynSeen) {}

#[test]
fn echoes_as_sent__clean_and_the_echo_says_tfo_is_expected() {
    let v = judge(&echoed(round(true, Some(SynAckAnswers::FirstSyn), 100), true, nothing), None);
    assert_eq!(v.signatures, vec![]);
    assert_eq!(v.middlebox.as_bool(), Some(false));
    assert_eq!(v.expected_tfo, Some(true));
    assert!(!v.untested.contains(&Untested::Negotiation), "no control needed: {:?}", v.untested);
    assert_eq!(v.arrival_source, Some(super::ArrivalKind::Echo));
    assert!(v.path_changes.is_empty());
    // The verdict says it rests on the packets and on the echo.
    assert_eq!(v.evidence, [Basis::Capture, Basis::Echo]);
}

#[test]
fn an_echo_is_the_arrival_source_before_a_server_capture() {
    // `arrival_source` is the least kind seen: the echo says more (request, certificate).
    assert!(super::ArrivalKind::Echo < super::ArrivalKind::ServerCapture);
}

#[test]
fn option_stripped_on_the_way__option_removed_on_path_and_no_cookie_expected() {
    let strip = |c: &Connection, seen: &mut SynSeen| {
        if c.tried_tfo() {
            let kinds: Vec<u8> = seen.shape.option_kinds().iter().copied().filter(|k| *k != 34).collect();
            seen.shape =
                SynShape::new(seen.shape.ttl, seen.shape.window, seen.shape.mss, seen.shape.wscale, &kinds);
            seen.tfo = SynTfo::None;
            seen.cookie = None;
        }
    };
    let v = judge(&echoed(round(false, None, 100), true, strip), None);
    assert_eq!(v.signatures, vec![Signature::OptionRemovedOnPath, Signature::NotNegotiatedExpected]);
    assert!(
        v.explanation.contains("the TFO option did not arrive as sent in SYN frame 100 (option_removed:34), by the echo origin's answer"),
        "{}",
        v.explanation
    );
    assert!(v.explanation.contains("the echo origin says the origin does TFO"), "{}", v.explanation);
}

#[test]
fn another_isn_and_tsval__reoriginated_and_nothing_said_of_our_options() {
    let proxy = |_: &Connection, seen: &mut SynSeen| {
        seen.isn = seen.isn.wrapping_add(7777);
        seen.tsval = seen.tsval.map(|t| t + 99_999);
        seen.client = "198.51.100.254:50000".parse().unwrap();
        seen.tfo = SynTfo::None;
    };
    let v = judge(&echoed(round(false, None, 100), true, proxy), None);
    assert_eq!(v.signatures, vec![Signature::Reoriginated, Signature::NotNegotiatedExpected]);
    assert!(v.path_changes.is_empty(), "a proxy's SYN is not a rewritten one: {:?}", v.path_changes);
    assert!(
        v.explanation.contains("SYN frames 100 and 120, by the echo origin's answer"),
        "{}",
        v.explanation
    );
}

#[test]
fn source_rewritten_and_mss_clamped__path_changes_but_no_middlebox() {
    let nat = |_: &Connection, seen: &mut SynSeen| {
        seen.client = "198.51.100.254:40000".parse().unwrap();
        seen.shape =
            SynShape::new(63, seen.shape.window, Some(1200), seen.shape.wscale, seen.shape.option_kinds());
    };
    let v = judge(&echoed(round(true, Some(SynAckAnswers::FirstSyn), 100), true, nat), None);
    assert_eq!(v.signatures, vec![]);
    assert_eq!(v.middlebox.as_bool(), Some(false));
    assert_eq!(v.path_changes, [super::PathChange::MssClamped, super::PathChange::Nat]);
}

#[test]
fn isn_rewritten_and_mss_clamped__path_changes_in_the_order_of_their_words_each_once() {
    let rewrite = |_: &Connection, seen: &mut SynSeen| {
        seen.isn = seen.isn.wrapping_add(1);
        seen.shape =
            SynShape::new(63, seen.shape.window, Some(1200), seen.shape.wscale, seen.shape.option_kinds());
    };
    let conns = echoed(round(true, Some(SynAckAnswers::FirstSyn), 100), true, rewrite);
    let changes = crate::arrival::PathFacts::of(&conns[0]).unwrap().path_changes();
    assert_eq!(
        changes,
        [super::PathChange::MssClamped, super::PathChange::IsnRewritten],
        "as the SYN is read"
    );
    let v = judge(&conns, None);
    // Three connections, each with both: each once, in the column's (alphabetical) order.
    assert_eq!(v.path_changes, [super::PathChange::IsnRewritten, super::PathChange::MssClamped]);
}

#[test]
fn syn_data_cut_on_the_way__syn_data_removed_on_path() {
    let cut = |_: &Connection, seen: &mut SynSeen| seen.data_len = 0;
    let v = judge(&echoed(round(true, Some(SynAckAnswers::FirstSyn), 100), true, cut), None);
    assert_eq!(v.signatures, vec![Signature::SynDataRemovedOnPath]);
    assert!(v.explanation.contains("SYN frame 110 (76 bytes sent, 0 arrived)"), "{}", v.explanation);
}

#[test]
fn inferred_option_dropped_but_the_option_arrived__set_aside() {
    // The TFO SYN got no answer the client saw, its retransmission did: option_dropped, as
    // inferred. The echo shows the first SYN, option and all: the answer was lost, not the SYN.
    let mut conns = vec![
        conn(100, SynTfo::CookieRequest, 0, Some(SynAckAnswers::RetransmittedSyn), false),
        conn(120, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false),
    ];
    assert_eq!(judge(&conns, None).signatures, vec![Signature::OptionDropped]);
    conns = echoed(conns, true, nothing);
    for c in &mut conns {
        let seen = SynSeen::from_transmission(c, c.first_syn());
        c.arrival.as_mut().unwrap().syn = Some(seen);
    }
    let v = judge(&conns, None);
    assert!(!v.signatures.contains(&Signature::OptionDropped), "{:?}", v.signatures);
    assert!(
        v.explanation.contains("option_dropped inferred, but the SYN in frame 100 arrived with what it carried (the echo origin's answer)"),
        "{}",
        v.explanation
    );
}

#[test]
fn the_kernels_plain_retransmission_arrived__no_option_removed_claimed() {
    // The TFO SYN was dropped; the retransmission (no option, by design) is what arrived.
    let conns = vec![
        conn(100, SynTfo::CookieRequest, 0, Some(SynAckAnswers::RetransmittedSyn), false),
        conn(120, SynTfo::None, 0, Some(SynAckAnswers::FirstSyn), false),
    ];
    let v = judge(&echoed(conns, true, nothing), None);
    assert!(v.signatures.contains(&Signature::OptionDropped));
    assert!(!v.signatures.contains(&Signature::OptionRemovedOnPath), "{:?}", v.signatures);
}

#[test]
fn headers_changed_and_another_certificate__request_changed_and_tls_intercepted() {
    let mut conns = echoed(recorded_round(1, 100, 200, "a"), true, nothing);
    for c in &mut conns {
        let arrival = c.arrival.as_mut().unwrap();
        arrival.request_changes = Some(vec!["added:via".to_string()]);
        arrival.served_cert = Some("b".to_string());
    }
    let v = judge(&conns, None);
    assert_eq!(v.signatures, vec![Signature::RequestChanged, Signature::TlsIntercepted]);
    assert!(v.explanation.contains("arrived changed (added:via)"), "{}", v.explanation);
    assert!(v.explanation.contains("saw certificate a where the echo origin served b"), "{}", v.explanation);
}

#[test]
fn echo_bodies_of_other_sizes__no_response_differs_but_a_non_echo_answer_is() {
    let with_echo = |mut conns: Vec<Connection>, echo_for_tfo: bool, tfo_size: u64| {
        for c in &mut conns {
            let mut link = (**c.attempt.as_ref().unwrap()).clone();
            let tfo = link.fetch.tfo();
            link.echo = !tfo || echo_for_tfo;
            if tfo {
                link.size = Some(tfo_size);
            }
            c.attempt = Some(Arc::new(link));
        }
        conns
    };
    let v = judge(&with_echo(recorded_round(1, 100, 200, "a"), true, 700), None);
    assert_eq!(v.signatures, vec![], "echoes differ by design: {}", v.explanation);
    let v = judge(&with_echo(recorded_round(1, 100, 200, "a"), false, 700), None);
    assert_eq!(v.signatures, vec![Signature::ResponseDiffers]);
    assert!(v.explanation.contains("an answer that is not the echo origin's"), "{}", v.explanation);
}
