//! The collector in the lab meeting faulty targets (garbage, a stall, resets, no route),
//! signals and a full disk: nothing captured is lost. collect_lab's lab, its own run. Needs
//! root.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::collect_lab::{analyze, row, Lab, PREFIX};
use crate::common;
use common::*;

#[test]
fn collect_meets_faulty_targets_signals_and_a_full_disk() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() || !have_tool("tshark") {
        return;
    }
    let dir = tempdir("collect-faults");
    let lab = Lab::up();
    faults(&lab, &dir);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Our faulty origins in the server namespace, killed on drop.
struct FaultyServers(Child);

impl Drop for FaultyServers {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The collector meets faulty targets, signals and a full disk; nothing captured is lost.
fn faults(lab: &Lab, dir: &Path) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-s")])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args([
            "lab-serve",
            "garbage,198.51.100.1:9001",
            "stall,198.51.100.1:9002,tfo",
            "reset,198.51.100.1:9003",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let _servers = FaultyServers(child);
    // No route from the client to this address: connect fails at once, nothing on the wire.
    // (An ICMP unreachable from the router would not do: the kernel takes it as a soft error
    // when it arrives while the socket is busy in a system call, and the fetch times out.)
    let routed = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c"), "ip", "route", "add", "unreachable", "198.51.100.99"])
        .status()
        .unwrap();
    assert!(routed.success());

    let faulty = dir.join("faulty.pcapng");
    let out = lab.collect(
        &faulty,
        "2",
        &[
            "http://198.51.100.1:9001/",
            "http://198.51.100.1:9002/",
            "http://198.51.100.1:9003/",
            "http://198.51.100.99/",
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (url, kind) in [
        ("http://198.51.100.1:9001/", "bad_response"),
        ("http://198.51.100.1:9002/", "stalled"),
        ("http://198.51.100.1:9003/", "reset"),
        ("http://198.51.100.99/", "no_route"),
    ] {
        let line = stdout.lines().find(|l| l.starts_with(url)).unwrap_or_else(|| panic!("{url}: {stdout}"));
        assert!(line.ends_with(&format!("plain {kind}")), "{url} gives {kind}: {line}");
    }
    let (connections, targets, summary) = analyze(&faulty, &dir.join("faulty"));
    assert!(!summary.contains("PARTIAL"), "{summary}");
    assert!(connections.iter().all(|c| c["attempt_source"] == "record"));
    let unrouted = row(&targets, "http://198.51.100.99/");
    assert_eq!(unrouted["connectivity"], "offline", "a row from the records alone: {unrouted}");
    assert!(unrouted["explanation"].as_str().unwrap().contains("no_route"), "{unrouted}");
    assert_eq!(row(&targets, "http://198.51.100.1:9002/")["connectivity"], "works", "the handshakes worked");

    // SIGTERM mid-run, as SIGINT: no new fetches, a finished file.
    let terminated = dir.join("terminated.pcapng");
    let (code, _) =
        lab.collect_then_signal(&terminated, "-TERM", &["http://198.51.100.1:9002/", "http://198.51.100.1/"]);
    assert_eq!(code, Some(130));
    let (connections, _, summary) = analyze(&terminated, &dir.join("terminated"));
    assert!(!summary.contains("PARTIAL"), "{summary}");
    assert!(!connections.is_empty() && connections.len() < 6, "no new fetches after the signal");

    // The disk fills while writing: a clear error, and what was written still analyses.
    let small = dir.join("small");
    std::fs::create_dir_all(&small).unwrap();
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k", "tfoscope-full"])
        .arg(&small)
        .status()
        .unwrap()
        .success());
    let full = small.join("full.pcapng");
    let targets: Vec<String> = (0..6).map(|i| format!("http://198.51.100.1/{i}")).collect();
    let mut args = vec!["--rate", "0"];
    args.extend(targets.iter().map(String::as_str));
    let out = lab.collect(&full, "2", &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let copy = dir.join("full-copy.pcapng");
    std::fs::copy(&full, &copy).unwrap();
    let _ = Command::new("umount").arg(&small).status();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "names the cause: {stderr}");
    assert!(stderr.contains(full.to_str().unwrap()), "and the file: {stderr}");
    let (connections, _, _) = analyze(&copy, &dir.join("full"));
    assert!(!connections.is_empty(), "the packets written before the disk filled analyse");
}
