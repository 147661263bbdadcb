//! `tfoscope collect --features tfo,mptcp,ecn` in the lab (collect_lab's, its own run): the
//! combined first attempt, each feature alone after trouble, ECN's route kept to its fetch,
//! MPTCP's blackhole pause, and nobody's run without ECN. Needs root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::collect_lab::{analyze, row, Lab, PREFIX};
use crate::common;
use common::*;

#[test]
fn collect_with_several_features_in_the_lab() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() {
        return;
    }
    let dir = tempdir("collect-features");
    let lab = Lab::up();
    lab.router("iptables -w -A FORWARD -d 198.51.100.77 -j DROP");
    let nobody_dir = dir.join("nobody");
    std::fs::create_dir_all(&nobody_dir).unwrap();
    assert!(Command::new("chmod").arg("0777").arg(&nobody_dir).status().unwrap().success());
    features(&lab, &dir, &nobody_dir);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client's routes the ECN fetches add (proto 244), as `ip route show` prints them.
fn ecn_routes() -> String {
    let mut routes = String::new();
    for family in ["-4", "-6"] {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}-c"), "ip", family, "route", "show", "proto", "244"])
            .output()
            .unwrap();
        routes.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    routes
}

/// Waits (a state, not a time) until an ECN fetch to `addr` has added its route.
fn await_ecn_route_to(addr: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ecn_routes().contains(addr) {
        assert!(std::time::Instant::now() < deadline, "the ECN fetch never added its route");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 8. `--features tfo,mptcp,ecn`: the combined first attempt, each feature alone after trouble,
///    the feature named; ECN's route there only during its fetch, gone after SIGTERM, and
///    swept by the next run after SIGKILL; MPTCP to the lab's MPTCP origin; nobody skips ECN.
fn features(lab: &Lab, dir: &Path, nobody_dir: &Path) {
    // The list is checked before anything is touched.
    for (list, says) in [("tfo,quic", "\"quic\" is no feature"), ("mptcp", "tfo must be among them")] {
        let out = lab.collect(&dir.join("never.pcapng"), "2", &["--features", list, "http://198.51.100.1/"]);
        assert_eq!(out.status.code(), Some(2), "--features {list}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "--features {list}");
    }

    // A clean path to the MPTCP origin: one connection per fetch, every feature granted.
    let clean = dir.join("features-clean.pcapng");
    let out = lab.collect(&clean, "3", &["--features", "tfo,mptcp,ecn", "http://198.51.100.1:8081/"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tfo_cookie_request[tfo+mptcp+ecn] 200 (cookie received)"), "{stdout}");
    assert!(stdout.contains("plain[none] 200"), "{stdout}");
    assert!(!stdout.contains("plain[mptcp]"), "nothing retried on a clean path: {stdout}");
    assert_eq!(ecn_routes(), "", "no ECN route outlives its fetch");
    let (connections, targets, _) = analyze(&clean, &dir.join("features-clean"));
    let asked: Vec<&Value> = connections.iter().map(|c| &c["syn_features"]).collect();
    assert_eq!(asked.iter().filter(|f| f.as_array().is_some_and(|a| a.len() == 3)).count(), 2, "{asked:?}");
    let target = row(&targets, "http://198.51.100.1:8081/");
    assert_eq!(target["features_negotiated"], serde_json::json!(["tfo", "mptcp", "ecn"]), "{target}");
    assert_eq!(target["feature_failures"], serde_json::json!([]), "{target}");
    assert_eq!(target["connections"], 3);

    // SIGKILL while an ECN fetch is under way (to the black-holed host): its route stays...
    let killed = dir.join("features-killed.pcapng");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c")])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "5", "--features", "tfo,ecn", "-o", killed.to_str().unwrap()])
        .arg("http://198.51.100.77/")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    await_ecn_route_to("198.51.100.77");
    child.kill().unwrap();
    let _ = child.wait();
    assert!(ecn_routes().contains("198.51.100.77 "), "a killed run cannot remove it");

    // ... and the next run sweeps it first. A box dropping ECN-setup SYNs: the first attempt is
    // late, each feature alone names ECN; TFO stays clean.
    lab.router("iptables -w -A FORWARD -p tcp --syn -m ecn --ecn-tcp-ece --ecn-tcp-cwr -j DROP");
    let dropped = dir.join("features-ecn-dropped.pcapng");
    let out = lab.collect(&dropped, "4", &["--features", "tfo,mptcp,ecn", "http://198.51.100.1/"]);
    lab.router("iptables -w -D FORWARD -p tcp --syn -m ecn --ecn-tcp-ece --ecn-tcp-cwr -j DROP");
    assert!(out.status.success());
    assert_eq!(ecn_routes(), "", "the killed run's route was swept, and none of this run's is left");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for fetch in [
        "tfo_cookie_request[tfo] 200",
        "tfo_data[tfo] 200 (data acked)",
        "plain[mptcp] 200",
        "plain[ecn] 200",
    ] {
        assert!(stdout.contains(fetch), "{fetch}: {stdout}");
    }
    let (_, targets, _) = analyze(&dropped, &dir.join("features-ecn-dropped"));
    let target = row(&targets, "http://198.51.100.1/");
    assert_eq!(target["feature_failures"], serde_json::json!(["ecn:dropped"]), "{target}");
    assert_eq!(target["signatures"], serde_json::json!([]), "{target}");
    assert_eq!(target["middlebox"], true);
    assert!(
        target["explanation"].as_str().unwrap().contains("went unanswered where the baseline"),
        "{target}"
    );

    // SIGTERM during an ECN fetch: the run finishes that fetch, removes its route, and ends.
    let terminated = dir.join("features-term.pcapng");
    let child = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c")])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "3", "--features", "tfo,ecn", "-o", terminated.to_str().unwrap()])
        .args(["http://198.51.100.77/", "http://198.51.100.1/"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    await_ecn_route_to("198.51.100.77");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(ecn_routes(), "", "SIGTERM left no route");

    // As nobody: no route can be added, so ECN is skipped with one line and recorded.
    let skipped = nobody_dir.join("features.pcapng");
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c"), "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "3", "--features", "tfo,mptcp,ecn", "-o", skipped.to_str().unwrap()])
        .arg("http://198.51.100.1:8081/")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stderr.matches("ecn skipped").count(), 1, "{stderr}");
    assert!(stderr.contains("CAP_NET_ADMIN"), "{stderr}");
    assert!(stdout.contains("tfo_cookie_request[tfo+mptcp] 200"), "{stdout}");
    let (_, targets, _) = analyze(&skipped, &dir.join("features-nobody"));
    let target = row(&targets, "http://198.51.100.1:8081/");
    assert_eq!(target["features_tried"], serde_json::json!(["tfo", "mptcp"]), "{target}");
    assert_eq!(target["features_negotiated"], serde_json::json!(["tfo", "mptcp"]), "{target}");

    // A host route of the client's own to the target: ECN's route cannot be added, so the
    // combined fetches go on without ECN (and say so), and ECN alone is not made.
    let client_route = |verb: &str| {
        let status = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{PREFIX}-c"),
                "ip",
                "route",
                verb,
                "198.51.100.1/32",
                "via",
                "192.0.2.254",
            ])
            .status();
        assert!(status.unwrap().success(), "ip route {verb}");
    };
    client_route("add");
    let no_route = dir.join("features-no-route.pcapng");
    let out = lab.collect(&no_route, "3", &["--features", "tfo,ecn", "http://198.51.100.1/"]);
    client_route("del");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("tfo_cookie_request[tfo] 200 (cookie received) (without ECN: no route"),
        "{stdout}"
    );
    assert!(stdout.contains("tfo_data[tfo] 200 (data acked) (without ECN: no route"), "{stdout}");
    assert!(!stdout.contains("plain[ecn] 200"), "{stdout}");
    let (_, targets, _) = analyze(&no_route, &dir.join("features-no-route"));
    let target = row(&targets, "http://198.51.100.1/");
    assert_eq!(target["features_tried"], serde_json::json!(["tfo"]), "{target}");
    assert_eq!((target["cookie"].as_str(), target["syn_data"].as_str()), (Some("received"), Some("acked")));

    // MPTCP's blackhole detection armed (an hour, the default): one lost MP_CAPABLE SYN and the
    // kernel asks for MPTCP no more in this namespace. The run warns; the MPTCP SYNs after the
    // pause carry no MP_CAPABLE, so no MPTCP failure is claimed and the explanation says why.
    // --fix-sysctl turns the detection off for the run (which also ends a pause) and restores it.
    let client_ns = format!("{PREFIX}-c");
    let mptcp_blackhole = |secs: &str| {
        let setting = format!("net.mptcp.blackhole_timeout={secs}");
        let status =
            Command::new("ip").args(["netns", "exec", &client_ns, "sysctl", "-qw", &setting]).status();
        assert!(status.unwrap().success(), "{setting}");
    };
    let mptcp_blackhole_now = || {
        let out = Command::new("ip")
            .args(["netns", "exec", &client_ns, "sysctl", "-n", "net.mptcp.blackhole_timeout"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    mptcp_blackhole("3600");
    lab.router("iptables -w -A FORWARD -p tcp --syn -m tcp --tcp-option 30 -j DROP");
    let paused = dir.join("features-mptcp-paused.pcapng");
    let out = lab.collect(&paused, "5", &["--features", "tfo,mptcp", "http://198.51.100.1:8081/"]);
    let fixed = dir.join("features-mptcp-fixed.pcapng");
    let out_fixed =
        lab.collect(&fixed, "5", &["--fix-sysctl", "--features", "tfo,mptcp", "http://198.51.100.1:8081/"]);
    let restored = mptcp_blackhole_now();
    lab.router("iptables -w -D FORWARD -p tcp --syn -m tcp --tcp-option 30 -j DROP");
    mptcp_blackhole("0");
    assert!(out.status.success() && out_fixed.status.success());
    assert_eq!(restored, "3600", "--fix-sysctl restored the detection");
    assert!(String::from_utf8_lossy(&out.stderr).contains("net.mptcp.blackhole_timeout is on"));
    assert!(!String::from_utf8_lossy(&out_fixed.stderr).contains("net.mptcp.blackhole_timeout is on"));
    let (_, targets, _) = analyze(&paused, &dir.join("features-mptcp-paused"));
    let target = row(&targets, "http://198.51.100.1:8081/");
    assert_eq!(target["feature_failures"], serde_json::json!([]), "{target}");
    let explanation = target["explanation"].as_str().unwrap();
    assert!(explanation.contains("MPTCP blackhole detection paused MPTCP"), "{explanation}");
    let (_, targets, _) = analyze(&fixed, &dir.join("features-mptcp-fixed"));
    let target = row(&targets, "http://198.51.100.1:8081/");
    assert_eq!(target["feature_failures"], serde_json::json!(["mptcp:option_dropped"]), "{target}");
}
