//! What is expected of each origin, the yardstick of signature 3: from `--expect` ([`file`])
//! or from control vantages (a path known to be clean, e.g. next to the server). An input of
//! the verdicts; it knows nothing of them.

mod file;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

pub use file::{load_expectations, ExpectError};

use crate::summary::TargetConnections;

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
    /// The features beside TFO the control's SYN-ACKs granted when asked (None: no control
    /// asked for any).
    pub features_granted: Option<crate::record::Features>,
}

/// Expectations by server address and port, and (from controls with the collector's records)
/// by host name and port: a CDN answers one name from many addresses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    by_addr: HashMap<(IpAddr, u16), Expectation>,
    by_host: HashMap<(String, u16), Expectation>,
}

/// What one control vantage's verdict on a target says of the origin.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlVote<'a> {
    pub vantage: &'a str,
    pub target: &'a str,
    pub server: (IpAddr, u16),
    /// Its cookie request got a cookie (true) or none (false).
    pub tfo: bool,
    /// The cookie was of the RFC's kind 34.
    pub rfc_cookie: bool,
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

/// Where a host name's vote came first in a single pass: (control, address).
type FirstSeen = (usize, (IpAddr, u16));

/// What control vantages say, gathered a bucket of targets at a time (`judge --buckets`): all
/// of one address's votes come in one bucket, a host name's from several.
#[derive(Debug, Default)]
pub struct ControlEvidence {
    by_addr: Expectations,
    /// Per host name and port, the expectations of its addresses, each with where it came
    /// first in a single pass (control, address): the first one names the source.
    by_host: BTreeMap<(String, u16), Vec<(FirstSeen, Expectation)>>,
    warnings: Vec<String>,
}

impl ControlEvidence {
    /// One bucket: the votes on its targets, and the controls' connections to them (the
    /// controls in the same order every time).
    pub fn add<'a>(
        &mut self,
        votes: impl IntoIterator<Item = ControlVote<'a>>,
        controls: &[&TargetConnections],
    ) {
        let (mut out, warnings) = by_address(votes);
        self.warnings.extend(warnings);
        for targets in controls {
            for (key, ttl) in control_ttls(targets) {
                if let Some(e) = out.by_addr.get_mut(&key) {
                    e.control_ttl = match e.control_ttl {
                        Some(other) if other != ttl => None,
                        _ => Some(ttl),
                    };
                }
            }
            for (key, granted) in control_features(targets) {
                if let Some(e) = out.by_addr.get_mut(&key) {
                    e.features_granted = Some(e.features_granted.unwrap_or_default().union(granted));
                }
            }
        }
        for (i, targets) in controls.iter().enumerate() {
            for (key, conns) in targets.iter() {
                let Some(e) = out.get(key) else { continue };
                for a in conns.iter().filter_map(|c| c.attempt.as_ref()) {
                    let votes = self.by_host.entry((a.host.to_ascii_lowercase(), key.1)).or_default();
                    if !votes.iter().any(|(_, seen)| seen == e) {
                        votes.push(((i, *key), e.clone()));
                    }
                }
            }
        }
        self.by_addr.by_addr.extend(out.by_addr);
    }

    /// The expectations, the host names' extended from their addresses' (where the addresses
    /// of one name disagree, the name gets none and a warning); then `file` wins, keeping the
    /// controls' TTLs.
    pub fn finish(self, file: Option<&Expectations>) -> (Expectations, Vec<String>) {
        let ControlEvidence { by_addr: mut out, by_host, mut warnings } = self;
        for ((host, port), mut votes) in by_host {
            // In single-pass order, each expectation once.
            votes.sort_by_key(|(first, _)| *first);
            let mut distinct: Vec<Expectation> = Vec::new();
            for (_, e) in votes {
                if !distinct.contains(&e) {
                    distinct.push(e);
                }
            }
            let votes = distinct;
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
                features_granted: None,
            };
            out.insert_host(&host, port, expectation);
        }
        if let Some(file) = file {
            for (key, e) in &file.by_addr {
                let control_ttl = out.get(key).and_then(|c| c.control_ttl);
                let features_granted = out.get(key).and_then(|c| c.features_granted);
                out.insert(*key, Expectation { control_ttl, features_granted, ..e.clone() });
            }
        }
        (out, warnings)
    }
}

/// The controls' votes per address: agreeing votes set the expectation, disagreeing ones
/// leave it unknown (with a warning).
fn by_address<'a>(votes: impl IntoIterator<Item = ControlVote<'a>>) -> (Expectations, Vec<String>) {
    let mut seen: HashMap<(IpAddr, u16), Vec<ControlVote<'a>>> = HashMap::new();
    for vote in votes {
        seen.entry(vote.server).or_default().push(vote);
    }
    let mut out = Expectations::new();
    let mut warnings = Vec::new();
    for (key, votes) in seen {
        let agree = votes.iter().all(|v| v.tfo == votes[0].tfo);
        if !agree {
            warnings.push(format!("controls disagree about {}: no expectation", votes[0].target));
        }
        let names: Vec<&str> = votes.iter().map(|v| v.vantage).collect();
        out.insert(
            key,
            Expectation {
                expected_tfo: agree.then_some(votes[0].tfo),
                control_rfc_cookie: votes.iter().any(|v| v.rfc_cookie),
                control_ttl: None,
                source: format!("the control ({})", names.join(", ")),
                features_granted: None,
            },
        );
    }
    (out, warnings)
}

/// The SYN-ACK TTL a control saw for each target, when all its SYN-ACKs agree.
/// The features beside TFO the control's SYN-ACKs granted to SYNs that asked for them, per
/// target (only targets where some SYN asked).
pub fn control_features(targets: &TargetConnections) -> HashMap<(IpAddr, u16), crate::record::Features> {
    use crate::record::{Feature, Features};
    let mut out = HashMap::new();
    for (key, conns) in targets.iter() {
        for c in conns {
            let asked = Features::of(c.first_syn.features.iter().filter(|f| *f != Feature::Tfo));
            if asked.is_empty() {
                continue;
            }
            let granted = c
                .synack
                .map_or(Features::NONE, |s| Features::of(s.features.iter().filter(|f| asked.contains(*f))));
            let entry: &mut Features = out.entry(*key).or_default();
            *entry = entry.union(granted);
        }
    }
    out
}

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
