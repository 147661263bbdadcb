//! `tfoscope judge`: target verdicts from the tables `analyze` wrote.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tfoscope_analyze::dataset::Dataset;
use tfoscope_analyze::expect::load_expectations;
use tfoscope_analyze::judge::{judge, JudgeOptions};
use tfoscope_analyze::sink::{JudgeSink, JudgeWritten};
use tfoscope_analyze::table::{OutputFormat, TableError};
use tfoscope_analyze::verdict::TargetVerdict;

use crate::tables_cli::{print_verdicts, Format, ProbeArgs};

#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Output directory (targets table, and the OONI measurements if asked for).
    #[arg(short = 'o', long = "out", default_value = "tfoscope-out")]
    out: PathBuf,
    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
    /// A vantage whose path is known to be clean: its targets set the expectations. Named as
    /// in the tables (a plain analyze output's controls are marked there already). Repeatable.
    #[arg(long = "control", value_name = "VANTAGE")]
    controls: Vec<String>,
    /// CSV or Parquet with server_ip, server_port, expected_tfo; wins over --control.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Also write the verdicts as OONI measurements (as analyze --ooni); needs --buckets 1.
    #[arg(long, value_name = "FILE.jsonl")]
    ooni: Option<PathBuf>,
    #[command(flatten)]
    probe: ProbeArgs,
    /// Judge the targets in this many buckets (a hash of address and port), one at a time:
    /// memory follows the largest bucket, not the dataset. The rows are first split by bucket
    /// into a hidden folder in the output directory (as much disk as the dataset's columns
    /// the verdicts read), removed at the end.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    buckets: u32,
    /// Threads decoding the tables; 0: one per core (the verdicts use rayon's pool:
    /// RAYON_NUM_THREADS). Default: one per core with one bucket; one thread with more, where
    /// memory is the point (measured: a third more peak memory with two).
    #[arg(long)]
    threads: Option<usize>,
    /// Datasets: folders written by `analyze --partition-by vantage` (their connections/,
    /// files/ and hops/ are read, anything else ignored), or plain analyze output folders.
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<PathBuf>,
}

impl JudgeArgs {
    /// All targets judged in one bucket.
    pub fn all_at_once(&self) -> bool {
        self.buckets == 1
    }

    fn threads(&self) -> usize {
        self.threads.unwrap_or(if self.all_at_once() { 0 } else { 1 })
    }
}

pub fn run(args: JudgeArgs) -> anyhow::Result<ExitCode> {
    let buckets = args.buckets as usize;
    if args.ooni.is_some() && buckets > 1 {
        anyhow::bail!("--ooni needs every target of a URL at once: use --buckets 1");
    }
    let datasets: Vec<Dataset> = args.datasets.iter().map(|d| Dataset::open(d)).collect::<Result<_, _>>()?;
    let expect = args.expect.as_deref().map(load_expectations).transpose()?;
    let probe = args.probe.probe()?;
    let format = OutputFormat::from(args.format);
    let mut sink = JudgeSink::begin(&args.out, format, buckets == 1)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut write = |verdicts: Vec<TargetVerdict>| -> Result<(), TableError> { sink.add(verdicts) };
    let options = JudgeOptions {
        controls: &args.controls,
        expect: expect.as_ref(),
        buckets,
        threads: args.threads(),
        scratch: &args.out,
    };
    let judged = match judge(&datasets, &options, &mut write) {
        Ok(judged) => judged,
        Err(e) => {
            sink.abandon();
            return Err(e.into());
        }
    };
    let mut phases = tfoscope_analyze::timings::Phases::from_env();
    let results: Vec<_> = judged.results.iter().collect();
    let ooni = args.ooni.as_deref().map(|path| (path, results.as_slice(), &probe));
    let JudgeWritten { targets: written, ooni: written_ooni, judged: targets, middleboxes, verdicts } =
        sink.finish(ooni)?;
    phases.mark("targets table written");
    let width = judged.vantages.iter().map(|v| v.name.len()).max().unwrap_or(0).max("vantage".len());
    println!("{:<width$}  {:<8} {:>5} {:>11} {:>5}", "vantage", "role", "files", "connections", "tfo");
    for v in &judged.vantages {
        println!(
            "{:<width$}  {:<8} {:>5} {:>11} {:>5}",
            v.name,
            v.role.as_str(),
            v.files.len(),
            v.connections,
            v.tfo_connections
        );
    }
    if let Some(verdicts) = &verdicts {
        print_verdicts(verdicts, &written);
    } else {
        println!(
            "{targets} target verdicts ({middleboxes} with a middlebox) in {buckets} buckets -> {}",
            written.display()
        );
    }
    if let Some(path) = written_ooni {
        println!("OONI measurements -> {}", path.display());
    }
    for warning in &judged.warnings {
        println!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
