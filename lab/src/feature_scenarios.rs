//! The feature scenarios (`collect --features tfo,mptcp,ecn`): boxes that drop, reset or
//! strip MPTCP's MP_CAPABLE and ECN's ECE+CWR, and TFO's boxes met with every feature on. Each
//! must name the feature the path breaks, keep TFO's signatures where TFO is the culprit, and
//! judge a clean path with one connection per fetch of the first attempt.

use tfoscope_analyze::verdict::{Connectivity, CookieResult, Signature, SynDataResult};

use crate::scenario::{Expected, FeatureCase, Located, Scenario, Setup, SynChanges, BOX_HOP, ORIGIN_HOPS};

/// The MPTCP origin (TFO too), on the lab's MPTCP port (`run::MPTCP_PORT`).
const MPTCP_URL: &str = "http://198.51.100.1:8081/";
/// The echo origin: TCP, TFO, and ECN as Linux accepts it (net.ipv4.tcp_ecn = 2).
const ECHO_URL: &str = "http://198.51.100.1/";

/// TFO clean: cookie, data acked, nothing found (the origin's word from the control or the echo).
const TFO_CLEAN: Expected = Expected {
    connectivity: Connectivity::Works,
    cookie: Some(CookieResult::Received),
    syn_data: Some(SynDataResult::Acked),
    signatures: &[],
    path_changes: &[],
    syn_changes: SynChanges::Any,
    middlebox: Some(false),
};

/// TFO clean, yet another feature broken: a middlebox.
const TFO_CLEAN_FEATURE_BROKEN: Expected = Expected { middlebox: Some(true), ..TFO_CLEAN };

/// Connections of a target whose first attempt met trouble: the three of the first attempt, TFO
/// alone (two), MPTCP alone, ECN alone.
const RETRIED: u32 = 7;

fn scenario(
    name: &'static str,
    about: &'static str,
    url: &'static str,
    router: &'static [&'static str],
    control: bool,
    expected: Expected,
    features: FeatureCase,
) -> Scenario {
    Scenario {
        name,
        about,
        url,
        router,
        control,
        interceptor: None,
        locate: None,
        setup: Setup::NONE,
        features: Some(features),
        expected,
    }
}

/// On the chain of four routers, the box on the third: `collect --locate` with every feature,
/// whose MPTCP and ECN probes place a box that breaks those as TFO's place one that breaks TFO.
fn located(scenario: Scenario) -> Scenario {
    Scenario {
        locate: Some(Located {
            origin_hops: ORIGIN_HOPS,
            hop_min: Some(BOX_HOP),
            hop_max: Some(BOX_HOP + 1),
        }),
        ..scenario
    }
}

pub fn all() -> Vec<Scenario> {
    use Signature::*;
    vec![
        scenario(
            "features_clean",
            "every feature on a clean path to an MPTCP origin with TFO: one connection per fetch",
            MPTCP_URL,
            &[],
            true,
            TFO_CLEAN,
            FeatureCase { failures: &[], negotiated: &["tfo", "mptcp", "ecn"], connections: 3 },
        ),
        scenario(
            "mptcp_dropped",
            "SYNs with option 30 (MPTCP) dropped: the combined attempt is late, MPTCP alone names it",
            MPTCP_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 30 -j DROP"],
            true,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["mptcp:option_dropped"], negotiated: &["tfo", "ecn"], connections: RETRIED },
        ),
        scenario(
            "mptcp_reset",
            "SYNs with option 30 answered with a reset",
            MPTCP_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 30 -j REJECT --reject-with tcp-reset"],
            true,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["mptcp:option_reset"], negotiated: &["tfo", "ecn"], connections: RETRIED },
        ),
        scenario(
            "mptcp_stripped",
            "option 30 stripped from SYNs: nothing late, MP_CAPABLE not granted where the control's was",
            MPTCP_URL,
            &["iptables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 30"],
            true,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase {
                failures: &["mptcp:not_negotiated_expected"],
                negotiated: &["tfo", "ecn"],
                connections: 3,
            },
        ),
        scenario(
            "ecn_dropped",
            "SYNs with ECE and CWR set dropped",
            ECHO_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m ecn --ecn-tcp-ece --ecn-tcp-cwr -j DROP"],
            false,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["ecn:dropped"], negotiated: &["tfo"], connections: RETRIED },
        ),
        scenario(
            "ecn_reset",
            "SYNs with ECE and CWR set answered with a reset",
            ECHO_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m ecn --ecn-tcp-ece --ecn-tcp-cwr -j REJECT --reject-with tcp-reset"],
            false,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["ecn:reset"], negotiated: &["tfo"], connections: RETRIED },
        ),
        scenario(
            "ecn_cleared",
            "ECE and CWR cleared from SYNs: ECN not granted where the control's SYN-ACK granted it",
            ECHO_URL,
            &["iptables -w -t mangle -A FORWARD -p tcp --syn -j ECN --ecn-tcp-remove"],
            true,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["ecn:not_negotiated_expected"], negotiated: &["tfo"], connections: 3 },
        ),
        scenario(
            "syndata_dropped_features",
            "SYNs carrying data dropped, every feature on: TFO alone names signature 2, no other feature",
            ECHO_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP"],
            false,
            Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::Received),
                syn_data: Some(SynDataResult::Dropped),
                signatures: &[SynDataDropped],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
            FeatureCase { failures: &["tfo:syn_data_dropped"], negotiated: &["tfo", "ecn"], connections: RETRIED },
        ),
        scenario(
            "option_dropped_features",
            "SYNs with option 34 or 254 dropped, every feature on: TFO named, ECN fine alone",
            ECHO_URL,
            &[
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP",
                "iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 254 -j DROP",
            ],
            false,
            Expected {
                connectivity: Connectivity::Works,
                cookie: Some(CookieResult::NotReceived),
                syn_data: Some(SynDataResult::NotAttempted),
                signatures: &[OptionDropped, NotNegotiatedExpected],
                path_changes: &[],
                syn_changes: SynChanges::Any,
                middlebox: Some(true),
            },
            FeatureCase {
                failures: &["tfo:option_dropped", "tfo:not_negotiated_expected"],
                negotiated: &["ecn"],
                connections: RETRIED,
            },
        ),
        located(scenario(
            "locate_mptcp_dropped",
            "router 3 drops SYNs with option 30: the MPTCP probes place the box between hops 3 and 4",
            MPTCP_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 30 -j DROP"],
            true,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["mptcp:option_dropped"], negotiated: &["tfo", "ecn"], connections: RETRIED },
        )),
        located(scenario(
            "locate_ecn_dropped",
            "router 3 drops SYNs with ECE and CWR: the ECN probes place the box between hops 3 and 4",
            ECHO_URL,
            &["iptables -w -A FORWARD -p tcp --syn -m ecn --ecn-tcp-ece --ecn-tcp-cwr -j DROP"],
            false,
            TFO_CLEAN_FEATURE_BROKEN,
            FeatureCase { failures: &["ecn:dropped"], negotiated: &["tfo"], connections: RETRIED },
        )),
    ]
}
