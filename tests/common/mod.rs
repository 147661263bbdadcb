//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod judge;
pub mod packets;
pub mod tables;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tfoscope_analyze::record::{SynAckTfo, SynTfo};
use tfoscope_analyze::{analyze, AnalyzeOptions, Inputs};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testdata() -> PathBuf {
    root().join("testdata")
}

/// The public captures of other projects, kept beside the repository (../shared/captures), when
/// they are there. A clone without them skips the tests that need them, loudly; CI has them, so
/// there their absence fails.
pub fn shared_captures() -> Option<PathBuf> {
    let dir = root().join("../shared/captures");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!in_ci(), "{} is missing: CI must run the public-capture tests", dir.display());
    loud_skip(&format!("{} is not beside this clone; the public-capture test did not run", dir.display()));
    None
}

/// Says on the terminal that a test did not run. Straight to standard error, not through
/// `eprintln!`, which the test harness captures and hides for tests that pass.
pub fn loud_skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!!!! SKIPPED: {why} !!!!!\n");
}

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// True when the tool runs. Outside CI a missing tool skips the test loudly; in CI it fails.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "{tool} is required in CI (.ci/run installs it)");
        loud_skip(&format!("{tool} is not installed; this test did not run"));
    }
    ok
}

/// True when python3 imports every module of `modules` (comma-separated). Outside CI, false
/// skips loudly; in CI, where .ci/run installs them, it fails.
pub fn python_with(modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!in_ci(), "CI installs the Python modules {modules} (.ci/run)");
        loud_skip(&format!("python3 lacks some of {modules}; this test did not run"));
    }
    ok
}

/// True when running as root (namespaces, netfilter). Outside CI, false skips loudly.
pub fn have_root() -> bool {
    let uid =
        Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let ok = uid.is_ok_and(|u| u == "0");
    if !ok {
        assert!(!in_ci(), "CI runs as root; these tests must run there");
        loud_skip("not root; the namespace test did not run");
    }
    ok
}

/// What tshark decodes of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsharkFrame {
    pub syn: bool,
    pub ack: bool,
    pub tfo_request: bool,
    pub tfo_cookie: Option<String>,
    pub tcp_len: u32,
}

/// tshark's independent decoding of every TCP frame, by frame number.
pub fn tshark_frames(path: &Path) -> HashMap<u64, TsharkFrame> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"])
        .args(["-e", "frame.number", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack"])
        .args(["-e", "tcp.options.tfo.request", "-e", "tcp.options.tfo.cookie", "-e", "tcp.len"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let flag = |s: &str| s == "1" || s == "True";
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let frame = f[0].parse().expect("frame number");
            let row = TsharkFrame {
                syn: flag(f[1]),
                ack: flag(f[2]),
                tfo_request: !f[3].is_empty(),
                tfo_cookie: (!f[4].is_empty()).then(|| f[4].replace(':', "").to_lowercase()),
                tcp_len: f[5].parse().unwrap_or(0),
            };
            (frame, row)
        })
        .collect()
}

pub fn tfoscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tfoscope"))
}

/// Runs `tfoscope analyze --format json -o OUT_DIR ARGS... CAPTURES...`, which must succeed;
/// returns what a terminal shows of it: its standard output, then its standard error (the
/// warnings). [`json_table`] reads the tables it wrote.
pub fn analyze_to_json(out_dir: &Path, args: &[&str], captures: &[PathBuf]) -> String {
    let out = tfoscope()
        .args(["analyze", "--format", "json", "-o", out_dir.to_str().unwrap()])
        .args(args)
        .args(captures)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// One table written by [`analyze_to_json`]: a JSON object a row.
pub fn json_table(out_dir: &Path, table: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out_dir.join(format!("{table}.jsonl"))).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The Python that has OONI's own library (`oonidata`, in a virtual environment of its own:
/// it pins old versions of common packages): $TFOSCOPE_OONIDATA_PYTHON, else the one
/// .ci/run makes. None (the test skipped, loudly) where there is none; in CI a failure.
pub fn oonidata_python() -> Option<PathBuf> {
    let python = std::env::var_os("TFOSCOPE_OONIDATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tfoscope-oonidata/bin/python"));
    let works = Command::new(&python).args(["-c", "import oonidata.dataclient"]).output();
    if works.is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    assert!(!in_ci(), "{} cannot import oonidata: .ci/run installs it", python.display());
    loud_skip("no Python with oonidata (TFOSCOPE_OONIDATA_PYTHON); the OONI read-back did not run");
    None
}

/// Each measurement of an OONI JSON lines file as OONI's own library reads it
/// (tests/python/ooni_read_back.py): the base fields as oonidata holds them, the test keys.
pub fn ooni_read_back(python: &Path, file: &Path) -> Vec<serde_json::Value> {
    let out =
        Command::new(python).arg(root().join("tests/python/ooni_read_back.py")).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "oonidata refused {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every key of `value` is documented in `schema` (properties, recursively into objects and
/// arrays' items), and every required key is there.
fn assert_documented(schema: &serde_json::Value, value: &serde_json::Value, at: &str) {
    if let (Some(props), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for key in object.keys() {
            let sub = props.get(key).unwrap_or_else(|| panic!("{at}.{key} is not in the schema"));
            assert_documented(sub, &object[key], &format!("{at}.{key}"));
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            assert!(object.contains_key(required.as_str().unwrap()), "{at}: {required} missing");
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for v in array {
            assert_documented(items, v, &format!("{at}[]"));
        }
    }
}

/// `value` holds only what schemas/`schema` documents, and all it requires.
pub fn assert_in_schema(schema: &str, value: &serde_json::Value) {
    let text = std::fs::read_to_string(root().join("schemas").join(schema)).unwrap();
    assert_documented(&serde_json::from_str(&text).unwrap(), value, schema);
}

/// A collector record (attempt, run or probe) holds only what its branch of
/// schemas/attempt.json documents, and all it requires, nested objects included.
pub fn assert_collector_record_in_schema(record: &serde_json::Value) {
    let text = std::fs::read_to_string(root().join("schemas/attempt.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let kind = record["record"].as_str().expect("a record names its kind");
    let branch = doc["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["properties"]["record"]["const"] == kind)
        .unwrap_or_else(|| panic!("no branch for record {kind}"));
    assert_documented(branch, record, kind);
}

/// An OONI measurement holds only what schemas/ooni.json documents, and all it requires.
pub fn assert_in_ooni_schema(measurement: &serde_json::Value) {
    let text = std::fs::read_to_string(root().join("schemas/ooni.json")).unwrap();
    assert_documented(&serde_json::from_str(&text).unwrap(), measurement, "measurement");
}

pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tfoscope-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every capture file in a folder (pcap and pcapng), sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng")))
        .collect();
    files.sort();
    files
}

/// Asserts that every connection's TFO facts equal tshark's decoding of the same frames, and
/// that every SYN tshark sees is counted. Returns the number of connections.
pub fn check_against_tshark(path: &Path) -> usize {
    let result =
        analyze(&Inputs::file("t", path.to_owned()), &AnalyzeOptions::in_memory()).into_single().unwrap();
    let frames = tshark_frames(path);
    let ctx = path.display();
    assert!(!result.connections.is_empty(), "{ctx}: no connections");
    for conn in &result.connections {
        let first = conn.first_syn();
        let syn = &frames[&first.frame];
        assert!(syn.syn && !syn.ack, "{ctx} frame {}: not a SYN for tshark", first.frame);
        assert_eq!(first.data_len, syn.tcp_len, "{ctx} frame {}: SYN payload length", first.frame);
        let cookie =
            conn.syn_cookie.as_ref().map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>());
        match first.tfo {
            SynTfo::CookieRequest => {
                assert!(syn.tfo_request && syn.tfo_cookie.is_none(), "{ctx} frame {}", first.frame)
            }
            SynTfo::Cookie => assert_eq!(cookie, syn.tfo_cookie, "{ctx} frame {}", first.frame),
            // tshark cannot see an option the snap length cut off either; we must not call it none.
            SynTfo::None | SynTfo::Truncated => {
                assert!(
                    !syn.tfo_request && syn.tfo_cookie.is_none(),
                    "{ctx} frame {}: tshark sees TFO",
                    first.frame
                )
            }
            SynTfo::Malformed => panic!("{ctx} frame {}: malformed TFO in an equality case", first.frame),
        }
        if let Some(synack) = &conn.synack {
            let row = &frames[&synack.frame];
            assert!(row.syn && row.ack, "{ctx} frame {}: not a SYN-ACK for tshark", synack.frame);
            let cookie =
                synack.cookie.as_ref().map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>());
            match synack.tfo {
                // A cookie of a forbidden length too: the bytes tshark shows.
                SynAckTfo::Cookie | SynAckTfo::CookieBadLength => {
                    assert_eq!(cookie, row.tfo_cookie, "{ctx} frame {}", synack.frame)
                }
                SynAckTfo::None | SynAckTfo::Truncated => {
                    assert!(row.tfo_cookie.is_none() && !row.tfo_request, "{ctx} frame {}", synack.frame)
                }
                SynAckTfo::Malformed => panic!("{ctx} frame {}: malformed SYN-ACK TFO", synack.frame),
            }
        }
    }
    // Every SYN tshark sees is one of ours: the first of a connection or a retransmission.
    let tshark_syns = frames.values().filter(|f| f.syn && !f.ack).count() as u64;
    let our_syns: u64 = result.connections.iter().map(|c| u64::from(c.syn_count)).sum();
    assert_eq!(our_syns, tshark_syns, "{ctx}: SYN transmissions");
    result.connections.len()
}

/// The write end of a pipe whose reader has already gone (as `| head` leaves it once done):
/// every write to it fails with EPIPE, whenever the writer gets to it.
pub fn closed_pipe() -> std::fs::File {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe fills two fds, each then owned by exactly one File.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (reader, writer) =
        unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    drop(reader);
    writer
}

/// Held for the length of a namespace test: such tests share the kernel's sysctls, the lab's
/// scripts and the machine's two cores, so they run one at a time in their binary. A test
/// that failed while holding it leaves it usable (its failure is reported on its own).
pub fn namespace_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
