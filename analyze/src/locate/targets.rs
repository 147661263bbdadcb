//! Where the hop-limited probes place each target's box, written into the targets' verdicts
//! (analyze's and judge's alike). Apart from the probes' reading ([`super`]), which the
//! verdicts' explanations use: this half uses the verdicts.

use super::{locate, HopRow};
use crate::verdict::TargetVerdict;

/// Where each target's hop-limited probes place the box (a target of the same vantage,
/// address and port; without the collector's records, probes to the port after the target's
/// are its second port, `--locate`'s default). A target probed but never fetched gets a row of
/// its own.
/// `vantages`: (name, hop rows); `in_bucket`: the targets to place (`judge --buckets` places a
/// bucket's at a time; the hop rows are all there).
pub(crate) fn locate_targets<'r>(
    verdicts: &mut Vec<TargetVerdict>,
    vantages: impl Iterator<Item = (&'r str, &'r [HopRow])>,
    in_bucket: &dyn Fn(std::net::IpAddr, u16) -> bool,
) {
    for (name, hops) in vantages.filter(|(_, hops)| !hops.is_empty()) {
        let vantage = Hops { name, hops };
        let mut targets: Vec<(std::net::IpAddr, u16, &str)> =
            vantage.hops.iter().map(|h| (h.server_ip, h.server_port, h.target.as_str())).collect();
        targets.sort_unstable();
        targets.dedup_by_key(|t| (t.0, t.1));
        let has_own = |ip, port| targets.iter().any(|t| t.0 == ip && t.1 == port);
        for &(ip, port, target) in targets.iter().filter(|t| in_bucket(t.0, t.1)) {
            let mut rows: Vec<HopRow> =
                vantage.hops.iter().filter(|h| h.server_ip == ip && h.server_port == port).cloned().collect();
            let second_port = port.wrapping_add(1);
            if !rows.iter().any(|r| r.probe_port != port) && has_own(ip, second_port) {
                rows.extend(
                    vantage
                        .hops
                        .iter()
                        .filter(|h| h.server_ip == ip && h.server_port == second_port)
                        .map(|h| HopRow { server_port: port, ..h.clone() }),
                );
            }
            // Second-port rows of a target probed only there are no target of their own.
            if rows.iter().all(|r| r.probe_port != r.server_port) {
                continue;
            }
            let refs: Vec<&HopRow> = rows.iter().collect();
            let location = locate(&refs);
            let found = verdicts
                .iter_mut()
                .find(|v| v.vantage == vantage.name && v.server_ip == Some(ip) && v.server_port == port);
            match found {
                Some(v) => v.set_location(&location),
                None => {
                    // A second port probed beside a target (record-less): not a target.
                    if port > 0
                        && has_own(ip, port - 1)
                        && rows.iter().all(|r| r.probe == crate::attempt::FetchKind::Plain)
                    {
                        continue;
                    }
                    let mut v = crate::verdict::probes_only(
                        vantage.name,
                        target.to_string(),
                        ip,
                        port,
                        location.origin_hops.is_some(),
                    );
                    v.set_location(&location);
                    verdicts.push(v);
                }
            }
        }
    }
}

/// One vantage's hop rows, by name.
struct Hops<'r> {
    name: &'r str,
    hops: &'r [HopRow],
}
