//! The `tfoscope` command line: thin, it parses arguments, runs the stages and prints a summary.

mod analyze_cmd;
mod collect_cmd;
mod lab_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tfoscope",
    version,
    about = "Find transparent proxies and other middleboxes by attempting TCP Fast Open"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rebuild TCP connections from pcap/pcapng captures and judge their TFO exchanges.
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Fetch each URL with TFO (cookie request, then SYN-data) and without, capturing into one
    /// pcapng with a record of every attempt. Linux, root or CAP_NET_RAW + CAP_NET_ADMIN.
    Collect(collect_cmd::CollectArgs),
    /// Prove the verdicts on this machine: namespaces with a TFO origin, a router playing each
    /// middlebox, collect and analyze, expected against found. Root. `--check-kernel` reports
    /// the kernel's TFO state without building anything.
    Lab(lab_cmd::LabArgs),
    /// The lab's servers (started by `tfoscope lab` inside its namespaces).
    #[command(hide = true)]
    LabServe(lab_cmd::LabServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Collect(args) => collect_cmd::run(args),
        Command::Lab(args) => lab_cmd::run(args),
        Command::LabServe(args) => lab_cmd::serve_listeners(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tfoscope: {e:#}");
            ExitCode::from(2)
        }
    }
}
