//! One target's verdict: its rounds judged by the facts and the round rules, the majority
//! across rounds, the target rules against the origin's expectation, the SYN-ACKs'
//! fingerprints, and what spoils the measurement.

use std::net::IpAddr;

use super::evidence::Evidence;
use super::facts::{self, Round};
use super::rounds::{majority, split_rounds};
use super::rules::{TargetFacts, ROUND_RULES, TARGET_RULES};
use super::{explain, Connectivity, CookieResult, Signature, SynDataResult, TargetVerdict, Untested};
use crate::expect::Expectation;
use crate::record::{SynAckTfo, SynTfo};
use crate::summary::{ConnSummary, SynAckSummary};

/// The judgement of one measurement round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundVerdict<'a> {
    pub connectivity: Connectivity,
    pub cookie: CookieResult,
    pub syn_data: SynDataResult,
    pub signatures: Vec<Signature>,
    pub evidence: Vec<Evidence<'a>>,
}

pub fn judge_round<'a>(conns: &[&'a ConnSummary]) -> RoundVerdict<'a> {
    let round = Round::new(conns);
    let connectivity = facts::connectivity(&round);
    let (cookie, cookie_evidence) = facts::cookie(&round);
    let (syn_data, syn_data_evidence) = facts::syn_data(&round);
    let mut evidence: Vec<Evidence<'a>> = cookie_evidence.into_iter().chain(syn_data_evidence).collect();
    let mut signatures = Vec::new();
    for rule in &ROUND_RULES {
        let found = (rule.holds)(&round);
        if !found.is_empty() {
            signatures.push(rule.signature);
            evidence.extend(found);
        }
    }
    RoundVerdict { connectivity, cookie, syn_data, signatures, evidence }
}

/// What the judge of a target knows beside its connections.
pub struct TargetContext<'a> {
    pub vantage: &'a str,
    pub expectation: Option<&'a Expectation>,
    /// The capturing kernel reported dropped packets.
    pub capture_drops: bool,
    /// The kernel's TFO blackhole detection paused TFO during the run.
    pub blackhole: bool,
}

/// What says something about the stack that built a SYN-ACK: TTL, MSS and the option kinds
/// other than TFO and padding (numbered, see [`crate::summary::StackKinds`]).
fn fingerprint(s: &SynAckSummary) -> (u8, Option<u16>, u32) {
    (s.ttl, s.mss, s.stack_kinds)
}

pub fn judge_target<'a>(
    ip: IpAddr,
    port: u16,
    conns: &[&'a ConnSummary],
    cx: &TargetContext<'a>,
) -> TargetVerdict {
    let rounds = split_rounds(conns);
    let judged: Vec<RoundVerdict<'a>> = rounds.iter().map(|r| judge_round(r)).collect();
    let n = judged.len();
    let connectivity = majority(judged.iter().map(|r| r.connectivity));
    let cookie = majority(judged.iter().map(|r| r.cookie));
    let syn_data = majority(judged.iter().map(|r| r.syn_data));

    let mut signatures = Vec::new();
    let mut evidence: Vec<Evidence<'a>> = Vec::new();
    for &signature in Signature::ALL {
        let holding = judged.iter().filter(|r| r.signatures.contains(&signature)).count();
        if holding * 2 > n {
            signatures.push(signature);
            if n > 1 {
                evidence.push(Evidence::HeldInRounds { signature, holding, rounds: n });
            }
        }
    }
    // The first round that agrees with the majority tells its story.
    if let Some(r) = judged.iter().find(|r| r.connectivity == connectivity && r.cookie == cookie) {
        evidence.extend(r.evidence.iter().cloned());
    }

    let no_exchange =
        matches!(connectivity, Connectivity::Offline | Connectivity::Closed | Connectivity::Unresolved);
    let expected_tfo = cx.expectation.and_then(|e| e.expected_tfo);
    if let (Some(expectation), false) = (cx.expectation, no_exchange) {
        let target_facts = TargetFacts { cookie, syn_data };
        for rule in &TARGET_RULES {
            if let Some(found) = (rule.holds)(target_facts, expectation) {
                signatures.push(rule.signature);
                evidence.push(found);
            }
        }
    }

    let mut untested = Vec::new();
    if syn_data == SynDataResult::NotAttempted && !no_exchange {
        untested.push(Untested::SynData);
    }
    if expected_tfo.is_none() {
        untested.push(Untested::Negotiation);
    }

    // SYN-ACKs that answered TFO SYNs against the baseline's, and all against the control's TTL.
    let fingerprints = |tfo: bool| -> Vec<(u8, Option<u16>, u32)> {
        conns
            .iter()
            .filter(|c| c.tried_tfo() == tfo)
            .filter_map(|c| c.synack.as_ref())
            .map(fingerprint)
            .collect()
    };
    let (tfo_fp, plain_fp) = (fingerprints(true), fingerprints(false));
    let mut synack_differs = None;
    if let (Some(base), false) = (plain_fp.first(), tfo_fp.is_empty()) {
        let differs = tfo_fp.iter().any(|f| f != base);
        synack_differs = Some(differs);
        if differs {
            evidence.push(Evidence::SynAcksDifferFromBaseline { tfo_ttl: tfo_fp[0].0, baseline_ttl: base.0 });
        }
    }
    if let Some(control_ttl) = cx.expectation.and_then(|e| e.control_ttl) {
        if let Some(ttl) = tfo_fp.first().or(plain_fp.first()).map(|f| f.0) {
            let differs = ttl != control_ttl;
            synack_differs = Some(synack_differs.unwrap_or(false) || differs);
            if differs {
                evidence.push(Evidence::TtlDiffersFromControl { ttl, control_ttl });
            }
        }
    }

    // Options cut by the snap length: whether TFO was asked for or granted is unknown.
    let truncated = conns.iter().any(|c| {
        c.first_syn().tfo == SynTfo::Truncated
            || c.synack.as_ref().is_some_and(|s| s.tfo == SynAckTfo::Truncated)
    });
    if truncated {
        evidence.push(Evidence::OptionsTruncated);
        for u in [Untested::SynData, Untested::Negotiation] {
            if !untested.contains(&u) {
                untested.push(u);
            }
        }
    }
    let middlebox =
        if no_exchange || (truncated && signatures.is_empty()) { None } else { Some(!signatures.is_empty()) };
    let cached_drops = cached_syn_drops(conns);
    let measurement_valid = !cx.capture_drops && !truncated && cached_drops.is_none() && !cx.blackhole;
    if cx.capture_drops {
        evidence.push(Evidence::CaptureDrops);
    }
    evidence.extend(cached_drops);
    if cx.blackhole {
        evidence.push(Evidence::Blackhole);
    }

    TargetVerdict {
        vantage: cx.vantage.to_string(),
        target: target_name(ip, port, conns),
        server_ip: Some(ip),
        server_port: port,
        connections: conns.len() as u32,
        rounds: n as u32,
        connectivity,
        cookie,
        syn_data,
        conditions: explain::conditions(connectivity, cookie, syn_data),
        signatures,
        untested,
        middlebox,
        expected_tfo,
        synack_differs,
        measurement_valid,
        explanation: explain::sentence(connectivity, cookie, syn_data, &evidence),
    }
}

/// The URLs of the collector's records, `;`-joined, else address and port.
fn target_name(ip: IpAddr, port: u16, conns: &[&ConnSummary]) -> String {
    let mut urls: Vec<&str> =
        conns.iter().filter_map(|c| c.attempt.as_ref()).map(|a| a.url.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    if urls.is_empty() {
        std::net::SocketAddr::new(ip, port).to_string()
    } else {
        urls.join(";")
    }
}

/// The kernel remembered SYN-data losses for the address before a TFO fetch, so it may have
/// sent no data in its SYNs: the history, not this path, decided.
fn cached_syn_drops<'a>(conns: &[&'a ConnSummary]) -> Option<Evidence<'a>> {
    conns.iter().filter_map(|c| c.attempt.as_ref()).find_map(|a| {
        let drops = a.cached_syn_drops.filter(|d| *d > 0 && a.fetch.tfo())?;
        Some(Evidence::CachedSynDrops { fetch: a.fetch, round: a.round, drops })
    })
}
