//! ECN for one fetch: Linux has no per-socket switch for an ECN-setup SYN, but a route with
//! `features ecn` makes the SYNs to its destination ask for ECN while `net.ipv4.tcp_ecn` is 2
//! (the default: accept, never ask). A host route to the target, marked with our own routing
//! protocol number, lives exactly as long as the fetch that uses it: the guard removes it on
//! every exit, and a run's start removes any a killed run left behind (by that number).

use std::net::IpAddr;
use std::process::Command;

/// The `proto` of our routes (an unassigned number in /etc/iproute2/rt_protos): what the
/// start-up sweep deletes, and nothing else.
pub const ROUTE_PROTO: u8 = 244;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("`ip` (iproute2) could not be run: {0}")]
    NoIpCommand(std::io::Error),
    #[error("`ip {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("no route to {0} to copy")]
    NoRoute(IpAddr),
}

fn ip(args: &[String]) -> Result<String, RouteError> {
    let out = Command::new("ip").args(args).output().map_err(RouteError::NoIpCommand)?;
    if !out.status.success() {
        return Err(RouteError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "-4"
    } else {
        "-6"
    }
}

/// Removes the routes a killed run left behind (both families).
pub fn sweep() -> Result<(), RouteError> {
    for family in ["-4", "-6"] {
        ip(&[family.into(), "route".into(), "flush".into(), "proto".into(), ROUTE_PROTO.to_string()])?;
    }
    Ok(())
}

/// The route the kernel takes to `addr` now: its gateway and device, from `ip -j route get`.
fn current_route(addr: IpAddr) -> Result<(Option<String>, String), RouteError> {
    let text = ip(&[family(addr).into(), "-j".into(), "route".into(), "get".into(), addr.to_string()])?;
    let routes: serde_json::Value = serde_json::from_str(&text).map_err(|_| RouteError::NoRoute(addr))?;
    let route = routes.get(0).ok_or(RouteError::NoRoute(addr))?;
    let dev = route["dev"].as_str().ok_or(RouteError::NoRoute(addr))?.to_string();
    Ok((route["gateway"].as_str().map(str::to_string), dev))
}

/// A host route to one address with `features ecn`, removed when dropped.
#[derive(Debug)]
pub struct EcnRoute {
    addr: IpAddr,
}

impl EcnRoute {
    /// Adds the route beside the one the kernel takes now (same gateway and device).
    pub fn add(addr: IpAddr) -> Result<EcnRoute, RouteError> {
        let (gateway, dev) = current_route(addr)?;
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        let mut args: Vec<String> =
            vec![family(addr).into(), "route".into(), "add".into(), format!("{addr}/{prefix}")];
        if let Some(gateway) = gateway {
            args.extend(["via".into(), gateway]);
        }
        args.extend([
            "dev".into(),
            dev,
            "proto".into(),
            ROUTE_PROTO.to_string(),
            "features".into(),
            "ecn".into(),
        ]);
        ip(&args)?;
        Ok(EcnRoute { addr })
    }
}

impl Drop for EcnRoute {
    fn drop(&mut self) {
        let prefix = if self.addr.is_ipv4() { 32 } else { 128 };
        let _ = ip(&[
            family(self.addr).into(),
            "route".into(),
            "del".into(),
            format!("{}/{prefix}", self.addr),
            "proto".into(),
            ROUTE_PROTO.to_string(),
        ]);
    }
}
