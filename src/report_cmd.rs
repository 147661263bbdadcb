//! `tfoscope report`: one self-contained HTML page of a run (built in the analyzer's library;
//! here only the arguments and where the page goes).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The page to write.
    #[arg(short = 'o', long = "out", default_value = "tfoscope-report.html")]
    out: PathBuf,
    /// Folders: analyze outputs, judge outputs, or datasets of `analyze --partition-by vantage`
    /// (judged first).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let input = tfoscope_analyze::report::load(&args.dirs)?;
    let page = tfoscope_analyze::report::render(&input);
    // Written beside its name and moved into place: a failed run leaves the last page whole.
    let hidden = args.out.with_file_name(format!(
        ".{}.writing",
        args.out.file_name().map_or("report.html".into(), |n| n.to_string_lossy().into_owned())
    ));
    std::fs::write(&hidden, &page).with_context(|| format!("writing {}", hidden.display()))?;
    std::fs::rename(&hidden, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "{} targets, {} rates rows -> {} ({} KiB, self-contained)",
        input.targets.height(),
        input.rates.height(),
        args.out.display(),
        page.len().div_ceil(1024)
    );
    Ok(ExitCode::SUCCESS)
}
