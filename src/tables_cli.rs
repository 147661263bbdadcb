//! What the commands that judge and write tables (`analyze`, `judge`) share on the command
//! line: the table format, the OONI probe's arguments, and the verdict lines printed.

use std::path::Path;

use clap::{Args, ValueEnum};
use tfoscope_analyze::table::{self, OutputFormat};
use tfoscope_analyze::verdict::{Direction, Finding, TargetVerdict};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
    Json,
}

/// The probe the OONI measurements name (`--ooni`, analyze's and judge's).
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The probe's network for the OONI measurements (AS and a number).
    #[arg(long, default_value = "AS0", requires = "ooni")]
    probe_asn: String,
    /// The probe's country for the OONI measurements (two capital letters).
    #[arg(long, default_value = "ZZ", requires = "ooni")]
    probe_cc: String,
}

impl ProbeArgs {
    pub fn probe(&self) -> anyhow::Result<table::OoniProbe> {
        table::OoniProbe::new(&self.probe_asn, &self.probe_cc).map_err(anyhow::Error::msg)
    }
}

impl From<Format> for OutputFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Parquet => OutputFormat::Parquet,
            Format::Csv => OutputFormat::Csv,
            Format::Json => OutputFormat::Json,
        }
    }
}

/// Why a target with a TFO exchange has no yes or no: what was not tested, what spoiled it.
fn could_not_tell(v: &TargetVerdict) -> String {
    let mut why = Vec::new();
    if !v.untested.is_empty() {
        let untested: Vec<&str> = v.untested.iter().map(|u| u.as_str()).collect();
        why.push(format!("untested: {}", untested.join(",")));
    }
    if !v.measurement_valid {
        why.push("not valid".to_string());
    }
    why.join("; ")
}

/// The target as a person reads it: a URL gets the address it was measured at; a target that
/// is the vantage itself says so.
fn target_label(v: &TargetVerdict) -> String {
    let label = match v.server_ip {
        Some(ip) if v.target.contains("://") => format!("{} {ip}", v.target),
        _ => v.target.clone(),
    };
    match v.direction {
        Direction::Inbound => format!("{label} (inbound)"),
        Direction::Outbound => label,
    }
}

pub fn print_verdicts(verdicts: &[TargetVerdict], written: &Path) {
    let vw = verdicts.iter().map(|v| v.vantage.len()).max().unwrap_or(0).max("vantage".len());
    let tw = verdicts.iter().map(|v| target_label(v).len()).max().unwrap_or(0).max("target".len());
    println!();
    println!(
        "{:<vw$}  {:<tw$}  {:<12} {:<17} {:<13} {:<9}  signatures",
        "vantage", "target", "connectivity", "cookie", "syn_data", "middlebox"
    );
    for v in verdicts {
        // TFO's signatures, then what broke another feature (`mptcp:option_dropped`, ...).
        let signatures: Vec<&str> = v
            .signatures
            .iter()
            .map(|s| s.as_str())
            .chain(v.feature_failures.iter().map(String::as_str).filter(|f| !f.starts_with("tfo:")))
            .collect();
        let mut found = if signatures.is_empty() { "-".to_string() } else { signatures.join(",") };
        let middlebox = match v.middlebox {
            Finding::Middlebox => "YES",
            Finding::NoneFound => "no",
            // A TFO exchange took place, yet not every signature could be looked for.
            Finding::CouldNotTell => {
                found.push_str(&format!(" ({})", could_not_tell(v)));
                "?"
            }
            Finding::NoExchange => "-",
        };
        // Facts of the path that are no signature: said, not counted.
        if !v.path_changes.is_empty() {
            let words: Vec<String> = v.path_changes.iter().map(ToString::to_string).collect();
            found.push_str(&format!(" (path: {})", words.join(",")));
        }
        match (v.middlebox_hop_min, v.middlebox_hop_max) {
            (Some(min), Some(max)) if min == max => found.push_str(&format!(" (box at hop {max})")),
            (Some(min), Some(max)) => found.push_str(&format!(" (box between hops {min} and {max})")),
            (None, Some(max)) => found.push_str(&format!(" (box at hop {max} or nearer)")),
            _ => {}
        }
        println!(
            "{:<vw$}  {:<tw$}  {:<12} {:<17} {:<13} {:<9}  {found}",
            v.vantage,
            target_label(v),
            v.connectivity.as_str(),
            v.cookie.as_str(),
            v.syn_data.as_str(),
            middlebox,
        );
    }
    println!("{} target verdicts -> {}", verdicts.len(), written.display());
    if verdicts.iter().any(|v| v.middlebox == Finding::CouldNotTell) {
        println!(
            "?: could not tell. negotiation (signature 3) is tested against --control, --expect or an echo \
             origin (tfoscope serve); syn_data (signature 2) needs a cookie and a SYN-data fetch; \
             wire: without a capture no SYN-ACK is seen (two of them, TTLs, options); \
             explanation in the targets table"
        );
    }
    // Connections into the vantage (scans of it, its own servers) are no path it measured.
    let outbound: Vec<&TargetVerdict> =
        verdicts.iter().filter(|v| v.direction == Direction::Outbound).collect();
    let inbound = verdicts.len() - outbound.len();
    if inbound > 0 {
        let found = outbound.iter().filter(|v| v.middlebox == Some(true)).count();
        println!(
            "{found} of {} outbound targets show a middlebox; {inbound} inbound targets (connections into the vantage) not counted",
            outbound.len()
        );
    }
}
