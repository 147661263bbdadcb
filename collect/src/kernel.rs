//! The kernel's TFO state: sysctls, TcpExt counters, and the per-address cookie cache.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use tfoscope_wire::attempt::CacheState;

use crate::tcp_metrics::TcpMetrics;

pub fn sysctl(name: &str) -> Option<i64> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn set_sysctl(name: &str, value: i64) -> std::io::Result<()> {
    std::fs::write(format!("/proc/sys/{}", name.replace('.', "/")), value.to_string())
}

/// The TcpExt counters whose names start with TCPFastOpen, and the MPTcpExt ones of
/// MP_CAPABLE SYNs and of MPTCP's blackhole detection (named `MPTcp` + its name, `Blackhole`
/// alone says nothing), from /proc/net/netstat (per network namespace).
pub fn tfo_counters() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut out = BTreeMap::new();
    for (group, keep) in
        [("TcpExt:", "TCPFastOpen"), ("MPTcpExt:", "MPCapableSYNTX"), ("MPTcpExt:", "Blackhole")]
    {
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(group)).collect();
        if let [names, values] = lines.as_slice() {
            for (name, value) in names.split_whitespace().zip(values.split_whitespace()).skip(1) {
                if name.starts_with(keep) {
                    if let Ok(v) = value.parse() {
                        let name =
                            if name == "Blackhole" { "MPTcpBlackhole".into() } else { name.to_string() };
                        out.insert(name, v);
                    }
                }
            }
        }
    }
    out
}

/// Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff in /proc/self/status).
pub fn net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim().to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// The kernel's per-address TFO cache: over the tcp_metrics netlink family, or, where that
/// cannot be opened, by running `ip tcp_metrics` (which then cannot report the cache state).
pub enum CookieCache {
    Netlink(TcpMetrics),
    IpCommand,
}

impl CookieCache {
    pub fn open() -> CookieCache {
        TcpMetrics::open().map_or(CookieCache::IpCommand, CookieCache::Netlink)
    }

    /// Forgets the cookie and SYN-drop history for one address. Returns whether the kernel
    /// had an entry.
    pub fn forget(&self, addr: IpAddr) -> Result<bool, String> {
        match self {
            CookieCache::Netlink(metrics) => {
                metrics.delete(addr).map_err(|e| format!("tcp_metrics delete {addr}: {e}"))
            }
            CookieCache::IpCommand => forget_with_ip(addr),
        }
    }

    /// Whether this process may make the kernel forget cookies (CAP_NET_ADMIN): a delete of
    /// addresses nothing is cached for (documentation addresses) is refused only for want of
    /// the privilege.
    pub fn can_forget(&self, v4: IpAddr, v6: IpAddr) -> bool {
        match self {
            CookieCache::Netlink(metrics) => [v4, v6].iter().all(|a| match metrics.delete(*a) {
                Ok(_) => true,
                Err(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
            }),
            CookieCache::IpCommand => true,
        }
    }

    /// The cookie the kernel keeps for one address, if any.
    pub fn cookie(&self, addr: IpAddr) -> Option<Vec<u8>> {
        let CookieCache::Netlink(metrics) = self else { return None };
        metrics.get(addr).ok()??.cookie.filter(|c| !c.is_empty())
    }

    /// The cache entry for one address (no entry: no cookie, no drops).
    pub fn state(&self, addr: IpAddr) -> Option<CacheState> {
        let CookieCache::Netlink(metrics) = self else { return None };
        let entry = metrics.get(addr).ok()?;
        Some(entry.map_or(CacheState { cookie: false, syn_drops: 0, cookie_hex: None }, |e| {
            let cookie = e.cookie.filter(|c| !c.is_empty());
            CacheState {
                cookie: cookie.is_some(),
                syn_drops: e.syn_drops,
                cookie_hex: cookie.map(|c| c.iter().map(|b| format!("{b:02x}")).collect()),
            }
        }))
    }
}

fn forget_with_ip(addr: IpAddr) -> Result<bool, String> {
    let out = Command::new("ip")
        .args(["tcp_metrics", "delete", &addr.to_string()])
        .output()
        .map_err(|e| format!("running ip tcp_metrics: {e}"))?;
    if out.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No entry yet is the normal first case.
    if stderr.contains("No such") || stderr.contains("not found") || stderr.is_empty() {
        Ok(false)
    } else {
        Err(format!("ip tcp_metrics delete {addr}: {}", stderr.trim()))
    }
}
