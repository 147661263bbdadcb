//! `tfoscope judge`: target verdicts from the tables `analyze` wrote.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tfoscope_analyze::dataset::Dataset;
use tfoscope_analyze::expect::load_expectations;
use tfoscope_analyze::judge::{judge, JudgeOptions};
use tfoscope_analyze::table::{self, OutputFormat, TableError, TableWriter};
use tfoscope_analyze::verdict::TargetVerdict;

use crate::analyze_cmd::{print_verdicts, Format, ProbeArgs};

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
    /// Datasets: folders written by `analyze --partition-by vantage` (their connections/,
    /// files/ and hops/ are read, anything else ignored), or plain analyze output folders.
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<PathBuf>,
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
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = TableWriter::create_renamed(&args.out, "targets", format)?;
    let mut kept: Vec<TargetVerdict> = Vec::new();
    let (mut targets, mut middleboxes) = (0usize, 0usize);
    let mut rates = table::Rates::default();
    let mut write = |verdicts: Vec<TargetVerdict>| -> Result<(), TableError> {
        targets += verdicts.len();
        rates.add(&verdicts);
        middleboxes += verdicts.iter().filter(|v| v.middlebox == Some(true)).count();
        if !verdicts.is_empty() {
            out.write(&mut table::targets_frame(&verdicts)?)?;
        }
        if buckets == 1 {
            kept.extend(verdicts);
        }
        Ok(())
    };
    let options =
        JudgeOptions { controls: &args.controls, expect: expect.as_ref(), buckets, scratch: &args.out };
    let judged = match judge(&datasets, &options, &mut write) {
        Ok(judged) => judged,
        Err(e) => {
            let _ = std::fs::remove_file(out.path());
            return Err(e.into());
        }
    };
    if targets == 0 {
        out.write(&mut table::targets_frame(&[])?)?;
    }
    let written = out.finish()?;
    let mut rates_out = TableWriter::create_renamed(&args.out, "rates", format)?;
    rates_out.write(&mut rates.frame()?)?;
    rates_out.finish()?;
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
    if buckets == 1 {
        print_verdicts(&kept, &written);
    } else {
        println!(
            "{targets} target verdicts ({middleboxes} with a middlebox) in {buckets} buckets -> {}",
            written.display()
        );
    }
    if let Some(path) = &args.ooni {
        let results: Vec<_> = judged.results.iter().collect();
        let written = table::write_ooni(path, &results, &kept, &probe)?;
        println!("OONI measurements -> {}", written.display());
    }
    for warning in &judged.warnings {
        println!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
