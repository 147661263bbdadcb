//! The SYN features beside TFO (`collect --features`): which fetches the TFO rules see, and
//! what each other feature met on the path.
//!
//! A fetch asks for TFO alone (or nothing: the baseline), for one other feature alone (a
//! retry), or for several at once (the combined first attempt). Where a round retried each
//! feature alone, its combined fetches leave the TFO rules (their trouble may be another
//! feature's) and TFO is judged on its own retry, as a run of TFO alone would be. MPTCP and
//! ECN are judged on their own fetches: a first SYN reset or unanswered while the baseline's
//! was answered at once, or a SYN-ACK without the feature where the control's granted it.

use std::collections::BTreeSet;

use super::evidence::{Evidence, FeatureFailure};
use crate::expect::Expectation;
use crate::record::{Feature, Features, SynAckAnswers};
use crate::summary::ConnSummary;

/// What a target's fetches say of the features, and the fetches the TFO rules judge.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureVerdict<'a> {
    pub tfo_conns: Vec<&'a ConnSummary>,
    /// Asked for by some fetch's first SYN.
    pub tried: Features,
    /// Granted by a SYN-ACK to a SYN that asked.
    pub negotiated: Features,
    /// `mptcp:option_dropped`, `ecn:reset`, ... (TFO's are added from its signatures).
    pub failures: Vec<String>,
    pub evidence: Vec<Evidence<'a>>,
}

/// What a connection's fetch asked for: the record's word, else its first SYN's.
fn asked(c: &ConnSummary) -> Features {
    c.attempt.as_ref().map_or(c.first_syn.features, |a| a.features)
}

fn round(c: &ConnSummary) -> Option<u32> {
    c.attempt.as_ref().map(|a| a.round)
}

/// The first SYN went unanswered: the SYN-ACK answered a resend, or nothing answered.
fn first_syn_lost(c: &ConnSummary) -> bool {
    match &c.synack {
        Some(s) => s.answers == SynAckAnswers::RetransmittedSyn,
        None => c.refused.is_none() && c.outcome == crate::record::Outcome::Timeout,
    }
}

fn refused_first(c: &ConnSummary) -> bool {
    c.reset() && c.refused.is_some_and(|r| r.answers_first_syn)
}

/// Answered at once: a SYN-ACK to the first SYN.
fn answered_at_once(c: &ConnSummary) -> bool {
    c.synack.as_ref().is_some_and(|s| s.answers == SynAckAnswers::FirstSyn)
}

/// `mptcp_paused`: the run's counters say MPTCP's blackhole detection paused it.
pub fn judge<'a>(
    conns: &[&'a ConnSummary],
    expectation: Option<&Expectation>,
    mptcp_paused: bool,
) -> FeatureVerdict<'a> {
    let beyond_tfo = |f: Features| f.iter().any(|f| f != Feature::Tfo);
    // Which fetch asked for what alone, and which was the baseline, only the collector's
    // records say: in another tool's capture (a host whose every SYN asks for ECN, say) the
    // features are read, and the connections judged by the TFO rules as they always were.
    let recorded = conns.iter().all(|c| c.attempt.is_some());
    let combined = |c: &ConnSummary| asked(c).len() > 1;
    // Rounds that retried TFO alone after a combined attempt (None: a capture without records).
    // Sets, in one pass each: a target of a long capture has a great many connections.
    let combined_rounds: BTreeSet<Option<u32>> =
        conns.iter().filter(|c| combined(c)).map(|c| round(c)).collect();
    let retried: BTreeSet<Option<u32>> = conns
        .iter()
        .filter(|c| asked(c) == Features::TFO)
        .map(|c| round(c))
        .filter(|r| combined_rounds.contains(r))
        .collect();
    let mut tfo_conns: Vec<&ConnSummary> = conns
        .iter()
        .copied()
        .filter(|_| recorded)
        .filter(|c| {
            let a = asked(c);
            if a.len() == 1 && a != Features::TFO {
                return false;
            }
            !(combined(c) && retried.contains(&round(c)))
        })
        .collect();
    // Another tool's capture, or only fetches of one other feature: the TFO rules judge every
    // connection, as they did before features were read.
    if tfo_conns.is_empty() {
        tfo_conns = conns.to_vec();
    }

    let mut tried = Features::NONE;
    let mut negotiated = Features::NONE;
    for c in conns {
        let a = asked(c);
        tried = tried.union(a);
        if let Some(s) = &c.synack {
            negotiated = negotiated.union(Features::of(s.features.iter().filter(|f| a.contains(*f))));
        }
        // TFO is in use where SYN data was accepted too, a cookie granted or not.
        if c.syn_data_acked == Some(crate::record::DataAcked::Acked) {
            negotiated = negotiated.with(Feature::Tfo);
        }
    }
    // The feature's fetches are held to the baseline's: without one answered at once, a lost
    // or refused SYN says nothing of the feature.
    let baseline_at_once = conns.iter().any(|c| asked(c).is_empty() && answered_at_once(c));
    let mut failures = Vec::new();
    let mut evidence = Vec::new();
    // A fetch that asked for MPTCP whose first SYN went out without MP_CAPABLE: the kernel's
    // MPTCP blackhole pause (or the counters say it began): its MPTCP results are not valid.
    let not_sent = conns
        .iter()
        .find(|c| asked(c).contains(Feature::Mptcp) && !c.first_syn.features.contains(Feature::Mptcp));
    let mptcp_invalid = tried.contains(Feature::Mptcp) && (mptcp_paused || not_sent.is_some());
    if mptcp_invalid {
        evidence.push(Evidence::MptcpPaused { frame: not_sent.map(|c| c.first_syn.frame) });
    }
    for feature in [Feature::Mptcp, Feature::Ecn] {
        if !recorded || !tried.contains(feature) || (feature == Feature::Mptcp && mptcp_invalid) {
            continue;
        }
        let alone: Vec<&ConnSummary> =
            conns.iter().copied().filter(|c| asked(c) == Features::of([feature])).collect();
        // Judged on its fetches alone where there are any, else on the combined ones.
        let judged: Vec<&ConnSummary> = if alone.is_empty() {
            conns.iter().copied().filter(|c| combined(c) && asked(c).contains(feature)).collect()
        } else {
            alone
        };
        let expected = expectation.and_then(|e| e.features_granted).is_some_and(|g| g.contains(feature));
        let found = if let Some(c) = judged.iter().find(|c| refused_first(c)).filter(|_| baseline_at_once) {
            Some((FeatureFailure::Reset, c.refusal_frame().unwrap_or(c.first_syn.frame)))
        } else if let Some(c) = judged.iter().find(|c| first_syn_lost(c)).filter(|_| baseline_at_once) {
            Some((FeatureFailure::Dropped, c.first_syn.frame))
        } else {
            judged
                .iter()
                .find(|c| answered_at_once(c) && c.synack.is_some_and(|s| !s.features.contains(feature)))
                .filter(|_| expected)
                .map(|c| {
                    (FeatureFailure::NotNegotiatedExpected, c.synack.map_or(c.first_syn.frame, |s| s.frame))
                })
        };
        if let Some((failure, frame)) = found {
            failures.push(format!("{feature}:{}", failure.word(feature)));
            evidence.push(Evidence::FeatureFailed { feature, failure, frame });
        }
    }
    // The combined attempt met trouble, each feature went through alone: said plainly.
    let troubled =
        conns.iter().find(|c| combined(c) && (first_syn_lost(c) || refused_first(c) || c.synack.is_none()));
    if let (Some(c), true, true) = (troubled, failures.is_empty(), !retried.is_empty() && beyond_tfo(tried)) {
        evidence.push(Evidence::CombinedInconclusive { frame: c.first_syn.frame });
    }
    FeatureVerdict { tfo_conns, tried, negotiated, failures, evidence }
}
