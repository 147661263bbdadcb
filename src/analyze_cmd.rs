//! `tfoscope analyze`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tfoscope_analyze::expect::load_expectations;
use tfoscope_analyze::flow::FlowConfig;
use tfoscope_analyze::read::ReadOptions;
use tfoscope_analyze::record::Connection;
use tfoscope_analyze::sink::{AnalyzeSink, OutputPlan, Written};
use tfoscope_analyze::table::{OutputFormat, TableError};
use tfoscope_analyze::{analyze, AnalyzeOptions, Connections, Inputs, VantageResult, VantageSpec};

use crate::capture_args::{self, CaptureFile};
use crate::tables_cli::{print_verdicts, Format, ProbeArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionBy {
    Vantage,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Output directory.
    #[arg(short = 'o', long = "out", default_value = "tfoscope-out")]
    out: PathBuf,
    /// Name the vantage of the captures; they are then one stream (rotated files) read in
    /// time order. Without it each file is its own vantage, named after the file.
    #[arg(long)]
    vantage: Option<String>,
    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
    /// Write the connections, files and hops tables as a Hive-partitioned dataset,
    /// DIR/TABLE/vantage=NAME/part-RUN.EXT (a part per vantage and run, renamed into place when
    /// complete), that many runs add to and polars, DuckDB, Spark and Dask read as one table.
    /// No targets table: judging needs every vantage of a target together.
    #[arg(long, value_enum, value_name = "COLUMN")]
    partition_by: Option<PartitionBy>,
    /// A capture (or a folder of them) from a path known to be clean (e.g. next to the
    /// server): its targets set the expectation (cookie there: TFO expected). Repeatable.
    #[arg(long = "control", value_name = "CAPTURE")]
    controls: Vec<PathBuf>,
    /// A capture (or a folder of them) made at the server: its SYNs, joined to the measured
    /// connections by ISN and time or by the first bytes of the request, say what arrived
    /// (the `arrived_*` and `syn_changes` columns, the path signatures). Repeatable.
    #[arg(long = "server-capture", value_name = "CAPTURE")]
    server_captures: Vec<PathBuf>,
    /// Seconds the clocks of the client's and the server's captures may differ by.
    #[arg(long, default_value_t = 10.0)]
    server_clock_skew: f64,
    /// Judge from the client's captures alone: the echo origin's answers and the server
    /// captures are not used (to compare with what a client-side tool can tell).
    #[arg(long)]
    client_side_only: bool,
    /// CSV or Parquet with server_ip, server_port, expected_tfo; wins over --control.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Also write the verdicts as OONI measurements (JSON lines, df-000-base, test_name
    /// tcp_fast_open; layout in schemas/ooni.json): one per URL and vantage, or per target
    /// (`tcp://ADDR:PORT`) for captures without the collector's records.
    #[arg(long, value_name = "FILE.jsonl")]
    ooni: Option<PathBuf>,
    #[command(flatten)]
    probe: ProbeArgs,
    /// Print no tables: only warnings, errors and where the tables went.
    #[arg(short, long)]
    quiet: bool,
    /// Connections tracked open at once per vantage; beyond, new ones are counted and
    /// reported, not tracked (bounds memory on hostile captures, e.g. a SYN flood).
    #[arg(long, default_value_t = 2_000_000)]
    max_open: usize,
    /// Connections per batch of the connections table (a Parquet row group); fewer hold less
    /// in memory.
    #[arg(long, default_value_t = FlowConfig::default().batch)]
    batch_rows: usize,
    /// pcap or pcapng files (plain, .gz or .zst), or folders of them (read at any depth; each
    /// file a vantage named by its path in the folder).
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
}

fn each_its_own(file: &CaptureFile) -> VantageSpec {
    VantageSpec { name: file.vantage.clone(), files: vec![file.path.clone()] }
}

/// The capture bytes read against their total, with rate and time left: a terabyte of archives
/// takes a while. On stderr when it is a terminal; pipes and logs get nothing (indicatif hides
/// a bar drawn to no terminal). A pipe (`/dev/stdin`) has no size: then bytes and rate only.
fn reading_progress(specs: &[&VantageSpec]) -> indicatif::ProgressBar {
    let sizes: Option<Vec<u64>> = specs
        .iter()
        .flat_map(|s| &s.files)
        .map(|f| std::fs::metadata(f).ok().filter(|m| m.is_file()).map(|m| m.len()))
        .collect();
    let (bar, template) = match sizes {
        Some(sizes) => (
            indicatif::ProgressBar::new(sizes.iter().sum()),
            "{bar:40} {binary_bytes}/{binary_total_bytes} of captures read, {binary_bytes_per_sec}, {eta} left",
        ),
        None => (indicatif::ProgressBar::no_length(), "{binary_bytes} of captures read, {binary_bytes_per_sec}"),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    // Like any Unix filter, `tfoscope analyze ... | head` ends quietly when the pipe closes
    // (Rust ignores SIGPIPE, so printing would panic). Safe here: analyze writes no sockets.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let captures = capture_args::expand(&args.captures)?;
    let control_files = capture_args::expand(&args.controls)?;
    for (dir, skipped) in captures.skipped.iter().chain(&control_files.skipped) {
        eprintln!("{}: {}", dir.display(), capture_args::describe_skipped(skipped, dir));
    }
    let specs: Vec<VantageSpec> = match &args.vantage {
        Some(name) => vec![VantageSpec {
            name: name.clone(),
            files: captures.files.iter().map(|f| f.path.clone()).collect(),
        }],
        None => captures.files.iter().map(each_its_own).collect(),
    };
    let expect = args.expect.as_deref().map(load_expectations).transpose()?;
    let probe = args.probe.probe()?;
    let server_files = capture_args::expand(&args.server_captures)?;
    let inputs = Inputs {
        measured: specs,
        controls: control_files.files.iter().map(each_its_own).collect(),
        servers: server_files.files.iter().map(each_its_own).collect(),
    };
    refuse_shared_names(&inputs)?;
    let vantages = inputs.measured.len() + inputs.controls.len();
    let flow =
        FlowConfig { max_open: args.max_open.max(1), batch: args.batch_rows.max(1), ..FlowConfig::default() };
    // Vantages are read in parallel, one a core; a core left over reads ahead for them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Every table is written into a hidden folder and moved into place only when the run has
    // succeeded: a failed run leaves the last good output whole.
    let partitioned = args.partition_by == Some(PartitionBy::Vantage);
    let mut sink = AnalyzeSink::begin(OutputPlan {
        out: args.out.clone(),
        format: OutputFormat::from(args.format),
        partitioned,
        several_vantages: vantages > 1,
        batch: flow.batch,
        ooni: args.ooni.clone().map(|path| (path, probe.clone())),
    })
    .with_context(|| format!("creating {}", args.out.display()))?;
    let mut phases = tfoscope_analyze::timings::Phases::from_env();
    // Connections are written as they finish, a batch at a time, beside the reading; the
    // verdicts keep only a summary of each.
    let write_batch = |vantage: &str, batch: Vec<Connection>| -> Result<(), TableError> {
        sink.write_connections(vantage, batch)
    };
    let all_specs: Vec<&VantageSpec> = inputs.all_files().collect();
    let progress = reading_progress(&all_specs);
    let count_bytes = |bytes| progress.inc(bytes);
    let options = AnalyzeOptions {
        flow,
        read: ReadOptions { read_ahead: vantages < cores },
        progress: &count_bytes,
        expect: expect.as_ref(),
        connections: Connections::Sink(&write_batch),
        server_clock_skew_ns: (args.server_clock_skew.max(0.0) * 1e9) as i64,
        client_side_only: args.client_side_only,
    };
    let analysis = analyze(&inputs, &options);
    progress.finish_and_clear();
    sink.finish_connections()?;
    phases.mark("read, connections, their table and the verdicts");
    let errors = analysis.errors();
    for error in &errors {
        eprintln!("tfoscope analyze: {error}");
    }
    if analysis.measured.is_empty() {
        anyhow::bail!("no capture could be read");
    }
    if analysis.control_failed() {
        anyhow::bail!("a control capture could not be read: verdicts against it would be wrong");
    }
    sink.write_tables(&analysis)?;
    let run = sink.run().to_string();
    let Written {
        connections: written,
        targets: written_targets,
        hops: written_hops,
        ooni: written_ooni,
        probes,
    } = sink.commit()?;
    phases.mark("targets and files tables");
    let everything: Vec<&VantageResult> = analysis.vantages().collect();
    if args.quiet {
        print_warnings(&everything);
        match &written_targets {
            Some(path) => println!("{} target verdicts -> {}", analysis.verdicts.len(), path.display()),
            None => println!("partitioned by vantage (part {run}) -> {}", args.out.display()),
        }
    } else {
        print_summary(&everything, &written);
        match &written_targets {
            Some(path) => print_verdicts(&analysis.verdicts, path),
            None => println!(
                "partitioned by vantage (part {run}): no targets table; this run's verdicts, for the terminal only:"
            ),
        }
        if written_targets.is_none() {
            print_verdicts(&analysis.verdicts, Path::new("(not written)"));
        }
    }
    if probes > 0 {
        println!("{probes} hop-limited probes -> {}", written_hops.display());
    }
    if let Some(path) = written_ooni {
        println!("OONI measurements -> {}", path.display());
    }
    for warning in &analysis.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Every judged vantage needs a name of its own: the tables key by it, so two captures of one
/// name (a control that is also measured, `eth0.pcap` in two folders) would be one vantage to a
/// notebook and to `judge`.
fn refuse_shared_names(inputs: &Inputs) -> anyhow::Result<()> {
    let mut seen: std::collections::HashMap<&str, &VantageSpec> = std::collections::HashMap::new();
    // Server captures may share a name with the client's (client/x.pcap, server/x.pcap): their
    // rows are told apart by `role`, and they make no connections rows.
    for spec in inputs.controls.iter().chain(&inputs.measured) {
        if let Some(earlier) = seen.insert(&spec.name, spec) {
            let path = |s: &VantageSpec| s.files.first().map_or(String::new(), |f| f.display().to_string());
            anyhow::bail!(
                "two captures would be the vantage {:?} ({} and {}): the tables could not tell them apart; \
                 give one another file name (a control that is also measured: a copy under another name)",
                spec.name,
                path(earlier),
                path(spec)
            );
        }
    }
    Ok(())
}

fn print_summary(results: &[&VantageResult], written: &Path) {
    let files: usize = results.iter().map(|r| r.report.files.len()).sum();
    let frames: u64 = results.iter().map(|r| r.report.frames).sum();
    let conns: u64 = results.iter().map(|r| r.targets.connections()).sum();
    let tfo: u64 = results.iter().map(|r| r.targets.tfo_connections()).sum();
    let width = results.iter().map(|r| r.name.len()).max().unwrap_or(0).max("vantage".len());
    println!(
        "{:<width$}  {:>5} {:>9} {:>11} {:>5}  complete",
        "vantage", "files", "packets", "connections", "tfo"
    );
    for r in results {
        println!(
            "{:<width$}  {:>5} {:>9} {:>11} {:>5}  {}",
            r.name,
            r.report.files.len(),
            r.report.frames,
            r.targets.connections(),
            r.targets.tfo_connections(),
            if r.report.complete() { "yes" } else { "PARTIAL" }
        );
    }
    println!(
        "{files} capture(s), {frames} packets, {conns} connections ({tfo} with TFO in the first SYN) -> {}",
        written.display()
    );
    let seen: usize = results.iter().map(|r| r.targets.with_arrival()).sum();
    if seen > 0 {
        println!("{seen} of the connections seen from the server too (echo origin or --server-capture)");
    }
    print_warnings(results);
}

/// What a reader of the results must know, on stderr: frames of link types not decoded, and
/// each vantage's warnings (partial files, kernel drops, the connection cap).
fn print_warnings(results: &[&VantageResult]) {
    for r in results {
        for (linktype, count) in &r.report.skipped_linktypes {
            eprintln!("{}: skipped {count} frames of unsupported link type {linktype}", r.name);
        }
        for warning in &r.report.warnings {
            eprintln!("warning: {warning}");
        }
    }
}
