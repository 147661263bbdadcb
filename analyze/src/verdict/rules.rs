//! The signatures, as two tables of pure rules: [`ROUND_RULES`] over one measurement round,
//! [`TARGET_RULES`] over a target's facts and what is expected of its origin. Each row names
//! the row of ../shared/TFO-FIELD-NOTES.md ("The three signatures, as seen in the lab") it
//! encodes, and returns the evidence it rests on, or nothing when it does not hold.

use super::evidence::{Arrived, Evidence, ResponseDifference, ServerSide};
use super::facts::{
    first_syn_unanswered, own_retransmission_answered, refused_first_syn, too_big_first_syn, Round,
};
use super::{CookieResult, Signature, SynDataResult};
use crate::arrival::{PathFacts, SynChange};
use crate::attempt::FetchKind;
use crate::expect::Expectation;
use crate::record::AttemptLink;

/// A rule over one round: the evidence of every connection that shows the signature.
pub type RoundRuleFn = for<'r, 'a> fn(&Round<'r, 'a>) -> Vec<Evidence<'a>>;

pub struct RoundRule {
    pub signature: Signature,
    /// The row of the field notes: middlebox action, then what the client's capture shows.
    pub field_notes: &'static str,
    pub holds: RoundRuleFn,
}

#[rustfmt::skip]
pub const ROUND_RULES: [RoundRule; 11] = [
    RoundRule { signature: Signature::OptionDropped,   holds: option_dropped,
        field_notes: "1 | drop SYN with option 34/254 | TFO SYN unanswered, plain retransmission answered ~1 s later" },
    RoundRule { signature: Signature::OptionReset,     holds: option_reset,
        field_notes: "1 | RST to SYN with option | RST answering the TFO SYN; plain fetch works" },
    RoundRule { signature: Signature::SynDataDropped,  holds: syn_data_dropped,
        field_notes: "2 | drop SYN with payload | SYN-data unanswered, plain SYN retransmission answered" },
    RoundRule { signature: Signature::SynDataReset,    holds: syn_data_reset,
        field_notes: "2 | RST to SYN with payload | RST answering the SYN-data" },
    RoundRule { signature: Signature::ResponseDiffers, holds: response_differs,
        field_notes: "collector records | a box answers TFO fetches itself | status, certificate or size differ from the baseline's" },
    RoundRule { signature: Signature::SynAckConflict,  holds: synack_conflict,
        field_notes: "seen since | a box answers beside the origin, or an answer is injected | two SYN-ACKs with different ISNs answer one SYN transmission" },
    RoundRule { signature: Signature::OptionRemovedOnPath, holds: option_removed_on_path,
        field_notes: "what arrived | strip option 34/254 (TCPOPTSTRIP) | the echo or server capture shows the SYN without the option or with another cookie" },
    RoundRule { signature: Signature::SynDataRemovedOnPath, holds: syn_data_removed_on_path,
        field_notes: "what arrived | a box that forwards SYNs without their data | the SYN arrived with less data than sent" },
    RoundRule { signature: Signature::Reoriginated, holds: reoriginated,
        field_notes: "what arrived | a transparent proxy (REDIRECT, Squid intercept), with TFO or without | the SYN that arrived has another ISN and another TSval" },
    RoundRule { signature: Signature::RequestChanged, holds: request_changed,
        field_notes: "what arrived | a proxy that edits requests (Squid adds Via) | the echo's request headers differ from those sent" },
    RoundRule { signature: Signature::TlsIntercepted, holds: tls_intercepted,
        field_notes: "what arrived | a TLS interceptor (sslsplit) | the certificate seen differs from the one the echo origin served" },
];

/// The round's connections with what arrived at the server, and those facts.
fn arrivals<'r, 'a>(round: &'r Round<'_, 'a>) -> impl Iterator<Item = &'a PathFacts> + 'r {
    round.all.iter().filter_map(|c| c.path.as_deref())
}

/// One evidence of the round's SYNs that `show`, or none.
fn arrived_evidence<'a>(
    round: &Round<'_, 'a>,
    show: impl Fn(&'a PathFacts) -> Option<String>,
    evidence: impl FnOnce(Vec<Arrived<'a>>) -> Evidence<'a>,
) -> Vec<Evidence<'a>> {
    let syns: Vec<Arrived<'a>> = arrivals(round)
        .filter_map(|p| {
            Some(Arrived { syn: p.sent_frame, server: ServerSide::of(&p.source), detail: show(p)? })
        })
        .collect();
    if syns.is_empty() {
        Vec::new()
    } else {
        vec![evidence(syns)]
    }
}

/// The TFO option or cookie a SYN carried did not arrive as sent (not counting a proxy's
/// own SYN, which says nothing of ours).
fn option_removed_on_path<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let show = |p: &PathFacts| {
        (p.option_arrived == Some(false)).then(|| {
            p.changes
                .iter()
                .find(|c| matches!(c, SynChange::OptionRemoved(34 | 254) | SynChange::CookieChanged))
                .map_or_else(|| "option_changed".to_string(), |c| c.to_string())
        })
    };
    arrived_evidence(round, show, |syns| Evidence::OptionRemovedOnPath { syns })
}

fn syn_data_removed_on_path<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let show = |p: &PathFacts| {
        (p.data_arrived == Some(false)).then(|| {
            let arrived = p.changes.iter().find_map(|c| match c {
                SynChange::DataChangedLen(_, b) => Some(*b),
                _ => None,
            });
            format!("{} bytes sent, {} arrived", p.sent_data_len, arrived.unwrap_or(0))
        })
    };
    arrived_evidence(round, show, |syns| Evidence::SynDataRemovedOnPath { syns })
}

fn reoriginated<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let show = |p: &PathFacts| p.reoriginated.then(String::new);
    arrived_evidence(round, show, |syns| Evidence::Reoriginated { syns })
}

fn request_changed<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    round
        .all
        .iter()
        .filter_map(|c| Some((c.attempt.as_deref()?, c.path.as_deref()?)))
        .filter(|(_, p)| !p.request_changes.is_empty())
        .map(|(a, p)| Evidence::RequestChanged { fetch: a.fetch, changes: &p.request_changes })
        .take(1)
        .collect()
}

fn tls_intercepted<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    round
        .all
        .iter()
        .filter_map(|c| Some((c.attempt.as_deref()?, c.path.as_deref()?.cert_mismatch.as_ref()?)))
        .map(|(a, (client, served))| Evidence::TlsIntercepted {
            fetch: a.fetch,
            client_cert: client,
            served_cert: served,
        })
        .take(1)
        .collect()
}

/// What a target shows once its rounds are counted: the input of [`TARGET_RULES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFacts {
    pub cookie: CookieResult,
    pub syn_data: SynDataResult,
}

pub type TargetRuleFn = for<'a> fn(TargetFacts, &'a Expectation) -> Option<Evidence<'a>>;

pub struct TargetRule {
    pub signature: Signature,
    pub field_notes: &'static str,
    pub holds: TargetRuleFn,
}

#[rustfmt::skip]
pub const TARGET_RULES: [TargetRule; 2] = [
    TargetRule { signature: Signature::NotNegotiatedExpected, holds: not_negotiated_expected,
        field_notes: "3 | strip option 34/254, or a transparent proxy without TFO | cookie request answered without a cookie while the control gets one" },
    TargetRule { signature: Signature::NegotiatedUnexpected,  holds: negotiated_unexpected,
        field_notes: "3 | transparent proxy with TFO, origin without | cookie received and SYN data acked while the control says no TFO" },
];

/// A cookie request unanswered, while a plain SYN (its own retransmission first) was answered.
fn option_dropped<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let plain = round.plain_syn_answered();
    round
        .cookie_requests()
        .filter(|c| first_syn_unanswered(c))
        .filter_map(|c| {
            let plain_synack = own_retransmission_answered(c).or(plain)?;
            Some(Evidence::OptionDropped { syn: c.first_syn().frame, plain_synack })
        })
        .collect()
}

/// A cookie request refused while a baseline connection of the round connected.
fn option_reset<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let Some(baseline_synack) = round.baseline_answered() else { return Vec::new() };
    round
        .cookie_requests()
        .filter_map(|c| {
            let refusal = refused_first_syn(c)?;
            Some(Evidence::OptionReset { refusal, syn: c.first_syn().frame, baseline_synack })
        })
        .collect()
}

/// The SYN-data unanswered, while a SYN without data (its own retransmission first) was.
fn syn_data_dropped<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let Some(c) = round.syn_data() else { return Vec::new() };
    if refused_first_syn(c).is_some() || too_big_first_syn(c).is_some() || !first_syn_unanswered(c) {
        return Vec::new();
    }
    let (len, mss) = (c.first_syn().data_len, c.synack.as_ref().and_then(|s| s.mss));
    own_retransmission_answered(c)
        .or(round.syn_without_data_answered())
        .map(|no_data_synack| Evidence::SynDataDropped { syn: c.first_syn().frame, no_data_synack, len, mss })
        .into_iter()
        .collect()
}

/// The SYN-data refused, while a SYN without data was answered.
fn syn_data_reset<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let Some(c) = round.syn_data() else { return Vec::new() };
    let (Some(refusal), Some(no_data_synack)) = (refused_first_syn(c), round.syn_without_data_answered())
    else {
        return Vec::new();
    };
    vec![Evidence::SynDataReset { refusal, syn: c.first_syn().frame, no_data_synack }]
}

/// A TFO fetch's application result (HTTP status, certificate, size) differs from the
/// baseline's in the same round, from the collector's records. Only fetches that both got a
/// response are compared: a failed fetch is a connectivity matter.
fn response_differs<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    let links: Vec<&'a AttemptLink> = round.all.iter().filter_map(|c| c.attempt.as_deref()).collect();
    let Some(baseline) = links.iter().find(|a| a.fetch == FetchKind::Plain && a.status.is_some()) else {
        return Vec::new();
    };
    links
        .iter()
        .filter(|a| a.fetch.tfo() && a.status.is_some())
        .find_map(|a| {
            let difference = if a.status != baseline.status {
                ResponseDifference::Status { got: &a.app_result, baseline: &baseline.app_result }
            } else if a.cert_sha256 != baseline.cert_sha256 {
                ResponseDifference::Certificate
            } else if a.echo != baseline.echo {
                ResponseDifference::Echo { got: a.echo }
            } else if a.size != baseline.size && !a.echo {
                // Echo bodies differ from fetch to fetch by design (ports, ISNs, time).
                ResponseDifference::Size { got: a.size.unwrap_or(0), baseline: baseline.size.unwrap_or(0) }
            } else {
                return None;
            };
            Some(Evidence::ResponseDiffers { fetch: a.fetch, difference })
        })
        .into_iter()
        .collect()
}

/// Two SYN-ACKs with different ISNs for the one SYN transmission (the same TSecr, or the only
/// SYN). Different ISNs for different transmissions are a server that forgot the first: no rule.
fn synack_conflict<'a>(round: &Round<'_, 'a>) -> Vec<Evidence<'a>> {
    round
        .all
        .iter()
        .filter_map(|c| c.conflicting_synack())
        .map(|(synack, other)| Evidence::SynAckConflict { synack, other })
        .collect()
}

/// TFO expected of the origin, and no cookie (or only the experimental form, where the
/// control got the RFC form: a downgrade on the path).
fn not_negotiated_expected(facts: TargetFacts, e: &Expectation) -> Option<Evidence<'_>> {
    let downgraded = facts.cookie == CookieResult::ReceivedExpOnly && e.control_rfc_cookie;
    (e.expected_tfo == Some(true) && (facts.cookie == CookieResult::NotReceived || downgraded))
        .then_some(Evidence::NotNegotiatedExpected { source: &e.source, cookie: facts.cookie })
}

/// No TFO expected of the origin, and a cookie, or SYN data acked.
fn negotiated_unexpected(facts: TargetFacts, e: &Expectation) -> Option<Evidence<'_>> {
    let negotiated = matches!(facts.cookie, CookieResult::Received | CookieResult::ReceivedExpOnly)
        || facts.syn_data == SynDataResult::Acked;
    (e.expected_tfo == Some(false) && negotiated)
        .then_some(Evidence::NegotiatedUnexpected { source: &e.source })
}
