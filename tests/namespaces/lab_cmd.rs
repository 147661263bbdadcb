//! `tfoscope lab` end to end, as root: every scenario judged as expected, the captures kept,
//! a stale namespace from a killed run removed first, everything removed afterwards (so it runs
//! twice in a row), SIGINT between scenarios, and `--check-kernel` with and without privileges.
//! One test, so the namespace work never overlaps; prefix `tfz` is this file's own.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{have_root, in_ci, loud_skip, tempdir};

const PREFIX: &str = "tfz";

fn tfoscope(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tfoscope")).args(args).output().unwrap();
    eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn lab_namespaces_left() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        // The chain of the locate scenarios has a prefix of its own: PREFIX and `h`.
        .filter(|n| n.starts_with(&format!("{PREFIX}-")) || n.starts_with(&format!("{PREFIX}h-")))
        .map(str::to_string)
        .collect()
}

fn assert_clean() {
    assert_eq!(lab_namespaces_left(), Vec::<String>::new(), "the lab removed its namespaces");
    for ns in ["c", "r", "s"] {
        assert!(!Path::new(&format!("/etc/netns/{PREFIX}-{ns}")).exists(), "and its /etc/netns files");
    }
}

#[test]
fn lab_judges_every_scenario_and_cleans_up() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() {
        return;
    }
    let list = tfoscope(&["lab", "--list"]);
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(names.len() >= 15, "{names:?}");

    // A namespace left by a killed run, with a process still inside.
    let stale = format!("{PREFIX}-c");
    let _ = Command::new("ip").args(["netns", "add", &stale]).status();
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &stale, "sleep", "600"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();

    // The interceptor scenarios need Squid and sslsplit (CI installs them); without them, the
    // lab says those scenarios were not run, and so does this test, loudly.
    let missing: Vec<&str> = [("squid_intercept", "/usr/sbin/squid"), ("sslsplit", "/usr/bin/sslsplit")]
        .into_iter()
        .filter(|(_, program)| !Path::new(program).exists())
        .map(|(scenario, program)| {
            assert!(!in_ci(), "{program} is required in CI (.ci/run installs it)");
            loud_skip(&format!("{program} is not installed: the lab scenario {scenario} did not run"));
            scenario
        })
        .collect();
    let keep = tempdir("lab-keep");
    let out = tfoscope(&["lab", "--prefix", PREFIX, "--unprivileged", "--keep", keep.to_str().unwrap()]);
    let _ = sleeper.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() || !missing.is_empty(), "every scenario judged as expected:\n{stdout}");
    for name in &names {
        let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| {
            panic!("no line for {name}:\n{stdout}");
        });
        if missing.contains(&name.as_str()) {
            assert!(line.contains("not run: ") && line.contains("is not installed"), "{line}");
            continue;
        }
        assert!(line.contains(" pass "), "{line}");
        assert!(keep.join(format!("{name}.pcapng")).is_file(), "the {name} capture is kept");
        // The run as nobody happened (its records kept beside), but not for the locate
        // scenarios, which need raw sockets.
        let unprivileged = keep.join("unprivileged").join(format!("{name}.pcapng"));
        assert_eq!(unprivileged.is_file(), !name.starts_with("locate_"), "{}", unprivileged.display());
    }
    let judged = names.len() - missing.len();
    assert!(
        stdout.contains(&format!("{judged} of {} scenarios judged as expected", names.len())),
        "{stdout}"
    );
    assert!(keep.join("option_stripped-control.pcapng").is_file(), "controls are kept too");
    // The lab's captures (the collector's records, echoes, hop-limited probes, interceptors):
    // judged from the tables as analyze judges them, with their controls and without.
    let captures = common::captures_in(&keep);
    let (controls, measured): (Vec<PathBuf>, Vec<PathBuf>) =
        captures.iter().cloned().partition(|p| p.to_string_lossy().ends_with("-control.pcapng"));
    let mut args: Vec<String> = Vec::new();
    for c in &controls {
        args.extend(["--control".to_string(), c.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::judge::assert_judge_equals_analyze("lab-controls", &args, &measured);
    common::judge::assert_judge_equals_analyze("lab", &[], &captures);
    assert_clean();

    // Every TFO scenario again with MPTCP and ECN asked for beside TFO: TFO's verdicts stay
    // what they were (the combined attempt retried alone where it met trouble), and no other
    // feature is named where none broke.
    let out = tfoscope(&["lab", "--prefix", PREFIX, "--features", "tfo,mptcp,ecn"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() || !missing.is_empty(), "with every feature on:\n{stdout}");
    for name in names.iter().filter(|n| !missing.contains(&n.as_str())) {
        let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap();
        assert!(line.contains(" pass "), "with every feature on: {line}");
    }
    assert_clean();

    // Again, one scenario: nothing left over gets in the way; bad names are refused.
    let out = tfoscope(&["lab", "--prefix", PREFIX, "--scenario", "clean_https"]);
    assert!(out.status.success());
    assert_clean();
    let out = tfoscope(&["lab", "--prefix", PREFIX, "--scenario", "no_such"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clean_http"), "names the scenarios");

    // Something the lab does not know of resets connections at the origin: the verdict is not
    // the expected one, and the lab says so. The scenario before it gives the test time to
    // put the rule in place.
    let child = Command::new(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["lab", "--prefix", PREFIX, "--scenario", "host_down", "--scenario", "clean_http"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server = format!("{PREFIX}-s");
    let rule = ["netns", "exec", &server, "iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "80"];
    let reject = ["-j", "REJECT", "--reject-with", "tcp-reset"];
    let mut placed = false;
    for _ in 0..500 {
        if Command::new("ip").args(rule).args(reject).stderr(Stdio::null()).status().unwrap().success() {
            placed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(placed, "the server namespace appeared");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a scenario judged wrong fails the run: {stdout}");
    let line = stdout.lines().find(|l| l.starts_with("clean_http ")).expect("a clean_http line");
    assert!(line.contains("FAIL") && line.contains("closed/"), "{line}");
    assert_clean();

    // SIGINT: the scenario under way finishes, no new one starts, the lab is removed.
    let child = Command::new(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["lab", "--prefix", PREFIX, "--scenario", "host_down", "--scenario", "clean_http"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Signalled once the first scenario's collector runs in the client namespace (waiting for
    // that state, not for a time, which a loaded machine would stretch).
    let client = format!("{PREFIX}-c");
    let collecting = || {
        Command::new("ip")
            .args(["netns", "pids", &client])
            .output()
            .is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).trim().is_empty())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !collecting() {
        assert!(std::time::Instant::now() < deadline, "the lab's first collection never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(!stdout.contains("clean_http "), "no scenario after the signal: {stdout}");
    assert_clean();

    // --check-kernel builds nothing; without privileges it names what is missing.
    let out = tfoscope(&["lab", "--check-kernel"]);
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    for check in ["tfo client", "blackhole detection", "cookie flush", "capture", "mptcp ", "ecn "] {
        assert!(report.lines().any(|l| l.starts_with("ok") && l.contains(check)), "{check}: {report}");
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["lab", "--check-kernel"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("CAP_NET_RAW")), "{report}");
    assert!(report.lines().any(|l| l.starts_with("FAIL") && l.contains("CAP_NET_ADMIN")), "{report}");
    // As nobody, ECN's route cannot be added: said as collect would skip it.
    assert!(report.lines().any(|l| l.starts_with("warn") && l.contains("ecn skipped")), "{report}");
}
