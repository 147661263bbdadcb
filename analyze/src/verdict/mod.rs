//! Connections to one verdict per target (vantage, server address, server port).
//!
//! Pure functions over typed records, no I/O, in stages:
//! [`rounds`] (a target's connections into measurement rounds) → [`facts`] (what each round
//! shows: connectivity, cookie, SYN data) and [`rules`] (the signatures, one table a reader
//! holds against ../shared/TFO-FIELD-NOTES.md row by row) → [`target`] (the rounds' majority,
//! expectations, SYN-ACK fingerprints) → [`explain`] (the one place the English is written,
//! from the [`Evidence`] the rules return). [`vantage`] runs them over a vantage and judges
//! measured vantages against controls.
//!
//! A SYN-ACK whose answered SYN is `ambiguous` never supports a signature.

mod evidence;
mod explain;
mod facts;
mod features;
mod kernel;
mod rounds;
mod rules;
mod target;
mod vantage;

#[cfg(test)]
mod arrival_tests;
#[cfg(test)]
mod features_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::net::IpAddr;

pub use crate::arrival::{ArrivalKind, PathChange};
use crate::record::string_enum;

pub use evidence::{Evidence, ResponseDifference, ServerSide, StackDifference};
pub use rules::{RoundRule, TargetRule, ROUND_RULES, TARGET_RULES};
pub use vantage::{
    add_control_evidence, judge_all, judge_controls, judge_measured, judge_vantage,
    judge_vantage_with_records, probes_only, CaptureHealth,
};

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
        Cached => "cached",
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
        TooBig => "too_big",
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
        SynAckConflict => "synack_conflict",
        OptionRemovedOnPath => "option_removed_on_path",
        SynDataRemovedOnPath => "syn_data_removed_on_path",
        Reoriginated => "reoriginated",
        RequestChanged => "request_changed",
        TlsIntercepted => "tls_intercepted",
    }
);

string_enum!(
    /// PATHspider's TFO plugin vocabulary (the targets' `conditions`), so results compare with
    /// its observatory data; the last two are ours.
    Condition {
        Works => "tfo.connectivity.works",
        Broken => "tfo.connectivity.broken",
        Offline => "tfo.connectivity.offline",
        Closed => "tfo.connectivity.closed",
        Transient => "tfo.connectivity.transient",
        CookieReceived => "tfo.cookie.received",
        CookieNotReceived => "tfo.cookie.not_received",
        SynDataAcked => "tfo.syndata.acked",
        SynDataNotAcked => "tfo.syndata.not_acked",
        SynDataFailed => "tfo.syndata.failed",
        SynDataTooBig => "tfo.syndata.too_big",
        SynDataOneByteProxy => "tfo.syndata.one_byte_proxy",
        SynDataPartial => "tfo.syndata.partial",
    }
);

string_enum!(
    /// What a verdict rests on (the targets' `evidence`): the packets, or a run without a
    /// capture's records of what the kernel told each socket; and an echo origin's answers.
    Basis {
        Capture => "capture",
        Kernel => "kernel",
        Echo => "echo",
    }
);

string_enum!(
    /// Which way the target's connections went: from the vantage (as measured), or into it
    /// (scans of the capturing host, its own servers).
    Direction {
        Outbound => "outbound",
        Inbound => "inbound",
    }
);

string_enum!(
    /// What a target's verdict says of a middlebox: one shows (a signature holds, or a feature
    /// beside TFO failed); none found where every signature that could show this path's box
    /// was tested on a valid measurement; could not tell (something untested, a spoiled
    /// measurement, a signature in a minority of rounds); no TFO exchange took place. The
    /// `middlebox` column writes them as true, false, null and null.
    Finding {
        Middlebox => "middlebox",
        NoneFound => "none_found",
        CouldNotTell => "could_not_tell",
        NoExchange => "no_exchange",
    }
);

impl Finding {
    /// The `middlebox` column's value.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            Finding::Middlebox => Some(true),
            Finding::NoneFound => Some(false),
            Finding::CouldNotTell | Finding::NoExchange => None,
        }
    }
}

/// A finding read as the column reads it (`v.middlebox == Some(true)`).
impl PartialEq<Option<bool>> for Finding {
    fn eq(&self, other: &Option<bool>) -> bool {
        self.as_bool() == *other
    }
}

string_enum!(
    Untested {
        SynData => "syn_data",
        Negotiation => "negotiation",
        Wire => "wire",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct TargetVerdict {
    pub vantage: String,
    pub target: String,
    /// The test list's category codes of the target's URLs, `;`-joined.
    pub category: Option<String>,
    /// Why the certificates the fetches got did not verify (a self-signed origin, an
    /// interceptor's forgery), `;`-joined.
    pub cert_error: Option<String>,
    /// None only for a name that did not resolve.
    pub server_ip: Option<IpAddr>,
    pub server_port: u16,
    pub direction: Direction,
    pub connections: u32,
    pub rounds: u32,
    pub connectivity: Connectivity,
    pub cookie: CookieResult,
    pub syn_data: SynDataResult,
    pub signatures: Vec<Signature>,
    pub untested: Vec<Untested>,
    pub middlebox: Finding,
    pub expected_tfo: Option<bool>,
    pub synack_differs: Option<bool>,
    pub measurement_valid: bool,
    /// The origin refused the cookie the SYN-data carried and granted another (a load
    /// balancer's backends, a key rotation): a fact of the origin, never a middlebox signature.
    pub cookie_rejected: bool,
    /// What the verdict rests on: `capture` (the packets) or `kernel` (a run without a
    /// capture: what the kernel told each socket), and `echo` where an echo origin answered.
    pub evidence: Vec<Basis>,
    pub explanation: String,
    pub conditions: Vec<Condition>,
    /// Facts of the path that are no TFO signature (`nat`, `mss_clamped`, `isn_rewritten`,
    /// ...), from what arrived at the server; empty without an echo or server capture.
    pub path_changes: Vec<PathChange>,
    /// Where the server's view came from: `echo`, `server_capture`; None without one.
    pub arrival_source: Option<ArrivalKind>,
    /// Where hop-limited probes place things (`collect --locate`): the origin's distance, and
    /// the hops between which the box sits (both inclusive), with their routers.
    pub origin_hops: Option<u8>,
    pub middlebox_hop_min: Option<u8>,
    pub middlebox_hop_max: Option<u8>,
    pub middlebox_ips: Vec<IpAddr>,
    /// The SYN features the fetches asked for (`collect --features`; TFO alone otherwise),
    /// and those a SYN-ACK granted when asked.
    pub features_tried: crate::record::Features,
    pub features_negotiated: crate::record::Features,
    /// What broke which feature: `tfo:<signature>` for TFO's signatures, `mptcp:option_dropped`,
    /// `mptcp:option_reset`, `ecn:dropped`, `ecn:reset`, `<feature>:not_negotiated_expected`.
    pub feature_failures: Vec<String>,
}

impl TargetVerdict {
    /// A row with no TFO exchange judged: nothing tested, no signature, no middlebox verdict.
    pub fn unjudged(
        vantage: &str,
        target: String,
        (server_ip, server_port): (Option<IpAddr>, u16),
        connectivity: Connectivity,
        explanation: String,
    ) -> TargetVerdict {
        TargetVerdict {
            vantage: vantage.to_string(),
            target,
            category: None,
            cert_error: None,
            evidence: vec![],
            cookie_rejected: false,
            server_ip,
            server_port,
            direction: Direction::Outbound,
            connections: 0,
            rounds: 0,
            connectivity,
            cookie: CookieResult::NotRequested,
            syn_data: SynDataResult::NotAttempted,
            signatures: vec![],
            untested: vec![Untested::SynData, Untested::Negotiation],
            middlebox: Finding::NoExchange,
            expected_tfo: None,
            synack_differs: None,
            measurement_valid: true,
            explanation,
            conditions: vec![],
            path_changes: vec![],
            arrival_source: None,
            origin_hops: None,
            middlebox_hop_min: None,
            middlebox_hop_max: None,
            middlebox_ips: vec![],
            features_tried: crate::record::Features::NONE,
            features_negotiated: crate::record::Features::NONE,
            feature_failures: vec![],
        }
    }

    /// Takes in where the target's probes place the box, and says it in the explanation.
    pub fn set_location(&mut self, location: &crate::locate::Location) {
        self.origin_hops = location.origin_hops;
        self.middlebox_hop_min = location.hop_min;
        self.middlebox_hop_max = location.hop_max;
        self.middlebox_ips = location.ips.clone();
        if let Some(clause) = explain::location(location) {
            let sentence = self.explanation.trim_end_matches('.');
            self.explanation = format!("{sentence}; {clause}.");
        }
    }

    /// Whether a TFO exchange took place (a middlebox could have shown): the verdict's
    /// `middlebox` is then true or false, or null because not all could be looked for.
    pub fn tfo_exchanged(&self) -> bool {
        !matches!(self.connectivity, Connectivity::Offline | Connectivity::Closed | Connectivity::Unresolved)
            && !(self.cookie == CookieResult::NotRequested && self.syn_data == SynDataResult::NotAttempted)
    }

    pub fn ip_version(&self) -> Option<u8> {
        self.server_ip.map(|ip| if ip.is_ipv4() { 4 } else { 6 })
    }
}
