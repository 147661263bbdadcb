//! Records to Arrow arrays and polars DataFrames, and those to Parquet, CSV or JSON.
//!
//! The columns and types follow schemas/*.json (the output contract); tests hold the frames
//! built here against those files. One job a module: [`connections`] encodes the connections
//! table's columns, [`output`] writes it beside the reading (a writer thread, row groups
//! gathered), [`file`] is a table file and its Parquet layout, [`targets`] the targets and
//! files tables, [`hops`] the hop-limited probes.

mod connections;
mod file;
mod hops;
mod ooni;
mod output;
mod targets;

use std::path::{Path, PathBuf};

use polars::prelude::*;

pub use connections::{connection_columns, connections_frame, inferred_attempt, CONNECTIONS_SCHEMA};
pub use file::{EncodedRows, ParquetLayout, TableWriter};
pub use hops::hops_frame;
pub use ooni::{write_ooni, OoniProbe, OONI_TEST_NAME, OONI_TEST_VERSION};
pub use output::ConnectionsOutput;
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
            OutputFormat::Json => "json",
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
