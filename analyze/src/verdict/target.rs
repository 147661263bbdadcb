//! One target's verdict: its rounds judged by the facts and the round rules, the majority
//! across rounds, the target rules against the origin's expectation, the SYN-ACKs'
//! fingerprints, and what spoils the measurement.

use std::net::IpAddr;
use std::sync::LazyLock;

use super::evidence::{Evidence, ServerSide, StackDifference};
use super::facts::{self, Round};
use super::features;
use super::rounds::{majority, split_rounds, tried_tfo, RoundsFormed};
use super::rules::{TargetFacts, ROUND_RULES, TARGET_RULES};
use super::{
    explain, Basis, Condition, Connectivity, CookieResult, Direction, Finding, Signature, SynDataResult,
    TargetVerdict, Untested,
};
use crate::arrival::{ArrivalKind, PathChange, PathFacts};
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
    evidence.extend(facts::synacks_with_data(&round));
    evidence.extend(facts::answered_by_timing(&round));
    evidence.extend(facts::cookie_rejected(&round));
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
    /// The kernel's TFO blackhole detection paused TFO during the run, and this target's fetches
    /// came after the pause began (or no sign says when it began).
    pub blackhole: bool,
    /// Where the pause shows first: the time and the target of the first TFO fetch sent
    /// without TFO.
    pub paused_from: Option<(i64, std::net::SocketAddr)>,
    /// The vantage's own addresses: a target there is inbound.
    pub own_addresses: &'a [IpAddr],
    /// The capture ends inside a record (cut off mid-write): the time of its last packet.
    pub capture_cut: Option<i64>,
    /// MPTCP's blackhole detection paused it during the run (MPTcpExt `Blackhole` grew): the
    /// SYNs after it asked for no MPTCP, whatever the fetches wanted.
    pub mptcp_paused: bool,
    /// The connections are the kernel's view of each fetch (a run without a capture): their
    /// frame numbers are the fetches' places among the records.
    pub kernel_view: bool,
}

/// How long before a capture's cut a connection may have been left unfinished: a SYN's
/// retransmissions (1 + 2 + 4 s) and a fetch's round trips.
const CUT_MARGIN_NS: i64 = 10_000_000_000;

/// The target's fetches may have been cut by the end of the capture: a connection never
/// finished, or one began within the margin before the cut.
fn cut_short(conns: &[&ConnSummary], cut_ns: i64) -> bool {
    conns.iter().any(|c| {
        c.outcome == crate::record::Outcome::Incomplete
            || c.first_syn().time_ns >= cut_ns.saturating_sub(CUT_MARGIN_NS)
    })
}

/// TTL differences up to this between one target's SYN-ACKs are anycast and ECMP paths, not
/// another stack, unless every TFO SYN-ACK differs from every baseline one.
const TTL_JITTER: u8 = 3;

/// How a SYN-ACK to a TFO SYN differs from a baseline's, if it does: MSS, then the option
/// kinds, then a TTL further off than path jitter.
fn stack_difference(tfo: &SynAckSummary, baseline: &SynAckSummary) -> Option<StackDifference> {
    if tfo.mss != baseline.mss {
        Some(StackDifference::Mss { tfo: tfo.mss, baseline: baseline.mss })
    } else if tfo.stack_kinds != baseline.stack_kinds {
        Some(StackDifference::Options)
    } else if tfo.ttl.abs_diff(baseline.ttl) > TTL_JITTER {
        Some(StackDifference::Ttl { tfo: tfo.ttl, baseline: baseline.ttl })
    } else {
        None
    }
}

/// Whether the SYN-ACKs to TFO SYNs come from another stack than the baseline's, with the pair
/// that shows it; None when there is nothing to compare.
fn synacks_differ<'a>(tfo: &[&SynAckSummary], baseline: &[&SynAckSummary]) -> Option<Option<Evidence<'a>>> {
    if tfo.is_empty() || baseline.is_empty() {
        return None;
    }
    let pairs = || tfo.iter().flat_map(|t| baseline.iter().map(move |b| (*t, *b)));
    let evidence = |t: &SynAckSummary, b: &SynAckSummary, difference| Evidence::SynAckDiffers {
        tfo_synack: t.frame,
        baseline_synack: b.frame,
        difference,
    };
    if let Some((t, b, d)) = pairs().find_map(|(t, b)| stack_difference(t, b).map(|d| (t, b, d))) {
        return Some(Some(evidence(t, b, d)));
    }
    // Small TTL differences count only when consistent: every TFO one against every baseline one.
    if pairs().all(|(t, b)| t.ttl != b.ttl) {
        let (t, b) = (tfo[0], baseline[0]);
        return Some(Some(evidence(t, b, StackDifference::Ttl { tfo: t.ttl, baseline: b.ttl })));
    }
    Some(None)
}

/// A target's verdict: TFO by its rules on the fetches that judge it, the other features on
/// theirs (see [`features`]).
pub fn judge_target<'a>(
    ip: IpAddr,
    port: u16,
    conns: &[&'a ConnSummary],
    cx: &TargetContext<'a>,
) -> TargetVerdict {
    let features = features::judge(conns, cx.expectation, cx.mptcp_paused);
    let mut v = judge_tfo(ip, port, &features.tfo_conns, cx);
    v.connections = conns.len() as u32;
    v.target = target_name(ip, port, conns);
    v.features_tried = features.tried;
    v.features_negotiated = features.negotiated;
    v.feature_failures = v.signatures.iter().map(|s| format!("tfo:{s}")).collect();
    v.feature_failures.extend(features.failures.iter().cloned());
    // A feature the path broke is a middlebox, whatever TFO met.
    if !features.failures.is_empty() {
        v.middlebox = Finding::Middlebox;
    }
    let said: Vec<Evidence<'_>> = features
        .evidence
        .into_iter()
        .filter(|e| !matches!(e, Evidence::CombinedInconclusive { .. }) || v.signatures.is_empty())
        .collect();
    if !said.is_empty() {
        let clauses: Vec<String> = said.iter().map(explain::clause).collect();
        let sentence = v.explanation.trim_end_matches('.');
        v.explanation = format!("{sentence}; {}.", clauses.join("; "));
    }
    v
}

fn judge_tfo<'a>(ip: IpAddr, port: u16, conns: &[&'a ConnSummary], cx: &TargetContext<'a>) -> TargetVerdict {
    let (rounds, formed) = split_rounds(conns);
    let judged: Vec<RoundVerdict<'a>> = rounds.iter().map(|r| judge_round(r)).collect();
    let n = judged.len();
    // Rounds that tried TFO vote; one of only a baseline says nothing of TFO.
    let mut voting: Vec<&RoundVerdict<'a>> =
        rounds.iter().zip(&judged).filter(|(r, _)| tried_tfo(r)).map(|(_, j)| j).collect();
    if voting.is_empty() {
        voting = judged.iter().collect();
    }
    let votes = voting.len();
    let connectivity = majority(voting.iter().map(|r| r.connectivity));
    let cookie = majority(voting.iter().map(|r| r.cookie));
    let syn_data = majority(voting.iter().map(|r| r.syn_data));

    let mut signatures = Vec::new();
    let mut evidence: Vec<Evidence<'a>> = Vec::new();
    if n > 1 {
        let set_aside = n - votes;
        evidence.push(match formed {
            RoundsFormed::ByKinds => Evidence::RoundsByKinds { rounds: n, set_aside },
            RoundsFormed::ByRecords => Evidence::RoundsByRecords { rounds: n, set_aside },
        });
    }
    // Signatures some rounds showed but not most: no finding, and no "no" either.
    let mut minority = false;
    for &signature in Signature::ALL {
        let holding = voting.iter().filter(|r| r.signatures.contains(&signature)).count();
        if holding * 2 > votes {
            signatures.push(signature);
            if votes > 1 {
                evidence.push(Evidence::HeldInRounds { signature, holding, rounds: votes });
            }
        } else if holding > 0 {
            minority = true;
            evidence.push(Evidence::HeldInRounds { signature, holding, rounds: votes });
        }
    }
    // The first round that agrees with the majority tells its story.
    if let Some(r) = voting.iter().find(|r| r.connectivity == connectivity && r.cookie == cookie) {
        evidence.extend(r.evidence.iter().cloned());
    }

    let paths: Vec<&'a PathFacts> = conns.iter().filter_map(|c| c.path.as_deref()).collect();
    set_aside_by_arrival(&paths, &mut signatures, &mut evidence);

    let no_exchange =
        matches!(connectivity, Connectivity::Offline | Connectivity::Closed | Connectivity::Unresolved);
    // The echo origin says what its listener does: known, where a control only infers it.
    let expectation = echo_expectation(&paths).or(cx.expectation);
    let expected_tfo = expectation.and_then(|e| e.expected_tfo);
    if let (Some(expectation), false) = (expectation, no_exchange) {
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
    // Two SYN-ACKs, TTL and option differences need the packets.
    if cx.kernel_view {
        untested.push(Untested::Wire);
    }

    // SYN-ACKs that answered TFO SYNs against the baseline's, and against the control's TTL
    // (any difference there is reported: another vantage's path is evidence, not jitter).
    // An MPTCP SYN-ACK's MP_CAPABLE takes 12 of the 40 option bytes: beside a cookie, Linux
    // leaves other options out, by design. Those are not compared.
    let synacks = |tfo: bool| -> Vec<&'a SynAckSummary> {
        conns
            .iter()
            .filter(|c| c.tried_tfo() == tfo && !c.first_syn.features.contains(crate::record::Feature::Mptcp))
            .filter_map(|c| c.synack.as_ref())
            .collect()
    };
    let (tfo_synacks, plain_synacks) = (synacks(true), synacks(false));
    let mut synack_differs = None;
    // Without the packets no SYN-ACK's TTL or options are known.
    if let Some(found) = synacks_differ(&tfo_synacks, &plain_synacks).filter(|_| !cx.kernel_view) {
        synack_differs = Some(found.is_some());
        evidence.extend(found);
    }
    if let Some(control_ttl) = cx.expectation.and_then(|e| e.control_ttl) {
        if let Some(s) = tfo_synacks.first().or(plain_synacks.first()) {
            let differs = s.ttl != control_ttl;
            synack_differs = Some(synack_differs.unwrap_or(false) || differs);
            if differs {
                evidence.push(Evidence::TtlDiffersFromControl { synack: s.frame, ttl: s.ttl, control_ttl });
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
    // No TFO exchange of any kind (no option, no data on a SYN): nothing was tested.
    let tfo_tried = conns.iter().any(|c| c.tfo_exchange());
    // A failed SYN-data with no signature claimed: nothing told the path from the origin; or
    // SYN data that did not fit the path: signature 2 could not be tested on it.
    if matches!(syn_data, SynDataResult::Reset | SynDataResult::Dropped | SynDataResult::TooBig)
        && !signatures.iter().any(|s| matches!(s, Signature::SynDataReset | Signature::SynDataDropped))
        && !untested.contains(&Untested::SynData)
    {
        untested.push(Untested::SynData);
    }
    let cached_drops = cached_syn_drops(conns);
    let cut = cx.capture_cut.filter(|cut_ns| cut_short(conns, *cut_ns));
    let measurement_valid =
        !cx.capture_drops && !truncated && cached_drops.is_none() && !cx.blackhole && cut.is_none();
    // "no" only where every signature that could show this path's box was tested, on a
    // measurement nothing spoiled; otherwise the target could not tell (null).
    // SYN data is never tested against an origin known to grant no cookie, on any path: no
    // box could show signature 2 there, so its absence keeps no "no" from being said.
    let origin_without_tfo = expected_tfo == Some(false) && cookie == CookieResult::NotReceived;
    let could_not_look = untested
        .iter()
        .any(|u| !(*u == Untested::SynData && origin_without_tfo && syn_data == SynDataResult::NotAttempted));
    let middlebox = if !signatures.is_empty() && !no_exchange && tfo_tried {
        Finding::Middlebox
    } else if no_exchange || !tfo_tried {
        Finding::NoExchange
    } else if could_not_look || minority || !measurement_valid {
        Finding::CouldNotTell
    } else {
        Finding::NoneFound
    };
    if cx.capture_drops {
        evidence.push(Evidence::CaptureDrops);
    }
    if let Some(cut_ns) = cut {
        evidence.push(Evidence::CaptureCut { at_ns: cut_ns });
    }
    if middlebox == Finding::CouldNotTell && could_not_look {
        evidence.push(Evidence::CouldNotTell {
            syn_data: untested.contains(&Untested::SynData),
            negotiation: untested.contains(&Untested::Negotiation),
            wire: untested.contains(&Untested::Wire),
        });
    }
    evidence.extend(cached_drops);
    if cx.blackhole {
        evidence.push(Evidence::Blackhole { from: cx.paused_from });
    }

    let mut path_changes: Vec<PathChange> = paths.iter().flat_map(|p| p.path_changes()).collect();
    // In the order of their words, as the column lists them.
    path_changes.sort_by_cached_key(ToString::to_string);
    path_changes.dedup();
    let arrival_source = paths.iter().map(|p| p.source_kind()).min();

    TargetVerdict {
        path_changes,
        arrival_source,
        origin_hops: None,
        middlebox_hop_min: None,
        middlebox_hop_max: None,
        middlebox_ips: vec![],
        features_tried: crate::record::Features::NONE,
        features_negotiated: crate::record::Features::NONE,
        feature_failures: vec![],
        vantage: cx.vantage.to_string(),
        target: target_name(ip, port, conns),
        category: distinct_joined(conns.iter().filter_map(|c| c.attempt.as_ref()?.category.as_deref())),
        cert_error: distinct_joined(conns.iter().filter_map(|c| c.attempt.as_ref()?.cert_error.as_deref())),
        server_ip: Some(ip),
        server_port: port,
        direction: if cx.own_addresses.contains(&ip) { Direction::Inbound } else { Direction::Outbound },
        connections: conns.len() as u32,
        rounds: n as u32,
        connectivity,
        cookie,
        syn_data,
        conditions: {
            let mut conditions = explain::conditions(connectivity, cookie, syn_data);
            conditions.extend(evidence.iter().find_map(|e| match e {
                Evidence::SynDataPartiallyAcked { all_but_one: true, .. } => {
                    Some(Condition::SynDataOneByteProxy)
                }
                Evidence::SynDataPartiallyAcked { all_but_one: false, .. } => Some(Condition::SynDataPartial),
                _ => None,
            }));
            conditions
        },
        signatures,
        untested,
        middlebox,
        expected_tfo,
        synack_differs,
        measurement_valid,
        // Any round: an origin that refused a cookie once does so behind its address.
        cookie_rejected: judged
            .iter()
            .any(|r| r.evidence.iter().any(|e| matches!(e, Evidence::CookieRejected { .. }))),
        evidence: {
            let mut rests_on = vec![if cx.kernel_view { Basis::Kernel } else { Basis::Capture }];
            if arrival_source == Some(ArrivalKind::Echo) {
                rests_on.push(Basis::Echo);
            }
            rests_on
        },
        explanation: {
            let sentence = explain::sentence(connectivity, cookie, syn_data, &evidence);
            if cx.kernel_view {
                explain::of_records(&sentence)
            } else {
                sentence
            }
        },
    }
}

static ECHO_SAYS_TFO: LazyLock<Expectation> = LazyLock::new(|| echo_says(true));
static ECHO_SAYS_NO_TFO: LazyLock<Expectation> = LazyLock::new(|| echo_says(false));

fn echo_says(tfo: bool) -> Expectation {
    Expectation {
        expected_tfo: Some(tfo),
        control_rfc_cookie: false,
        control_ttl: None,
        source: "the echo origin".to_string(),
        features_granted: None,
    }
}

/// What the echo origins that answered say of their listeners' TFO, when they agree.
fn echo_expectation(paths: &[&PathFacts]) -> Option<&'static Expectation> {
    let mut said = paths.iter().filter_map(|p| p.origin_tfo);
    let first = said.next()?;
    if said.any(|t| t != first) {
        return None;
    }
    Some(if first { &ECHO_SAYS_TFO } else { &ECHO_SAYS_NO_TFO })
}

/// Drops and resets inferred from the client's side that the server's view contradicts: a
/// SYN arrived with its TFO option (or with its data). The server's view wins.
fn set_aside_by_arrival<'a>(
    paths: &[&'a PathFacts],
    signatures: &mut Vec<Signature>,
    evidence: &mut Vec<Evidence<'a>>,
) {
    let arrived = |option: bool| {
        paths
            .iter()
            .find(|p| if option { p.option_arrived == Some(true) } else { p.data_arrived == Some(true) })
    };
    for (signature, option) in [
        (Signature::OptionDropped, true),
        (Signature::OptionReset, true),
        (Signature::SynDataDropped, false),
        (Signature::SynDataReset, false),
    ] {
        if let (true, Some(p)) = (signatures.contains(&signature), arrived(option)) {
            signatures.retain(|s| *s != signature);
            evidence.push(Evidence::SetAsideByArrival {
                signature,
                syn: p.sent_frame,
                server: ServerSide::of(&p.source),
            });
        }
    }
}

/// Distinct values (URLs, category codes), sorted and `;`-joined; None when there are none.
fn distinct_joined<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    (!values.is_empty()).then(|| values.join(";"))
}

/// The URLs of the collector's records, `;`-joined, else address and port.
fn target_name(ip: IpAddr, port: u16, conns: &[&ConnSummary]) -> String {
    distinct_joined(conns.iter().filter_map(|c| Some(c.attempt.as_ref()?.url.as_str())))
        .unwrap_or_else(|| std::net::SocketAddr::new(ip, port).to_string())
}

/// The kernel remembered SYN-data losses for the address before a TFO fetch, so it may have
/// sent no data in its SYNs: the history, not this path, decided.
fn cached_syn_drops<'a>(conns: &[&'a ConnSummary]) -> Option<Evidence<'a>> {
    conns.iter().filter_map(|c| c.attempt.as_ref()).find_map(|a| {
        let drops = a.cached_syn_drops.filter(|d| *d > 0 && a.fetch.tfo())?;
        Some(Evidence::CachedSynDrops { fetch: a.fetch, round: a.round, drops })
    })
}
