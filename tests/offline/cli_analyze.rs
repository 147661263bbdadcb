//! `tfoscope analyze` end to end: the written tables, the formats, rotation, bad input.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::tables::*;
use common::*;
use polars::prelude::*;

fn analyze(args: &[&str], captures: &[PathBuf]) -> Output {
    let out = tfoscope().arg("analyze").args(args).args(captures).output().unwrap();
    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn schema_doc() -> serde_json::Value {
    schema_of("connections")
}

#[test]
fn parquet_holds_the_schema_of_schemas_connections_json() {
    let out_dir = tempdir("schema");
    let mut captures = captures_in(&testdata());
    captures.extend(shared_captures().map(|dir| captures_in(&dir)).unwrap_or_default());
    let out = analyze(&["-o", out_dir.to_str().unwrap()], &captures);
    assert!(out.status.success());
    for table in ["connections", "targets", "files", "rates"] {
        assert_matches_schema(&read_parquet(&out_dir.join(format!("{table}.parquet"))), &schema_of(table));
    }
    let df = read_parquet(&out_dir.join("connections.parquet"));
    // Every capture is a vantage named after its file.
    let vantages = df.column("vantage").unwrap().str().unwrap().unique().unwrap().len();
    assert_eq!(vantages, captures.len());
    let clean =
        df.column("vantage").unwrap().str().unwrap().iter().filter(|v| *v == Some("clean_http")).count();
    assert_eq!(clean, 3, "clean_http holds the three fetches");
}

#[test]
fn csv_joins_lists_with_semicolons_and_json_writes_one_object_per_row() {
    let out_dir = tempdir("formats");
    let capture = testdata().join("clean_http.pcap");
    assert!(analyze(&["-o", out_dir.to_str().unwrap(), "--format", "csv"], std::slice::from_ref(&capture))
        .status
        .success());
    let csv = fs::read_to_string(out_dir.join("connections.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let order: Vec<String> = schema_doc()["x-column-order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(header, order);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3);
    // Linux's SYN-ACK with a cookie: MSS, SACK-permitted, timestamps, NOP, window scale, TFO, NOPs.
    assert!(rows[0].contains(",2;4;8;1;3;34;1;1,"), "{}", rows[0]);

    assert!(analyze(&["-o", out_dir.to_str().unwrap(), "--format", "json"], &[capture]).status.success());
    let json = fs::read_to_string(out_dir.join("connections.jsonl")).unwrap();
    let objects: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["syn_tfo"], "cookie_request");
    assert_eq!(objects[1]["syn_tfo"], "cookie");
    assert_eq!(objects[1]["syn_data_acked"], "acked");
    assert_eq!(objects[2]["attempt"], "plain");
}

#[test]
fn rotated_files_of_one_vantage_are_one_stream() {
    if !have_tool("editcap") {
        return;
    }
    let dir = tempdir("rotated");
    let whole = testdata().join("syndata_dropped.pcap");
    let status = std::process::Command::new("editcap")
        .args(["-c", "7"])
        .arg(&whole)
        .arg(dir.join("part.pcap"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut parts = captures_in(&dir);
    assert!(parts.len() >= 5, "split into {} parts", parts.len());
    parts.reverse(); // given out of order on purpose
    let out_whole = dir.join("whole");
    let out_parts = dir.join("parts");
    assert!(analyze(&["-o", out_whole.to_str().unwrap()], &[whole]).status.success());
    assert!(analyze(&["-o", out_parts.to_str().unwrap(), "--vantage", "lab"], &parts).status.success());
    let a = read_parquet(&out_whole.join("connections.parquet"));
    let b = read_parquet(&out_parts.join("connections.parquet"));
    assert_eq!(a.height(), 3);
    assert_eq!(b.height(), 3, "a connection crossing a file boundary is not split");
    for column in ["syn_count", "syn_tfo", "syn_data_acked", "syn_data_resent", "outcome", "synack_answers"] {
        assert!(a.column(column).unwrap().equals_missing(b.column(column).unwrap()), "{column} differs");
    }
    assert_eq!(b.column("vantage").unwrap().str().unwrap().get(0), Some("lab"));
}

#[test]
fn several_pcapng_sections_in_one_file() {
    let dir = tempdir("sections");
    let one = fs::read(testdata().join("clean_https.pcapng")).unwrap();
    let twice = dir.join("twice.pcapng");
    fs::write(&twice, [one.as_slice(), one.as_slice()].concat()).unwrap();
    let out = analyze(&["-o", dir.to_str().unwrap()], &[twice]);
    assert!(out.status.success());
    let df = read_parquet(&dir.join("connections.parquet"));
    // The second section repeats the same 4-tuples and ISNs later in the file; they continue
    // the first section's connections rather than inventing new ones.
    assert_eq!(df.height(), 3);
}

#[test]
fn a_capture_cut_mid_record_still_analyses_and_says_partial() {
    let dir = tempdir("cut");
    let bytes = fs::read(testdata().join("clean_http.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = analyze(&["-o", dir.to_str().unwrap()], &[cut]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PARTIAL"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("partial: file ends inside the record at byte"), "{stderr}");
    let df = read_parquet(&dir.join("connections.parquet"));
    assert!(df.height() >= 2, "the connections before the cut are kept");
    // A target measured up to the cut is no clean "no": its fetches may have been cut short.
    let targets = read_parquet(&dir.join("targets.parquet"));
    assert_eq!(targets.column("measurement_valid").unwrap().bool().unwrap().get(0), Some(false));
    assert_eq!(targets.column("middlebox").unwrap().bool().unwrap().get(0), None);
    let explanation = targets.column("explanation").unwrap().str().unwrap().get(0).unwrap().to_string();
    assert!(explanation.contains("the capture file was cut off"), "{explanation}");
    assert!(stdout.contains("not valid"), "{stdout}");
    // Notebooks see it too.
    let files = read_parquet(&dir.join("files.parquet"));
    assert_eq!(files.column("complete").unwrap().bool().unwrap().get(0), Some(false));
    let offset = files.column("stop_offset").unwrap().u64().unwrap().get(0).unwrap();
    assert!(offset > 24 && offset <= (bytes.len() * 2 / 3) as u64, "{offset}");
    let reason = files.column("stop_reason").unwrap().str().unwrap().get(0).unwrap().to_string();
    assert!(reason.contains(&format!("byte {offset}")), "{reason}");
}

#[test]
fn bad_files_get_clear_errors_and_do_not_stop_the_others() {
    let dir = tempdir("bad");
    let empty = dir.join("empty.pcap");
    fs::write(&empty, b"").unwrap();
    let text = dir.join("notes.pcap");
    fs::write(&text, b"this is a text file, not a capture\n").unwrap();
    let missing = dir.join("missing.pcap");
    let good = testdata().join("clean_http.pcap");
    let out = analyze(&["-o", dir.to_str().unwrap()], &[empty.clone(), text.clone(), missing.clone(), good]);
    assert_eq!(out.status.code(), Some(1), "some inputs failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}: empty file", empty.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}: not a pcap or pcapng capture", text.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}: cannot open", missing.display())), "{stderr}");
    assert_eq!(read_parquet(&dir.join("connections.parquet")).height(), 3);
    let files = read_parquet(&dir.join("files.parquet"));
    assert_eq!(files.height(), 4, "a row for every file given");
    let errors: Vec<Option<&str>> = files.column("error").unwrap().str().unwrap().iter().collect();
    assert_eq!(errors.iter().filter(|e| e.is_some()).count(), 3);
    assert!(errors.iter().flatten().any(|e| e.contains("empty file")), "{errors:?}");

    let only_bad = analyze(&["-o", dir.to_str().unwrap()], &[text]);
    assert_eq!(only_bad.status.code(), Some(2));
}

#[test]
fn unsupported_link_types_are_counted_not_fatal() {
    let dir = tempdir("linktype");
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
    for i in 0..3u32 {
        pcap.extend_from_slice(&i.to_le_bytes());
        pcap.extend_from_slice(&0u32.to_le_bytes());
        pcap.extend_from_slice(&4u32.to_le_bytes());
        pcap.extend_from_slice(&4u32.to_le_bytes());
        pcap.extend_from_slice(b"abcd");
    }
    let file = dir.join("user0.pcap");
    fs::write(&file, pcap).unwrap();
    let out = analyze(&["-o", dir.to_str().unwrap()], &[file]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped 3 frames of unsupported link type 147"), "{stderr}");
    assert_eq!(read_parquet(&dir.join("connections.parquet")).height(), 0);
}

#[test]
fn connections_written_in_batches_equal_one_batch_in_every_format() {
    use tfoscope_analyze::table::{ConnectionsOutput, OutputFormat};
    use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs};
    let results: Vec<_> = ["clean_http.pcap", "clean_https.pcapng", "option_dropped.pcap"]
        .iter()
        .map(|name| {
            analyze(&Inputs::file(*name, testdata().join(name)), &AnalyzeOptions::in_memory())
                .into_single()
                .unwrap()
        })
        .collect();
    let rows: usize = results.iter().map(|r| r.connections.len()).sum();
    assert!(rows >= 9);
    // Through the writer the CLI uses, batches built on its thread and (as with several
    // vantages) by the caller.
    let write = |dir: &Path, format, batch: usize, build_in_caller| {
        let out = ConnectionsOutput::start(dir, format, build_in_caller, batch).unwrap();
        for r in &results {
            for chunk in r.connections.chunks(batch) {
                out.write(&r.name, chunk.to_vec()).unwrap();
            }
        }
        out.finish().unwrap()
    };
    for format in [OutputFormat::Parquet, OutputFormat::Csv, OutputFormat::Json] {
        for build_in_caller in [false, true] {
            let (one, many) = (tempdir("batch-one"), tempdir("batch-many"));
            let whole = write(&one, format, 1_000, build_in_caller);
            let batched = write(&many, format, 2, build_in_caller);
            if format == OutputFormat::Parquet {
                let (a, b) = (read_parquet(&whole), read_parquet(&batched));
                assert_eq!(a.height(), rows);
                // Full batches are written as they come and the short ones gathered into row
                // groups of their own: the rows of several vantages in another order.
                let ordered =
                    |df: DataFrame| df.sort(["vantage", "first_syn_frame"], Default::default()).unwrap();
                let (a, b) = (ordered(a), ordered(b));
                assert!(a.equals_missing(&b), "the same table, in row groups of two");
                // The Parquet file is encoded from Arrow arrays built for it, not from the
                // DataFrame the library returns: both hold the same values and types.
                let vantages: Vec<(&str, &[_])> =
                    results.iter().map(|r| (r.name.as_str(), r.connections.as_slice())).collect();
                let frame = ordered(tfoscope_analyze::table::connections_frame(&vantages).unwrap());
                assert_eq!(a.schema(), frame.schema());
                assert!(a.equals_missing(&frame), "Parquet holds what connections_frame holds");
            } else {
                let lines = |path: &Path| {
                    let text = fs::read_to_string(path).unwrap();
                    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                    lines.sort();
                    lines
                };
                assert_eq!(lines(&whole), lines(&batched), "{format:?}");
            }
        }
    }
}

#[test]
fn the_last_connections_of_many_small_captures_share_row_groups() {
    // A folder of small captures: each vantage ends with a batch of a few connections. They are
    // gathered into row groups of up to --batch-rows, not written one row group each.
    let dir = tempdir("gathered");
    let captures = dir.join("captures");
    fs::create_dir_all(&captures).unwrap();
    let names = ["clean_http.pcap", "clean_https.pcapng", "option_dropped.pcap", "syndata_dropped.pcap"];
    for i in 0..60 {
        let name = names[i % names.len()];
        fs::copy(testdata().join(name), captures.join(format!("{i:02}-{name}"))).unwrap();
    }
    let row_groups = |out: &Path| {
        let mut file = fs::File::open(out.join("connections.parquet")).unwrap();
        let meta = polars_parquet::read::read_metadata(&mut file).unwrap();
        (meta.row_groups.len(), meta.num_rows)
    };
    let run = |out: &Path, batch_rows: &str| {
        let status = tfoscope()
            .args(["analyze", "--batch-rows", batch_rows, "-o"])
            .arg(out)
            .arg(&captures)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        read_parquet(&out.join("connections.parquet"))
    };
    let one = run(&dir.join("out-one"), "16384");
    let (groups, rows) = row_groups(&dir.join("out-one"));
    assert_eq!(rows, one.height());
    assert!(rows >= 60 * 3, "{rows}");
    assert_eq!(groups, 1, "{rows} rows from 60 captures in {groups} row groups");
    // Every capture's connections are there, under its vantage.
    let vantages = one.column("vantage").unwrap().as_materialized_series().n_unique().unwrap();
    assert_eq!(vantages, 60);
    // Smaller row groups: gathered up to the size asked for, the same rows.
    let small = run(&dir.join("out-small"), "20");
    let (groups, _) = row_groups(&dir.join("out-small"));
    assert!(groups > 1 && groups <= rows / 20 + 1, "{groups} row groups of about 20 for {rows} rows");
    let key = ["vantage", "first_syn_frame"];
    let sorted = |df: &polars::prelude::DataFrame| {
        df.sort(key, polars::prelude::SortMultipleOptions::default()).unwrap()
    };
    assert!(sorted(&one).equals_missing(&sorted(&small)));
}

#[test]
fn a_closed_output_pipe_ends_analyze_quietly() {
    use std::process::Stdio;
    let dir = tempdir("closed-pipe");
    let mut child = tfoscope()
        .arg("analyze")
        .arg("-o")
        .arg(&dir)
        .args(captures_in(&testdata()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head -0` would: nobody reads the summary.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(dir.join("connections.parquet").exists() && dir.join("targets.parquet").exists());
}

#[test]
fn lab_reports_survive_a_closed_pipe() {
    // collect and lab cannot die of SIGPIPE as analyze does (they hold namespaces and
    // captures): a reader that went away drops their remaining lines, nothing more. The
    // collector's own case runs in tests/collect_lab.rs, which has the namespaces.
    for args in [&["lab", "--list"][..], &["lab", "--check-kernel"]] {
        let out = tfoscope().args(args).stdout(closed_pipe()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}");
    }
    // Any other write error is still one.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = tfoscope().args(["lab", "--list"]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No space left on device"));
}

#[test]
fn a_table_that_cannot_be_written_is_an_error_naming_it() {
    // A real full disk: a tmpfs of 16 KiB (root), which the connections table outgrows.
    if !have_root() {
        return;
    }
    let dir = tempdir("full-disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tfoscope-full", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dir);
    let out = analyze(&["-o", dir.to_str().unwrap()], &captures_in(&testdata()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("connections.parquet: No space left on device")
            && stderr.matches("No space left").count() == 1
            && !stderr.contains("writer stopped"),
        "{stderr}"
    );
    // Nothing half-written is left where readers look.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "the staging folder removed");
}

#[test]
fn connections_streamed_one_at_a_time_give_the_same_tables() {
    // All lab captures as one vantage, its connections handed on one by one (a row group
    // each), against the default batches: the same rows and the same verdicts.
    let captures = captures_in(&testdata());
    let (one, many) = (tempdir("stream-default"), tempdir("stream-one-by-one"));
    let run = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["-o", dir.to_str().unwrap(), "--vantage", "lab"];
        args.extend_from_slice(extra);
        assert!(analyze(&args, &captures).status.success());
    };
    run(&one, &[]);
    run(&many, &["--batch-rows", "1"]);
    let sorted =
        |df: DataFrame| df.sort(["capture", "first_syn_frame"], SortMultipleOptions::default()).unwrap();
    let (a, b) = (
        sorted(read_parquet(&one.join("connections.parquet"))),
        sorted(read_parquet(&many.join("connections.parquet"))),
    );
    assert!(a.height() > 20, "{}", a.height());
    assert!(a.equals_missing(&b), "{a}\n{b}");
    let (ta, tb) = (read_parquet(&one.join("targets.parquet")), read_parquet(&many.join("targets.parquet")));
    assert!(ta.height() > 1 && ta.equals_missing(&tb), "{ta}\n{tb}");
}

#[test]
fn a_folder_stands_for_the_captures_in_it() {
    use std::io::Write;
    let dir = tempdir("folder-in");
    let month = dir.join("2026-11");
    fs::create_dir_all(&month).unwrap();
    fs::copy(testdata().join("clean_https.pcapng"), dir.join("clean_https.pcapng")).unwrap();
    fs::copy(testdata().join("clean_http.pcap"), month.join("clean_http.pcap")).unwrap();
    // Told by its first bytes, not its name: a compressed capture with no capture extension.
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(month.join("eth0-0400.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&fs::read(testdata().join("option_dropped.pcap")).unwrap()).unwrap();
    gz.finish().unwrap();
    // Named as a capture but damaged: reported in the files table, not skipped.
    fs::write(dir.join("broken.pcap"), b"not a capture at all").unwrap();
    // Neither: skipped and counted. Hidden: passed over.
    fs::write(dir.join("README.md"), "captures of November\n").unwrap();
    fs::write(month.join("notes.txt"), "eth0 only\n").unwrap();
    fs::copy(testdata().join("port_closed.pcap"), dir.join(".partial.pcap")).unwrap();

    let out_dir = tempdir("folder-out");
    let out = analyze(&["-o", out_dir.to_str().unwrap()], std::slice::from_ref(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 files that are not captures skipped: 2026-11/notes.txt, README.md"),
        "{stderr}"
    );
    let files = read_parquet(&out_dir.join("files.parquet"));
    let strings = |df: &DataFrame, name: &str| -> Vec<Option<String>> {
        df.column(name).unwrap().str().unwrap().iter().map(|s| s.map(str::to_string)).collect()
    };
    let vantages: Vec<String> = strings(&files, "vantage").into_iter().flatten().collect();
    let mut names = vantages.clone();
    names.sort();
    assert_eq!(names, ["2026-11/clean_http", "2026-11/eth0-0400", "broken", "clean_https"]);
    for (vantage, error) in vantages.iter().zip(strings(&files, "error")) {
        assert_eq!(error.is_some(), vantage == "broken", "{vantage}: {error:?}");
    }

    // The same connections as the three captures given one by one.
    let one_by_one = tempdir("folder-files-out");
    analyze(
        &["-o", one_by_one.to_str().unwrap()],
        &[month.join("clean_http.pcap"), month.join("eth0-0400.gz"), dir.join("clean_https.pcapng")],
    );
    let (a, b) = (
        read_parquet(&out_dir.join("connections.parquet")),
        read_parquet(&one_by_one.join("connections.parquet")),
    );
    assert!(a.height() >= 3);
    let sorted = |df: &DataFrame| {
        df.drop("vantage").unwrap().sort(["first_syn_time", "client_port"], Default::default()).unwrap()
    };
    assert!(sorted(&a).drop("capture").unwrap().equals_missing(&sorted(&b).drop("capture").unwrap()));

    // With --vantage, the folder is one stream (rotated files, read in time order). A file of
    // it cut short before its first record loses that file, not the stream.
    let pcap = fs::read(testdata().join("port_closed.pcap")).unwrap();
    fs::write(month.join("cut.pcap"), &pcap[..10]).unwrap();
    let one = tempdir("folder-one-out");
    let out = analyze(&["--vantage", "router", "-o", one.to_str().unwrap()], std::slice::from_ref(&month));
    assert_eq!(out.status.code(), Some(1), "a file lost: not a clean run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut.pcap: file header cut short"));
    let files = read_parquet(&one.join("files.parquet"));
    assert_eq!(files.height(), 3);
    assert!(strings(&files, "vantage").iter().all(|v| v.as_deref() == Some("router")));
    let errors: Vec<Option<String>> = strings(&files, "error");
    assert_eq!(errors.iter().filter(|e| e.is_some()).count(), 1, "{errors:?}");
    let in_month =
        b.column("vantage").unwrap().str().unwrap().iter().filter(|v| *v != Some("clean_https")).count();
    assert_eq!(read_parquet(&one.join("connections.parquet")).height(), in_month);

    // A control folder stands for each control file in it: one unreadable is a control lost.
    let out = analyze(
        &["--control", dir.to_str().unwrap(), "-o", tempdir("folder-control-out").to_str().unwrap()],
        &[testdata().join("option_dropped.pcap")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a control capture could not be read"));

    // A folder without captures is an error that says so.
    let empty = tempdir("folder-empty");
    fs::write(empty.join("README.md"), "nothing yet\n").unwrap();
    let out = analyze(&["-o", tempdir("folder-empty-out").to_str().unwrap()], &[empty]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no captures in this folder (1 other files)"));
}

/// The names and contents of the files under `dir`, hidden ones included.
fn folder_state(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut state: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap_or_default()))
        .collect();
    state.sort();
    state
}

#[test]
fn a_failed_run_leaves_the_last_good_output_whole() {
    let out_dir = tempdir("failed-run");
    let ooni = out_dir.with_extension("jsonl");
    let o = out_dir.to_str().unwrap();
    let good = analyze(&["-o", o, "--ooni", ooni.to_str().unwrap()], &[testdata().join("clean_http.pcap")]);
    assert!(good.status.success());
    let before = folder_state(&out_dir);
    let ooni_before = fs::read(&ooni).unwrap();
    assert_eq!(
        before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["connections.parquet", "files.parquet", "hops.parquet", "rates.parquet", "targets.parquet"]
    );
    // A typo: nothing can be read. The run fails and touches nothing.
    let typo = analyze(&["-o", o, "--ooni", ooni.to_str().unwrap()], &[testdata().join("clean_htp.pcap")]);
    assert_eq!(typo.status.code(), Some(2));
    assert_eq!(folder_state(&out_dir), before, "the last good output, whole, nothing hidden left");
    assert_eq!(fs::read(&ooni).unwrap(), ooni_before);
    // judge still reads the earlier run's tables.
    let judged = tfoscope().args(["judge", "-o"]).arg(out_dir.join("judged")).arg(&out_dir).output().unwrap();
    assert!(judged.status.success(), "{}", String::from_utf8_lossy(&judged.stderr));
    assert!(String::from_utf8_lossy(&judged.stdout).contains("1 target verdicts"));
    // Into a folder that did not exist, a failed run leaves no folder.
    let fresh = out_dir.join("fresh");
    let typo = analyze(&["-o", fresh.to_str().unwrap()], &[testdata().join("clean_htp.pcap")]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(!fresh.exists());
    // A good run replaces every table at once.
    let again = analyze(&["-o", o], &[testdata().join("option_dropped.pcap")]);
    assert!(again.status.success());
    let targets = read_parquet(&out_dir.join("targets.parquet"));
    assert_eq!(targets.column("vantage").unwrap().str().unwrap().get(0), Some("option_dropped"));
    let files = read_parquet(&out_dir.join("files.parquet"));
    assert_eq!(files.column("vantage").unwrap().str().unwrap().get(0), Some("option_dropped"));
    let _ = fs::remove_file(&ooni);
}

#[test]
fn a_pcap_and_a_pcapng_of_one_name_are_two_vantages() {
    // A collector killed mid-write, its pcap and pcapng side by side: both analysed, apart.
    let dir = tempdir("same-name");
    let cut = |from: &str, to: &str| {
        let bytes = fs::read(testdata().join(from)).unwrap();
        fs::write(dir.join(to), &bytes[..bytes.len() * 2 / 3]).unwrap();
    };
    cut("clean_http.pcap", "trunc.pcap");
    cut("clean_https.pcapng", "trunc.pcapng");
    let out_dir = tempdir("same-name-out");
    let out = analyze(&["--format", "json", "-o", out_dir.to_str().unwrap()], std::slice::from_ref(&dir));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trunc.pcap ") && stdout.contains("trunc.pcapng "), "{stdout}");
    let files = json_table(&out_dir, "files");
    let mut vantages: Vec<&str> = files.iter().map(|f| f["vantage"].as_str().unwrap()).collect();
    vantages.sort_unstable();
    assert_eq!(vantages, ["trunc.pcap", "trunc.pcapng"]);
    assert!(files.iter().all(|f| f["complete"] == false), "both cut: {files:?}");
}

#[test]
fn unix_conventions_stdin_jsonl_and_quiet() {
    // `-` reads standard input (a capture piped in, as tcpdump -r - does).
    let dir = tempdir("stdin");
    let capture = fs::File::open(testdata().join("option_dropped.pcap")).unwrap();
    let out = tfoscope()
        .args(["analyze", "-q", "--format", "json", "-o", dir.to_str().unwrap(), "-"])
        .stdin(capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Quiet: no tables, one line naming where the verdicts went.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("1 target verdicts -> ") && stdout.contains("targets.jsonl"), "{stdout}");
    // JSON lines, named as such.
    let targets = json_table(&dir, "targets");
    assert_eq!(targets[0]["vantage"], "stdin");
    assert_eq!(targets[0]["signatures"][0], "option_dropped");
    assert!(!dir.join("targets.json").exists());
}

/// The collector and the echo origin build without polars (a helper server's build stays
/// small): their dependency trees name no polars crate.
#[test]
fn collect_and_serve_do_not_build_polars() {
    for package in ["tfoscope-collect", "tfoscope-serve", "tfoscope-wire"] {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "normal", "-p", package])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.contains(package), "{tree}");
        assert!(!tree.contains("polars"), "{package} depends on polars:\n{tree}");
        assert!(!tree.contains("tfoscope-analyze"), "{package} depends on analyze");
    }
}

/// The rates table counts what the targets show, per vantage and overall, as a study
/// publishes them: a share of the valid measurements and its 95 % Wilson interval.
#[test]
fn rates_count_the_targets_outcomes_with_wilson_intervals() {
    let dir = tempdir("rates");
    let expect = dir.join("expect.csv");
    fs::write(&expect, "server_ip,server_port,expected_tfo\n198.51.100.1,80,true\n198.51.100.1,8080,false\n")
        .unwrap();
    let captures: Vec<PathBuf> = [
        "option_dropped.pcap",
        "option_stripped.pcap",
        "clean_http.pcap",
        "host_down.pcap",
        "syndata_reset.pcap",
    ]
    .iter()
    .map(|n| testdata().join(n))
    .collect();
    // One vantage of five captures: five targets... of which four distinct paths to port 80.
    let out = analyze(
        &[
            "--format",
            "json",
            "-o",
            dir.to_str().unwrap(),
            "--expect",
            expect.to_str().unwrap(),
            "--vantage",
            "v",
        ],
        &captures,
    );
    assert!(out.status.success());
    let rates = json_table(&dir, "rates");
    let targets = json_table(&dir, "targets");
    let overall = rates.iter().find(|r| r["vantage"] == "v" && r["ip_version"].is_null()).unwrap();
    let outbound = targets.iter().filter(|t| t["direction"] == "outbound").count() as u64;
    assert_eq!(overall["targets"].as_u64(), Some(outbound));
    let valid = targets
        .iter()
        .filter(|t| {
            t["measurement_valid"] == true && t["connectivity"] != "offline" && t["connectivity"] != "closed"
        })
        .count() as u64;
    assert_eq!(overall["valid"].as_u64(), Some(valid));
    for outcome in ["option_dropped", "syn_data_reset", "not_negotiated_expected", "middlebox"] {
        let count = targets
            .iter()
            .filter(|t| t["measurement_valid"] == true && t["connectivity"] != "offline")
            .filter(|t| match outcome {
                "middlebox" => t["middlebox"] == true,
                s => t["signatures"].as_array().unwrap().iter().any(|x| x == s),
            })
            .count() as u64;
        assert_eq!(overall[format!("{outcome}_count")].as_u64(), Some(count), "{outcome}: {overall}");
        let share = overall[format!("{outcome}_share")].as_f64().unwrap();
        assert!((share - count as f64 / valid as f64).abs() < 1e-12);
        let (lo, hi) = (
            overall[format!("{outcome}_ci_low")].as_f64().unwrap(),
            overall[format!("{outcome}_ci_high")].as_f64().unwrap(),
        );
        assert!(lo <= share && share <= hi && 0.0 <= lo && hi <= 1.0, "{outcome}: {lo} {share} {hi}");
        // The Wilson score interval of (count, valid) (the formula is held to published
        // values in its unit test).
        let (wlo, whi) = tfoscope_analyze::table::wilson(count, valid).unwrap();
        assert!((lo - wlo).abs() < 1e-9 && (hi - whi).abs() < 1e-9, "{outcome}: {lo} {hi} vs {wlo} {whi}");
    }
    // Per version and port too: the port-80 IPv4 row holds every target here.
    let v4_80 = rates.iter().find(|r| r["ip_version"] == 4 && r["server_port"] == 80).unwrap();
    assert_eq!(v4_80["targets"], overall["targets"]);
    // No valid target: no share, no interval (never a made-up 0).
    let none = analyze(
        &["--format", "json", "-o", dir.join("none").to_str().unwrap()],
        &[testdata().join("host_down.pcap")],
    );
    assert!(none.status.success());
    let rates = json_table(&dir.join("none"), "rates");
    assert_eq!(rates[0]["valid"], 0);
    assert!(rates[0]["middlebox_share"].is_null() && rates[0]["middlebox_ci_low"].is_null());
}

/// `tfoscope report`: one page, self-contained (no script, nothing from the network), made
/// from an analyze output, a judge output and a dataset; and what a person sees of it in
/// Chromium: the verdicts, the rates and the ladders as text, and a screenshot.
#[test]
fn report_is_one_self_contained_page_a_browser_shows() {
    let dir = tempdir("report");
    let control = dir.join("ctl.pcap");
    fs::copy(testdata().join("clean_http.pcap"), &control).unwrap();
    let captures: Vec<PathBuf> =
        ["option_dropped.pcap", "syndata_reset.pcap", "clean_https.pcapng", "host_down.pcap"]
            .iter()
            .map(|n| testdata().join(n))
            .collect();
    let out = dir.join("out");
    assert!(analyze(&["-q", "-o", out.to_str().unwrap(), "--control", control.to_str().unwrap()], &captures)
        .status
        .success());
    let page = dir.join("report.html");
    let made = tfoscope().args(["report", "-o"]).arg(&page).arg(&out).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let html = fs::read_to_string(&page).unwrap();
    for forbidden in ["<script", "src=\"http", "href=\"http", "url(", "@import", "<link"] {
        assert!(!html.contains(forbidden), "the page loads nothing: {forbidden}");
    }
    for text in [
        "option_dropped",
        "syn_data_reset",
        "<svg class=\"ladder\"",
        "<svg class=\"chart\"",
        "RST (frame",
        "resent without option or data",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // Rates as in the table: in the option_dropped column of that vantage's row, 1 of 1 valid
    // with its Wilson interval.
    let table = &html[html.find("<table><tr><th>vantage</th><th>IP</th>").expect("the rates table")..];
    let table = &table[..table.find("</table>").unwrap()];
    let headers: Vec<&str> = table
        .split("</tr>")
        .next()
        .unwrap()
        .split("<th>")
        .skip(1)
        .map(|h| h.trim_end_matches("</th>"))
        .collect();
    let column = headers.iter().position(|h| *h == "option_dropped").expect("an option_dropped column");
    let row: Vec<&str> = table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td").skip(1).map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()]).collect()
        })
        .find(|cells: &Vec<&str>| cells[0] == "option_dropped")
        .expect("a row for the option_dropped vantage");
    assert_eq!(row[column], "1 (100.0 %, 20.7–100.0)", "{headers:?} {row:?}");
    // From a judge output (no connections: no ladders, said so) and from a dataset.
    let judged = dir.join("judged");
    assert!(tfoscope().args(["judge", "-o"]).arg(&judged).arg(&out).output().unwrap().status.success());
    let from_judge = dir.join("judged.html");
    assert!(tfoscope()
        .args(["report", "-o"])
        .arg(&from_judge)
        .arg(&judged)
        .output()
        .unwrap()
        .status
        .success());
    assert!(fs::read_to_string(&from_judge).unwrap().contains("no ladders"));
    let dataset = dir.join("dataset");
    assert!(analyze(&["-q", "--partition-by", "vantage", "-o", dataset.to_str().unwrap()], &captures)
        .status
        .success());
    let from_dataset = dir.join("dataset.html");
    let made = tfoscope().args(["report", "-o"]).arg(&from_dataset).arg(&dataset).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(fs::read_to_string(&from_dataset).unwrap().contains("option_dropped"));
    // Not a folder of ours: a clear error, and no page.
    let bad = tfoscope().args(["report", "-o"]).arg(dir.join("bad.html")).arg(testdata()).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no targets.parquet"));
    assert!(!dir.join("bad.html").exists());

    if !have_tool("chromium") {
        return;
    }
    let chromium = |args: &[&str]| {
        std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", dir.join("chromium").display()))
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap()
    };
    let dom = chromium(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for text in ["The run", "Rates", "Targets", "YES", "option_dropped", "SYN cookie request"] {
        assert!(dom.contains(text), "the browser shows {text}");
    }
    let shot = dir.join("report.png");
    let taken = chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,1600"]);
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&taken.stderr));
    assert!(fs::metadata(&shot).unwrap().len() > 20_000, "a page, not a blank");
}
