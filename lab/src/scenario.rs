//! What a lab scenario is: the middlebox the router plays, the URL the client fetches, whether
//! a clean control run comes first, and the verdict a correct analysis must reach. The lists
//! are `tfo_scenarios` (one per row of ../shared/TFO-FIELD-NOTES.md) and `feature_scenarios`,
//! together in `scenarios`.

use crate::interceptor::Interceptor;
use tfoscope_analyze::verdict::{Connectivity, CookieResult, Signature, SynDataResult, TargetVerdict};

/// What the targets row must say. `None` fields are not judged (e.g. the cookie of a host
/// that never answered).
#[derive(Debug, Clone)]
pub struct Expected {
    pub connectivity: Connectivity,
    pub cookie: Option<CookieResult>,
    pub syn_data: Option<SynDataResult>,
    pub signatures: &'static [Signature],
    /// The targets row's `path_changes`, exactly.
    pub path_changes: &'static [&'static str],
    /// The `syn_changes` words of the measured connections, all together.
    pub syn_changes: SynChanges,
    pub middlebox: Option<bool>,
}

/// Where a locate scenario's probes must place the box: the target row's `origin_hops`,
/// `middlebox_hop_min` and `middlebox_hop_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub origin_hops: u8,
    pub hop_min: Option<u8>,
    pub hop_max: Option<u8>,
}

impl Located {
    pub fn describe(&self) -> String {
        let hop = |h: Option<u8>| h.map_or("-".to_string(), |h| h.to_string());
        format!(" origin={} box={}..{}", self.origin_hops, hop(self.hop_min), hop(self.hop_max))
    }

    pub fn matches(&self, v: &TargetVerdict) -> bool {
        v.origin_hops == Some(self.origin_hops)
            && v.middlebox_hop_min == self.hop_min
            && v.middlebox_hop_max == self.hop_max
    }
}

/// The router of a chain the locate scenarios put the middlebox on.
pub const BOX_HOP: u8 = 3;
/// The origin's distance on the chain.
pub const ORIGIN_HOPS: u8 = 5;

/// What the connections' `syn_changes` must hold, all connections together.
#[derive(Debug, Clone, Copy)]
pub enum SynChanges {
    Any,
    Exactly(&'static [&'static str]),
    Includes(&'static [&'static str]),
}

impl SynChanges {
    pub fn matches(self, found: &[String]) -> bool {
        match self {
            SynChanges::Any => true,
            SynChanges::Exactly(want) => {
                let mut want: Vec<&str> = want.to_vec();
                want.sort_unstable();
                found.iter().map(String::as_str).eq(want)
            }
            SynChanges::Includes(want) => want.iter().all(|w| found.iter().any(|f| f == w)),
        }
    }
}

impl Expected {
    /// `syn_changes`: the measured connections' words, sorted and distinct.
    pub fn matches(&self, v: &TargetVerdict, syn_changes: &[String]) -> bool {
        let mut found: Vec<&str> = v.signatures.iter().map(|s| s.as_str()).collect();
        let mut want: Vec<&str> = self.signatures.iter().map(|s| s.as_str()).collect();
        found.sort_unstable();
        want.sort_unstable();
        v.connectivity == self.connectivity
            && self.cookie.is_none_or(|c| c == v.cookie)
            && self.syn_data.is_none_or(|s| s == v.syn_data)
            && found == want
            && v.middlebox.as_bool() == self.middlebox
            && v.path_changes.iter().map(ToString::to_string).eq(self.path_changes.iter().copied())
            && self.syn_changes.matches(syn_changes)
    }

    pub fn describe(&self) -> String {
        describe(
            self.connectivity.as_str(),
            self.cookie.map_or("*", |c| c.as_str()),
            self.syn_data.map_or("*", |s| s.as_str()),
            self.signatures.iter().map(|s| s.as_str()).collect(),
            self.middlebox,
            self.path_changes,
        )
    }
}

/// Where the probes placed things, for the lab's report (empty without probes).
pub fn describe_location(v: &TargetVerdict) -> String {
    let hop = |h: Option<u8>| h.map_or("-".to_string(), |h| h.to_string());
    match v.origin_hops {
        None => String::new(),
        Some(o) => format!(" origin={o} box={}..{}", hop(v.middlebox_hop_min), hop(v.middlebox_hop_max)),
    }
}

pub fn describe_verdict(v: &TargetVerdict) -> String {
    let path_changes: Vec<String> = v.path_changes.iter().map(ToString::to_string).collect();
    describe(
        v.connectivity.as_str(),
        v.cookie.as_str(),
        v.syn_data.as_str(),
        v.signatures.iter().map(|s| s.as_str()).collect(),
        v.middlebox.as_bool(),
        &path_changes.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

fn describe(
    connectivity: &str,
    cookie: &str,
    syn_data: &str,
    signatures: Vec<&str>,
    middlebox: Option<bool>,
    path_changes: &[&str],
) -> String {
    let signatures = if signatures.is_empty() { "-".to_string() } else { signatures.join("+") };
    let middlebox = middlebox.map_or("null".to_string(), |m| m.to_string());
    let path =
        if path_changes.is_empty() { String::new() } else { format!(" path={}", path_changes.join("+")) };
    format!("{connectivity}/{cookie}/{syn_data} {signatures} middlebox={middlebox}{path}")
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub url: &'static str,
    /// Commands run in the router namespace to make the middlebox.
    pub router: &'static [&'static str],
    /// Fetch the same URL through a clean router first and judge against that control.
    pub control: bool,
    /// A real interceptor run on the router for this scenario (the rules redirect to it).
    pub interceptor: Option<Interceptor>,
    /// A path of four routers with the middlebox on the third, and `collect --locate`: where
    /// the probes must place the box.
    pub locate: Option<Located>,
    /// The client's and the link's settings for this scenario (undone after it).
    pub setup: Setup,
    /// A feature scenario: collect asks for tfo,mptcp,ecn, and what the features must show.
    pub features: Option<FeatureCase>,
    pub expected: Expected,
}

/// What a feature scenario's target row must say of the features beside TFO.
#[derive(Debug, Clone, Copy)]
pub struct FeatureCase {
    /// `feature_failures`, exactly (TFO's included).
    pub failures: &'static [&'static str],
    /// `features_negotiated`, exactly.
    pub negotiated: &'static [&'static str],
    /// The target's connections: 3 where nothing was retried (one per fetch of the first
    /// attempt), more where each feature was tried alone.
    pub connections: u32,
}

impl FeatureCase {
    pub fn matches(&self, v: &TargetVerdict) -> bool {
        let mut failures: Vec<&str> = v.feature_failures.iter().map(String::as_str).collect();
        let mut want = self.failures.to_vec();
        failures.sort_unstable();
        want.sort_unstable();
        failures == want
            && v.features_negotiated.names() == self.negotiated
            && v.connections == self.connections
    }

    pub fn describe(&self) -> String {
        features_line(self.failures.iter().copied(), &self.negotiated.join("+"), self.connections)
    }
}

/// The feature columns of a row, as a feature scenario's expectation reads.
pub fn describe_features(v: &TargetVerdict) -> String {
    features_line(
        v.feature_failures.iter().map(String::as_str),
        &v.features_negotiated.names().join("+"),
        v.connections,
    )
}

fn features_line<'a>(failures: impl Iterator<Item = &'a str>, negotiated: &str, connections: u32) -> String {
    let mut failures: Vec<&str> = failures.collect();
    failures.sort_unstable();
    let failures = if failures.is_empty() { "-".to_string() } else { failures.join("+") };
    format!(" failures={failures} negotiated={negotiated} connections={connections}")
}

/// What a scenario changes besides the router's rules: the client's TCP timestamps (Windows
/// clients send none; some boxes strip them) and an MTU the router's path to the origin has
/// for SYNs larger than it.
///
/// Why for SYNs only: a path narrower than the SYN-data is met first by the cookie request's
/// own request, sent after its handshake, whose ICMP error teaches the client the path MTU
/// before any SYN-data is sent (and Linux sizes SYN data by the MSS it cached with the
/// cookie). A tunnel whose MTU changes between the fetches, or a route a large SYN takes
/// apart, is the shape a real client meets; the router makes it by marking the SYNs larger
/// than the MTU and routing marked packets through a route with that MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub client_timestamps: bool,
    pub syn_path_mtu: Option<u32>,
}

impl Setup {
    pub const NONE: Setup = Setup { client_timestamps: true, syn_path_mtu: None };
    pub(crate) const NO_TIMESTAMPS: Setup = Setup { client_timestamps: false, syn_path_mtu: None };
    /// IPv6's minimum: every IPv4 and IPv6 path must take it.
    pub(crate) const SMALL_MTU: Setup = Setup { client_timestamps: true, syn_path_mtu: Some(1280) };
}
