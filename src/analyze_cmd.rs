//! `tfoscope analyze`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tfoscope_analyze::record::Connection;
use tfoscope_analyze::table::{self, OutputFormat};
use tfoscope_analyze::{analyze_vantages, VantageResult, VantageSpec};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
    Json,
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
    /// pcap or pcapng files.
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
}

fn vantage_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let specs: Vec<VantageSpec> = match &args.vantage {
        Some(name) => vec![VantageSpec { name: name.clone(), files: args.captures.clone() }],
        None => args
            .captures
            .iter()
            .map(|path| VantageSpec { name: vantage_name(path), files: vec![path.clone()] })
            .collect(),
    };
    let mut failed = 0;
    let mut results: Vec<VantageResult> = Vec::new();
    for result in analyze_vantages(&specs) {
        match result {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("tfoscope analyze: {e}");
                failed += 1;
            }
        }
    }
    if results.is_empty() {
        anyhow::bail!("no capture could be read");
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let format = match args.format {
        Format::Parquet => OutputFormat::Parquet,
        Format::Csv => OutputFormat::Csv,
        Format::Json => OutputFormat::Json,
    };
    let tables: Vec<(&str, &[Connection])> =
        results.iter().map(|r| (r.name.as_str(), r.connections.as_slice())).collect();
    let mut connections = table::connections_frame(&tables)?;
    let written = table::write_table(&mut connections, &args.out, "connections", format)?;
    print_summary(&results, &written);
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_summary(results: &[VantageResult], written: &Path) {
    let files: usize = results.iter().map(|r| r.report.files.len()).sum();
    let frames: u64 = results.iter().map(|r| r.report.frames).sum();
    let conns: usize = results.iter().map(|r| r.connections.len()).sum();
    let tfo: usize = results.iter().map(|r| r.connections.iter().filter(|c| c.tried_tfo()).count()).sum();
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
            r.connections.len(),
            r.connections.iter().filter(|c| c.tried_tfo()).count(),
            if r.report.complete() { "yes" } else { "PARTIAL" }
        );
    }
    println!(
        "{files} capture(s), {frames} packets, {conns} connections ({tfo} with TFO in the first SYN) -> {}",
        written.display()
    );
    for r in results {
        for (linktype, count) in &r.report.skipped_linktypes {
            println!("{}: skipped {count} frames of unsupported link type {linktype}", r.name);
        }
        for warning in &r.report.warnings {
            println!("warning: {warning}");
        }
    }
}
