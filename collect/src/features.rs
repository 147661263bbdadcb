//! `--features`: which SYN features each fetch of a target asks for, and when the combined
//! first attempt is followed by each feature alone (the technique's own advice: try them all
//! on the first connection, one by one only if that fails). Pure decisions: the fetching is
//! `run`'s, what the host can offer is decided once at the start (`offered`).

use tfoscope_wire::attempt::{FetchKind, KernelView};
use tfoscope_wire::feature::{Feature, Features};

use crate::kernel;

/// One fetch of a target: its kind (its place in the TFO sequence) and what its SYN asks for.
pub type PlannedFetch = (FetchKind, Features);

/// The first attempt: the cookie request and the data fetch with every feature, the baseline
/// with none. With TFO alone, today's three fetches.
pub fn first_attempt(features: Features) -> Vec<PlannedFetch> {
    vec![
        (FetchKind::TfoCookieRequest, features),
        (FetchKind::TfoData, features),
        (FetchKind::Plain, Features::NONE),
    ]
}

/// Each feature alone: TFO as its cookie request and data fetch, any other as one fetch
/// without TFO (a `plain` fetch that asks for that feature only).
pub fn each_alone(features: Features) -> Vec<PlannedFetch> {
    features
        .iter()
        .flat_map(|f| match f {
            Feature::Tfo => {
                vec![(FetchKind::TfoCookieRequest, Features::TFO), (FetchKind::TfoData, Features::TFO)]
            }
            other => vec![(FetchKind::Plain, Features::of([other]))],
        })
        .collect()
}

/// What the retry decision needs of a fetch's outcome.
#[derive(Debug, Clone, Copy)]
pub struct FetchSign {
    pub answered: bool,
    pub kernel: Option<KernelView>,
}

impl FetchSign {
    /// Its first SYN went unanswered (the kernel resent a segment: the SYN, in a fetch of
    /// one request) or the fetch failed (reset, refused, timed out).
    fn troubled(&self) -> bool {
        !self.answered || self.kernel.is_some_and(|k| k.total_retrans > 0)
    }

    /// Answered at once: an HTTP answer and nothing resent.
    fn clean(&self) -> bool {
        self.answered && self.kernel.is_none_or(|k| k.total_retrans == 0)
    }
}

/// The combined fetches met trouble where the baseline went through at once: only then is
/// each feature tried alone, so the one that breaks the path is named. A baseline that
/// failed too says the origin, not a feature, is the trouble.
pub fn retry_alone(features: Features, combined: &[FetchSign], baseline: Option<FetchSign>) -> bool {
    features.len() > 1 && combined.iter().any(FetchSign::troubled) && baseline.is_some_and(|b| b.clean())
}

/// The features the host can offer, of those asked for, and a line for each it cannot.
/// `fix_sysctl`: the run may set the sysctls that stand in the way (restored after).
pub fn offered(asked: Features, fix_sysctl: bool, net_admin: bool) -> (Features, Vec<String>) {
    let mut offered = Features::TFO;
    let mut skipped = Vec::new();
    if asked.contains(Feature::Mptcp) {
        match mptcp_unavailable() {
            None => offered = offered.with(Feature::Mptcp),
            Some(why) => skipped.push(format!("mptcp skipped: {why}")),
        }
    }
    if asked.contains(Feature::Ecn) {
        let ecn_for_all = kernel::sysctl("net.ipv4.tcp_ecn") == Some(1);
        if !net_admin {
            skipped.push(
                "ecn skipped: its SYNs need a route with `features ecn`, which needs CAP_NET_ADMIN (run as root)"
                    .into(),
            );
        } else if ecn_for_all && !fix_sysctl {
            skipped.push(
                "ecn skipped: net.ipv4.tcp_ecn = 1 asks for ECN on every SYN, the baseline's too; set it to 2 \
                 (`sudo sysctl -w net.ipv4.tcp_ecn=2`) or run with --fix-sysctl"
                    .into(),
            );
        } else {
            offered = offered.with(Feature::Ecn);
        }
    }
    (offered, skipped)
}

/// Why an MPTCP socket cannot be had here, if it cannot.
fn mptcp_unavailable() -> Option<String> {
    match kernel::sysctl("net.mptcp.enabled") {
        None => return Some("this kernel has no MPTCP (no net.mptcp.enabled)".into()),
        Some(0) => return Some("net.mptcp.enabled = 0 (`sudo sysctl -w net.mptcp.enabled=1`)".into()),
        Some(_) => {}
    }
    match socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::from(crate::fetch::IPPROTO_MPTCP)),
    ) {
        Ok(_) => None,
        Err(e) => Some(format!("an MPTCP socket could not be opened ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(answered: bool, total_retrans: u32) -> FetchSign {
        FetchSign {
            answered,
            kernel: Some(KernelView {
                state: 1,
                options: 0,
                fastopen_client_fail: 0,
                total_retrans,
                rtt_us: 100,
                snd_mss: 1448,
                rcv_mss: 536,
                pmtu: 1500,
                mptcp_flags: None,
            }),
        }
    }

    #[test]
    fn the_first_attempt_combines_and_each_alone_follows_only_trouble_with_a_clean_baseline() {
        let all = Features::parse_list("tfo,mptcp,ecn").unwrap();
        let first = first_attempt(all);
        assert_eq!(
            first.iter().map(|(k, f)| (k.as_str(), f.to_string())).collect::<Vec<_>>(),
            [
                ("tfo_cookie_request", "tfo+mptcp+ecn".to_string()),
                ("tfo_data", "tfo+mptcp+ecn".to_string()),
                ("plain", "none".to_string()),
            ]
        );
        let alone: Vec<String> = each_alone(all).iter().map(|(k, f)| format!("{k}:{f}")).collect();
        assert_eq!(alone, ["tfo_cookie_request:tfo", "tfo_data:tfo", "plain:mptcp", "plain:ecn"]);

        let (ok, late, failed) = (sign(true, 0), sign(true, 2), sign(false, 0));
        // Nothing troubled: no retry. A SYN resent, or a failure, with a clean baseline: retry.
        assert!(!retry_alone(all, &[ok, ok], Some(ok)));
        assert!(retry_alone(all, &[late, ok], Some(ok)));
        assert!(retry_alone(all, &[ok, failed], Some(ok)));
        // The baseline troubled too (or missing): the origin, not a feature.
        assert!(!retry_alone(all, &[failed, failed], Some(failed)));
        assert!(!retry_alone(all, &[late, ok], Some(late)));
        assert!(!retry_alone(all, &[failed], None));
        // TFO alone is today's run: no retry, whatever happened.
        assert!(!retry_alone(Features::TFO, &[failed, failed], Some(ok)));
    }
}
