//! Connections to one verdict per target (vantage, server address, server port).
//!
//! Pure functions over typed records, no I/O: each rule reads as a row of
//! ../shared/TFO-FIELD-NOTES.md. A SYN-ACK whose answered SYN is `ambiguous` never supports a
//! signature.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::attempt::{AttemptRecord, RunRecord};
use crate::decode::options::KIND_FASTOPEN;
use crate::record::{
    string_enum, AttemptLink, Connection, DataAcked, Outcome, SynAckAnswers, SynAckTfo, SynTfo,
};
use crate::summary::{ConnSummary, SynAckSummary, TargetConnections};

string_enum!(
    Connectivity {
        Works => "works",
        TfoBroken => "tfo_broken",
        Offline => "offline",
        Closed => "closed",
        Transient => "transient",
        Unresolved => "unresolved",
    }
);

string_enum!(
    CookieResult {
        Received => "received",
        ReceivedExpOnly => "received_exp_only",
        NotReceived => "not_received",
        NotRequested => "not_requested",
    }
);

string_enum!(
    SynDataResult {
        Acked => "acked",
        NotAcked => "not_acked",
        Dropped => "dropped",
        Reset => "reset",
        NotAttempted => "not_attempted",
    }
);

string_enum!(
    Signature {
        OptionDropped => "option_dropped",
        OptionReset => "option_reset",
        SynDataDropped => "syn_data_dropped",
        SynDataReset => "syn_data_reset",
        NotNegotiatedExpected => "not_negotiated_expected",
        NegotiatedUnexpected => "negotiated_unexpected",
        ResponseDiffers => "response_differs",
    }
);

string_enum!(
    Untested {
        SynData => "syn_data",
        Negotiation => "negotiation",
    }
);

/// What is known of a target's origin, from `--expect` or from control captures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    /// None: unknown, or the controls disagree.
    pub expected_tfo: Option<bool>,
    /// A control got a kind-34 cookie (so a kind-254-only cookie elsewhere is a downgrade).
    pub control_rfc_cookie: bool,
    /// TTL/hop limit of the control's SYN-ACKs, when they agree.
    pub control_ttl: Option<u8>,
    /// Where the expectation came from, for the explanation ("--expect", "control X").
    pub source: String,
}

/// Expectations by server address and port, and (from controls with the collector's records)
/// by host name and port: a CDN answers one name from many addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    by_addr: HashMap<(IpAddr, u16), Expectation>,
    by_host: HashMap<(String, u16), Expectation>,
}

impl Expectations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, key: (IpAddr, u16), expectation: Expectation) {
        self.by_addr.insert(key, expectation);
    }

    pub fn get(&self, key: &(IpAddr, u16)) -> Option<&Expectation> {
        self.by_addr.get(key)
    }

    pub fn get_mut(&mut self, key: &(IpAddr, u16)) -> Option<&mut Expectation> {
        self.by_addr.get_mut(key)
    }

    pub fn insert_host(&mut self, host: &str, port: u16, expectation: Expectation) {
        self.by_host.insert((host.to_ascii_lowercase(), port), expectation);
    }

    /// The address's expectation, else the first of the target's host names that has one.
    pub fn for_target(&self, ip: IpAddr, port: u16, hosts: &[&str]) -> Option<&Expectation> {
        self.by_addr
            .get(&(ip, port))
            .or_else(|| hosts.iter().find_map(|h| self.by_host.get(&(h.to_ascii_lowercase(), port))))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetVerdict {
    pub vantage: String,
    pub target: String,
    /// None only for a name that did not resolve.
    pub server_ip: Option<IpAddr>,
    pub server_port: u16,
    pub connections: u32,
    pub rounds: u32,
    pub connectivity: Connectivity,
    pub cookie: CookieResult,
    pub syn_data: SynDataResult,
    pub signatures: Vec<Signature>,
    pub untested: Vec<Untested>,
    pub middlebox: Option<bool>,
    pub expected_tfo: Option<bool>,
    pub synack_differs: Option<bool>,
    pub measurement_valid: bool,
    pub explanation: String,
    pub conditions: Vec<&'static str>,
}

impl TargetVerdict {
    pub fn ip_version(&self) -> Option<u8> {
        self.server_ip.map(|ip| if ip.is_ipv4() { 4 } else { 6 })
    }
}

/// Clauses naming the decisive frames, written only when asked for: a target's explanation
/// tells one round's story, and formatting every round's would cost more than judging it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Evidence {
    wanted: bool,
    clauses: Vec<String>,
}

impl Evidence {
    fn say(&mut self, clause: impl FnOnce() -> String) {
        if self.wanted {
            self.clauses.push(clause());
        }
    }
}

/// The judgement of one measurement round (cookie request, SYN-data, baseline).
#[derive(Debug, Clone, PartialEq)]
struct RoundVerdict {
    connectivity: Connectivity,
    cookie: CookieResult,
    syn_data: SynDataResult,
    signatures: Vec<Signature>,
    evidence: Evidence,
}

fn answered(c: &ConnSummary) -> bool {
    c.synack.is_some()
}

fn failed(c: &ConnSummary) -> bool {
    c.synack.is_none() && c.outcome != Outcome::Incomplete
}

/// A refusal (RST, or an ICMP error other than a path-MTU one) that answered the first SYN.
fn refused_first_syn(c: &ConnSummary) -> Option<u64> {
    c.refused.filter(|r| r.answers_first_syn && c.synack.is_none()).map(|r| r.frame)
}

/// The first SYN went unanswered: its retransmission got the SYN-ACK, or nothing ever came.
fn first_syn_unanswered(c: &ConnSummary) -> bool {
    match &c.synack {
        Some(s) => s.answers == SynAckAnswers::RetransmittedSyn,
        None => c.refused.is_none() && c.outcome == Outcome::Timeout,
    }
}

fn carries_data(c: &ConnSummary) -> bool {
    c.tried_tfo() && c.first_syn().data_len > 0
}

fn is_cookie_request(c: &ConnSummary) -> bool {
    c.first_syn().tfo == SynTfo::CookieRequest
}

/// A SYN without data to this target was answered: a plain connection, a cookie request, or a
/// plain retransmission of any SYN.
fn syn_without_data_answered(round: &[&ConnSummary]) -> Option<u64> {
    round
        .iter()
        .filter_map(|c| {
            let s = c.synack.as_ref()?;
            let no_data = c.first_syn().data_len == 0 || s.answers == SynAckAnswers::RetransmittedSyn;
            no_data.then_some(s.frame)
        })
        .next()
}

/// A SYN without any TFO option was answered: a plain connection, or the kernel's plain
/// retransmission of a TFO SYN.
fn plain_syn_answered(round: &[&ConnSummary]) -> Option<u64> {
    round
        .iter()
        .filter_map(|c| {
            let s = c.synack.as_ref()?;
            (!c.tried_tfo() || s.answers == SynAckAnswers::RetransmittedSyn).then_some(s.frame)
        })
        .next()
}

fn judge_round(round: &[&ConnSummary], with_evidence: bool) -> RoundVerdict {
    let mut evidence = Evidence { wanted: with_evidence, clauses: Vec::new() };
    let tfo: Vec<&ConnSummary> = round.iter().copied().filter(|c| c.tried_tfo()).collect();
    let plain: Vec<&ConnSummary> = round.iter().copied().filter(|c| !c.tried_tfo()).collect();

    let connectivity = if round.iter().all(|c| c.synack.is_none() && !c.reset()) {
        Connectivity::Offline
    } else if round.iter().all(|c| c.synack.is_none()) {
        Connectivity::Closed
    } else if !plain.is_empty() && plain.iter().all(|c| failed(c)) && tfo.iter().any(|c| answered(c)) {
        Connectivity::Transient
    } else if tfo.iter().any(|c| failed(c)) {
        Connectivity::TfoBroken
    } else {
        Connectivity::Works
    };

    let cookies: Vec<&SynAckSummary> =
        tfo.iter().filter_map(|c| c.synack.as_ref()).filter(|s| s.tfo == SynAckTfo::Cookie).collect();
    let cookie = if tfo.is_empty() {
        CookieResult::NotRequested
    } else if let Some(s) = cookies.iter().find(|s| s.tfo_kind == Some(KIND_FASTOPEN)) {
        evidence.say(|| format!("a cookie came in SYN-ACK frame {}", s.frame));
        CookieResult::Received
    } else if let Some(s) = cookies.first() {
        evidence
            .say(|| format!("a cookie came only in the experimental option 254 (SYN-ACK frame {})", s.frame));
        CookieResult::ReceivedExpOnly
    } else {
        let answered_itself =
            |c: &&ConnSummary| c.synack.as_ref().is_some_and(|s| s.answers == SynAckAnswers::FirstSyn);
        if let Some(c) = tfo.iter().find(|c| is_cookie_request(c) && answered_itself(c)) {
            let s = c.synack.as_ref().expect("answered");
            evidence.say(|| {
                format!(
                    "the cookie request in frame {} was answered without a cookie (SYN-ACK frame {})",
                    c.first_syn().frame,
                    s.frame
                )
            });
        }
        CookieResult::NotReceived
    };

    let mut signatures = Vec::new();
    let no_data_answer = syn_without_data_answered(round);
    let plain_answer = plain_syn_answered(round);

    for c in tfo.iter().filter(|c| is_cookie_request(c)) {
        if first_syn_unanswered(c) {
            // Its own plain retransmission's answer is the best witness, else any plain SYN's.
            let own =
                c.synack.as_ref().filter(|s| s.answers == SynAckAnswers::RetransmittedSyn).map(|s| s.frame);
            if let Some(answer) = own.or(plain_answer) {
                push_once(&mut signatures, Signature::OptionDropped);
                evidence.say(|| {
                    format!(
                    "the TFO SYN in frame {} got no answer while a plain SYN did (SYN-ACK frame {answer})",
                    c.first_syn().frame
                )
                });
            }
        } else if let Some(frame) = refused_first_syn(c) {
            if let Some(base) = plain.iter().find(|p| answered(p)) {
                push_once(&mut signatures, Signature::OptionReset);
                evidence.say(|| {
                    format!(
                    "frame {frame} refused the TFO SYN in frame {} while the baseline connected (frame {})",
                    c.first_syn().frame,
                    base.synack.as_ref().expect("answered").frame
                )
                });
            }
        }
    }

    let syn_data = match tfo.iter().find(|c| carries_data(c)) {
        None => SynDataResult::NotAttempted,
        Some(c) => {
            let frame = c.first_syn().frame;
            if let Some(by) = refused_first_syn(c) {
                if let Some(answer) = no_data_answer {
                    push_once(&mut signatures, Signature::SynDataReset);
                    evidence.say(|| format!(
                        "frame {by} refused the SYN-data in frame {frame} while a SYN without data was answered (frame {answer})"
                    ));
                }
                SynDataResult::Reset
            } else if first_syn_unanswered(c) {
                let own = c
                    .synack
                    .as_ref()
                    .filter(|s| s.answers == SynAckAnswers::RetransmittedSyn)
                    .map(|s| s.frame);
                if let Some(answer) = own.or(no_data_answer) {
                    push_once(&mut signatures, Signature::SynDataDropped);
                    evidence.say(|| format!(
                        "the SYN-data in frame {frame} got no answer while a SYN without data did (frame {answer})"
                    ));
                }
                SynDataResult::Dropped
            } else {
                match (&c.synack, c.syn_data_acked) {
                    (Some(s), Some(DataAcked::Acked | DataAcked::Partial)) => {
                        evidence
                            .say(|| format!("SYN-ACK frame {} acked the data of SYN frame {frame}", s.frame));
                        SynDataResult::Acked
                    }
                    (Some(s), _) => {
                        evidence
                            .say(|| format!("SYN-ACK frame {} acked only the SYN of frame {frame}", s.frame));
                        SynDataResult::NotAcked
                    }
                    // A refusal after a retransmission, or a capture that ended too soon.
                    (None, _) => SynDataResult::NotAttempted,
                }
            }
        }
    };
    if let Some(difference) = response_difference(round) {
        push_once(&mut signatures, Signature::ResponseDiffers);
        evidence.say(|| difference);
    }
    RoundVerdict { connectivity, cookie, syn_data, signatures, evidence }
}

/// How a TFO fetch's application result (HTTP status, size, certificate) differs from the
/// baseline's in the same round, from the collector's records. Only fetches that both got a
/// response are compared: a failed fetch is a connectivity matter.
fn response_difference(round: &[&ConnSummary]) -> Option<String> {
    let links: Vec<&AttemptLink> = round.iter().filter_map(|c| c.attempt.as_deref()).collect();
    let baseline = links.iter().find(|a| a.fetch == "plain" && a.status.is_some())?;
    links.iter().filter(|a| a.fetch != "plain" && a.status.is_some()).find_map(|a| {
        let what = if a.status != baseline.status {
            format!("status {} where the baseline got {}", a.app_result, baseline.app_result)
        } else if a.cert_sha256 != baseline.cert_sha256 {
            "another certificate than the baseline's".to_string()
        } else if a.size != baseline.size {
            format!("{} bytes where the baseline got {}", a.size.unwrap_or(0), baseline.size.unwrap_or(0))
        } else {
            return None;
        };
        Some(format!("the {} fetch got {what}", a.fetch.replace('_', " ")))
    })
}

/// The kernel remembered SYN-data losses for the address before a TFO fetch, so it may have
/// sent no data in its SYNs: the history, not this path, decided.
fn cached_drops_spoiled(conns: &[&ConnSummary]) -> Option<String> {
    conns.iter().filter_map(|c| c.attempt.as_ref()).find_map(|a| {
        let drops = a.cached_syn_drops.filter(|d| *d > 0 && a.fetch != "plain")?;
        Some(format!(
            "before the {} fetch (round {}) the kernel already remembered {drops} SYN-data loss(es) for this address, so this measurement is not valid",
            a.fetch.replace('_', " "),
            a.round
        ))
    })
}

fn push_once<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

/// A new round starts with a TFO connection that follows a plain one (the collector's order:
/// cookie request, SYN-data, baseline).
fn split_rounds<'a>(conns: &[&'a ConnSummary]) -> Vec<Vec<&'a ConnSummary>> {
    // The collector's records say which round each connection belongs to.
    if !conns.is_empty() && conns.iter().all(|c| c.attempt.is_some()) {
        let mut by_round: BTreeMap<u32, Vec<&ConnSummary>> = BTreeMap::new();
        for c in conns {
            by_round.entry(c.attempt.as_ref().expect("checked").round).or_default().push(c);
        }
        return by_round.into_values().collect();
    }
    let mut rounds: Vec<Vec<&ConnSummary>> = Vec::new();
    for c in conns {
        let starts = match rounds.last().and_then(|r| r.last()) {
            None => true,
            Some(prev) => c.tried_tfo() && !prev.tried_tfo(),
        };
        if starts {
            rounds.push(Vec::new());
        }
        rounds.last_mut().expect("pushed").push(c);
    }
    rounds
}

/// The value most rounds show; ties go to the earliest round.
fn majority<T: Copy + PartialEq>(values: impl Iterator<Item = T>) -> T {
    let values: Vec<T> = values.collect();
    let mut best = values[0];
    let mut best_count = 0;
    for v in &values {
        let count = values.iter().filter(|x| *x == v).count();
        if count > best_count {
            best = *v;
            best_count = count;
        }
    }
    best
}

/// What says something about the stack that built a SYN-ACK: TTL, MSS and the option kinds
/// other than TFO and padding (numbered, see [`crate::summary::StackKinds`]).
fn fingerprint(s: &SynAckSummary) -> (u8, Option<u16>, u32) {
    (s.ttl, s.mss, s.stack_kinds)
}

/// Judges every target seen from one vantage. `capture_drops`: the capturing kernel reported
/// dropped packets, which spoils the measurement. `records`: the collector's records, if any.
pub fn judge_vantage(
    vantage: &str,
    connections: &[Connection],
    expectations: &Expectations,
    capture_drops: bool,
) -> Vec<TargetVerdict> {
    judge_vantage_with_records(
        vantage,
        &TargetConnections::of(connections),
        expectations,
        capture_drops,
        &[],
        &[],
    )
}

pub fn judge_vantage_with_records(
    vantage: &str,
    targets: &TargetConnections,
    expectations: &Expectations,
    capture_drops: bool,
    attempts: &[AttemptRecord],
    runs: &[RunRecord],
) -> Vec<TargetVerdict> {
    let kernel_spoiled = blackhole_spoiled(runs);
    let mut verdicts: Vec<TargetVerdict> = targets
        .iter()
        .map(|(&(ip, port), conns)| {
            let conns: Vec<&ConnSummary> = conns.iter().collect();
            let mut hosts: Vec<&str> =
                conns.iter().filter_map(|c| c.attempt.as_ref()).map(|a| a.host.as_str()).collect();
            hosts.sort_unstable();
            hosts.dedup();
            let expectation = expectations.for_target(ip, port, &hosts);
            let mut v = judge_target(vantage, ip, port, &conns, expectation, capture_drops);
            if let Some(reason) = &kernel_spoiled {
                v.measurement_valid = false;
                v.explanation.pop();
                v.explanation.push_str(&format!("; {reason}."));
            }
            v
        })
        .collect();
    // Names that did not resolve have no packets, only a record.
    let mut unresolved: Vec<&AttemptRecord> = attempts
        .iter()
        .filter(|a| a.server_ip.is_empty() && a.result.error.as_deref() == Some("dns_error"))
        .collect();
    unresolved.dedup_by(|a, b| a.url == b.url);
    for a in unresolved {
        let explanation = format!("{} did not resolve: no TFO exchange took place.", a.host);
        verdicts.push(without_packets(vantage, a, None, Connectivity::Unresolved, explanation));
    }
    // Addresses fetched without a packet on the wire (no route from the client, say): the
    // records are all there is.
    let judged: std::collections::HashSet<(IpAddr, u16)> =
        verdicts.iter().filter_map(|v| v.server_ip.map(|ip| (ip, v.server_port))).collect();
    let mut silent: BTreeMap<(IpAddr, u16), Vec<&AttemptRecord>> = BTreeMap::new();
    for a in attempts {
        if let Ok(ip) = a.server_ip.parse::<IpAddr>() {
            if !judged.contains(&(ip, a.server_port)) {
                silent.entry((ip, a.server_port)).or_default().push(a);
            }
        }
    }
    for ((ip, _), records) in silent {
        let mut errors: Vec<&str> = records.iter().filter_map(|a| a.result.error.as_deref()).collect();
        errors.sort_unstable();
        errors.dedup();
        let explanation = format!(
            "no packet to {ip} was captured: the fetches failed before reaching the wire ({}).",
            if errors.is_empty() { "no error recorded".to_string() } else { errors.join(", ") }
        );
        verdicts.push(without_packets(vantage, records[0], Some(ip), Connectivity::Offline, explanation));
    }
    verdicts
}

/// A row for a target known only from the collector's records.
fn without_packets(
    vantage: &str,
    a: &AttemptRecord,
    server_ip: Option<IpAddr>,
    connectivity: Connectivity,
    explanation: String,
) -> TargetVerdict {
    TargetVerdict {
        vantage: vantage.to_string(),
        target: a.url.clone(),
        server_ip,
        server_port: a.server_port,
        connections: 0,
        rounds: 0,
        connectivity,
        cookie: CookieResult::NotRequested,
        syn_data: SynDataResult::NotAttempted,
        signatures: vec![],
        untested: vec![Untested::SynData, Untested::Negotiation],
        middlebox: None,
        expected_tfo: None,
        synack_differs: None,
        measurement_valid: true,
        explanation,
        conditions: vec![],
    }
}

/// The kernel paused active TFO during the run (TCPFastOpenBlackhole grew between the run's
/// start and end records).
fn blackhole_spoiled(runs: &[RunRecord]) -> Option<String> {
    let start = runs.iter().find(|r| r.phase == "start")?;
    let end = runs.iter().rev().find(|r| r.phase == "end")?;
    let key = "TCPFastOpenBlackhole";
    let grew = end.counters.get(key).copied().unwrap_or(0) > start.counters.get(key).copied().unwrap_or(0);
    grew.then(|| {
        "the kernel's TFO blackhole detection paused TFO during the run, so this measurement is not valid"
            .to_string()
    })
}

fn judge_target(
    vantage: &str,
    ip: IpAddr,
    port: u16,
    conns: &[&ConnSummary],
    expectation: Option<&Expectation>,
    capture_drops: bool,
) -> TargetVerdict {
    let rounds = split_rounds(conns);
    let judged: Vec<RoundVerdict> = rounds.iter().map(|r| judge_round(r, false)).collect();
    let n = judged.len();
    let connectivity = majority(judged.iter().map(|r| r.connectivity));
    let cookie = majority(judged.iter().map(|r| r.cookie));
    let syn_data = majority(judged.iter().map(|r| r.syn_data));

    let mut signatures = Vec::new();
    let mut explanation: Vec<String> = Vec::new();
    for sig in Signature::ALL {
        let holding = judged.iter().filter(|r| r.signatures.contains(sig)).count();
        if holding * 2 > n {
            signatures.push(*sig);
            if n > 1 {
                explanation.push(format!("{sig} in {holding} of {n} rounds"));
            }
        }
    }
    // The first round that agrees with the majority tells its story.
    if let Some(i) = judged.iter().position(|r| r.connectivity == connectivity && r.cookie == cookie) {
        explanation.extend(judge_round(&rounds[i], true).evidence.clauses);
    }

    let no_exchange =
        matches!(connectivity, Connectivity::Offline | Connectivity::Closed | Connectivity::Unresolved);
    let expected_tfo = expectation.and_then(|e| e.expected_tfo);
    if !no_exchange {
        match expected_tfo {
            Some(true) => {
                let downgraded = cookie == CookieResult::ReceivedExpOnly
                    && expectation.is_some_and(|e| e.control_rfc_cookie);
                if cookie == CookieResult::NotReceived || downgraded {
                    signatures.push(Signature::NotNegotiatedExpected);
                    explanation.push(format!(
                        "{} says the origin does TFO, yet the cookie was {}",
                        expectation.map_or("the expectation", |e| e.source.as_str()),
                        cookie.as_str().replace('_', " ")
                    ));
                }
            }
            Some(false)
                if matches!(cookie, CookieResult::Received | CookieResult::ReceivedExpOnly)
                    || syn_data == SynDataResult::Acked =>
            {
                signatures.push(Signature::NegotiatedUnexpected);
                explanation.push(format!(
                    "{} says the origin has no TFO, yet TFO was negotiated here",
                    expectation.map_or("the expectation", |e| e.source.as_str())
                ));
            }
            Some(false) | None => {}
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
            explanation.push(format!(
                "the SYN-ACKs to TFO SYNs differ from the baseline's (TTL {} vs {})",
                tfo_fp[0].0, base.0
            ));
        }
    }
    if let Some(control_ttl) = expectation.and_then(|e| e.control_ttl) {
        if let Some(ttl) = tfo_fp.first().or(plain_fp.first()).map(|f| f.0) {
            let differs = ttl != control_ttl;
            synack_differs = Some(synack_differs.unwrap_or(false) || differs);
            if differs {
                explanation.push(format!(
                    "SYN-ACK TTL {ttl} where the control saw {control_ttl}: something nearer answered"
                ));
            }
        }
    }

    // Options cut by the snap length: whether TFO was asked for or granted is unknown.
    let truncated = conns.iter().any(|c| {
        c.first_syn().tfo == SynTfo::Truncated
            || c.synack.as_ref().is_some_and(|s| s.tfo == SynAckTfo::Truncated)
    });
    if truncated {
        explanation.push("TCP options were cut by the snap length, so TFO cannot be judged".to_string());
        for u in [Untested::SynData, Untested::Negotiation] {
            push_once(&mut untested, u);
        }
    }
    let middlebox =
        if no_exchange || (truncated && signatures.is_empty()) { None } else { Some(!signatures.is_empty()) };
    let cache_spoiled = cached_drops_spoiled(conns);
    let measurement_valid = !capture_drops && !truncated && cache_spoiled.is_none();
    if capture_drops {
        explanation
            .push("the capturing kernel dropped packets, so this measurement is not valid".to_string());
    }
    explanation.extend(cache_spoiled);
    let mut sentence = format!("{connectivity}, cookie {cookie}, SYN data {syn_data}");
    if !explanation.is_empty() {
        sentence.push_str(": ");
        sentence.push_str(&explanation.join("; "));
    }
    sentence.push('.');

    TargetVerdict {
        vantage: vantage.to_string(),
        target: {
            let mut urls: Vec<&str> =
                conns.iter().filter_map(|c| c.attempt.as_ref()).map(|a| a.url.as_str()).collect();
            urls.sort();
            urls.dedup();
            if urls.is_empty() {
                std::net::SocketAddr::new(ip, port).to_string()
            } else {
                urls.join(";")
            }
        },
        server_ip: Some(ip),
        server_port: port,
        connections: conns.len() as u32,
        rounds: n as u32,
        connectivity,
        cookie,
        syn_data,
        conditions: conditions(connectivity, cookie, syn_data),
        signatures,
        untested,
        middlebox,
        expected_tfo,
        synack_differs,
        measurement_valid,
        explanation: sentence,
    }
}

/// PATHspider's TFO plugin vocabulary, so results compare with its.
fn conditions(
    connectivity: Connectivity,
    cookie: CookieResult,
    syn_data: SynDataResult,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    out.extend(match connectivity {
        Connectivity::Works => Some("tfo.connectivity.works"),
        Connectivity::TfoBroken => Some("tfo.connectivity.broken"),
        Connectivity::Offline | Connectivity::Closed => Some("tfo.connectivity.offline"),
        Connectivity::Transient => Some("tfo.connectivity.transient"),
        Connectivity::Unresolved => None,
    });
    out.extend(match cookie {
        CookieResult::Received | CookieResult::ReceivedExpOnly => Some("tfo.cookie.received"),
        CookieResult::NotReceived => Some("tfo.cookie.not_received"),
        CookieResult::NotRequested => None,
    });
    out.extend(match syn_data {
        SynDataResult::Acked => Some("tfo.syndata.acked"),
        SynDataResult::NotAcked => Some("tfo.syndata.not_acked"),
        SynDataResult::Dropped | SynDataResult::Reset => Some("tfo.syndata.failed"),
        SynDataResult::NotAttempted => None,
    });
    out
}

/// What control vantages say of each target: expected TFO when their cookie request got a
/// cookie, no TFO when it got none. Controls that disagree give None and a warning.
pub fn expectations_from_controls(controls: &[TargetVerdict]) -> (Expectations, Vec<String>) {
    let mut out = Expectations::new();
    let mut warnings = Vec::new();
    let mut seen: HashMap<(IpAddr, u16), Vec<(bool, &TargetVerdict)>> = HashMap::new();
    for v in controls {
        let says = match v.cookie {
            CookieResult::Received | CookieResult::ReceivedExpOnly => Some(true),
            CookieResult::NotReceived => Some(false),
            CookieResult::NotRequested => None,
        };
        if let (Some(says), false) =
            (says, matches!(v.connectivity, Connectivity::Offline | Connectivity::Closed))
        {
            if let Some(ip) = v.server_ip {
                seen.entry((ip, v.server_port)).or_default().push((says, v));
            }
        }
    }
    for (key, votes) in seen {
        let agree = votes.iter().all(|(s, _)| *s == votes[0].0);
        if !agree {
            warnings.push(format!("controls disagree about {}: no expectation", votes[0].1.target));
        }
        let names: Vec<&str> = votes.iter().map(|(_, v)| v.vantage.as_str()).collect();
        out.insert(
            key,
            Expectation {
                expected_tfo: agree.then_some(votes[0].0),
                control_rfc_cookie: votes.iter().any(|(_, v)| v.cookie == CookieResult::Received),
                control_ttl: None,
                source: format!("the control ({})", names.join(", ")),
            },
        );
    }
    (out, warnings)
}

/// The SYN-ACK TTL a control saw for each target, when all its SYN-ACKs agree.
pub fn control_ttls(targets: &TargetConnections) -> HashMap<(IpAddr, u16), u8> {
    let mut ttls: HashMap<(IpAddr, u16), Option<u8>> = HashMap::new();
    for (key, conns) in targets.iter() {
        for s in conns.iter().filter_map(|c| c.synack.as_ref()) {
            let entry = ttls.entry(*key).or_insert(Some(s.ttl));
            if *entry != Some(s.ttl) {
                *entry = None;
            }
        }
    }
    ttls.into_iter().filter_map(|(k, v)| v.map(|ttl| (k, ttl))).collect()
}

/// Extends the controls' per-address expectations to the host names their collector records
/// name, so a measured target on another address of the same name is judged too. Where the
/// addresses of one name disagree, the name gets no expectation and a warning.
fn host_expectations(controls: &[crate::VantageResult], expectations: &mut Expectations) -> Vec<String> {
    let mut by_host: BTreeMap<(String, u16), Vec<Expectation>> = BTreeMap::new();
    for r in controls {
        for (key, conns) in r.targets.iter() {
            let Some(e) = expectations.get(key) else { continue };
            for a in conns.iter().filter_map(|c| c.attempt.as_ref()) {
                let votes = by_host.entry((a.host.to_ascii_lowercase(), key.1)).or_default();
                if !votes.contains(e) {
                    votes.push(e.clone());
                }
            }
        }
    }
    let mut warnings = Vec::new();
    for ((host, port), votes) in by_host {
        let agree = votes.iter().all(|e| e.expected_tfo == votes[0].expected_tfo);
        if !agree {
            warnings.push(format!(
                "controls disagree about {host} port {port} across its addresses: no expectation"
            ));
        }
        let expectation = Expectation {
            expected_tfo: if agree { votes[0].expected_tfo } else { None },
            control_rfc_cookie: votes.iter().any(|e| e.control_rfc_cookie),
            // Another address may be another machine at another distance.
            control_ttl: None,
            source: format!("{} for the name {host}", votes[0].source),
        };
        expectations.insert_host(&host, port, expectation);
    }
    warnings
}

/// Judges the measured vantages against the expectations: `expect` (from `--expect`) wins over
/// what the control vantages say. Control vantages get rows of their own, judged without
/// expectations. Returns the verdicts (controls first) and warnings.
pub fn judge_all(
    measured: &[crate::VantageResult],
    controls: &[crate::VantageResult],
    expect: Option<&Expectations>,
) -> (Vec<TargetVerdict>, Vec<String>) {
    let judge_result = |r: &crate::VantageResult, expectations: &Expectations| {
        let drops = r.report.files.iter().any(|f| f.read.kernel_drops.unwrap_or(0) > 0);
        judge_vantage_with_records(
            &r.name,
            &r.targets,
            expectations,
            drops,
            &r.report.attempts,
            &r.report.runs,
        )
    };
    let none = Expectations::new();
    let control_verdicts: Vec<TargetVerdict> = controls.iter().flat_map(|r| judge_result(r, &none)).collect();
    let (mut expectations, mut warnings) = expectations_from_controls(&control_verdicts);
    for r in controls {
        for (key, ttl) in control_ttls(&r.targets) {
            if let Some(e) = expectations.get_mut(&key) {
                e.control_ttl = match e.control_ttl {
                    Some(other) if other != ttl => None,
                    _ => Some(ttl),
                };
            }
        }
    }
    warnings.extend(host_expectations(controls, &mut expectations));
    if let Some(expect) = expect {
        for (key, e) in &expect.by_addr {
            let control_ttl = expectations.get(key).and_then(|c| c.control_ttl);
            expectations.insert(*key, Expectation { control_ttl, ..e.clone() });
        }
    }
    let mut verdicts = control_verdicts;
    for r in measured {
        verdicts.extend(judge_result(r, &expectations));
    }
    (verdicts, warnings)
}

#[cfg(test)]
mod tests {
    #![allow(non_snake_case)]
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::*;
    use crate::record::{Refusal, SynAck, SynTransmission};

    const KIND: Option<u8> = Some(KIND_FASTOPEN);

    /// One connection to 198.51.100.1:80 from `port`; `answer` is which SYN got the SYN-ACK.
    fn conn(
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
        let mut round =
            vec![conn(base, SynTfo::CookieRequest, 0, Some(SynAckAnswers::FirstSyn), cookie_granted)];
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
            expectations.insert(
                key,
                Expectation { expected_tfo: Some(e), source: "test".into(), ..Default::default() },
            );
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
        for (c, fetch) in conns.iter_mut().zip(["tfo_cookie_request", "tfo_data", "plain"]) {
            let (status, cert) = if fetch == "plain" { (200, "a") } else { (tfo_status, tfo_cert) };
            c.attempt = Some(Arc::new(AttemptLink {
                url: "https://lab.test/".into(),
                host: "lab.test".into(),
                fetch: fetch.into(),
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
            fetch: "plain".into(),
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
        assert_eq!(
            (silent.connectivity, silent.middlebox, silent.connections),
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
        for (c, fetch) in measured.iter_mut().zip(["tfo_cookie_request", "plain"]) {
            c.server = SocketAddr::new("198.51.100.9".parse().unwrap(), 80);
            c.attempt = Some(Arc::new(AttemptLink {
                url: "https://LAB.test/".into(),
                host: "LAB.test".into(),
                fetch: fetch.into(),
                round: 1,
                app_result: "200".into(),
                status: Some(200),
                size: Some(612),
                cert_sha256: Some("a".into()),
                cached_syn_drops: Some(0),
            }));
        }
        let vantage = |name: &str, connections: Vec<Connection>| crate::VantageResult {
            name: name.into(),
            targets: TargetConnections::of(&connections),
            connections,
            report: Default::default(),
        };
        let (verdicts, warnings) =
            judge_all(&[vantage("m", measured.clone())], &[vantage("ctl", control)], None);
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
}
