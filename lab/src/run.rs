//! Runs scenarios: build the lab, start the servers, then per scenario set the middlebox,
//! collect (a control through the clean router first where the scenario wants one), analyze,
//! and compare the targets row with the expected verdict.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use tfoscope_analyze::arrival::{sent_counterpart, syn_changes};
use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs, VantageSpec};

use crate::netns::{run, LabNet, SERVER_V4, SERVER_V6};
use crate::scenario::{describe_features, describe_location, describe_verdict, Scenario};
use crate::serve::{Kind, ListenerSpec, DEFAULT_BODY};
use crate::LabError;
use tfoscope_analyze::verdict::{Basis, CookieResult, Signature, TargetVerdict, Untested};

pub struct LabConfig {
    /// Namespace and interface name prefix (at most 10 characters).
    pub prefix: String,
    /// The tfoscope executable, run in the namespaces for `collect` and `lab-serve`.
    pub exe: PathBuf,
    /// Where the captures go; kept after the run.
    pub out_dir: PathBuf,
    /// Per-fetch timeout for collect, seconds.
    pub timeout_secs: u32,
    /// Also run each scenario's collector as an ordinary user (uid nobody, no capabilities,
    /// no capture) and hold its verdict to the captured run's on every signature the kernel
    /// can see.
    pub unprivileged: bool,
    /// `collect --features` for every scenario (the feature scenarios ask for all three
    /// whatever this says): the TFO scenarios must be judged the same with more features on.
    pub features: String,
}

/// What the feature scenarios ask for.
const ALL_FEATURES: &str = "tfo,mptcp,ecn";

/// The port of the lab's MPTCP origin (a TFO listener too).
pub const MPTCP_PORT: u16 = 8081;

/// The signatures only the packets show: two SYN-ACKs, an arrived SYN of another ISN.
const WIRE_ONLY: [Signature; 2] = [Signature::SynAckConflict, Signature::Reoriginated];

/// Whether a verdict made without a capture agrees with the captured run's on all the kernel
/// can see, and names the rest untested.
pub fn agrees_without_capture(kernel: &TargetVerdict, captured: &TargetVerdict) -> bool {
    let kernel_visible = |v: &TargetVerdict| -> Vec<Signature> {
        v.signatures.iter().copied().filter(|s| !WIRE_ONLY.contains(s)).collect()
    };
    let (mut k, mut c) = (kernel_visible(kernel), kernel_visible(captured));
    k.sort_unstable();
    c.sort_unstable();
    // The kernel keeps a cookie, not its kind: an experimental-only cookie is one it received.
    // Nor can a run without CAP_NET_ADMIN forget one: where TFO is retried alone (a feature
    // scenario), its cookie request goes out with the cookie the first attempt received.
    let cookie = |v: &TargetVerdict| match v.cookie {
        CookieResult::ReceivedExpOnly | CookieResult::Cached => CookieResult::Received,
        other => other,
    };
    kernel.connectivity == captured.connectivity
        && cookie(kernel) == cookie(captured)
        && kernel.syn_data == captured.syn_data
        && k == c
        && (c.is_empty() || kernel.middlebox == Some(true))
        && kernel.untested.contains(&Untested::Wire)
        && kernel.evidence.contains(&Basis::Kernel)
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// With `unprivileged`: the verdict of the run without privileges, where it disagreed.
    pub unprivileged_found: Option<String>,
    pub name: &'static str,
    pub expected: String,
    pub found: String,
    pub pass: bool,
    pub explanation: String,
    pub capture: PathBuf,
}

/// The origins in the server namespace: `tfoscope serve` (echo origins) with TFO on the
/// scenarios' addresses, and one without TFO on port 8080.
fn origins() -> [Vec<String>; 2] {
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|a| a.to_string()).collect() };
    let (v4, v6) = (SERVER_V4, SERVER_V6);
    [
        args(&[
            "serve",
            "--http",
            &format!("{v4}:80"),
            "--http",
            &format!("[{v6}]:80"),
            "--https",
            &format!("{v4}:443"),
            "--https",
            &format!("[{v6}]:443"),
            "--name",
            "lab.test",
            "--max-connections",
            "1000",
        ]),
        args(&["serve", "--no-tfo", "--http", &format!("{v4}:8080"), "--max-connections", "1000"]),
    ]
}

/// The router's listeners: the transparent proxies (REDIRECT sends to the router's own address
/// on the incoming interface) and a box that answers with its own page.
fn router_listeners() -> Vec<ListenerSpec> {
    let spec = |kind, addr: &str, tfo, body: &str| ListenerSpec {
        kind,
        addr: addr.parse().expect("lab addresses parse"),
        tfo,
        mptcp: false,
        body: body.to_string(),
    };
    vec![
        spec(Kind::Proxy, "0.0.0.0:3129", false, DEFAULT_BODY),
        spec(Kind::Proxy, "[::]:3129", false, DEFAULT_BODY),
        spec(Kind::Proxy, "0.0.0.0:3130", true, DEFAULT_BODY),
        spec(Kind::Http, "0.0.0.0:3131", true, "a box in the path answered this"),
    ]
}

/// Starts the origins in the server namespace and the router's listeners on the middlebox
/// router.
fn start_servers(net: &mut LabNet, config: &LabConfig) -> Result<(), LabError> {
    let (s, r) = (net.server(), net.router());
    for origin in origins() {
        net.spawn_server(&s, &config.exe, &origin)?;
    }
    // The MPTCP origin, with TFO: its SYN-ACKs grant MP_CAPABLE and cookies.
    let mptcp: Vec<String> = std::iter::once("lab-serve".to_string())
        .chain([format!("{SERVER_V4}:{MPTCP_PORT}"), format!("[{SERVER_V6}]:{MPTCP_PORT}")].iter().map(
            |addr| {
                ListenerSpec {
                    kind: Kind::Http,
                    addr: addr.parse().expect("lab addresses parse"),
                    tfo: true,
                    mptcp: true,
                    body: DEFAULT_BODY.to_string(),
                }
                .to_arg()
            },
        ))
        .collect();
    net.spawn_server(&s, &config.exe, &mptcp)?;
    let router: Vec<String> = std::iter::once("lab-serve".to_string())
        .chain(router_listeners().iter().map(ListenerSpec::to_arg))
        .collect();
    net.spawn_server(&r, &config.exe, &router)
}

/// Builds the lab, runs `scenarios` in order (stopping early when `stop` is set), and tears
/// everything down again, on error too.
pub fn run_lab(
    config: &LabConfig,
    scenarios: &[Scenario],
    stop: &AtomicBool,
    mut progress: impl FnMut(&ScenarioResult),
) -> Result<Vec<ScenarioResult>, LabError> {
    std::fs::create_dir_all(&config.out_dir)
        .map_err(|e| LabError::Io(config.out_dir.display().to_string(), e))?;
    // Each network is built when a scenario first needs it: one router, or a chain of four
    // for the locate scenarios (a prefix of its own).
    let mut single: Option<LabNet> = None;
    let mut chain: Option<LabNet> = None;
    let mut results = Vec::new();
    for scenario in scenarios {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (slot, chained) =
            if scenario.locate.is_some() { (&mut chain, true) } else { (&mut single, false) };
        if slot.is_none() {
            let mut net = if chained {
                LabNet::create_chain(&chain_prefix(&config.prefix))?
            } else {
                LabNet::create(&config.prefix)?
            };
            start_servers(&mut net, config)?;
            *slot = Some(net);
        }
        let net = slot.as_mut().expect("built");
        let result = run_scenario(net, config, scenario)?;
        progress(&result);
        results.push(result);
    }
    Ok(results)
}

/// Builds the lab (client, router, server namespaces; the TFO echo origins and the router's
/// proxies) and keeps it up until `stop` is set, then removes it: a lab to measure in by hand.
pub fn hold_lab(config: &LabConfig, stop: &AtomicBool, ready: impl FnOnce(&LabNet)) -> Result<(), LabError> {
    let mut net = LabNet::create(&config.prefix)?;
    start_servers(&mut net, config)?;
    ready(&net);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

/// The chain's namespaces: the lab's prefix (cut to nine) and `h`.
pub fn chain_prefix(prefix: &str) -> String {
    format!("{}h", &prefix[..prefix.len().min(9)])
}

fn run_scenario(
    net: &mut LabNet,
    config: &LabConfig,
    scenario: &Scenario,
) -> Result<ScenarioResult, LabError> {
    net.clear_router()?;
    let features = if scenario.features.is_some() { ALL_FEATURES } else { config.features.as_str() };
    let not_run = |why: String| ScenarioResult {
        unprivileged_found: None,
        name: scenario.name,
        expected: scenario.expected.describe(),
        found: format!("not run: {why}"),
        pass: false,
        explanation: String::new(),
        capture: config.out_dir.join(format!("{}.pcapng", scenario.name)),
    };
    let control = if scenario.control {
        let path = config.out_dir.join(format!("{}-control.pcapng", scenario.name));
        collect(net, config, (scenario.url, features), &path, false)?;
        Some(path)
    } else {
        None
    };
    let r = net.router();
    if let Some(interceptor) = scenario.interceptor {
        let Some(program) = interceptor.installed() else {
            let name = interceptor.program();
            return Ok(not_run(format!("{name} is not installed (Debian: apt install {name})")));
        };
        let dir =
            std::env::temp_dir().join(format!("tfoscope-lab-{}-{}", config.prefix, interceptor.program()));
        let args = interceptor.prepare(&program, &dir)?;
        net.spawn_daemon(&r, &args, interceptor.port(), &dir.join("output.log"))?;
    }
    for rule in scenario.router {
        let words: Vec<&str> = rule.split_whitespace().collect();
        net.exec(&r, &words)?;
    }
    let changed = scenario.setup != crate::scenario::Setup::NONE;
    if changed {
        net.apply_setup(Some(scenario.setup))?;
    }
    // Without privileges first: such a run cannot make the kernel forget cookies, so it must
    // meet the clean cache the root run would leave it otherwise.
    let unprivileged = if config.unprivileged && scenario.locate.is_none() {
        net.exec(&net.client(), &["ip", "tcp_metrics", "flush", "all"])?;
        let dir = config.out_dir.join("unprivileged");
        std::fs::create_dir_all(&dir).map_err(|e| LabError::Io(dir.display().to_string(), e))?;
        run(&["chmod", "0777", &dir.display().to_string()])?;
        let path = dir.join(format!("{}.pcapng", scenario.name));
        let collected = collect_as_nobody(net, config, (scenario.url, features), &path);
        // What that run taught the client's kernel (a path MTU) must not help the next.
        for family in ["-4", "-6"] {
            net.exec(&net.client(), &["ip", family, "route", "flush", "cache"])?;
        }
        Some(collected.map(|()| path))
    } else {
        None
    };
    let capture = config.out_dir.join(format!("{}.pcapng", scenario.name));
    let collected = collect(net, config, (scenario.url, features), &capture, scenario.locate.is_some());
    net.stop_daemons();
    net.clear_router()?;
    if changed {
        net.apply_setup(None)?;
    }
    collected?;

    let spec =
        |name: &str, path: &Path| VantageSpec { name: name.to_string(), files: vec![path.to_path_buf()] };
    let inputs = Inputs {
        measured: vec![spec("lab", &capture)],
        controls: control.iter().map(|path| spec("control", path)).collect(),
        servers: vec![],
    };
    let analysis = analyze(&inputs, &AnalyzeOptions::in_memory());
    if let Some(f) = analysis.failed.first() {
        return Err(LabError::Analyze(f.spec.files[0].display().to_string(), f.error.to_string()));
    }
    // Every word of the measured connections' syn_changes, sorted and distinct.
    let mut changes_seen: Vec<String> = Vec::new();
    for conn in analysis.measured.iter().flat_map(|v| &v.connections) {
        if let Some(seen) = conn.arrival.as_ref().and_then(|a| a.syn.as_ref()) {
            let changes = syn_changes(conn, sent_counterpart(conn, seen), seen);
            changes_seen.extend(changes.iter().map(|c| c.to_string()));
        }
    }
    changes_seen.sort_unstable();
    changes_seen.dedup();
    let verdicts = analysis.verdicts;
    let row = verdicts.iter().find(|v| v.vantage == "lab" && v.target.split(';').any(|t| t == scenario.url));
    let expected = format!(
        "{}{}{}",
        scenario.expected.describe(),
        scenario.locate.map_or(String::new(), |l| l.describe()),
        scenario.features.map_or(String::new(), |f| f.describe())
    );
    // The run without privileges, judged alone (and against the same control).
    let unprivileged_found = match unprivileged.transpose()? {
        Some(path) => {
            let inputs = Inputs {
                measured: vec![spec("lab", &path)],
                controls: control.iter().map(|path| spec("control", path)).collect(),
                servers: vec![],
            };
            let kernel = analyze(&inputs, &AnalyzeOptions::in_memory());
            let kernel_row = kernel
                .verdicts
                .iter()
                .find(|v| v.vantage == "lab" && v.target.split(';').any(|t| t == scenario.url))
                .cloned();
            match (kernel_row, row) {
                (Some(k), Some(c)) if agrees_without_capture(&k, c) => None,
                (Some(k), _) => Some(format!("{} untested={:?}", describe_verdict(&k), k.untested)),
                (None, _) => Some("no row for the target".to_string()),
            }
        }
        None => None,
    };
    Ok(match row {
        Some(v) => ScenarioResult {
            unprivileged_found: unprivileged_found.clone(),
            name: scenario.name,
            expected,
            found: format!(
                "{} syn_changes=[{}]{}{}",
                describe_verdict(v),
                changes_seen.join(","),
                describe_location(v),
                if scenario.features.is_some() { describe_features(v) } else { String::new() }
            ),
            pass: scenario.expected.matches(v, &changes_seen)
                && scenario.locate.is_none_or(|l| l.matches(v))
                && scenario.features.is_none_or(|f| f.matches(v))
                // A TFO scenario run with more features on names no other feature: no box there
                // breaks MPTCP or ECN.
                && (scenario.features.is_some() || v.feature_failures.iter().all(|f| f.starts_with("tfo:")))
                && unprivileged_found.is_none(),
            explanation: v.explanation.clone(),
            capture,
        },
        None => ScenarioResult {
            unprivileged_found: None,
            name: scenario.name,
            expected,
            found: "no row for the target".to_string(),
            pass: false,
            explanation: String::new(),
            capture,
        },
    })
}

/// Each collection of a lab run binds its own 100 local ports. The collector starts its
/// ports at a place that changes from run to run, which makes a reuse of the last scenario's
/// 4-tuples rare; the lab makes it impossible (a reused tuple met the origin's TIME_WAIT and
/// the router's un-NATed conntrack entry: a false option_dropped behind REDIRECT).
static COLLECTIONS: AtomicU16 = AtomicU16::new(0);

fn port_range() -> String {
    let k = COLLECTIONS.fetch_add(1, Ordering::Relaxed) % 200;
    let lo = 20_000 + k * 100;
    format!("{lo}-{}", lo + 99)
}

/// `tfoscope collect` in the client namespace as an ordinary user would run it: uid nobody,
/// no capabilities (setpriv), so without a capture and without the cookie flush.
fn collect_as_nobody(
    net: &LabNet,
    config: &LabConfig,
    (url, features): (&str, &str),
    out: &Path,
) -> Result<(), LabError> {
    let timeout = config.timeout_secs.to_string();
    let ports = port_range();
    let output = Command::new("ip")
        .args(["netns", "exec", &net.client()])
        .args(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg("--bounding-set=-all")
        .arg(&config.exe)
        .args(["collect", "--timeout", &timeout, "--port-range", &ports, "--features", features])
        .args(["--resolve", &format!("lab.test:{SERVER_V4}"), "-o"])
        .arg(out)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: "setpriv tfoscope collect".into(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: format!("tfoscope collect {url} (as nobody)"),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// `tfoscope collect` in the client namespace: a process of its own, since a namespace is
/// entered per thread and the collector's tokio workers would stay outside.
fn collect(
    net: &LabNet,
    config: &LabConfig,
    (url, features): (&str, &str),
    out: &Path,
    locate: bool,
) -> Result<(), LabError> {
    let timeout = config.timeout_secs.to_string();
    let ports = port_range();
    // A few hops past the chain's origin; the lab's routers answer at once.
    let locating: &[&str] =
        if locate { &["--locate", "--max-hops", "8", "--locate-wait", "0.5", "--rate", "0"] } else { &[] };
    let output = Command::new("ip")
        .args(["netns", "exec", &net.client()])
        .arg(&config.exe)
        .args(["collect", "--timeout", &timeout, "--port-range", &ports, "--features", features])
        .args(locating)
        .args(["--resolve", &format!("lab.test:{SERVER_V4}"), "-o"])
        .arg(out)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command { command: "tfoscope collect".into(), detail: e.to_string() })?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: format!("tfoscope collect {url}"),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfoscope_analyze::verdict::{Connectivity, Finding, SynDataResult};

    fn verdict(signatures: &[Signature], kernel: bool) -> TargetVerdict {
        TargetVerdict {
            connections: 3,
            rounds: 1,
            cookie: CookieResult::NotReceived,
            signatures: signatures.to_vec(),
            untested: if kernel { vec![Untested::Wire] } else { vec![] },
            middlebox: if signatures.is_empty() { Finding::NoneFound } else { Finding::Middlebox },
            expected_tfo: Some(true),
            evidence: vec![if kernel { Basis::Kernel } else { Basis::Capture }],
            ..TargetVerdict::unjudged(
                "lab",
                "http://198.51.100.1/".into(),
                (Some("198.51.100.1".parse().unwrap()), 80),
                Connectivity::Works,
                String::new(),
            )
        }
    }

    #[test]
    fn agreement_holds_on_what_the_kernel_sees_and_nothing_less() {
        use Signature::*;
        let captured = verdict(&[Reoriginated, NotNegotiatedExpected], false);
        // The wire-only signature aside, the same: agrees.
        assert!(agrees_without_capture(&verdict(&[NotNegotiatedExpected], true), &captured));
        // A signature the kernel can see missing, or one too many: disagrees.
        assert!(!agrees_without_capture(&verdict(&[], true), &captured));
        assert!(!agrees_without_capture(&verdict(&[NotNegotiatedExpected, OptionDropped], true), &captured));
        // A verdict that does not say it rests on the kernel, or leaves the wire unnamed: no.
        let mut unnamed = verdict(&[NotNegotiatedExpected], true);
        unnamed.untested.clear();
        assert!(!agrees_without_capture(&unnamed, &captured));
        let mut captured_too = verdict(&[NotNegotiatedExpected], true);
        captured_too.evidence = vec![Basis::Capture];
        assert!(!agrees_without_capture(&captured_too, &captured));
        // Another connectivity or SYN-data result: no.
        let mut broken = verdict(&[NotNegotiatedExpected], true);
        broken.connectivity = Connectivity::TfoBroken;
        assert!(!agrees_without_capture(&broken, &captured));
        let mut other_data = verdict(&[NotNegotiatedExpected], true);
        other_data.syn_data = SynDataResult::Acked;
        assert!(!agrees_without_capture(&other_data, &captured));
        // The kernel keeps a cookie, not its kind: experimental-only on the wire is one received;
        // none received is not.
        let (mut exp_only, mut kernel_cookie) = (captured.clone(), verdict(&[NotNegotiatedExpected], true));
        exp_only.cookie = CookieResult::ReceivedExpOnly;
        kernel_cookie.cookie = CookieResult::Received;
        assert!(agrees_without_capture(&kernel_cookie, &exp_only));
        assert!(!agrees_without_capture(&verdict(&[NotNegotiatedExpected], true), &exp_only));
    }
}
