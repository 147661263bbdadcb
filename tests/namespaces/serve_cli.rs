//! `tfoscope serve` as a service, in a network namespace of its own (root): it refuses to
//! start while the kernel's server side of TFO is off and says how to turn it on; with it on,
//! a cookie request and then SYN data show in the echoes as they arrived; two helpers given
//! one --tfo-key accept each other's cookies, helpers with other keys do not; a port below
//! 1024 without the privilege is named as such; SIGTERM stops it cleanly. Prefix `tfv`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use common::{assert_in_schema, have_root, have_tool};
use serde_json::Value;

struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("tfv-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(Command::new("ip").args(["netns", "add", &name]).status().unwrap().success());
        let ns = Netns(name);
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `tfoscope serve ARGS` in the namespace, once it says `ready`.
    fn serve(&self, args: &[&str]) -> Child {
        let mut child = self
            .cmd(&[env!("CARGO_BIN_EXE_tfoscope"), "serve"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "serve {args:?} did not start");
        child
    }

    /// curl with TFO: the echo.
    fn fetch(&self, url: &str) -> Value {
        let out = self.run(&["curl", "-s", "--max-time", "5", "--tcp-fastopen", url]);
        let echo: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_in_schema("echo.json", &echo);
        echo
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn stop(mut child: Child) -> String {
    // SAFETY: signals a child we started and still own.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?} {stderr}");
    stderr
}

#[test]
fn serve_checks_the_kernel_shows_tfo_as_it_arrived_and_stops_on_sigterm() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() || !have_tool("curl") {
        return;
    }
    let ns = Netns::new();
    // A new namespace starts with the client side only (1).
    ns.run(&["sysctl", "-qw", "net.ipv4.tcp_fastopen=1"]);
    let refused =
        ns.cmd(&[env!("CARGO_BIN_EXE_tfoscope"), "serve", "--http", "127.0.0.1:8080"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sysctl -w net.ipv4.tcp_fastopen=3"), "{stderr}");
    assert!(stderr.contains("--no-tfo"), "{stderr}");

    // Without privileges, a low port is named as the problem.
    let low = ns
        .cmd(&["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([env!("CARGO_BIN_EXE_tfoscope"), "serve", "--no-tfo", "--http", "127.0.0.1:80"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&low.stderr);
    assert_eq!(low.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CAP_NET_BIND_SERVICE"), "{stderr}");

    ns.run(&["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"]);
    let key = "0a0b0c0d-01020304-05060708-090a0b0c";
    let shared = ["--tfo-key", key];
    let a = ns.serve(&["--http", "127.0.0.1:8080", "--http", "[::1]:8080", shared[0], shared[1]]);
    let b = ns.serve(&["--http", "127.0.0.1:8081", shared[0], shared[1]]);
    let c = ns.serve(&["--http", "127.0.0.1:8082", "--tfo-key", "ffffffff-01020304-05060708-090a0b0c"]);

    let first = ns.fetch("http://127.0.0.1:8080/first");
    assert_eq!(first["origin"]["tfo"], true);
    assert_eq!(first["syn"]["tfo"], "cookie_request");
    assert_eq!(first["syn"]["tfo_kind"], 34);
    assert_eq!(first["syn_data_accepted"], false);
    let second = ns.fetch("http://127.0.0.1:8080/second");
    assert_eq!(second["syn"]["tfo"], "cookie");
    let sent_len = second["syn"]["payload_len"].as_u64().unwrap();
    assert!(sent_len > 40, "the request rode in the SYN: {sent_len}");
    assert_eq!(second["syn_data_accepted"], true);
    assert_eq!(second["request"]["target"], "/second");

    // The client's cookie for 127.0.0.1 goes to the other helpers too.
    let same_key = ns.fetch("http://127.0.0.1:8081/b");
    assert_eq!(same_key["syn"]["cookie"], second["syn"]["cookie"]);
    assert_eq!(same_key["syn_data_accepted"], true, "one key, one cookie: {same_key}");
    let other_key = ns.fetch("http://127.0.0.1:8082/c");
    assert_eq!(other_key["syn"]["tfo"], "cookie");
    assert_eq!(other_key["syn_data_accepted"], false, "another key refuses the cookie: {other_key}");

    // IPv6: the hop limit and the addresses of the arrived SYN.
    let v6 = ns.fetch("http://[::1]:8080/six");
    assert_eq!(v6["syn"]["src_ip"], "::1");
    assert_eq!(v6["syn"]["ttl"], 64);

    let log = stop(a);
    assert!(log.contains("syn=cookie_request"), "{log}");
    assert!(log.contains("accepted=true"), "{log}");
    assert!(log.contains("tfoscope serve: stopped"), "{log}");
    stop(b);
    stop(c);
}
