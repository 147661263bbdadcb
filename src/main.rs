//! The `tfoscope` command line: thin, it parses arguments, runs the stages and prints a summary.

mod analyze_cmd;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tfoscope: {e:#}");
            ExitCode::from(2)
        }
    }
}
