//! Every connection's TFO facts equal tshark's independent decoding of the same file.

use crate::common;

use std::path::Path;

use common::*;

/// Negative cases with assertions of their own (tests/public_captures.rs).
fn excluded(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.contains("_b.pcap") || name.contains("_official.pcap")
}

#[test]
fn testdata_captures_agree_with_tshark() {
    if !have_tool("tshark") {
        return;
    }
    let files = captures_in(&testdata());
    assert!(files.len() >= 15, "testdata/ holds the lab captures");
    for path in files {
        check_against_tshark(&path);
    }
}

#[test]
fn public_captures_agree_with_tshark() {
    let Some(shared) = shared_captures() else { return };
    if !have_tool("tshark") {
        return;
    }
    let files: Vec<_> = captures_in(&shared).into_iter().filter(|p| !excluded(p)).collect();
    assert_eq!(files.len(), 5, "the five equality cases of ../shared/captures");
    let connections: usize = files.iter().map(|p| check_against_tshark(p)).sum();
    assert_eq!(connections, 4 + 1 + 1 + 1 + 3);
}
