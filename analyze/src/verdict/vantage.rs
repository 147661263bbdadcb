//! Every target of a vantage judged, and measured vantages judged against control vantages.

use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use super::evidence::NoPackets;
use super::target::{judge_target, TargetContext};
use super::{explain, Connectivity, CookieResult, TargetVerdict};
use crate::attempt::{AttemptRecord, FetchError, RunPhase, RunRecord};
use crate::expect::{ControlEvidence, ControlVote, Expectations};
use crate::record::Connection;
use crate::result::VantageResult;
use crate::summary::{ConnSummary, TargetConnections};

/// What a vantage's capture itself spoils: packets the capturing kernel dropped, and a file
/// cut off (the time of its last packet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureHealth {
    pub drops: bool,
    pub cut_at_ns: Option<i64>,
}

impl CaptureHealth {
    pub fn of(report: &crate::result::VantageReport) -> CaptureHealth {
        CaptureHealth {
            drops: report.files.iter().any(|f| f.read.kernel_drops.unwrap_or(0) > 0),
            cut_at_ns: report
                .files
                .iter()
                .filter(|f| f.read.stop.is_some())
                .filter_map(|f| f.read.last_frame_ns)
                .max(),
        }
    }
}

/// Judges every target seen from one vantage. `capture_drops`: the capturing kernel reported
/// dropped packets, which spoils the measurement.
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
        CaptureHealth { drops: capture_drops, cut_at_ns: None },
        &[],
        &[],
    )
}

/// As [`judge_vantage`], with the collector's records (`attempts`, `runs`), if any.
pub fn judge_vantage_with_records(
    vantage: &str,
    targets: &TargetConnections,
    expectations: &Expectations,
    capture: CaptureHealth,
    attempts: &[AttemptRecord],
    runs: &[RunRecord],
) -> Vec<TargetVerdict> {
    let blackhole = blackhole_during(runs);
    // MPTCP's own blackhole detection paused MP_CAPABLE for the namespace during the run.
    let mptcp_paused = counter_moved(runs, "MPTcpBlackhole");
    // A run without a capture: the records' kernel view stands for the connections.
    let kernel_view = RunRecord::without_capture(runs) && targets.connections() == 0;
    let kernel_targets;
    let targets = if kernel_view {
        kernel_targets = TargetConnections::of(&super::kernel::connections(attempts, blackhole));
        &kernel_targets
    } else {
        targets
    };
    let own_addresses = targets.own_addresses();
    // Where the pause began: the first fetch meant as TFO whose SYN went out without the option.
    let paused_from = blackhole.then(|| paused_from(targets)).flatten();
    // Targets are judged apart from each other: on every core, in order.
    let mut verdicts: Vec<TargetVerdict> = targets
        .sorted()
        .par_iter()
        .map(|&((ip, port), ref conns)| {
            let conns: Vec<&ConnSummary> = conns.iter().collect();
            // Targets measured before the pause began stay valid; with no sign of where it
            // began, every target of the run is spoiled.
            let last = conns.iter().map(|c| c.first_syn.time_ns).max().unwrap_or(i64::MIN);
            let blackhole = match paused_from {
                Some((from, _)) if blackhole => last >= from,
                _ => blackhole,
            };
            let mut hosts: Vec<&str> =
                conns.iter().filter_map(|c| c.attempt.as_ref()).map(|a| a.host.as_str()).collect();
            hosts.sort_unstable();
            hosts.dedup();
            let cx = TargetContext {
                mptcp_paused,
                vantage,
                expectation: expectations.for_target(ip, port, &hosts),
                capture_drops: capture.drops,
                capture_cut: capture.cut_at_ns,
                blackhole,
                paused_from,
                kernel_view,
                own_addresses: &own_addresses,
            };
            judge_target(ip, port, &conns, &cx)
        })
        .collect();
    // Names that did not resolve have no packets, only a record.
    let mut unresolved: Vec<&AttemptRecord> = attempts
        .iter()
        .filter(|a| a.server_ip.is_empty() && a.result.error == Some(FetchError::DnsError))
        .collect();
    unresolved.dedup_by(|a, b| a.url == b.url);
    for a in unresolved {
        let why = NoPackets::Unresolved { host: &a.host };
        verdicts.push(without_packets(vantage, a, None, Connectivity::Unresolved, &why));
    }
    // Addresses fetched without a packet on the wire (no route from the client, say): the
    // records are all there is.
    let judged: HashSet<(IpAddr, u16)> =
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
        let mut errors: Vec<&str> =
            records.iter().filter_map(|a| a.result.error.as_ref()).map(FetchError::as_str).collect();
        errors.sort_unstable();
        errors.dedup();
        let why = NoPackets::NeverOnTheWire { ip, errors };
        verdicts.push(without_packets(vantage, records[0], Some(ip), Connectivity::Offline, &why));
    }
    verdicts
}

/// A row for a target known only from hop-limited probes (a tracebox-style run): no fetch
/// was judged, so no TFO verdict; the location columns say what the probes found.
pub fn probes_only(
    vantage: &str,
    target: String,
    server_ip: IpAddr,
    server_port: u16,
    origin_answered: bool,
) -> TargetVerdict {
    let connectivity = if origin_answered { Connectivity::Works } else { Connectivity::Offline };
    let explanation = "only hop-limited probes went to this target: no fetch to judge.".to_string();
    TargetVerdict::unjudged(vantage, target, (Some(server_ip), server_port), connectivity, explanation)
}

/// A row for a target known only from the collector's records.
fn without_packets(
    vantage: &str,
    a: &AttemptRecord,
    server_ip: Option<IpAddr>,
    connectivity: Connectivity,
    why: &NoPackets<'_>,
) -> TargetVerdict {
    let server = (server_ip, a.server_port);
    TargetVerdict {
        category: a.category.clone(),
        cert_error: a.result.cert_error.clone(),
        ..TargetVerdict::unjudged(vantage, a.url.clone(), server, connectivity, explain::no_packets(why))
    }
}

/// When the kernel's pause of active TFO shows first: the earliest fetch the collector meant as
/// TFO (its record says so) whose first SYN carried no TFO option and no data, with its target.
fn paused_from(targets: &TargetConnections) -> Option<(i64, std::net::SocketAddr)> {
    targets
        .iter()
        .flat_map(|(&(ip, port), conns)| conns.iter().map(move |c| (std::net::SocketAddr::new(ip, port), c)))
        .filter(|(_, c)| c.attempt.as_ref().is_some_and(|a| a.fetch.tfo()) && !c.tfo_exchange())
        .map(|(target, c)| (c.first_syn.time_ns, target))
        .min()
}

/// The kernel paused active TFO during the run (TCPFastOpenBlackhole grew between the run's
/// start and end records).
fn blackhole_during(runs: &[RunRecord]) -> bool {
    counter_moved(runs, "TCPFastOpenBlackhole")
}

/// Whether a counter of the run records grew from the run's start to its end.
fn counter_moved(runs: &[RunRecord], key: &str) -> bool {
    let start = runs.iter().find(|r| r.phase == RunPhase::Start);
    let end = runs.iter().rev().find(|r| r.phase == RunPhase::End);
    let (Some(start), Some(end)) = (start, end) else { return false };
    end.counters.get(key).copied().unwrap_or(0) > start.counters.get(key).copied().unwrap_or(0)
}

/// What a control's verdict says of the origin: TFO when its cookie request got a cookie, no
/// TFO when it got none; nothing where no exchange took place.
fn control_vote(v: &TargetVerdict) -> Option<ControlVote<'_>> {
    let tfo = match v.cookie {
        // A cached cookie proves an earlier negotiation with the origin, from this clean path.
        CookieResult::Received | CookieResult::ReceivedExpOnly | CookieResult::Cached => true,
        CookieResult::NotReceived => false,
        CookieResult::NotRequested => return None,
    };
    if matches!(v.connectivity, Connectivity::Offline | Connectivity::Closed) {
        return None;
    }
    Some(ControlVote {
        vantage: &v.vantage,
        target: &v.target,
        server: (v.server_ip?, v.server_port),
        tfo,
        rfc_cookie: v.cookie == CookieResult::Received,
    })
}

/// One vantage's targets judged against `expectations`.
fn judge_result(r: &VantageResult, expectations: &Expectations) -> Vec<TargetVerdict> {
    judge_vantage_with_records(
        &r.name,
        &r.targets,
        expectations,
        CaptureHealth::of(&r.report),
        &r.report.attempts,
        &r.report.runs,
    )
}

/// Control vantages' targets, judged without expectations (they set them).
pub fn judge_controls(controls: &[VantageResult]) -> Vec<TargetVerdict> {
    let none = Expectations::new();
    controls.iter().flat_map(|r| judge_result(r, &none)).collect()
}

/// What the controls' verdicts and connections (a bucket of their targets) say of the origins.
pub fn add_control_evidence(
    evidence: &mut ControlEvidence,
    verdicts: &[TargetVerdict],
    controls: &[VantageResult],
) {
    let control_targets: Vec<&TargetConnections> = controls.iter().map(|r| &r.targets).collect();
    evidence.add(verdicts.iter().filter_map(control_vote), &control_targets);
}

/// Measured vantages' targets, judged against the expectations.
pub fn judge_measured(measured: &[VantageResult], expectations: &Expectations) -> Vec<TargetVerdict> {
    measured.iter().flat_map(|r| judge_result(r, expectations)).collect()
}

/// Judges the measured vantages against the expectations: `expect` (from `--expect`) wins over
/// what the control vantages say. Control vantages get rows of their own, judged without
/// expectations. Returns the verdicts (controls first) and warnings.
pub fn judge_all(
    measured: &[VantageResult],
    controls: &[VantageResult],
    expect: Option<&Expectations>,
) -> (Vec<TargetVerdict>, Vec<String>) {
    let mut verdicts = judge_controls(controls);
    let mut evidence = ControlEvidence::default();
    add_control_evidence(&mut evidence, &verdicts, controls);
    let (expectations, warnings) = evidence.finish(expect);
    verdicts.extend(judge_measured(measured, &expectations));
    (verdicts, warnings)
}
