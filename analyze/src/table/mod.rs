//! Records to Arrow arrays and polars DataFrames, and those to Parquet, CSV or JSON.
//!
//! The columns and types follow schemas/*.json (the output contract); tests hold the frames
//! built here against those files. One job a module: [`connections`] encodes the connections
//! table's columns, [`output`] writes it beside the reading (a writer thread, row groups
//! gathered), [`file`] is a table file and its Parquet layout, [`targets`] the targets and
//! files tables, [`hops`] the hop-limited probes.

pub mod conn_col;
mod connections;
mod file;
mod hops;
mod ooni;
pub mod other_cols;
mod output;
pub mod partition;
mod rates;
mod staging;
pub mod target_col;
mod targets;

use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use connections::{connection_columns, connections_frame, inferred_attempt, CONNECTIONS_SCHEMA};
pub use file::{EncodedRows, ParquetLayout, TableWriter};
pub use hops::hops_frame;
pub use ooni::{write_ooni, OoniProbe, OONI_TEST_NAME, OONI_TEST_VERSION};
pub use output::ConnectionsOutput;
pub use rates::{wilson, Rates};
pub use staging::{remove_stale_staging, StagedOutput};
pub use targets::{files_frame, targets_frame, FileRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Parquet,
    Csv,
    Json,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
            // One object a line: JSON lines, named as such (as --ooni's are).
            OutputFormat::Json => "jsonl",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    // The cause is in the message, not a `source`: printed as a chain it would come twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: {error}")]
    Polars { path: PathBuf, error: PolarsError },
    #[error("building table {table}: {error}")]
    Build { table: &'static str, error: PolarsError },
}

/// Writes `df` as DIR/NAME.EXT in the chosen format and returns the path.
/// The `x-schema-version` of a table's schema (schemas/TABLE.json), written into every Parquet
/// file of it; 0 for a table without one.
pub fn schema_version(table: &str) -> u64 {
    let schema = match table {
        "connections" => CONNECTIONS_SCHEMA,
        "targets" => include_str!("../../../schemas/targets.json"),
        "files" => include_str!("../../../schemas/files.json"),
        "hops" => include_str!("../../../schemas/hops.json"),
        "rates" => include_str!("../../../schemas/rates.json"),
        _ => return 0,
    };
    serde_json::from_str::<serde_json::Value>(schema)
        .ok()
        .and_then(|s| s["x-schema-version"].as_u64())
        .unwrap_or(0)
}

/// Writes `df` as one part per vantage (its `vantage_column`) of a partitioned table.
pub fn write_partitioned(
    df: &DataFrame,
    vantage_column: &str,
    dir: &Path,
    name: &str,
    format: OutputFormat,
    run: &str,
) -> Result<Vec<PathBuf>, TableError> {
    let build = |error| TableError::Build { table: "partitioned", error };
    let mut written = Vec::new();
    if df.height() == 0 {
        return Ok(written);
    }
    let vantages = df.column(vantage_column).map_err(build)?.str().map_err(build)?.clone();
    let mut names: Vec<&str> = Vec::new();
    for v in vantages.iter().flatten() {
        if !names.contains(&v) {
            names.push(v);
        }
    }
    for vantage in names {
        let mut part = df.filter(&vantages.equal(vantage)).map_err(build)?;
        let path = partition::PartPath::new(dir, name, vantage, run, format);
        let mut out = TableWriter::create_part(&path, name, format)?;
        out.write(&mut part)?;
        written.push(out.finish()?);
    }
    Ok(written)
}

pub fn write_table(
    df: &mut DataFrame,
    dir: &Path,
    name: &str,
    format: OutputFormat,
) -> Result<PathBuf, TableError> {
    let mut out = TableWriter::create(dir, name, format)?;
    out.write(df)?;
    out.finish()
}
