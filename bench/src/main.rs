//! `tfoscope-gen`: writes a synthetic TFO capture with known truth (see the library).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tfoscope_bench::{generate, GenConfig, Truth};

#[derive(Debug, Parser)]
#[command(name = "tfoscope-gen", about = "Write a synthetic TFO capture (pcap, Ethernet) and its truth")]
struct Args {
    /// About this many packets (whole connections).
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Connections open at once, their packets interleaved.
    #[arg(long, default_value_t = 64)]
    concurrent: usize,
    /// Microseconds between packets.
    #[arg(long, default_value_t = 10)]
    gap_us: u64,
    /// Bytes of each response (full-sized segments): 10,000 gives web-like traffic of about 750
    /// bytes per packet; 300 a connection-heavy capture of small packets.
    #[arg(long, default_value_t = GenConfig::WEB_RESPONSE)]
    response_bytes: usize,
    /// The truth, one CSV row per connection.
    #[arg(long)]
    truth: Option<PathBuf>,
    #[arg(short, long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut truth_out = match &args.truth {
        Some(path) => {
            let mut w =
                BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
            writeln!(w, "{}", Truth::CSV_HEADER)?;
            Some(w)
        }
        None => None,
    };
    let config = GenConfig {
        packets: args.packets,
        concurrent: args.concurrent,
        gap_us: args.gap_us,
        response_bytes: args.response_bytes,
    };
    let stats = generate(&config, &mut out, |t| {
        if let Some(w) = truth_out.as_mut() {
            let _ = writeln!(w, "{}", t.csv_row());
        }
    })?;
    out.flush()?;
    if let Some(mut w) = truth_out {
        w.flush()?;
    }
    eprintln!(
        "{} packets, {} connections, {} bytes -> {}",
        stats.packets,
        stats.connections,
        stats.bytes,
        args.out.display()
    );
    Ok(())
}
