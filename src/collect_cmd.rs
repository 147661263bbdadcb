//! `tfoscope collect`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use tfoscope_collect::feature::{Feature, Features};
use tfoscope_collect::locate::LocateConfig;
use tfoscope_collect::run::{collect, parse_target, CollectConfig, CollectProgress, Exclusions, Target};
use tfoscope_collect::target_list::{parse_target_list, ListedUrl};

use crate::report_out::{outln, ReportOut};

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Output pcapng (packets and a record of every attempt).
    #[arg(short = 'o', long = "out", default_value = "tfoscope.pcapng")]
    out: PathBuf,
    /// File with one URL per line (`#` starts a comment), or a Citizen Lab test list (CSV with
    /// a url,category_code,... header), whose category codes the records keep.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// Addresses measured at once (fetches to one address never overlap).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Repeat the three fetches this many times per address, interleaved across targets.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    ipv4_only: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    ipv6_only: bool,
    /// Use ADDR for HOST instead of asking the resolver (repeatable); curl's HOST:PORT:ADDR
    /// is taken too (the address then serves the host on every port).
    #[arg(long, value_name = "HOST:ADDR")]
    resolve: Vec<String>,
    /// Per-fetch timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Local ports the fetch sockets bind to (the capture keeps only these).
    #[arg(long, default_value = "42000-42999", value_name = "LO-HI")]
    port_range: String,
    /// Bytes kept of each packet.
    #[arg(long, default_value_t = 256)]
    snaplen: u32,
    /// Addresses, CIDR networks and host names never to touch, one per line.
    #[arg(long, value_name = "FILE")]
    exclude: Option<PathBuf>,
    /// Fetches per second to one address, at most (0: no pause).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Turn on the TFO client bit of net.ipv4.tcp_fastopen for the run and restore it after.
    #[arg(long)]
    fix_sysctl: bool,
    /// Keep the kernel's cached cookies and SYN-drop history instead of forgetting them before
    /// each cookie request (measures what the cache makes of the path; analyze marks targets
    /// whose cached SYN-data losses spoiled the measurement).
    #[arg(long)]
    keep_cookies: bool,
    /// After each target's fetches, hop-limited probes (a plain SYN, a cookie request and
    /// SYN-data, and a plain SYN to a second port, at each hop limit from 1) locate where the
    /// option, the data or the connection is taken (analyze's hops table).
    #[arg(long)]
    locate: bool,
    /// The highest hop limit probed.
    #[arg(long, default_value_t = 30, requires = "locate")]
    max_hops: u8,
    /// The second port probed (one a box is unlikely to intercept; default the target's port
    /// plus one).
    #[arg(long, requires = "locate")]
    locate_port: Option<u16>,
    /// Seconds to await each probe's answer.
    #[arg(long, default_value_t = 1.0, requires = "locate")]
    locate_wait: f64,
    /// Print only warnings, errors and the last line (not a line per target).
    #[arg(short, long)]
    quiet: bool,
    /// Capture no packets: the file holds the records alone and the verdicts rest on the
    /// kernel's view of each socket (what a run without CAP_NET_RAW does by itself).
    #[arg(long, conflicts_with = "locate")]
    no_capture: bool,
    /// SYN features the first attempt asks for at once: tfo, mptcp, ecn (comma-separated, tfo
    /// among them). With more than tfo, the cookie request and the data fetch ask for all of
    /// them and the baseline for none; only when those met trouble (a SYN resent, a reset, a
    /// failure) while the baseline went through at once is each feature tried alone, so the
    /// one the path breaks is named. ECN needs root (a route with `features ecn` per fetch).
    #[arg(long, default_value = "tfo", value_name = "LIST")]
    features: String,
    /// http:// and https:// URLs; a bare host name or address means http://HOST/.
    urls: Vec<String>,
}

/// `HOST:ADDR`, or curl's `HOST:PORT:ADDR` (an IPv6 address in brackets there). What follows
/// the host is an address if it reads as one whole: `h:80:1::1` is the address 80:1::1.
fn parse_resolve(items: &[String]) -> anyhow::Result<HashMap<String, Vec<IpAddr>>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let ip = |text: &str| text.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    for item in items {
        let (host, rest) = item
            .split_once(':')
            .with_context(|| format!("--resolve {item}: want HOST:ADDR (or curl's HOST:PORT:ADDR)"))?;
        let curl = || {
            let (port, addr) = rest.split_once(':')?;
            port.parse::<u16>().ok()?;
            ip(addr)
        };
        let addr = ip(rest).or_else(curl).with_context(|| {
            format!("--resolve {item}: {rest:?} is no address; want HOST:ADDR or HOST:PORT:ADDR")
        })?;
        map.entry(host.to_string()).or_default().push(addr);
    }
    Ok(map)
}

/// `--port-range LO-HI`, with the option named in every error.
fn parse_port_range(text: &str) -> anyhow::Result<std::ops::RangeInclusive<u16>> {
    let bad = || format!("--port-range {text}: want LO-HI, two port numbers (e.g. 42000-42999)");
    let (lo, hi) = text.split_once('-').with_context(bad)?;
    let ports = lo.trim().parse::<u16>().with_context(bad)?..=hi.trim().parse::<u16>().with_context(bad)?;
    if ports.is_empty() {
        bail!("--port-range {text} is empty: LO must not exceed HI");
    }
    Ok(ports)
}

/// `--features LIST`: names from tfo, mptcp, ecn, tfo among them.
fn parse_features(text: &str) -> anyhow::Result<Features> {
    let features = Features::parse_list(text)
        .map_err(|bad| anyhow::anyhow!("--features {text}: {bad:?} is no feature; want tfo, mptcp, ecn"))?;
    if !features.contains(Feature::Tfo) {
        bail!("--features {text}: tfo must be among them (the other features ride on TFO's fetches)");
    }
    Ok(features)
}

/// A URL as given, or `http://ARG/` for a bare host name or address (as curl takes it).
fn with_scheme(arg: &str) -> String {
    if arg.contains("://") {
        arg.to_string()
    } else {
        format!("http://{arg}")
    }
}

pub fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let mut urls: Vec<ListedUrl> =
        args.urls.iter().map(|url| ListedUrl { url: with_scheme(url), category: None }).collect();
    if let Some(file) = &args.targets {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        urls.extend(parse_target_list(&text).with_context(|| format!("reading {}", file.display()))?);
    }
    if urls.is_empty() {
        bail!("no targets: give URLs or --targets FILE");
    }
    let targets = urls
        .iter()
        .map(|u| parse_target(&u.url).map(|t| Target { category: u.category.clone(), ..t }))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let ports = parse_port_range(&args.port_range)?;
    let features = parse_features(&args.features)?;
    let config = CollectConfig {
        features,
        out: args.out.clone(),
        targets,
        resolve: parse_resolve(&args.resolve)?,
        family: if args.ipv4_only {
            Some(4)
        } else if args.ipv6_only {
            Some(6)
        } else {
            None
        },
        concurrency: args.concurrency,
        rounds: args.rounds.max(1),
        timeout: Duration::from_secs_f64(args.timeout),
        ports,
        snaplen: args.snaplen.max(64),
        fix_sysctl: args.fix_sysctl,
        keep_cookies: args.keep_cookies,
        exclude: match &args.exclude {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                Exclusions::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Exclusions::default(),
        },
        rate: args.rate,
        capture: !args.no_capture,
        locate: args.locate.then(|| LocateConfig {
            max_hops: args.max_hops.max(1),
            port: args.locate_port,
            wait: Duration::from_secs_f64(args.locate_wait.max(0.01)),
        }),
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Ctrl-C or SIGTERM: no new fetches; the file is finished properly.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        signal_hook_flag(signal, stop.clone());
    }
    let report = collect(&config, stop.clone(), Arc::new(progress_bar()))?;
    let interrupted = report.interrupted || stop.load(Ordering::Relaxed);
    let mut out = ReportOut::default();
    for result in report.results.iter().filter(|_| !args.quiet) {
        if result.fetches.is_empty() {
            outln!(out, "{} excluded", result.url);
            continue;
        }
        let addr = result.addr.map_or("unresolved".to_string(), |a| a.to_string());
        let fetches: Vec<String> = result.fetches.iter().map(|(name, r)| format!("{name} {r}")).collect();
        outln!(out, "{} {addr}: {}", result.url, fetches.join(", "));
    }
    if report.captured {
        outln!(
            out,
            "{} packets captured ({} dropped by the kernel) -> {}",
            report.capture.kept,
            report.capture.kernel_dropped,
            args.out.display()
        );
    } else {
        outln!(out, "no packets captured; the records of every fetch -> {}", args.out.display());
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if interrupted {
        outln!(out, "interrupted: the file holds what was collected until then");
    }
    out.finish().context("printing the report")?;
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    // Nothing reached the wire and no fetch got an answer: nothing was measured. Timeouts,
    // resets and refusals are findings; names that did not resolve and routes that do not
    // exist are not.
    let first_words =
        || report.results.iter().flat_map(|r| &r.fetches).filter_map(|(_, l)| l.split_whitespace().next());
    let answered = first_words().any(|w| w.parse::<u16>().is_ok());
    let tried = first_words().any(|w| !matches!(w, "dns_error" | "no_route"));
    let nothing = if report.captured { report.capture.kept == 0 && !answered } else { !tried };
    if nothing {
        eprintln!(
            "tfoscope: nothing was measured: every target failed before any packet was captured (see the lines above; the file holds the records)"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Targets done of the total, and how many had failures, on stderr when it is a terminal
/// (indicatif hides a bar drawn to no terminal).
fn progress_bar() -> impl Fn(CollectProgress) + Send + Sync {
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} targets, {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let failures = std::sync::atomic::AtomicU64::new(0);
    move |event| match event {
        CollectProgress::Started { targets } => {
            bar.set_length(targets);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        CollectProgress::TargetDone { failed } => {
            let failures = failures.fetch_add(u64::from(failed), Ordering::Relaxed) + u64::from(failed);
            bar.inc(1);
            bar.set_message(format!("{failures} with failures"));
        }
        CollectProgress::Finished => bar.finish_and_clear(),
    }
}

/// Sets `flag` when `signal` arrives (a plain handler flipping an atomic).
pub(crate) fn signal_hook_flag(signal: libc::c_int, flag: Arc<AtomicBool>) {
    static FLAGS: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    let _ = FLAGS.set(flag);
    extern "C" fn handler(_: libc::c_int) {
        if let Some(flag) = FLAGS.get() {
            flag.store(true, Ordering::Relaxed);
        }
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(signal, handler as *const () as libc::sighandler_t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_takes_ours_and_curls_form() {
        let items: Vec<String> =
            ["a.test:192.0.2.1", "b.test:443:198.51.100.2", "c.test:2001:db8::1", "d.test:80:[2001:db8::2]"]
                .map(String::from)
                .to_vec();
        let map = parse_resolve(&items).unwrap();
        assert_eq!(map["a.test"], vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(map["b.test"], vec!["198.51.100.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(map["c.test"], vec!["2001:db8::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(map["d.test"], vec!["2001:db8::2".parse::<IpAddr>().unwrap()]);
        let err = parse_resolve(&["e.test:443:nowhere".to_string()]).unwrap_err().to_string();
        assert!(err.contains("--resolve e.test:443:nowhere") && err.contains("HOST:PORT:ADDR"), "{err}");
    }

    #[test]
    fn port_range_errors_name_the_option() {
        assert_eq!(parse_port_range("5000-5009").unwrap(), 5000..=5009);
        for bad in ["5000-abc", "5000", "70000-70001"] {
            let err = format!("{:#}", parse_port_range(bad).unwrap_err());
            assert!(err.contains(&format!("--port-range {bad}")), "{err}");
        }
        assert!(parse_port_range("9-1").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn a_bare_host_means_http() {
        assert_eq!(with_scheme("example.org"), "http://example.org");
        assert_eq!(with_scheme("192.0.2.1:8080/x"), "http://192.0.2.1:8080/x");
        assert_eq!(with_scheme("https://example.org/"), "https://example.org/");
        let target = tfoscope_collect::run::parse_target(&with_scheme("example.org")).unwrap();
        assert_eq!((target.host.as_str(), target.port, target.path.as_str()), ("example.org", 80, "/"));
        let err = tfoscope_collect::run::parse_target("http://").unwrap_err();
        assert!(err.contains("no host") || err.contains("not a URL"), "{err}");
        assert!(err.contains("want http://HOST"), "{err}");
    }
}
