//! `tfoscope lab --check-kernel`: what this machine's kernel will do for a measurement, without
//! building namespaces. Each check says ok, warn or fail, with the fact behind it.

use std::net::{IpAddr, Ipv4Addr};

use tfoscope_collect::capture::Capture;
use tfoscope_collect::feature::{Feature, Features};
use tfoscope_collect::features::offered;
use tfoscope_collect::kernel;
use tfoscope_collect::tcp_metrics::TcpMetrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

pub fn check_kernel() -> Vec<Check> {
    let mut checks = Vec::new();
    let mut add = |name, status, detail: String| checks.push(Check { name, status, detail });

    match kernel::sysctl("net.ipv4.tcp_fastopen") {
        Some(v) if v & 1 == 1 => {
            add("tfo client", Status::Ok, format!("net.ipv4.tcp_fastopen = {v} (client bit on)"))
        }
        Some(v) => add(
            "tfo client",
            Status::Fail,
            format!(
                "net.ipv4.tcp_fastopen = {v}: client bit off (collect --fix-sysctl turns it on for a run)"
            ),
        ),
        None => add(
            "tfo client",
            Status::Fail,
            "net.ipv4.tcp_fastopen cannot be read: no TFO in this kernel?".into(),
        ),
    }
    match kernel::sysctl("net.ipv4.tcp_fastopen_blackhole_timeout_sec") {
        Some(0) => {
            add("blackhole detection", Status::Ok, "off (tcp_fastopen_blackhole_timeout_sec = 0)".into())
        }
        Some(v) => add(
            "blackhole detection",
            Status::Warn,
            format!(
                "on ({v} s): after repeated SYN-data losses the kernel pauses TFO; analyze marks such runs"
            ),
        ),
        None => add("blackhole detection", Status::Warn, "the sysctl is missing (an old kernel)".into()),
    }
    let counters = kernel::tfo_counters();
    match counters.get("TCPFastOpenBlackhole") {
        Some(0) | None => add("blackhole events", Status::Ok, "TCPFastOpenBlackhole = 0".into()),
        Some(n) => add("blackhole events", Status::Warn, format!("TCPFastOpenBlackhole = {n} since boot")),
    }
    // An address no one uses: deleting its (absent) entry proves the right to flush cookies.
    let unused = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 213));
    match TcpMetrics::open() {
        Err(e) => add(
            "cookie flush",
            Status::Warn,
            format!("no tcp_metrics netlink family ({e}); collect falls back to `ip tcp_metrics delete`"),
        ),
        Ok(metrics) => match metrics.delete(unused) {
            Ok(_) => add(
                "cookie flush",
                Status::Ok,
                "tcp_metrics over generic netlink: cookies can be forgotten".into(),
            ),
            Err(e) => add(
                "cookie flush",
                Status::Fail,
                format!("tcp_metrics delete refused ({e}): needs CAP_NET_ADMIN"),
            ),
        },
    }
    match Capture::open(&(61000..=61099), 256) {
        Ok(_) => add("capture", Status::Ok, "AF_PACKET socket with the port-range filter opens".into()),
        Err(e) => {
            add("capture", Status::Fail, format!("cannot open the capture socket ({e}): needs CAP_NET_RAW"))
        }
    }
    // The features `collect --features` adds beside TFO: what this host can offer of them.
    let all = Features::parse_list("tfo,mptcp,ecn").expect("feature names");
    let (offered, skipped) = offered(all, false, kernel::net_admin());
    for (feature, name) in [(Feature::Mptcp, "mptcp"), (Feature::Ecn, "ecn")] {
        match skipped.iter().find(|line| line.starts_with(name)) {
            Some(why) => add(name, Status::Warn, why.clone()),
            None if offered.contains(feature) => add(
                name,
                Status::Ok,
                match feature {
                    Feature::Mptcp => {
                        "an MPTCP socket opens: collect --features mptcp asks for MP_CAPABLE".into()
                    }
                    _ => {
                        "a route with `features ecn` may be added: collect --features ecn asks for ECN".into()
                    }
                },
            ),
            None => {}
        }
    }
    match kernel::sysctl("net.mptcp.blackhole_timeout") {
        Some(0) | None => {}
        Some(v) => add(
            "mptcp blackhole",
            Status::Warn,
            format!("on ({v} s): one lost MP_CAPABLE SYN stops MPTCP for the namespace; collect --fix-sysctl turns it off for a run"),
        ),
    }
    let netns = std::process::Command::new("ip").args(["netns", "list"]).output();
    match netns {
        Ok(o) if o.status.success() => {
            add("namespaces", Status::Ok, "`ip netns` works (for tfoscope lab)".into())
        }
        _ => add(
            "namespaces",
            Status::Warn,
            "`ip netns` does not run: tfoscope lab cannot build its network".into(),
        ),
    }
    checks
}
