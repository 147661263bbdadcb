//! `tfoscope judge`: verdicts from the tables equal analyze's (the property, on the testdata
//! and public captures here; the lab's, packet-built and server-capture runs check it in their
//! own tests), and datasets it cannot read right are refused with a reason.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::judge::assert_judge_equals_analyze;
use common::{captures_in, shared_captures, tempdir, testdata, tfoscope};

#[test]
fn testdata_without_controls() {
    let n = assert_judge_equals_analyze("testdata", &[], &captures_in(&testdata()));
    assert!(n >= 18, "{n}");
}

/// Two controls (copies under their own names: a vantage is its name in the tables) and an
/// expectations file that wins over them for one target.
#[test]
fn testdata_with_controls_and_expectations() {
    let dir = tempdir("control-captures");
    let clean = dir.join("ctl_clean.pcap");
    let no_tfo = dir.join("ctl_origin_no_tfo.pcap");
    fs::copy(testdata().join("clean_http.pcap"), &clean).unwrap();
    fs::copy(testdata().join("origin_no_tfo.pcap"), &no_tfo).unwrap();
    let args = ["--control", clean.to_str().unwrap(), "--control", no_tfo.to_str().unwrap()];
    let n = assert_judge_equals_analyze("controls", &args, &captures_in(&testdata()));
    assert!(n >= 20, "{n}");
    let expect = dir.join("expect.csv");
    fs::write(&expect, "server_ip,server_port,expected_tfo\n198.51.100.1,8080,true\n").unwrap();
    let mut args = args.to_vec();
    args.extend(["--expect", expect.to_str().unwrap()]);
    assert_judge_equals_analyze("expect", &args, &captures_in(&testdata()));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn public_captures_of_other_tools() {
    let Some(dir) = shared_captures() else { return };
    assert_judge_equals_analyze("public", &[], &captures_in(&dir));
}

fn judge(args: &[&str]) -> (bool, String) {
    let out = tfoscope().arg("judge").args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `analyze --partition-by vantage` of the testdata into DIR.
fn dataset(dir: &Path) -> PathBuf {
    let out = dir.join("dataset");
    let status = tfoscope()
        .args(["analyze", "--partition-by", "vantage", "-o", out.to_str().unwrap()])
        .arg(testdata())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// Replaces the schema version in a part's Parquet footer (one digit for another: the footer's
/// lengths stay as they are).
fn set_schema_version(part: &Path, version: u64) {
    let mut bytes = fs::read(part).unwrap();
    let key = b"tfoscope.schema_version";
    let at = bytes.windows(key.len()).rposition(|w| w == key).expect("the version key") + key.len();
    // Thrift compact: the value's field header, its length (1), then the digit.
    assert_eq!(bytes[at + 1], 1, "a one-digit version");
    bytes[at + 2] = b'0' + u8::try_from(version).unwrap();
    fs::write(part, bytes).unwrap();
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(parts(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn datasets_it_cannot_read_right_are_refused_with_the_reason() {
    let dir = tempdir("judge-refused");
    let data = dataset(&dir);
    let out = dir.join("out");
    let out_s = out.to_str().unwrap();
    let (ok, _) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(ok);

    // The version before this one added only the feature lists, which judge reads as absent.
    let current = common::tables::schema_of("connections")["x-schema-version"].as_u64().unwrap();
    let part = parts(&data.join("connections"))[3].clone();
    set_schema_version(&part, current - 1);
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(ok, "version {} is read: {err}", current - 1);
    // An older schema version in one part of many: refused, naming the part and the version.
    set_schema_version(&part, current - 2);
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(part.to_str().unwrap()) && err.contains(&format!("schema version {}", current - 2)),
        "{err}"
    );
    assert!(err.contains(&format!("reads version {current}")) && err.contains("analyze"), "{err}");
    // A newer one too: never read as if it were this version.
    set_schema_version(&part, current + 1);
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(!ok && err.contains(&format!("schema version {}", current + 1)), "{err}");
    set_schema_version(&part, current);
    // A files part of version 3 (before kernel_disagreements, which judging does not use) is read;
    // one older than that is not.
    let files_current = common::tables::schema_of("files")["x-schema-version"].as_u64().unwrap();
    assert_eq!(files_current, 4, "update the oldest readable files version with the schema");
    let files_part = parts(&data.join("files"))[0].clone();
    set_schema_version(&files_part, 3);
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(ok, "{err}");
    set_schema_version(&files_part, 2);
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(!ok && err.contains("files table of schema version 2"), "{err}");
    set_schema_version(&files_part, files_current);

    // A table where another belongs, and a Parquet file without tfoscope's metadata.
    let files_part = parts(&data.join("files"))[0].clone();
    let misplaced = part.with_file_name("part-misplaced.parquet");
    fs::copy(&files_part, &misplaced).unwrap();
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(!ok && err.contains("a files table where the connections table belongs"), "{err}");
    fs::remove_file(&misplaced).unwrap();
    let mut foreign = common::tables::read_parquet(&part);
    polars::prelude::ParquetWriter::new(fs::File::create(&misplaced).unwrap()).finish(&mut foreign).unwrap();
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(!ok && err.contains("not written by tfoscope analyze"), "{err}");
    fs::remove_file(&misplaced).unwrap();
    // A part being written (hidden) is not read.
    fs::write(part.with_file_name(".part-x.parquet.writing"), b"half a file").unwrap();
    let (ok, err) = judge(&["-o", out_s, data.to_str().unwrap()]);
    assert!(ok, "{err}");

    // A vantage whose files part is missing: its connections are left out, and said.
    fs::remove_dir_all(data.join("files/vantage=clean_http")).unwrap();
    let run = tfoscope().args(["judge", "-o", out_s]).arg(&data).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    assert!(stdout.contains("3 connections of vantages no files table names"), "{stdout}");

    // CSV tables, a folder with no tables, an unknown control: each said.
    let csv = dir.join("csv");
    let status = tfoscope()
        .args(["analyze", "--format", "csv", "-o", csv.to_str().unwrap()])
        .arg(testdata().join("clean_http.pcap"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (ok, err) = judge(&["-o", out_s, csv.to_str().unwrap()]);
    assert!(!ok && err.contains("Parquet tables only"), "{err}");
    let (ok, err) = judge(&["-o", out_s, dir.join("nothing-here").to_str().unwrap()]);
    assert!(!ok && err.contains("nothing-here"), "{err}");
    let (ok, err) = judge(&["-o", out_s, "--control", "no-such-vantage", data.to_str().unwrap()]);
    assert!(!ok && err.contains("no-such-vantage") && err.contains("clean_http"), "{err}");
    // Two captures of one vantage name (a control measured too) would be one vantage in the
    // tables: analyze refuses them, naming both.
    let shared = tfoscope()
        .args(["analyze", "-o", dir.join("shared-name").to_str().unwrap(), "--control"])
        .arg(testdata().join("clean_http.pcap"))
        .arg(testdata())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&shared.stderr);
    assert_eq!(shared.status.code(), Some(2), "{err}");
    assert!(err.contains("two captures would be the vantage \"clean_http\""), "{err}");
    // A failed run leaves no targets table behind (the earlier good one is kept).
    assert!(out.join("targets.parquet").is_file());
    assert!(!out.join(".targets.parquet.writing").exists());
    let _ = fs::remove_dir_all(&dir);
}
