//! `tfoscope-serve`: the echo origin alone, for a helper server (`cargo install --path serve`):
//! the options of `tfoscope serve`, without the analyzer and its tables.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "tfoscope-serve",
    version,
    about = "tfoscope's echo origin: answers every request with the SYN as it arrived"
)]
struct Cli {
    #[command(flatten)]
    args: tfoscope_serve::cli::ServeArgs,
}

fn main() -> std::process::ExitCode {
    match tfoscope_serve::cli::run(Cli::parse().args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tfoscope-serve: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
