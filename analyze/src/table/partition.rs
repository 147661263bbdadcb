//! Hive-partitioned output (`analyze --partition-by vantage`): `DIR/TABLE/vantage=NAME/part-RUN.EXT`,
//! so many runs write into one dataset that polars, DuckDB, Spark and Dask read as one table.
//! A part is written under a hidden name and renamed when complete: a run killed midway leaves
//! nothing where readers look (they skip names that begin with `.` or `_`).

use std::path::{Path, PathBuf};

use super::OutputFormat;

/// The partition column's value as Hive writes it in a path (`FileUtils.escapePathName`):
/// control characters and `"#%'*/:=?\{[]^` as `%XX`.
pub fn escape_hive(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let special =
            matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^')
                || (c as u32) < 0x20
                || c == '\u{7f}';
        if special {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A name no other run gives its parts: the start time in nanoseconds and the process id.
pub fn run_id() -> String {
    let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{ns}-{}", std::process::id())
}

/// One part of a partitioned table: where it is written, and where it goes when complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPath {
    pub writing: PathBuf,
    pub complete: PathBuf,
}

impl PartPath {
    pub fn new(root: &Path, table: &str, vantage: &str, run: &str, format: OutputFormat) -> PartPath {
        let dir = root.join(table).join(format!("vantage={}", escape_hive(vantage)));
        let name = format!("part-{run}.{}", format.extension());
        PartPath { writing: dir.join(format!(".{name}.writing")), complete: dir.join(name) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_as_hive_does() {
        assert_eq!(escape_hive("2026-11/eth0"), "2026-11%2Feth0");
        assert_eq!(escape_hive("a=b:c%d"), "a%3Db%3Ac%25d");
        assert_eq!(escape_hive("plain_name-1.x"), "plain_name-1.x");
        assert_eq!(escape_hive("tab\there"), "tab%09here");
        assert_eq!(escape_hive("café"), "café", "non-ASCII letters stay");
    }

    #[test]
    fn parts_are_written_hidden_beside_their_final_name() {
        let p = PartPath::new(Path::new("/d"), "connections", "2026-11/eth0", "7-1", OutputFormat::Parquet);
        assert_eq!(p.complete, Path::new("/d/connections/vantage=2026-11%2Feth0/part-7-1.parquet"));
        assert_eq!(p.writing, Path::new("/d/connections/vantage=2026-11%2Feth0/.part-7-1.parquet.writing"));
    }
}
