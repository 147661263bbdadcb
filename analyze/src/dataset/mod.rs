//! The tables `analyze` wrote, found and read back: what `judge` takes instead of captures.
//!
//! A dataset is a folder: a Hive-partitioned one (`connections/`, `files/`, `hops/`, each
//! `vantage=NAME/part-RUN.parquet`, from `analyze --partition-by vantage`) or a plain `analyze`
//! output (`connections.parquet`, `files.parquet`, `hops.parquet`). Every part's Parquet
//! metadata names its table and schema version; a part of another version is refused, never
//! read as if it were this one's. [`rows`] turns the rows into the analyzer's own records.

pub mod ordered;
pub mod rows;

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::table::schema_version;

/// The tables a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Connections,
    Files,
    Hops,
}

impl TableKind {
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Connections => "connections",
            TableKind::Files => "files",
            TableKind::Hops => "hops",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error(
        "{path}: no {table} table in it (neither {table}/ parts nor {table}.parquet): not an analyze output"
    )]
    Missing { path: PathBuf, table: &'static str },
    #[error("{path}: judge reads Parquet tables only: run analyze with --format parquet")]
    NotParquet { path: PathBuf },
    #[error("{path}: {error}")]
    Parquet { path: PathBuf, error: String },
    #[error("{path}: not written by tfoscope analyze (its Parquet metadata has no tfoscope.schema_version)")]
    Unversioned { path: PathBuf },
    #[error("{path}: a {found} table where the {expected} table belongs")]
    WrongTable { path: PathBuf, found: String, expected: &'static str },
    #[error(
        "{path}: {table} table of schema version {found}; this tfoscope reads version {expected} \
         ({hint}): run this tfoscope's analyze on the captures again"
    )]
    Version { path: PathBuf, table: &'static str, found: String, expected: u64, hint: &'static str },
    #[error("{path}: column {column}: {problem}")]
    Column { path: PathBuf, column: String, problem: String },
}

/// One Parquet file of a table.
#[derive(Debug, Clone)]
pub struct Part {
    pub path: PathBuf,
    pub table: TableKind,
    /// The vantage its folder names (`vantage=NAME`), for a partitioned dataset's parts: a scan
    /// of some vantages skips the others' parts unread.
    pub vantage: Option<String>,
    /// Rows per row group.
    pub row_groups: Vec<usize>,
    /// Read once: every row group's read would parse it again.
    metadata: std::sync::Arc<polars_parquet::parquet::metadata::FileMetadata>,
}

/// The parts of each table of one dataset folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub connections: Vec<Part>,
    pub files: Vec<Part>,
    pub hops: Vec<Part>,
}

impl Dataset {
    /// Finds the tables under `root` and checks every part's table and schema version.
    pub fn open(root: &Path) -> Result<Dataset, DatasetError> {
        let meta =
            std::fs::metadata(root).map_err(|error| DatasetError::Io { path: root.to_owned(), error })?;
        if !meta.is_dir() {
            return Err(DatasetError::Missing { path: root.to_owned(), table: "files" });
        }
        let table = |kind: TableKind, required: bool| -> Result<Vec<Part>, DatasetError> {
            let paths = table_files(root, kind.name())?;
            if paths.is_empty() && required {
                return Err(DatasetError::Missing { path: root.to_owned(), table: kind.name() });
            }
            paths.into_iter().map(|(path, vantage)| Part::open(path, kind, vantage)).collect()
        };
        Ok(Dataset {
            root: root.to_owned(),
            files: table(TableKind::Files, true)?,
            // Runs of hop-limited probes alone (tracebox-style) make no connections.
            connections: table(TableKind::Connections, false)?,
            // A run without hop-limited probes writes no hops parts.
            hops: table(TableKind::Hops, false)?,
        })
    }
}

/// The files of one table under `root`, each with the vantage its partition folder names:
/// `TABLE/**/*.parquet` (names beginning with `.` or `_` are parts being written, or a
/// writer's marks, as every Hive reader skips them), else `TABLE.parquet`.
fn table_files(root: &Path, table: &str) -> Result<Vec<(PathBuf, Option<String>)>, DatasetError> {
    let dir = root.join(table);
    if dir.is_dir() {
        let mut found = Vec::new();
        walk(&dir, None, &mut found)?;
        found.sort();
        return Ok(found);
    }
    let single = root.join(format!("{table}.parquet"));
    if single.is_file() {
        return Ok(vec![(single, None)]);
    }
    for other in ["csv", "jsonl", "json"] {
        let path = root.join(format!("{table}.{other}"));
        if path.is_file() {
            return Err(DatasetError::NotParquet { path });
        }
    }
    Ok(Vec::new())
}

fn walk(
    dir: &Path,
    vantage: Option<&str>,
    found: &mut Vec<(PathBuf, Option<String>)>,
) -> Result<(), DatasetError> {
    let io = |error| DatasetError::Io { path: dir.to_owned(), error };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if path.is_dir() {
            let named = name.strip_prefix("vantage=").map(unescape_hive);
            walk(&path, named.as_deref().or(vantage), found)?;
        } else if name.ends_with(".parquet") {
            found.push((path, vantage.map(str::to_string)));
        } else if name.ends_with(".csv") || name.ends_with(".jsonl") || name.ends_with(".json") {
            return Err(DatasetError::NotParquet { path });
        }
    }
    Ok(())
}

/// A partition folder's value as written by [`crate::table::partition::escape_hive`].
pub fn unescape_hive(escaped: &str) -> String {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The oldest version of each table `judge` still reads: later versions only added columns it
/// does not need, or whose absence its readers take as the older meaning.
fn oldest_readable_version(table: TableKind) -> u64 {
    match table {
        // Version 4 added kernel_disagreements, which judging does not use.
        TableKind::Files => 3,
        // Version 4 added the feature lists: a version 3 table's fetches asked for TFO alone.
        TableKind::Connections => 3,
        // Version 2 added probe_features: a version 1 table's probes were TFO's alone.
        TableKind::Hops => 1,
    }
}

/// What each schema version change means for `judge`, said when it meets an older part.
fn version_hint(table: TableKind) -> &'static str {
    match table {
        TableKind::Connections => {
            "version 1 lacks the collector's record, second SYN-ACK and server-view columns the verdicts need; \
             version 2 the ICMP type, code and MTU that tell a SYN too big for the path (version 3 is read: \
             its fetches asked for TFO alone)"
        }
        TableKind::Files => {
            "version 1 lacks the collector's records and the vantages' roles; version 2 where a cut-off \
             file ends (version 3 is read)"
        }
        TableKind::Hops => "the hops table's columns differ (version 1 is read: its probes were TFO's alone)",
    }
}

impl Part {
    fn open(path: PathBuf, table: TableKind, vantage: Option<String>) -> Result<Part, DatasetError> {
        let mut file = File::open(&path).map_err(|error| DatasetError::Io { path: path.clone(), error })?;
        let meta = polars_parquet::read::read_metadata(&mut file)
            .map_err(|e| DatasetError::Parquet { path: path.clone(), error: e.to_string() })?;
        let kv = |key: &str| -> Option<String> {
            meta.key_value_metadata.as_ref()?.iter().find(|kv| kv.key == key)?.value.clone()
        };
        let Some(version) = kv("tfoscope.schema_version") else {
            return Err(DatasetError::Unversioned { path });
        };
        let found = kv("tfoscope.table").unwrap_or_default();
        if found != table.name() {
            return Err(DatasetError::WrongTable { path, found, expected: table.name() });
        }
        let expected = schema_version(table.name());
        let readable = oldest_readable_version(table)..=expected;
        if !version.parse::<u64>().is_ok_and(|v| readable.contains(&v)) {
            return Err(DatasetError::Version {
                path,
                table: table.name(),
                found: version,
                expected,
                hint: version_hint(table),
            });
        }
        let row_groups = meta.row_groups.iter().map(|g| g.num_rows()).collect();
        Ok(Part { path, table, vantage, row_groups, metadata: std::sync::Arc::new(meta) })
    }

    /// A file of rows `judge` wrote for itself (no version to check: this run wrote it).
    pub(crate) fn scratch(path: PathBuf) -> Result<Part, DatasetError> {
        let mut file = File::open(&path).map_err(|error| DatasetError::Io { path: path.clone(), error })?;
        let meta = polars_parquet::read::read_metadata(&mut file)
            .map_err(|e| DatasetError::Parquet { path: path.clone(), error: e.to_string() })?;
        let row_groups = meta.row_groups.iter().map(|g| g.num_rows()).collect();
        Ok(Part {
            path,
            table: TableKind::Connections,
            vantage: None,
            row_groups,
            metadata: std::sync::Arc::new(meta),
        })
    }

    /// Reads the part a row group at a time, `columns` only: memory follows a row group.
    pub fn for_each_row_group<C: AsRef<str>>(
        &self,
        columns: &[C],
        mut each: impl FnMut(&DataFrame) -> Result<(), DatasetError>,
    ) -> Result<(), DatasetError> {
        let columns = self.stored(columns);
        (0..self.row_groups.len()).try_for_each(|group| each(&self.read_row_group(&columns, group)?))
    }

    /// Of `columns`, the ones this part stores. Columns added in a later version than the
    /// part's (the feature lists) are left out: the reader of a column says what its absence
    /// means.
    pub fn stored<C: AsRef<str>>(&self, columns: &[C]) -> Vec<String> {
        let stored: std::collections::HashSet<&str> =
            self.metadata.schema().fields().iter().map(|f| f.name()).collect();
        columns.iter().map(AsRef::as_ref).filter(|c| stored.contains(c)).map(str::to_string).collect()
    }

    /// One row group (by its place in the file), `columns` only (as [`Part::stored`] gives them).
    pub fn read_row_group(&self, columns: &[String], group: usize) -> Result<DataFrame, DatasetError> {
        let offset = self.row_groups[..group].iter().sum();
        let file =
            File::open(&self.path).map_err(|error| DatasetError::Io { path: self.path.clone(), error })?;
        let mut reader = ParquetReader::new(file);
        reader.set_metadata(self.metadata.clone());
        reader
            .with_columns(Some(columns.to_vec()))
            .with_slice(Some((offset, self.row_groups[group])))
            .read_parallel(ParallelStrategy::None)
            .finish()
            .map_err(|e| DatasetError::Parquet { path: self.path.clone(), error: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::partition::escape_hive;

    #[test]
    fn hive_names_read_back() {
        for name in ["2026-11/eth0", "a=b:c%d", "plain", "tab\there", "café", "100%"] {
            assert_eq!(unescape_hive(&escape_hive(name)), name);
        }
        // A stray % that escapes nothing stays.
        assert_eq!(unescape_hive("50%zz"), "50%zz");
    }
}
