//! The lab's scenarios, one per row of ../shared/TFO-FIELD-NOTES.md: the middlebox the router
//! plays, the URL the client fetches, whether a clean control run comes first, and the verdict
//! a correct analysis must reach.

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
            && v.path_changes.iter().map(String::as_str).eq(self.path_changes.iter().copied())
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
    describe(
        v.connectivity.as_str(),
        v.cookie.as_str(),
        v.syn_data.as_str(),
        v.signatures.iter().map(|s| s.as_str()).collect(),
        v.middlebox.as_bool(),
        &v.path_changes.iter().map(String::as_str).collect::<Vec<_>>(),
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
    const NO_TIMESTAMPS: Setup = Setup { client_timestamps: false, syn_path_mtu: None };
    /// IPv6's minimum: every IPv4 and IPv6 path must take it.
    const SMALL_MTU: Setup = Setup { client_timestamps: true, syn_path_mtu: Some(1280) };
}

/// URLs whose request fills the SYN (1,300 bytes of path): more than a 1,280-byte link takes.
static LONG_URL_V4: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("http://198.51.100.1/{}", "p".repeat(1300)));
static LONG_URL_V6: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("http://[2001:db8:2::1]/{}", "p".repeat(1300)));

const CLEAN: Expected = Expected {
    connectivity: Connectivity::Works,
    cookie: Some(CookieResult::Received),
    syn_data: Some(SynDataResult::Acked),
    signatures: &[],
    path_changes: &[],
    // The echo origin shows every SYN arrived as sent.
    syn_changes: SynChanges::Exactly(&[]),
    middlebox: Some(false),
};

pub fn all() -> Vec<Scenario> {
    use Signature::*;
    vec![
        Scenario {
            name: "clean_http",
            about: "a clean path to a TFO origin over HTTP",
            url: "http://198.51.100.1/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_https",
            about: "the same over HTTPS: the ClientHello rides in the SYN",
            url: "https://lab.test/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_ipv6",
            about: "the same over IPv6",
            url: "http://[2001:db8:2::1]/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "clean_https_ipv6",
            about: "HTTPS over IPv6 (no SNI for an address; the self-signed certificate is recorded)",
            url: "https://[2001:db8:2::1]/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "option_dropped",
            about: "SYNs with option 34 or 254 dropped",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                // The echo origin says it does TFO: no cookie is signature 3 too.
                signatures: &[OptionDropped, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "exp_dropped_behind_stripper",
            about: "option 34 stripped, SYNs with 254 dropped: the kernel's fallback to 254 meets the drop",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: true,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, OptionRemovedOnPath, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&["option_removed:34"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "option_reset",
            about: "SYNs with option 34 or 254 answered with a reset",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j REJECT --reject-with tcp-reset",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionReset, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "syndata_dropped",
            about: "SYNs carrying data dropped (IPv4 length over 80)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                path_changes: &[],
                // The kernel's retransmission without data is what arrives, unchanged.
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "syndata_reset",
            about: "SYNs carrying data answered with a reset",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Reset),
                signatures: &[SynDataReset],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "option_stripped",
            about: "options 34 and 254 stripped from SYNs (judged against a clean control)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34,254"],
            control: true,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionRemovedOnPath, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&["option_removed:254", "option_removed:34"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "proxy_no_tfo",
            about: "a transparent proxy without TFO (judged against a clean control)",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3129"],
            control: true,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "origin_no_tfo",
            about: "an origin without TFO, and its control agrees: no middlebox",
            url: "http://198.51.100.1:8080/",
            router: &[],
            control: true,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(false),
            },
        },
        Scenario {
            name: "proxy_tfo",
            about: "a transparent proxy with TFO in front of an origin without (judged against a control)",
            url: "http://198.51.100.1:8080/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 3130"],
            control: true,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Acked),
                signatures: &[Reoriginated, NegotiatedUnexpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "response_differs",
            about: "a box that takes TFO connections over and answers with its own page",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -m tcp --tcp-option 34 -j REDIRECT --to-ports 3131"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            // The box has TFO itself: only the page tells.
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Acked),
                signatures: &[ResponseDiffers],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "proxy_no_tfo_https",
            about: "a transparent proxy without TFO relaying HTTPS: the certificate is the origin's, the SYN is not",
            url: "https://lab.test/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 3129"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "synack_dropped",
            about: "SYN-ACKs carrying a cookie dropped on the way back: inferred option_dropped, but the echo shows the option arrived",
            url: "http://198.51.100.1/",
            router: &["iptables -w -A FORWARD -p tcp --tcp-flags SYN,ACK SYN,ACK -m tcp --tcp-option 34 -j DROP"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "mss_clamped",
            about: "the router clamps the MSS of SYNs (TCPMSS): a fact of the path, no signature",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t mangle -A FORWARD -p tcp --syn -j TCPMSS --set-mss 1200"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected { path_changes: &["mss_clamped"], syn_changes: SynChanges::Exactly(&["mss:1460>1200"]), ..CLEAN },
        },
        Scenario {
            name: "source_nat",
            about: "the router rewrites the source address (MASQUERADE): nat, no signature",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A POSTROUTING -s 192.0.2.0/24 -d 198.51.100.0/24 -j MASQUERADE"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected { path_changes: &["nat"], syn_changes: SynChanges::Exactly(&["source_changed"]), ..CLEAN },
        },
        Scenario {
            name: "squid_intercept",
            about: "Squid in intercept mode: its own connection to the origin, a Via header added",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3128"],
            control: false,
            interceptor: Some(Interceptor::Squid),
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, RequestChanged, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "sslsplit",
            about: "sslsplit intercepting HTTPS with its own CA: another certificate than the origin served",
            url: "https://lab.test/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 8443"],
            control: false,
            interceptor: Some(Interceptor::Sslsplit),
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, TlsIntercepted, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_clean",
            about: "hop-limited probes on a clean path of four routers: the origin at hop 5, no box",
            url: "http://198.51.100.1/",
            router: &[],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: None, hop_max: None }),
            setup: Setup::NONE,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "locate_option_dropped",
            about: "router 3 drops SYNs with option 34 or 254 as it forwards them: the box between hops 3 and 4",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP + 1) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_option_reset",
            about: "router 3 resets SYNs with option 34 or 254: its RST's TTL places it at hop 3",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j REJECT --reject-with tcp-reset",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionReset, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_option_stripped",
            about: "router 3 strips options 34 and 254 as SYNs arrive: its own quote shows it, the box between hops 2 and 3",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34,254"],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP - 1), hop_max: Some(BOX_HOP) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionRemovedOnPath, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&["option_removed:254", "option_removed:34"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_syndata_dropped",
            about: "router 3 drops SYNs carrying data as it forwards them: the box between hops 3 and 4",
            url: "http://198.51.100.1/",
            router: &["iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP"],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP + 1) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_proxy",
            about: "a transparent proxy on router 3 (REDIRECT): it answers at its own hop, exactly 3",
            url: "http://198.51.100.1/",
            router: &["iptables -w -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3129"],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_option_dropped_ipv6",
            about: "router 3 drops IPv6 SYNs with option 34 or 254: hop limits place it as over IPv4",
            url: "http://[2001:db8:2::1]/",
            router: &[
                "ip6tables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "ip6tables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP + 1) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Exactly(&[]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "locate_proxy_ipv6",
            about: "a transparent proxy on router 3 over IPv6: exactly hop 3",
            url: "http://[2001:db8:2::1]/",
            router: &["ip6tables -w -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3129"],
            control: false,
            interceptor: None,
            locate: Some(Located { origin_hops: ORIGIN_HOPS, hop_min: Some(BOX_HOP), hop_max: Some(BOX_HOP) }),
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[Reoriginated, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Includes(&["isn_changed", "timestamp_changed", "source_changed"]),
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "host_down",
            about: "nothing answers (the router drops everything to the host)",
            url: "http://198.51.100.77/",
            router: &["iptables -w -A FORWARD -d 198.51.100.77 -j DROP"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Offline,
                cookie: None,
                syn_data: None,
                signatures: &[],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: None,
            },
        },
        Scenario {
            name: "port_closed",
            about: "nothing listens: every attempt reset, the baseline too",
            url: "http://198.51.100.1:81/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NONE,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Closed,
                cookie: None,
                syn_data: None,
                signatures: &[],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: None,
            },
        },
        // A client without TCP timestamps (Windows; boxes that strip them): which SYN a SYN-ACK
        // answered is told by timing alone.
        Scenario {
            name: "no_timestamps_clean",
            about: "a clean path, the client sending no TCP timestamps",
            url: "http://198.51.100.1/",
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NO_TIMESTAMPS,
            features: None,
            expected: CLEAN,
        },
        Scenario {
            name: "no_timestamps_option_dropped",
            about: "SYNs with option 34 or 254 dropped, no timestamps: the plain retransmission's answer told by timing",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NO_TIMESTAMPS,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "no_timestamps_option_reset",
            about: "SYNs with option 34 or 254 reset, no timestamps",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j REJECT --reject-with tcp-reset",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NO_TIMESTAMPS,
            features: None,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionReset, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "no_timestamps_syndata_dropped",
            about: "SYNs carrying data dropped, no timestamps: the SYN-ACK to the retransmission told by timing",
            url: "http://198.51.100.1/",
            router: &["iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NO_TIMESTAMPS,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
        },
        Scenario {
            name: "no_timestamps_syndata_reset",
            about: "SYNs carrying data reset, no timestamps",
            url: "http://198.51.100.1/",
            router: &[
                "iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j REJECT --reject-with tcp-reset",
            ],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::NO_TIMESTAMPS,
            features: None,
            expected: Expected {
                connectivity: Connectivity::TfoBroken,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Reset),
                signatures: &[SynDataReset],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
        },
        // A path of 1,280 bytes for SYNs (see `Setup`): the SYN carrying a long request is too
        // big for it.
        Scenario {
            name: "syn_too_big",
            about: "a SYN-data larger than the path's MTU: ICMP fragmentation needed, not a middlebox",
            url: LONG_URL_V4.as_str(),
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::SMALL_MTU,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::TooBig),
                signatures: &[],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                // SYN data could not be tested on this path: no "no".
                middlebox: None,
            },
        },
        Scenario {
            name: "syn_too_big_ipv6",
            about: "the same over IPv6: ICMPv6 packet too big",
            url: LONG_URL_V6.as_str(),
            router: &[],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::SMALL_MTU,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::TooBig),
                signatures: &[],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: None,
            },
        },
        Scenario {
            name: "syn_too_big_icmp_filtered",
            about: "the same with the router's ICMP errors filtered: it looks like signature 2, and says the SYN's size",
            url: LONG_URL_V4.as_str(),
            router: &["iptables -w -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP"],
            control: false,
            interceptor: None,
            locate: None,
            setup: Setup::SMALL_MTU,
            features: None,
            expected: Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
        },
    ]
    .into_iter()
    .chain(crate::feature_scenarios::all())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rules_name_only_lab_addresses() {
        let scenarios = all();
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), scenarios.len());
        for s in &scenarios {
            for rule in s.router {
                assert!(rule.starts_with("iptables -w ") || rule.starts_with("ip6tables -w "), "{rule}");
                for word in rule
                    .split_whitespace()
                    .filter_map(|w| w.split('/').next())
                    .filter(|w| w.contains('.') && w.parse::<std::net::IpAddr>().is_ok())
                {
                    assert!(word.starts_with("198.51.100.") || word.starts_with("192.0.2."), "{rule}");
                }
            }
        }
    }
}
