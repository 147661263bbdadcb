//! The `tfoscope` command line: thin, it parses arguments, runs the stages and prints a summary.

mod analyze_cmd;
mod capture_args;
mod collect_cmd;
mod judge_cmd;
mod lab_cmd;
mod report_cmd;
mod report_out;
mod tables_cli;

use std::process::ExitCode;

// mimalloc, not glibc's malloc: analyze allocates a record per connection on the reading thread
// and frees it on the table's writer thread, which glibc's arenas handle poorly (measured: 20-30%
// of analyze's time on one core).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the Rust bindings name no constant for
/// it): milliseconds before freed memory goes back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Our purge delay, instead of mimalloc's 1,000 ms, with which analyze's peak memory rose by a
/// third over glibc's. Memory given back is zeroed by the kernel when taken again, a page fault
/// per 4 KiB: with 1 ms, analyze took 13,000 faults on the 1 M-packet web-like capture (a tenth
/// of its time), with 50 ms 3,200, for 104 MiB peak instead of 87 (measured then; round 4's
/// figures, 145 MiB against 187 with 1,000 ms on its machine, in docs/BENCHMARKS.md).
const PURGE_DELAY_MS: std::ffi::c_long = 50;

/// The purge delay of a judge of all targets at once: never. It reads the dataset a row group
/// at a time, and polars' decoding buffers, of about the same size every time, went back to the
/// system between row groups to be faulted in again (measured on 10.9 M connections: reading
/// 45 s with 50 ms, 27 to 29 s never, for 3 % more peak memory; its memory is the targets'
/// summaries it keeps). A judge in buckets keeps ours: there memory is the point.
const JUDGE_PURGE_DELAY_MS: std::ffi::c_long = -1;

/// The purge delay to set for a command: ours, unless the user set mimalloc's own variable
/// (which mimalloc has read already), e.g. `MIMALLOC_PURGE_DELAY=1` for the least memory.
fn purge_delay_to_set(
    user_setting: Option<std::ffi::OsString>,
    command: &Command,
) -> Option<std::ffi::c_long> {
    match (user_setting, command) {
        (Some(_), _) => None,
        (None, Command::Judge(args)) if args.all_at_once() => Some(JUDGE_PURGE_DELAY_MS),
        (None, _) => Some(PURGE_DELAY_MS),
    }
}

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
    /// Judge targets from the tables analyze wrote (a partitioned dataset of many runs, or a
    /// plain output): the verdicts analyze gives, in buckets when they do not fit in memory.
    Judge(judge_cmd::JudgeArgs),
    /// Fetch each URL with TFO (cookie request, then SYN-data) and without, capturing into one
    /// pcapng with a record of every attempt. Linux, root or CAP_NET_RAW + CAP_NET_ADMIN.
    Collect(collect_cmd::CollectArgs),
    /// One self-contained HTML page of a run: the run, the rates with their intervals, every
    /// verdict, and the fetches of each target with a middlebox drawn as a ladder.
    Report(report_cmd::ReportArgs),
    /// Prove the verdicts on this machine: namespaces with a TFO origin, a router playing each
    /// middlebox, collect and analyze, expected against found. Root. `--check-kernel` reports
    /// the kernel's TFO state without building anything.
    Lab(lab_cmd::LabArgs),
    /// An echo origin for measurements: answers every request with the SYN as it arrived
    /// (TCP_SAVE_SYN), the request as received and the certificate served.
    Serve(tfoscope_serve::cli::ServeArgs),
    /// The lab's servers (started by `tfoscope lab` inside its namespaces).
    #[command(hide = true)]
    LabServe(lab_cmd::LabServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(ms) = purge_delay_to_set(std::env::var_os("MIMALLOC_PURGE_DELAY"), &cli.command) {
        // SAFETY: sets a plain integer option; mimalloc reads it when it next purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) };
    }
    let result = match cli.command {
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Collect(args) => collect_cmd::run(args),
        Command::Judge(args) => judge_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Lab(args) => lab_cmd::run(args),
        Command::Serve(args) => tfoscope_serve::cli::run(args),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's, not ours: if a mimalloc update renumbered its options,
    /// this would be setting some other option. Purge delay is the one whose default is 1,000 ms.
    #[test]
    fn purge_delay_option_is_the_one_set() {
        // SAFETY: reads a plain integer option.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default, 1000, "mimalloc option {MI_OPTION_PURGE_DELAY} is not purge_delay");
        // SAFETY: sets a plain integer option, as main does.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, PURGE_DELAY_MS);
    }

    #[test]
    fn the_users_own_purge_delay_wins() {
        let analyze = Cli::parse_from(["tfoscope", "analyze", "x.pcap"]).command;
        let judge = Cli::parse_from(["tfoscope", "judge", "out"]).command;
        let in_buckets = Cli::parse_from(["tfoscope", "judge", "--buckets", "4", "out"]).command;
        assert_eq!(purge_delay_to_set(None, &analyze), Some(PURGE_DELAY_MS));
        assert_eq!(purge_delay_to_set(None, &judge), Some(-1), "never: mimalloc's -1");
        assert_eq!(purge_delay_to_set(None, &in_buckets), Some(PURGE_DELAY_MS));
        assert_eq!(purge_delay_to_set(Some("1".into()), &analyze), None);
        assert_eq!(purge_delay_to_set(Some("1".into()), &judge), None);
    }
}
