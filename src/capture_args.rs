//! The capture arguments of `analyze`: files as given, and folders standing for the captures in
//! them (archives are kept in folders, often by date, and reprocessed whole).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tfoscope_analyze::read::{read_capture, ReadError};

/// One capture file to read, and the vantage it is named after when each file is its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFile {
    pub path: PathBuf,
    pub vantage: String,
}

/// The capture files the arguments stand for, and what their folders held besides.
#[derive(Debug, Default)]
pub struct Expanded {
    pub files: Vec<CaptureFile>,
    /// Per folder given: files in it that are not captures (skipped, and said so by name).
    pub skipped: Vec<(PathBuf, Vec<PathBuf>)>,
}

/// A file stays as given. A folder becomes the capture files under it, at any depth, in path
/// order: those whose header the reader takes (plain, gzip or zstd, whatever their name) and
/// those named as a capture (`.pcap`, `.pcapng`, `.cap`, compressed or not), so a damaged
/// capture is reported, not skipped. Hidden entries are passed over, and linked folders are not followed (no loops). A
/// file's vantage is its path under the folder without the capture extensions
/// (`2026-11/eth0.pcap.gz` → `2026-11/eth0`).
pub fn expand(args: &[PathBuf]) -> anyhow::Result<Expanded> {
    let mut out = Expanded::default();
    for arg in args {
        // `-` is standard input, as tcpdump's `-r -` (a capture piped in, or decompressed on
        // the fly): the vantage `stdin`.
        if arg.as_os_str() == "-" {
            out.files.push(CaptureFile { path: PathBuf::from("/dev/stdin"), vantage: "stdin".into() });
            continue;
        }
        if !arg.is_dir() {
            out.files.push(CaptureFile { path: arg.clone(), vantage: vantage_name(arg) });
            continue;
        }
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        walk(arg, &mut found, &mut skipped)?;
        if found.is_empty() {
            anyhow::bail!("{}: no captures in this folder ({} other files)", arg.display(), skipped.len());
        }
        found.sort();
        for path in found {
            let under = path.strip_prefix(arg).unwrap_or(&path);
            let vantage = match under.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(parent) => format!("{}/{}", parent.display(), vantage_name(under)),
                None => vantage_name(under),
            };
            out.files.push(CaptureFile { path, vantage });
        }
        if !skipped.is_empty() {
            skipped.sort();
            out.skipped.push((arg.clone(), skipped));
        }
    }
    name_apart(&mut out.files);
    Ok(out)
}

/// Files that would be one vantage by name (`trunc.pcap` and `trunc.pcapng` side by side, a
/// common pair) keep their extensions instead: two vantages, told apart.
fn name_apart(files: &mut [CaptureFile]) {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for f in files.iter() {
        *counts.entry(f.vantage.clone()).or_default() += 1;
    }
    for f in files.iter_mut().filter(|f| counts[&f.vantage] > 1) {
        if let Some(name) = f.path.file_name().map(|n| n.to_string_lossy().into_owned()) {
            let stem = vantage_name(&f.path);
            f.vantage = match f.vantage.strip_suffix(&stem) {
                Some(dir) => format!("{dir}{name}"),
                None => name,
            };
        }
    }
}

/// What a person reads of the files a folder held that are not captures: their names, the
/// first few.
pub fn describe_skipped(files: &[PathBuf], under: &Path) -> String {
    const SHOWN: usize = 5;
    let names: Vec<String> =
        files.iter().take(SHOWN).map(|f| f.strip_prefix(under).unwrap_or(f).display().to_string()).collect();
    let more = files.len().saturating_sub(SHOWN);
    let (count, noun) = match files.len() {
        1 => ("1".to_string(), "file that is not a capture"),
        n => (n.to_string(), "files that are not captures"),
    };
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{count} {noun} skipped: {}{tail}", names.join(", "))
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, skipped: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().with_context(|| format!("{}: cannot stat", path.display()))?;
        if kind.is_dir() {
            walk(&path, found, skipped)?;
        } else if path.is_file() {
            if named_as_capture(&path) || reads_as_capture(&path) {
                found.push(path);
            } else {
                skipped.push(path);
            }
        }
    }
    Ok(())
}

/// Whether the reader takes the file's header for a capture's: the reader's own test, so a
/// folder holds exactly what `analyze` can read.
fn reads_as_capture(path: &Path) -> bool {
    match read_capture(path, |_| ControlFlow::Break(())) {
        Ok(_) => true,
        // A file that cannot be opened is kept: reading it reports why, in the files table.
        Err(ReadError::Open { .. }) => true,
        Err(_) => false,
    }
}

const CAPTURE_EXTENSIONS: [&str; 3] = [".pcapng", ".pcap", ".cap"];
const COMPRESSION_EXTENSIONS: [&str; 2] = [".gz", ".zst"];

fn named_as_capture(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = COMPRESSION_EXTENSIONS.iter().find_map(|e| name.strip_suffix(e)).unwrap_or(&name);
    CAPTURE_EXTENSIONS.iter().any(|e| name.ends_with(e))
}

/// The file's name without its extensions: `a.pcap` and `a.pcap.gz` are both vantage `a`.
pub fn vantage_name(path: &Path) -> String {
    let Some(name) = path.file_name().map(|s| s.to_string_lossy().into_owned()) else {
        return path.display().to_string();
    };
    let mut stem = name.as_str();
    for extension in COMPRESSION_EXTENSIONS.iter().chain(&CAPTURE_EXTENSIONS) {
        stem = stem.strip_suffix(extension).filter(|s| !s.is_empty()).unwrap_or(stem);
    }
    if stem == name {
        // Another extension: the last one goes, as before.
        return path.file_stem().map_or(name.clone(), |s| s.to_string_lossy().into_owned());
    }
    stem.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vantage_names_drop_capture_and_compression_extensions() {
        for (path, name) in [
            ("dir/a.pcap", "a"),
            ("a.pcapng.zst", "a"),
            ("a.pcap.gz", "a"),
            ("a.b.cap", "a.b"),
            ("rotated.pcap3", "rotated"),
            ("plain", "plain"),
            (".pcap", ".pcap"),
        ] {
            assert_eq!(vantage_name(Path::new(path)), name, "{path}");
        }
    }

    #[test]
    fn files_of_one_name_are_named_apart_by_their_extensions() {
        let file = |path: &str, vantage: &str| CaptureFile { path: path.into(), vantage: vantage.into() };
        let mut files = vec![
            file("bad/trunc.pcap", "trunc"),
            file("bad/trunc.pcapng", "trunc"),
            file("bad/2026/eth0.pcap", "2026/eth0"),
            file("bad/2026/eth0.pcap.gz", "2026/eth0"),
            file("bad/other.pcap", "other"),
        ];
        name_apart(&mut files);
        let names: Vec<&str> = files.iter().map(|f| f.vantage.as_str()).collect();
        assert_eq!(names, ["trunc.pcap", "trunc.pcapng", "2026/eth0.pcap", "2026/eth0.pcap.gz", "other"]);
    }

    #[test]
    fn capture_names_with_and_without_compression() {
        for (name, capture) in [
            ("a.pcap", true),
            ("a.pcapng.gz", true),
            ("b.cap.zst", true),
            ("a.pcap.out.txt", false),
            ("README.md", false),
            ("a.gz", false),
        ] {
            assert_eq!(named_as_capture(Path::new(name)), capture, "{name}");
        }
    }
}
