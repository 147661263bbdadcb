//! `tfoscope lab`: runs the scenarios end to end in network namespaces and prints expected
//! against found verdicts; `--check-kernel` reports the kernel's TFO state instead.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tfoscope_lab::doctor::{check_kernel, Status};
use tfoscope_lab::run::{run_lab, LabConfig};
use tfoscope_lab::serve::{serve, ListenerSpec};
use tfoscope_lab::{scenario, scenarios};

use crate::collect_cmd::signal_hook_flag;
use crate::report_out::{outln, ReportOut};

#[derive(Debug, Args)]
pub struct LabArgs {
    /// `collect --features` for the TFO scenarios (tfo, mptcp, ecn): with more than tfo they
    /// must be judged as with TFO alone. The feature scenarios ask for all three regardless.
    #[arg(long, default_value = "tfo", value_name = "LIST")]
    features: String,
    /// Run only this scenario (repeatable); `--list` names them.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Keep the captures in DIR (SCENARIO.pcapng, SCENARIO-control.pcapng) to open in Wireshark.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Report the kernel's TFO sysctls, blackhole state, whether cookies can be flushed and
    /// packets captured; build nothing.
    #[arg(long)]
    check_kernel: bool,
    /// List the scenarios and what each one does.
    #[arg(long)]
    list: bool,
    /// Also run each scenario's collector as an ordinary user (uid nobody, no capabilities, so
    /// no capture and no cookie flush) and hold its verdict to the captured run's on every
    /// signature the kernel can see (the locate scenarios need raw sockets: left out).
    #[arg(long)]
    unprivileged: bool,
    /// Build the lab and leave it up to measure in by hand (client PREFIX-c, router PREFIX-r,
    /// echo origins in PREFIX-s); Ctrl-C removes it.
    #[arg(long, conflicts_with_all = ["scenarios", "list", "check_kernel"])]
    hold: bool,
    /// Prefix of the namespaces and interfaces the lab creates (PREFIX-c, -r, -s).
    #[arg(long, default_value = "tfl")]
    prefix: String,
    /// Per-fetch timeout for the collector, seconds.
    #[arg(long, default_value_t = 3)]
    timeout: u32,
}

#[derive(Debug, Args)]
pub struct LabServeArgs {
    /// KIND,ADDR:PORT[,tfo][,body=TEXT] with KIND http, https or proxy.
    #[arg(required = true)]
    listeners: Vec<String>,
}

pub fn run(args: LabArgs) -> anyhow::Result<ExitCode> {
    if args.check_kernel {
        let checks = check_kernel();
        let mut out = ReportOut::default();
        for c in &checks {
            outln!(out, "{:<5} {:<20} {}", c.status.as_str(), c.name, c.detail);
        }
        out.finish()?;
        let failed = checks.iter().any(|c| c.status == Status::Fail);
        return Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS });
    }
    let all = scenarios::all();
    if args.list {
        let mut out = ReportOut::default();
        for s in &all {
            let control = if s.control { " (with a control run)" } else { "" };
            outln!(out, "{:<28} {}{control}: {}", s.name, s.url, s.about);
        }
        out.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    let chosen: Vec<scenario::Scenario> = if args.scenarios.is_empty() {
        all
    } else {
        let mut chosen = Vec::new();
        for name in &args.scenarios {
            let s = all.iter().find(|s| s.name == name).with_context(|| {
                let names: Vec<&str> = all.iter().map(|s| s.name).collect();
                format!("no scenario {name:?}; there are: {}", names.join(", "))
            })?;
            chosen.push(s.clone());
        }
        chosen
    };
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("tfoscope lab needs root: it creates network namespaces and firewall rules");
    }
    let temporary = args.keep.is_none();
    let out_dir = args.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("tfoscope-lab-{}-{}", args.prefix, std::process::id()))
    });
    let config = LabConfig {
        prefix: args.prefix.clone(),
        exe: std::env::current_exe().context("finding the tfoscope executable")?,
        out_dir: out_dir.clone(),
        timeout_secs: args.timeout,
        unprivileged: args.unprivileged,
        features: args.features.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        signal_hook_flag(signal, stop.clone());
    }
    if args.hold {
        let exe = config.exe.display().to_string();
        tfoscope_lab::run::hold_lab(&config, &stop, |net| {
            let (c, r) = (net.client(), net.router());
            println!(
                "lab up: client {c} (192.0.2.1, 2001:db8:1::1), router {r}, origins in {}",
                net.server()
            );
            println!("  echo origins with TFO: http://198.51.100.1/ https://198.51.100.1/ http://[2001:db8:2::1]/ (name lab.test); without TFO: http://198.51.100.1:8080/");
            println!("  MPTCP origin with TFO: http://198.51.100.1:8081/ (collect --features tfo,mptcp,ecn)");
            println!("  measure:    ip netns exec {c} {exe} collect -o run.pcapng --resolve lab.test:198.51.100.1 http://lab.test/");
            println!("  a box:      ip netns exec {r} iptables -A FORWARD -p tcp --syn -m tcp --tcp-option 34 -j DROP");
            println!("  analyze:    {exe} analyze -o out run.pcapng");
            println!("Ctrl-C removes the lab.");
        })?;
        println!("lab removed");
        return Ok(ExitCode::SUCCESS);
    }
    let width = chosen.iter().map(|s| s.expected.describe().len()).max().unwrap_or(8);
    let mut out = ReportOut::default();
    outln!(out, "{:<28} {:<6} {:<width$} found", "scenario", "result", "expected");
    let outcome = run_lab(&config, &chosen, &stop, |r| {
        let found = if r.pass { "as expected" } else { r.found.as_str() };
        outln!(
            out,
            "{:<28} {:<6} {:<width$} {found}",
            r.name,
            if r.pass { "pass" } else { "FAIL" },
            r.expected
        );
        if !r.pass {
            outln!(out, "    {}", r.explanation);
        }
        if let Some(kernel) = &r.unprivileged_found {
            outln!(out, "    without privileges, judged otherwise: {kernel}");
        }
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    if stop.load(Ordering::Relaxed) {
        outln!(out, "interrupted: the lab was removed");
        out.finish()?;
        return Ok(ExitCode::from(130));
    }
    let results = outcome?;
    let failed = results.iter().filter(|r| !r.pass).count();
    outln!(out, "{} of {} scenarios judged as expected", results.len() - failed, results.len());
    if let Some(dir) = &args.keep {
        outln!(out, "captures kept in {}", dir.display());
    }
    out.finish()?;
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The lab's servers, started by `tfoscope lab` inside its namespaces.
pub fn serve_listeners(args: LabServeArgs) -> anyhow::Result<ExitCode> {
    let specs: Vec<ListenerSpec> = args
        .listeners
        .iter()
        .map(|l| ListenerSpec::parse(l))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(serve(specs)).map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}
