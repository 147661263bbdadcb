//! `tfoscope collect`: for each target address, forget the cookie, fetch with TFO twice and
//! without once, while capturing into one pcapng with a record of every attempt.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tfoscope_wire::attempt::{
    AppResult, AttemptRecord, CollectorRecord, FetchError, FetchKind, ProbeRecord, RunPhase, RunRecord,
};

use tfoscope_wire::feature::{Feature, Features};

use crate::capture::{Capture, CaptureStats, SynComments};
pub use crate::exclusions::Exclusions;
use crate::failure::error_kind;
use crate::features::{each_alone, first_attempt, offered, retry_alone, FetchSign, PlannedFetch};
use crate::fetch::{fetch, now_ns, FetchOutcome, FetchSpec};
use crate::kernel;
use crate::locate::{locate, LocateConfig, Probe, ProbeOutcome, ProbePlan};
use crate::pcapng::PcapngWriter;

pub const USER_AGENT: &str =
    "tfoscope/0.1 (TCP Fast Open middlebox measurement; https://github.com/tfoscope/tfoscope)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub tls: bool,
    /// The test list's category code (Citizen Lab's `category_code`), kept in the records.
    pub category: Option<String>,
}

pub fn parse_target(url: &str) -> Result<Target, String> {
    const WANT: &str = "want http://HOST[:PORT][/PATH] or https://...";
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: not a URL ({e}); {WANT}"))?;
    let scheme = uri.scheme_str().ok_or_else(|| format!("{url}: no scheme; {WANT}"))?;
    let (default_port, tls) = match scheme {
        "http" => (80, false),
        "https" => (443, true),
        other => return Err(format!("{url}: unsupported scheme {other}")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{url}: no host; {WANT}"))?
        .trim_matches(['[', ']'])
        .to_string();
    Ok(Target {
        url: url.to_string(),
        port: uri.port_u16().unwrap_or(default_port),
        path: uri.path_and_query().map_or("/".to_string(), |p| p.as_str().to_string()),
        host,
        tls,
        category: None,
    })
}

#[derive(Debug, Clone)]
pub struct CollectConfig {
    pub out: PathBuf,
    pub targets: Vec<Target>,
    /// --resolve HOST:ADDR
    pub resolve: HashMap<String, Vec<IpAddr>>,
    /// 4 or 6 to restrict the families.
    pub family: Option<u8>,
    pub concurrency: usize,
    pub rounds: u32,
    pub timeout: Duration,
    pub ports: RangeInclusive<u16>,
    pub snaplen: u32,
    pub fix_sysctl: bool,
    /// Do not forget cached cookies before the cookie request.
    pub keep_cookies: bool,
    /// Addresses, networks and names never to touch.
    pub exclude: Exclusions,
    /// Fetches per second to one address, at most.
    pub rate: f64,
    /// `--locate`: hop-limited probes after each target's fetches (first round).
    pub locate: Option<LocateConfig>,
    /// Capture the packets (false: `--no-capture`; a run without CAP_NET_RAW falls back to it).
    pub capture: bool,
    /// The SYN features the first attempt combines (`--features`, TFO always among them).
    pub features: Features,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(
        "TCP Fast Open is off for clients: net.ipv4.tcp_fastopen = {value} (bit 0x1 clear); turn it on with \
         `sudo sysctl -w net.ipv4.tcp_fastopen={on}` (the server bits kept), or run with --fix-sysctl \
         to set it for the run and restore it after",
        on = value | 1
    )]
    TfoDisabled { value: i64 },
    #[error("--locate sends hop-limited SYNs from raw sockets, which need CAP_NET_RAW ({0}): run as root, grant the capability, or leave --locate out")]
    Privilege(std::io::Error),
    // The cause is in the message, not a `source`: printed as a chain it would come twice.
    #[error("{path}: {error}")]
    Output { path: PathBuf, error: std::io::Error },
    #[error("capture failed: {0}")]
    Capture(std::io::Error),
    #[error("{0}")]
    Runtime(std::io::Error),
}

/// One line of the end-of-run summary.
#[derive(Debug, Clone)]
pub struct TargetResult {
    pub url: String,
    pub addr: Option<IpAddr>,
    /// Each fetch's name (its kind, and its features where they are not the default) and line.
    pub fetches: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct CollectReport {
    pub results: Vec<TargetResult>,
    pub capture: CaptureStats,
    /// Packets were captured (false: a run without CAP_NET_RAW, or `--no-capture`).
    pub captured: bool,
    pub warnings: Vec<String>,
    pub interrupted: bool,
}

/// How far a run is, told to the caller's callback (the collector draws nothing itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectProgress {
    /// The fetches are about to start: `targets` (address, URL) pairs times the rounds.
    Started { targets: u64 },
    /// One target's fetches of one round are done; `failed`: some fetch got no HTTP answer.
    TargetDone { failed: bool },
    /// No more fetches.
    Finished,
}

/// Called from the fetching threads.
pub type OnProgress = dyn Fn(CollectProgress) + Send + Sync;

/// What every run record of a run says beside its phase.
#[derive(Debug, Clone)]
struct RunFacts {
    captured: bool,
    cookies_flushable: Option<bool>,
    features: Features,
    features_skipped: Vec<String>,
}

fn run_record(phase: RunPhase, facts: &RunFacts) -> CollectorRecord {
    let RunFacts { captured, cookies_flushable, features, features_skipped } = facts.clone();
    CollectorRecord::Run(RunRecord {
        tool: "tfoscope".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        phase,
        tcp_fastopen: kernel::sysctl("net.ipv4.tcp_fastopen"),
        tcp_fastopen_blackhole_timeout_sec: kernel::sysctl("net.ipv4.tcp_fastopen_blackhole_timeout_sec"),
        counters: kernel::tfo_counters(),
        captured: Some(captured),
        cookies_flushable,
        features: Some(features),
        features_skipped,
        mptcp_blackhole_timeout: kernel::sysctl("net.mptcp.blackhole_timeout"),
    })
}

/// Sysctls a run set (`--fix-sysctl`) and restores when it ends, whichever way it ends.
struct SysctlRestore(Vec<(&'static str, i64)>);

impl SysctlRestore {
    fn set(&mut self, name: &'static str, value: i64) -> std::io::Result<()> {
        if let Some(old) = kernel::sysctl(name) {
            kernel::set_sysctl(name, value)?;
            self.0.push((name, old));
        }
        Ok(())
    }
}

impl Drop for SysctlRestore {
    fn drop(&mut self) {
        for (name, value) in self.0.drain(..).rev() {
            let _ = kernel::set_sysctl(name, value);
        }
    }
}

/// What a run without the privilege to capture (or told `--no-capture`) gives up.
pub const NO_CAPTURE_COST: &str = "no packets are captured: no SYN-ACK TTL, options or frames; \
     the verdicts rest on what the kernel told each socket (and an echo origin's word), and \
     name the records they rest on";

pub fn collect(
    config: &CollectConfig,
    stop: Arc<AtomicBool>,
    on_progress: Arc<OnProgress>,
) -> Result<CollectReport, CollectError> {
    let mut warnings = Vec::new();
    let original = kernel::sysctl("net.ipv4.tcp_fastopen").unwrap_or(0);
    let mut restore = SysctlRestore(Vec::new());
    if original & 1 == 0 {
        if !config.fix_sysctl {
            return Err(CollectError::TfoDisabled { value: original });
        }
        restore.set("net.ipv4.tcp_fastopen", original | 1).map_err(CollectError::Runtime)?;
    }
    let net_admin = kernel::net_admin();
    // Routes a killed run left behind (ECN's), before any fetch could take one.
    if net_admin && config.features.contains(Feature::Ecn) {
        if let Err(e) = crate::ecn_route::sweep() {
            warnings.push(format!("could not remove routes an earlier run left: {e}"));
        }
    }
    let (features, features_skipped) = offered(config.features, config.fix_sysctl, net_admin);
    warnings.extend(features_skipped.iter().cloned());
    if features.contains(Feature::Ecn) && kernel::sysctl("net.ipv4.tcp_ecn") == Some(1) {
        restore.set("net.ipv4.tcp_ecn", 2).map_err(CollectError::Runtime)?;
    }
    if features.contains(Feature::Mptcp) && kernel::sysctl("net.mptcp.blackhole_timeout").unwrap_or(0) > 0 {
        if config.fix_sysctl {
            restore.set("net.mptcp.blackhole_timeout", 0).map_err(CollectError::Runtime)?;
        } else {
            warnings.push(
                "net.mptcp.blackhole_timeout is on: after an MP_CAPABLE SYN is lost the kernel stops asking for MPTCP in this namespace, which spoils later targets' MPTCP results (recorded in the capture; --fix-sysctl turns it off for the run)".into(),
            );
        }
    }
    if kernel::sysctl("net.ipv4.tcp_fastopen_blackhole_timeout_sec").unwrap_or(0) > 0 {
        warnings.push(
            "net.ipv4.tcp_fastopen_blackhole_timeout_sec is on: after repeated SYN-data losses the kernel pauses TFO, which can spoil later targets (recorded in the capture)".into(),
        );
    }
    // Without CAP_NET_RAW the run measures anyway, from the kernel's view of each socket.
    let capture = if config.capture {
        match Capture::open(&config.ports, config.snaplen) {
            Ok(capture) => Some(capture),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                if config.locate.is_some() {
                    return Err(CollectError::Privilege(e));
                }
                warnings.push(format!("no CAP_NET_RAW ({e}), so {NO_CAPTURE_COST}"));
                None
            }
            Err(e) => return Err(CollectError::Capture(e)),
        }
    } else {
        None
    };
    let cookie_cache = Arc::new(kernel::CookieCache::open());
    // Forgetting a cookie needs CAP_NET_ADMIN: a run without it says so once, up front (an
    // entry for no address is a harmless probe of the privilege).
    let cookies_flushable = (!config.keep_cookies)
        .then(|| cookie_cache.can_forget(IpAddr::from([192, 0, 2, 0]), IpAddr::from([0u16; 8])));
    if cookies_flushable == Some(false) {
        warnings.push(
            "cannot make the kernel forget cached cookies (no CAP_NET_ADMIN): a cookie cached before \
             the run turns the cookie request into a data fetch, which analyze judges as one"
                .into(),
        );
    }
    let captured = capture.is_some();
    let facts = RunFacts { captured, cookies_flushable, features, features_skipped };
    let writer = PcapngWriter::create(&config.out, config.snaplen)
        .map_err(|error| CollectError::Output { path: config.out.clone(), error })?;
    let writer = Arc::new(Mutex::new(writer));
    let output_err = |error| CollectError::Output { path: config.out.clone(), error };
    writer.lock().expect("writer").record(&run_record(RunPhase::Start, &facts)).map_err(output_err)?;

    let capture_stop = Arc::new(AtomicBool::new(false));
    let comments = Arc::new(SynComments::default());
    let capture_thread = capture.map(|capture| {
        let (writer, stop, ports, snaplen) =
            (writer.clone(), capture_stop.clone(), config.ports.clone(), config.snaplen as usize);
        let comments = comments.clone();
        std::thread::spawn(move || capture.run(ports, snaplen, &writer, &stop, &comments))
    });

    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CollectError::Runtime)?;
    let results = runtime.block_on(run_fetches(
        config,
        features,
        writer.clone(),
        stop.clone(),
        on_progress,
        comments,
        cookie_cache,
    ));

    let stats = match capture_thread {
        Some(thread) => {
            // Let the last FINs and RSTs reach the capture.
            std::thread::sleep(Duration::from_millis(300));
            capture_stop.store(true, Ordering::Relaxed);
            thread.join().expect("capture thread")
        }
        None => Ok(CaptureStats::default()),
    };
    let finished = {
        let mut w = writer.lock().expect("writer");
        let counts = stats.as_ref().copied().unwrap_or_default();
        w.record(&run_record(RunPhase::End, &facts))
            .and_then(|()| w.statistics(now_ns(), counts.kernel_received, counts.kernel_dropped))
    };
    drop(restore);
    // A failed write (a full disk) fails every write after it the same way, so the end of the
    // file names it, with the path; the blocks before it are whole and analyse.
    finished.map_err(output_err)?;
    let stats = stats.map_err(CollectError::Capture)?;
    if stats.kernel_dropped > 0 {
        warnings.push(format!("the kernel dropped {} packets of the capture", stats.kernel_dropped));
    }
    Ok(CollectReport {
        results,
        capture: stats,
        captured,
        warnings,
        interrupted: stop.load(Ordering::Relaxed),
    })
}

/// The target's addresses (of the families asked for), or the resolver's words when it has
/// none.
async fn resolve(target: &Target, config: &CollectConfig) -> Result<Vec<IpAddr>, String> {
    let addrs: Vec<IpAddr> = if let Ok(ip) = target.host.parse::<IpAddr>() {
        vec![ip]
    } else if let Some(addrs) = config.resolve.get(&target.host) {
        addrs.clone()
    } else {
        match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut addrs: Vec<IpAddr> = addrs
        .into_iter()
        .filter(|a| match config.family {
            Some(4) => a.is_ipv4(),
            Some(6) => a.is_ipv6(),
            _ => true,
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("no IPv{} address", config.family.unwrap_or(4)));
    }
    Ok(addrs)
}

/// A fetch as the person running the collector reads it: the HTTP status or error, then what
/// the kernel saw of it (a cookie got or not, the SYN data acked or not, the SYN resent), and
/// a certificate that did not verify. Behind a box dropping option 34 the fetches still get
/// their 200, a second late: this is where that shows.
fn fetch_line(
    mode: FetchKind,
    outcome: &FetchOutcome,
    cookie_before: Option<bool>,
    cookie_after: Option<bool>,
) -> String {
    let mut seen: Vec<String> = Vec::new();
    // A cookie the kernel held before the cookie request (one it could not be made to forget)
    // went out with data: that fetch was a data fetch.
    match (cookie_before, cookie_after) {
        (Some(true), _) => seen.push("a cookie held from before: sent with data".into()),
        (_, Some(true)) => seen.push("cookie received".into()),
        (_, Some(false)) => seen.push("no cookie".into()),
        (_, None) => {}
    }
    // A data fetch whose SYN carried no cookie says so (1); else whether the data was acked.
    match (mode, outcome.syn_data_acked, outcome.fastopen_client_fail) {
        (FetchKind::TfoData, _, Some(TFO_COOKIE_UNAVAILABLE)) => seen.push("no cookie to send".into()),
        (FetchKind::TfoData, Some(true), _) => seen.push("data acked".into()),
        (FetchKind::TfoData, Some(false), _) if outcome.result.error.is_none() => {
            seen.push("data not acked".into())
        }
        _ => {}
    }
    // The kernel names a resent SYN only for a data SYN; elsewhere its count of resent
    // segments tells (a cookie request dropped by a box: one, the SYN).
    let resent = outcome.tcp_info.map_or(0, |i| i.total_retrans);
    if outcome.fastopen_client_fail == Some(TFO_SYN_RETRANSMITTED) {
        seen.push("SYN retransmitted".into());
    } else if resent > 0 {
        seen.push(format!("{resent} segment{} resent", if resent == 1 { "" } else { "s" }));
    }
    if let Some(error) = &outcome.result.cert_error {
        seen.push(format!("certificate: {error}"));
    }
    let summary = outcome.result.summary();
    if seen.is_empty() {
        summary
    } else {
        format!("{summary} ({})", seen.join(", "))
    }
}

/// `tcpi_fastopen_client_fail` (Linux 5.5+): no cookie was there to send; the SYN was resent.
const TFO_COOKIE_UNAVAILABLE: u8 = 1;
const TFO_SYN_RETRANSMITTED: u8 = 3;

/// A fetch's name on the collector's line and in the capture's comments: its kind, with the
/// features it asked for where the run asked for more than TFO.
fn fetch_name(mode: FetchKind, asked: Features, offered: Features) -> String {
    if offered == Features::TFO {
        mode.to_string()
    } else {
        format!("{mode}[{asked}]")
    }
}

async fn run_fetches(
    config: &CollectConfig,
    features: Features,
    writer: Arc<Mutex<PcapngWriter>>,
    stop: Arc<AtomicBool>,
    on_progress: Arc<OnProgress>,
    comments: Arc<SynComments>,
    cookie_cache: Arc<kernel::CookieCache>,
) -> Vec<TargetResult> {
    // Fetches to one address never overlap (the cookie cache is per address): one job per
    // address, running its URLs in turn; addresses run concurrently.
    // In the order the targets were given (the first address first): with --concurrency 1
    // they are measured in that order.
    let mut by_addr: Vec<(IpAddr, Vec<Target>)> = Vec::new();
    let mut slot: HashMap<IpAddr, usize> = HashMap::new();
    let mut results = Vec::new();
    for target in &config.targets {
        if config.exclude.excludes_name(&target.host) {
            results.push(TargetResult { url: target.url.clone(), addr: None, fetches: vec![] });
            continue;
        }
        let resolved = resolve(target, config).await;
        let all = resolved.clone().unwrap_or_default();
        let addrs: Vec<IpAddr> = all.iter().copied().filter(|a| !config.exclude.excludes_addr(*a)).collect();
        if addrs.is_empty() && !all.is_empty() {
            results.push(TargetResult { url: target.url.clone(), addr: None, fetches: vec![] });
            continue;
        }
        if addrs.is_empty() {
            let record = AttemptRecord {
                url: target.url.clone(),
                host: target.host.clone(),
                server_ip: String::new(),
                server_port: target.port,
                fetch: FetchKind::Plain,
                features: None,
                round: 0,
                local_port: 0,
                start_ns: now_ns(),
                end_ns: now_ns(),
                syn_data_acked: None,
                fastopen_client_fail: None,
                cookie_flushed: None,
                cache_before: None,
                cache_after: None,
                category: target.category.clone(),
                request_headers: None,
                result: AppResult { error: Some(FetchError::DnsError), ..AppResult::default() },
                echo: None,
                echo_error: None,
                tcp_info: None,
            };
            let _ = writer.lock().expect("writer").record(&CollectorRecord::Attempt(record));
            results.push(TargetResult {
                url: target.url.clone(),
                addr: None,
                fetches: vec![(
                    FetchKind::Plain.to_string(),
                    format!("dns_error ({})", resolved.err().unwrap_or_default()),
                )],
            });
        }
        for addr in addrs {
            let i = *slot.entry(addr).or_insert_with(|| {
                by_addr.push((addr, Vec::new()));
                by_addr.len() - 1
            });
            by_addr[i].1.push(target.clone());
        }
    }
    let jobs: usize = by_addr.iter().map(|(_, t)| t.len()).sum::<usize>() * config.rounds as usize;
    on_progress(CollectProgress::Started { targets: jobs as u64 });
    let pace = Duration::from_secs_f64(if config.rate > 0.0 { 1.0 / config.rate } else { 0.0 });
    let semaphore = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let next_port = Arc::new(LocalPorts::new(config.ports.clone()));
    let collected = Arc::new(Mutex::new(Vec::new()));
    for round in 1..=config.rounds {
        let mut tasks = Vec::new();
        for (addr, targets) in &by_addr {
            let (addr, targets) = (*addr, targets.clone());
            let (semaphore, writer, stop, next_port, collected) =
                (semaphore.clone(), writer.clone(), stop.clone(), next_port.clone(), collected.clone());
            let (cookie_cache, keep_cookies) = (cookie_cache.clone(), config.keep_cookies);
            let timeout = config.timeout;
            let locate_config = config.locate.clone();
            let (on_progress, comments) = (on_progress.clone(), comments.clone());
            // The permit is taken before the task starts, in the targets' order: with
            // --concurrency 1 they are measured in the order given.
            let permit = semaphore.acquire_owned().await.expect("semaphore");
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let mut last_start: Option<tokio::time::Instant> = None;
                for target in targets {
                    let mut fetches = Vec::new();
                    let mut failed = false;
                    let mut plan: std::collections::VecDeque<PlannedFetch> = first_attempt(features).into();
                    let (mut combined, mut baseline, mut retried) = (Vec::new(), None, false);
                    while let Some((mode, asked)) = plan.pop_front() {
                        // No new fetches after a signal, nor once the file cannot be written.
                        if stop.load(Ordering::Relaxed) || writer.lock().expect("writer").failed().is_some() {
                            break;
                        }
                        // Per-destination pace: the --rate manners.
                        if let Some(last) = last_start {
                            tokio::time::sleep_until(last + pace).await;
                        }
                        last_start = Some(tokio::time::Instant::now());
                        // ECN is asked for by a route that lives as long as this fetch. Without
                        // one (the address has a host route of its own, `ip` failed) the fetch
                        // goes on without ECN and says so; ECN alone is then not made at all.
                        let (asked, route, no_route) = if asked.contains(Feature::Ecn) {
                            match crate::ecn_route::EcnRoute::add(addr) {
                                Ok(route) => (asked, Some(route), None),
                                Err(e) => {
                                    let without = Features::of(asked.iter().filter(|f| *f != Feature::Ecn));
                                    (without, None, Some(e.to_string()))
                                }
                            }
                        } else {
                            (asked, None, None)
                        };
                        if let (Some(why), true) = (&no_route, asked.is_empty()) {
                            fetches.push((
                                fetch_name(mode, Features::of([Feature::Ecn]), features),
                                format!("not made: no ECN route ({why})"),
                            ));
                            continue;
                        }
                        let cookie_flushed = (mode == FetchKind::TfoCookieRequest && !keep_cookies)
                            .then(|| cookie_cache.forget(addr).is_ok());
                        let cache_before = cookie_cache.state(addr);
                        let local_port = next_port.next();
                        let name = fetch_name(mode, asked, features);
                        comments.note(local_port, format!("tfoscope: {name} round {round} {}", target.url));
                        let spec = FetchSpec {
                            addr: SocketAddr::new(addr, target.port),
                            host: target.host.clone(),
                            path: target.path.clone(),
                            features: asked,
                            local_port,
                            timeout,
                            user_agent: USER_AGENT.to_string(),
                            tls: target.tls,
                        };
                        let outcome = fetch(&spec).await;
                        drop(route);
                        failed |= outcome.result.status.is_none();
                        let sign =
                            FetchSign { answered: outcome.result.status.is_some(), kernel: outcome.tcp_info };
                        match (mode, retried) {
                            (FetchKind::Plain, false) => baseline = Some(sign),
                            (_, false) => combined.push(sign),
                            _ => {}
                        }
                        let cache_after = cookie_cache.state(addr);
                        let cookie_after = cache_after
                            .as_ref()
                            .map(|c| c.cookie)
                            .filter(|_| mode == FetchKind::TfoCookieRequest);
                        let cookie_before = cache_before
                            .as_ref()
                            .map(|c| c.cookie)
                            .filter(|_| mode == FetchKind::TfoCookieRequest);
                        let mut line = fetch_line(mode, &outcome, cookie_before, cookie_after);
                        if let Some(why) = &no_route {
                            line.push_str(&format!(" (without ECN: no route, {why})"));
                        }
                        fetches.push((name, line));
                        let record = AttemptRecord {
                            url: target.url.clone(),
                            host: target.host.clone(),
                            server_ip: addr.to_string(),
                            server_port: target.port,
                            fetch: mode,
                            features: Some(asked),
                            round,
                            local_port,
                            start_ns: outcome.start_ns,
                            end_ns: outcome.end_ns,
                            syn_data_acked: outcome.syn_data_acked,
                            fastopen_client_fail: outcome.fastopen_client_fail,
                            cookie_flushed,
                            cache_before,
                            cache_after,
                            category: target.category.clone(),
                            request_headers: Some(outcome.request_headers),
                            result: outcome.result,
                            echo: outcome.echo.map(Box::new),
                            echo_error: outcome.echo_error,
                            tcp_info: outcome.tcp_info,
                        };
                        let _ = writer.lock().expect("writer").record(&CollectorRecord::Attempt(record));
                        // The first attempt done: each feature alone, only if it met trouble.
                        if plan.is_empty() && !retried {
                            retried = true;
                            if retry_alone(features, &combined, baseline) {
                                plan.extend(each_alone(features));
                            }
                        }
                    }
                    if let (Some(locate_config), 1) = (&locate_config, round) {
                        if !stop.load(Ordering::Relaxed) {
                            let local_port = next_port.next();
                            comments.note(local_port, format!("tfoscope: locate probes {}", target.url));
                            let plan = ProbePlan {
                                target: SocketAddr::new(addr, target.port),
                                local_port,
                                cookie: cookie_cache.cookie(addr),
                                data: probe_request(&target),
                                features,
                            };
                            let (target, writer, stop, config) =
                                (target.clone(), writer.clone(), stop.clone(), locate_config.clone());
                            let _ = tokio::task::spawn_blocking(move || {
                                locate_target(&plan, &target, &config, pace, &stop, &writer)
                            })
                            .await;
                        }
                    }
                    on_progress(CollectProgress::TargetDone { failed });
                    collected.lock().expect("results").push(TargetResult {
                        url: target.url.clone(),
                        addr: Some(addr),
                        fetches,
                    });
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    on_progress(CollectProgress::Finished);
    results.extend(std::mem::take(&mut *collected.lock().expect("results")));
    results
}

/// The local ports of a run, handed out in turn from a place in the range that changes from
/// run to run: a run right after another does not reuse its 4-tuples, which the origin may
/// still hold in TIME_WAIT and a NAT on the path in its connection table (un-NATed, it sent
/// the lab's REDIRECT scenarios' first SYNs past their proxy).
struct LocalPorts {
    range: RangeInclusive<u16>,
    next: AtomicU32,
}

impl LocalPorts {
    fn new(range: RangeInclusive<u16>) -> Self {
        LocalPorts { range, next: AtomicU32::new(now_ns().unsigned_abs() as u32 / 1000) }
    }

    fn next(&self) -> u16 {
        let span = u32::from(self.range.end() - self.range.start()) + 1;
        self.range.start() + (self.next.fetch_add(1, Ordering::Relaxed) % span) as u16
    }
}

/// The request a SYN-data probe carries: the fetch's, as hyper writes it.
fn probe_request(target: &Target) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nuser-agent: {USER_AGENT}\r\nconnection: close\r\n\r\n",
        target.path, target.host
    )
    .into_bytes()
}

/// Probes one target (blocking: raw sockets), a record per probe; a probing that cannot start
/// (no raw socket) is one record saying why, the fetches' results stand.
fn locate_target(
    plan: &ProbePlan,
    target: &Target,
    config: &LocateConfig,
    pace: Duration,
    stop: &AtomicBool,
    writer: &Mutex<PcapngWriter>,
) {
    let record = |outcome: &ProbeOutcome| ProbeRecord {
        url: target.url.clone(),
        host: target.host.clone(),
        server_ip: plan.target.ip().to_string(),
        server_port: plan.target.port(),
        probe_port: outcome.probe.port,
        probe: outcome.probe.kind,
        features: (!outcome.probe.features.is_empty() && outcome.probe.kind == FetchKind::Plain)
            .then_some(outcome.probe.features),
        hop_limit: outcome.probe.hop_limit,
        local_port: plan.local_port,
        isn: outcome.probe.isn,
        sent_ns: outcome.sent_ns,
        segment_hex: tfoscope_wire::echo::hex(&outcome.probe.segment),
        reply: outcome.reply.to_string(),
    };
    let result = locate(plan, config, pace, stop, |outcome| {
        let _ = writer.lock().expect("writer").record(&CollectorRecord::Probe(record(outcome)));
    });
    if let Err(e) = result {
        let mut failed = record(&ProbeOutcome {
            probe: Probe {
                kind: FetchKind::Plain,
                features: Features::NONE,
                port: plan.target.port(),
                hop_limit: 0,
                isn: 0,
                segment: vec![],
            },
            sent_ns: crate::fetch::now_ns(),
            reply: "none",
            from_target: false,
        });
        failed.reply = format!("error: {}", error_kind(&e));
        let _ = writer.lock().expect("writer").record(&CollectorRecord::Probe(failed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_ports_paths_and_brackets() {
        let t = parse_target("http://[2001:db8:2::1]:8080/a?b=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str(), t.tls),
            ("2001:db8:2::1", 8080, "/a?b=1", false)
        );
        let t = parse_target("https://lab.test").unwrap();
        assert_eq!((t.port, t.path.as_str(), t.tls), (443, "/", true));
        assert!(parse_target("ftp://x/").is_err());
        assert!(parse_target("lab.test").is_err());
    }
}
