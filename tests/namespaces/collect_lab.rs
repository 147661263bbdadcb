//! `tfoscope collect` in network namespaces against the lab's TFO origin, with real netfilter
//! middleboxes, then `tfoscope analyze` on what it wrote. Needs root; the only namespace test
//! in this binary (test binaries run one after another).

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

pub(crate) const PREFIX: &str = "tfk";

/// The lab, held up by the script until dropped (stdin closes, the script tears down).
pub(crate) struct Lab(Child);

impl Lab {
    pub(crate) fn up() -> Lab {
        let mut child = Command::new("bash")
            .arg(root().join("lab/scripts/make-testdata.sh"))
            .env("TFOSCOPE", env!("CARGO_BIN_EXE_tfoscope"))
            .arg("--hold")
            .env("TFO_LAB_PREFIX", PREFIX)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "lab did not come up");
        Lab(child)
    }

    pub(crate) fn router(&self, args: &str) {
        let status = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}-r")])
            .args(args.split_whitespace())
            .status()
            .unwrap();
        assert!(status.success(), "router: {args}");
    }

    pub(crate) fn collect(&self, out: &Path, timeout: &str, args: &[&str]) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}-c")])
            .arg(env!("CARGO_BIN_EXE_tfoscope"))
            .args(["collect", "--timeout", timeout, "-o", out.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        out
    }
}

impl Lab {
    /// Starts a collection, sends `signal` once its first packet is in the file (a state, not
    /// a time a loaded machine would stretch), and returns its exit code and output.
    pub(crate) fn collect_then_signal(
        &self,
        out: &Path,
        signal: &str,
        urls: &[&str],
    ) -> (Option<i32>, String) {
        let _ = std::fs::remove_file(out);
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}-c")])
            .arg(env!("CARGO_BIN_EXE_tfoscope"))
            .args(["collect", "--timeout", "2", "--concurrency", "1", "-o", out.to_str().unwrap()])
            .args(urls)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !holds_a_packet(out) {
            assert!(std::time::Instant::now() < deadline, "the collector never captured a packet");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        let output = child.wait_with_output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Whether the pcapng at `path` holds an enhanced packet block yet (the collector writes each
/// block whole, at once).
fn holds_a_packet(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if kind == 6 {
            return true;
        }
        if len < 12 {
            return false;
        }
        at += len;
    }
    false
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

pub(crate) fn analyze(capture: &Path, dir: &Path) -> (Vec<Value>, Vec<Value>, String) {
    analyze_with(&[], capture, dir)
}

fn analyze_with(args: &[&str], capture: &Path, dir: &Path) -> (Vec<Value>, Vec<Value>, String) {
    let out = tfoscope()
        .args(["analyze", "--format", "json", "-o", dir.to_str().unwrap()])
        .args(args)
        .arg(capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    (read("connections.jsonl"), read("targets.jsonl"), String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn row<'a>(targets: &'a [Value], target: &str) -> &'a Value {
    targets
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no row for {target}: {targets:#?}"))
}

fn tshark_opens(path: &Path) -> usize {
    let out = Command::new("tshark").arg("-r").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "tshark cannot open {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// The packets (IP, v4 or v6) tshark shows in `path`.
fn tshark_packets(path: &Path) -> usize {
    let out = Command::new("tshark").arg("-r").arg(path).args(["-Y", "ip or ipv6"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// libpcap (tcpdump) and scapy read the collector's file whole: every packet tshark shows.
fn readers_other_than_wireshark_read_it_whole(path: &Path) {
    let packets = tshark_packets(path);
    assert!(packets > 20);
    let tcpdump = Command::new("tcpdump").args(["-n", "-r"]).arg(path).output().unwrap();
    let stderr = String::from_utf8_lossy(&tcpdump.stderr);
    assert!(tcpdump.status.success(), "tcpdump cannot read {}: {stderr}", path.display());
    assert_eq!(String::from_utf8_lossy(&tcpdump.stdout).lines().count(), packets, "tcpdump: {stderr}");
    if python_with("scapy") {
        let script = "import sys; from scapy.all import rdpcap; print(len(rdpcap(sys.argv[1])))";
        let scapy = Command::new("python3").args(["-c", script]).arg(path).output().unwrap();
        assert!(scapy.status.success(), "scapy: {}", String::from_utf8_lossy(&scapy.stderr));
        assert_eq!(String::from_utf8_lossy(&scapy.stdout).trim(), packets.to_string(), "scapy");
    }
}

/// Every connection's first SYN frame is the `frame.number` tshark gives that SYN (which
/// counts the collector's records, custom blocks, as frames of their own).
fn frame_numbers_are_tsharks(path: &Path, connections: &[Value]) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "tcp.srcport"])
        .output()
        .unwrap();
    let mut first_syn: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split('\t').map(|f| f.parse::<u64>().unwrap());
        let (frame, port) = (fields.next().unwrap(), fields.next().unwrap());
        first_syn.entry(port).or_insert(frame);
    }
    let records =
        Command::new("tshark").arg("-r").arg(path).args(["-Y", "not (ip or ipv6)"]).output().unwrap();
    assert!(String::from_utf8_lossy(&records.stdout).lines().count() > 0, "records are frames to tshark");
    for c in connections {
        let port = c["client_port"].as_u64().unwrap();
        assert_eq!(c["first_syn_frame"].as_u64(), first_syn.get(&port).copied(), "port {port}: {c}");
    }
}

#[test]
fn collect_then_analyze_in_the_lab() {
    let _one_at_a_time = common::namespace_lock();
    if !have_root() || !have_tool("tshark") {
        return;
    }
    let dir = tempdir("collect-lab");
    let lab = Lab::up();
    lab.router("iptables -w -A FORWARD -d 198.51.100.77 -j DROP");

    // 1. Clean origin over IPv4 and IPv6, a name given with --resolve, a closed port, a
    //    black-holed host and a name that does not resolve.
    let first = dir.join("first.pcapng");
    let out = lab.collect(
        &first,
        "2",
        &[
            "--resolve",
            "lab.test:198.51.100.1",
            "http://198.51.100.1/",
            "https://lab.test/",
            "https://198.51.100.1:8080/",
            "http://[2001:db8:2::1]/",
            "http://198.51.100.1:81/",
            "http://198.51.100.77/",
            "http://nothing.invalid/",
        ],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "http://198.51.100.1/ 198.51.100.1: tfo_cookie_request 200 (cookie received), tfo_data 200 (data acked), plain 200\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "http://198.51.100.1:81/ 198.51.100.1: tfo_cookie_request refused (no cookie), tfo_data refused (no cookie to send), plain refused"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("http://198.51.100.77/ 198.51.100.77: tfo_cookie_request timeout"), "{stdout}");
    // With the resolver's own words.
    assert!(stdout.contains("http://nothing.invalid/ unresolved: plain dns_error ("), "{stdout}");
    assert!(
        stdout.contains(
            "https://lab.test/ 198.51.100.1: tfo_cookie_request 200 (cookie received, certificate: "
        ) && stdout.contains("tfo_data 200 (data acked, certificate: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://198.51.100.1:8080/ 198.51.100.1: tfo_cookie_request tls_error"),
        "{stdout}"
    );
    assert!(tshark_opens(&first) > 20);
    readers_other_than_wireshark_read_it_whole(&first);
    // Wireshark sees each fetch: its first SYN carries a packet comment naming it.
    let comments = Command::new("tshark")
        .arg("-r")
        .arg(&first)
        .args(["-Y", "frame.comment", "-T", "fields", "-E", "separator=|"])
        .args(["-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "frame.comment"])
        .output()
        .unwrap();
    let comments: Vec<String> =
        String::from_utf8_lossy(&comments.stdout).lines().map(str::to_string).collect();
    for kind in ["tfo_cookie_request", "tfo_data", "plain"] {
        let line = format!("tfoscope: {kind} round 1 http://198.51.100.1/");
        assert_eq!(comments.iter().filter(|c| c.ends_with(&line)).count(), 1, "{line}: {comments:#?}");
    }
    assert!(
        comments.iter().all(|c| c.starts_with("1|0|tfoscope: ") || c.starts_with("True|False|tfoscope: ")),
        "only first SYNs carry comments: {comments:#?}"
    );
    let interfaces = Command::new("tshark")
        .arg("-r")
        .arg(&first)
        .args(["-Y", "ip or ipv6", "-T", "fields", "-e", "frame.interface_name"])
        .output()
        .unwrap();
    let interfaces: std::collections::BTreeSet<String> =
        String::from_utf8_lossy(&interfaces.stdout).lines().map(str::to_string).collect();
    assert_eq!(
        interfaces,
        ["tfk-cr".to_string()].into(),
        "every packet names the client's interface it crossed"
    );

    let (connections, targets, summary) = analyze(&first, &dir.join("first"));
    assert!(!summary.contains("PARTIAL"), "{summary}");
    frame_numbers_are_tsharks(&first, &connections);
    // The files table carries the collector's records as the JSON documents they are (no
    // block padding), each as schemas/attempt.json describes it.
    let files = json_table(&dir.join("first"), "files");
    let records: Vec<&str> =
        files[0]["collector_records"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(records.len() >= 3 * 7, "an attempt record per fetch, run records: {}", records.len());
    // The real kernel's view of each fetch (TCP_INFO in its record) and its packets agree, a
    // middlebox's resets and drops included.
    assert_eq!(files[0]["kernel_disagreements"], 0, "{:?}", files[0]["warnings"]);
    let mut granted = 0;
    for text in records {
        let record: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
        assert_collector_record_in_schema(&record);
        // The kernel's cache after a cookie request holds the very cookie its SYN-ACK carried,
        // and held none before (flushed).
        if record["record"] == "attempt" && record["fetch"] == "tfo_cookie_request" {
            let conn = connections.iter().find(|c| c["client_port"] == record["local_port"]);
            let Some(wire) = conn.and_then(|c| c["synack_cookie"].as_str()) else { continue };
            assert_eq!(record["cache_before"]["cookie"], false, "{text}");
            assert_eq!(record["cache_after"]["cookie_hex"].as_str(), Some(wire), "{text}");
            granted += 1;
        }
    }
    assert!(granted >= 2, "cookies granted by the TFO origins: {granted}");
    assert!(
        connections.iter().all(|c| c["attempt_source"] == "record"),
        "every connection tied to its record"
    );
    let clean = row(&targets, "http://198.51.100.1/");
    assert_eq!(
        (clean["connectivity"].as_str(), clean["cookie"].as_str(), clean["syn_data"].as_str()),
        (Some("works"), Some("received"), Some("acked"))
    );
    assert_eq!(clean["middlebox"], false);
    assert_eq!(row(&targets, "http://[2001:db8:2::1]/")["syn_data"], "acked");
    // Over TLS the ClientHello rides in the SYN.
    assert_eq!(row(&targets, "https://lab.test/")["syn_data"], "acked");
    let hello = connections
        .iter()
        .find(|c| c["server_port"] == 443 && c["attempt"] == "tfo_data")
        .expect("the HTTPS SYN-data connection");
    assert!(hello["syn_data_len"].as_u64().unwrap() > 150, "a ClientHello in the SYN: {hello}");
    assert_eq!(row(&targets, "https://198.51.100.1:8080/")["cookie"], "not_received");
    // As OONI measurements: one per URL, its fetches in OONI's failure words.
    let ooni_dir = dir.join("ooni");
    let ooni_file = ooni_dir.join("m.jsonl");
    analyze_to_json(&ooni_dir, &["--ooni", ooni_file.to_str().unwrap()], std::slice::from_ref(&first));
    let measurements: Vec<serde_json::Value> = std::fs::read_to_string(&ooni_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    measurements.iter().for_each(assert_in_ooni_schema);
    let input =
        |url: &str| measurements.iter().find(|m| m["input"] == url).unwrap_or_else(|| panic!("no {url}"));
    let clean = &input("http://198.51.100.1/")["test_keys"];
    let statuses: Vec<u64> =
        clean["fetches"].as_array().unwrap().iter().filter_map(|f| f["status_code"].as_u64()).collect();
    assert_eq!(statuses, [200, 200, 200]);
    assert_eq!(clean["verdicts"][0]["cookie"], "received");
    assert!(clean["tcp_connect"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["tfo"]["url"] == "http://198.51.100.1/"));
    let refused = &input("http://198.51.100.1:81/")["test_keys"]["fetches"];
    assert!(refused.as_array().unwrap().iter().all(|f| f["failure"] == "connection_refused"), "{refused}");
    let unresolved = &input("http://nothing.invalid/")["test_keys"];
    assert_eq!(unresolved["fetches"][0]["failure"], "dns_nxdomain_error");
    assert_eq!(unresolved["verdicts"][0]["connectivity"], "unresolved");
    // OONI's own library reads every one.
    if let Some(python) = oonidata_python() {
        assert_eq!(ooni_read_back(&python, &ooni_file).len(), measurements.len());
    }
    // The lab's certificate is self-signed: the fetch goes on, the failure and the
    // certificate's fingerprint are recorded.
    let records = tfoscope_analyze::analyze(
        &tfoscope_analyze::Inputs::file("first", first.clone()),
        &tfoscope_analyze::AnalyzeOptions::in_memory(),
    )
    .into_single()
    .unwrap()
    .report
    .attempts;
    let https: Vec<_> = records.iter().filter(|a| a.url == "https://lab.test/").collect();
    assert_eq!(https.len(), 3);
    for a in https {
        assert_eq!(a.result.status, Some(200));
        assert_eq!(a.result.cert_sha256.as_ref().map(String::len), Some(64), "{a:?}");
        assert!(
            a.result.cert_error.as_deref().is_some_and(|e| !e.is_empty()),
            "a bad certificate is recorded: {a:?}"
        );
    }
    // ... and reaches both tables.
    let tls_row = row(&targets, "https://lab.test/");
    assert!(tls_row["cert_error"].as_str().is_some_and(|e| !e.is_empty()), "{tls_row}");
    assert!(connections.iter().filter(|c| c["server_port"] == 443).all(|c| c["cert_error"].is_string()));
    assert!(row(&targets, "http://198.51.100.1/")["cert_error"].is_null());
    assert_eq!(row(&targets, "http://198.51.100.1:81/")["connectivity"], "closed");
    assert_eq!(row(&targets, "http://198.51.100.77/")["connectivity"], "offline");
    let unresolved = row(&targets, "http://nothing.invalid/");
    assert_eq!(unresolved["connectivity"], "unresolved");
    assert_eq!(unresolved["server_ip"], Value::Null);
    let app: Vec<&str> = connections
        .iter()
        .filter(|c| c["server_port"] == 80 && c["server_ip"] == "198.51.100.1")
        .map(|c| c["app_result"].as_str().unwrap())
        .collect();
    assert_eq!(app, vec!["200", "200", "200"]);

    // Bad runs say what is wrong, once: an output folder that does not exist; nothing measured
    // (every target failed before a packet left) is no success.
    let out = lab.collect(&dir.join("missing/x.pcapng"), "2", &["http://198.51.100.1/"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    assert!(stderr.contains("missing/x.pcapng"), "{stderr}");
    let out = lab.collect(&dir.join("nothing.pcapng"), "2", &["http://nothing.invalid/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was measured"));

    // 1b. As an ordinary user (uid nobody, no capabilities): it says what it gives up, measures
    //     anyway in the order given, exits 0, and analyze judges from the kernel's view. The
    //     root runs above left a cookie for 2001:db8:2::1 (198.51.100.1's last fetch, to port 81,
    //     was refused after the flush), which nobody cannot make the kernel forget: that cookie
    //     request went out as a data fetch, and says so.
    let nobody_dir = dir.join("nobody");
    std::fs::create_dir_all(&nobody_dir).unwrap();
    assert!(Command::new("chmod").arg("0777").arg(&nobody_dir).status().unwrap().success());
    let nobody_file = nobody_dir.join("run.pcapng");
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c"), "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "2", "--concurrency", "1", "-o", nobody_file.to_str().unwrap()])
        .args(["http://[2001:db8:2::1]/", "http://198.51.100.1/"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("no CAP_NET_RAW") && stderr.contains("no SYN-ACK TTL, options or frames"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot make the kernel forget cached cookies"), "{stderr}");
    assert!(stdout.contains("no packets captured; the records of every fetch"), "{stdout}");
    let v6 = stdout.find("http://[2001:db8:2::1]/").expect("the IPv6 target");
    let v4 = stdout.find("http://198.51.100.1/ 198.51.100.1").expect("the IPv4 target");
    assert!(v6 < v4, "measured in the order given: {stdout}");
    assert!(
        stdout.contains(
            "http://[2001:db8:2::1]/ 2001:db8:2::1: tfo_cookie_request 200 (a cookie held from before"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("http://198.51.100.1/ 198.51.100.1: tfo_cookie_request 200 (cookie received)"),
        "{stdout}"
    );
    let (connections, targets, _) = analyze(&nobody_file, &dir.join("nobody-out"));
    assert!(connections.is_empty(), "no packets, no connections rows");
    for target in ["http://[2001:db8:2::1]/", "http://198.51.100.1/"] {
        let r = row(&targets, target);
        assert_eq!(r["evidence"], serde_json::json!(["kernel", "echo"]), "{r}");
        assert_eq!(r["connectivity"], "works", "{r}");
        assert!(r["untested"].as_array().unwrap().contains(&serde_json::json!("wire")), "{r}");
        assert!(r["explanation"].as_str().unwrap().contains("judged from what the kernel told"), "{r}");
        assert!(r["signatures"].as_array().unwrap().is_empty(), "a clean path: {r}");
    }
    assert_eq!(
        row(&targets, "http://[2001:db8:2::1]/")["cookie"],
        "cached",
        "judged as the data fetch it was"
    );
    assert_eq!(row(&targets, "http://198.51.100.1/")["cookie"], "received");

    // 2. The cookie flush is real: a second run asks for a cookie again first.
    let second = dir.join("second.pcapng");
    assert!(lab.collect(&second, "2", &["http://198.51.100.1/"]).status.success());
    let (connections, _, _) = analyze(&second, &dir.join("second"));
    assert_eq!(connections[0]["syn_tfo"], "cookie_request", "fetch 1 after the flush");
    assert_eq!(connections[1]["syn_tfo"], "cookie");

    // A Citizen Lab test list as the targets: the category codes reach the targets table.
    let list = dir.join("list.csv");
    std::fs::write(
        &list,
        "url,category_code,category_description,date_added,source,notes\n\
         http://198.51.100.1/,NEWS,News Media,2017-04-12,citizenlab,\"quoted, with a comma\"\n\
         http://198.51.100.1:81/,HUMR,Human Rights Issues,2014-04-15,citizenlab,\n",
    )
    .unwrap();
    let listed = dir.join("listed.pcapng");
    assert!(lab.collect(&listed, "2", &["--targets", list.to_str().unwrap()]).status.success());
    let (_, targets, _) = analyze(&listed, &dir.join("listed"));
    assert_eq!(row(&targets, "http://198.51.100.1/")["category"], "NEWS");
    assert_eq!(row(&targets, "http://198.51.100.1:81/")["category"], "HUMR");

    // 3. A middlebox that drops SYNs carrying data.
    lab.router("iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP");
    let dropped = dir.join("syndata_dropped.pcapng");
    let out = lab.collect(&dropped, "4", &["http://198.51.100.1/"]);
    assert!(out.status.success());
    // The fetch still gets its 200; what the kernel saw says the rest.
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("tfo_data 200 (data not acked, SYN retransmitted)"), "{line}");
    let (_, targets, _) = analyze(&dropped, &dir.join("dropped"));
    let r = row(&targets, "http://198.51.100.1/");
    assert_eq!(r["signatures"], serde_json::json!(["syn_data_dropped"]));
    assert_eq!(r["middlebox"], true);
    assert_eq!(r["measurement_valid"], true);

    // 3a. One name, two addresses (a CDN): the control reached lab.test over IPv4 on a clean
    //     path; the measurement reaches it over IPv6 through a box that strips the TFO options.
    //     The control speaks for the name, so the IPv6 address is judged against it too.
    let control = dir.join("name-control.pcapng");
    assert!(lab
        .collect(&control, "2", &["--resolve", "lab.test:198.51.100.1", "http://lab.test/"])
        .status
        .success());
    lab.router("ip6tables -w -t mangle -A PREROUTING -p tcp --syn -j TCPOPTSTRIP --strip-options 34,254");
    let measured = dir.join("name-measured.pcapng");
    assert!(lab
        .collect(&measured, "2", &["--resolve", "lab.test:2001:db8:2::1", "http://lab.test/"])
        .status
        .success());
    lab.router("ip6tables -w -t mangle -F PREROUTING");
    let measured_row = |targets: &[Value]| -> Value {
        targets
            .iter()
            .find(|t| t["vantage"] == "name-measured" && t["server_ip"] == "2001:db8:2::1")
            .unwrap_or_else(|| panic!("{targets:#?}"))
            .clone()
    };
    // The echo origin says what its listener does, and that the option left and did not
    // arrive: no control needed.
    let (_, targets, _) =
        analyze_with(&["--control", control.to_str().unwrap()], &measured, &dir.join("name-echo"));
    let r = measured_row(&targets);
    assert_eq!(
        r["signatures"],
        serde_json::json!(["option_removed_on_path", "not_negotiated_expected"]),
        "{r}"
    );
    assert!(r["explanation"].as_str().unwrap().contains("the echo origin says the origin does TFO"), "{r}");
    // From the client's side alone, the control decides, by host name.
    let (_, targets, _) = analyze_with(
        &["--client-side-only", "--control", control.to_str().unwrap()],
        &measured,
        &dir.join("name"),
    );
    let r = measured_row(&targets);
    assert_eq!(r["expected_tfo"], true, "the control's verdict reached the other address: {r}");
    assert_eq!(r["signatures"], serde_json::json!(["not_negotiated_expected"]), "{r}");
    assert!(r["explanation"].as_str().unwrap().contains("for the name lab.test"), "{r}");
    assert!(r["arrival_source"].is_null(), "{r}");

    // 3b. The kernel now remembers the lost SYN-data; measuring with its cache kept is spoiled.
    let kept = dir.join("kept.pcapng");
    assert!(lab.collect(&kept, "4", &["--keep-cookies", "http://198.51.100.1/"]).status.success());
    let (_, targets, _) = analyze(&kept, &dir.join("kept"));
    let r = row(&targets, "http://198.51.100.1/");
    assert_eq!(r["measurement_valid"], false, "{r}");
    assert!(r["explanation"].as_str().unwrap().contains("already remembered"), "{r}");
    lab.router("iptables -w -D FORWARD -p tcp --syn -m length --length 81:65535 -j DROP");

    // 3c. A box that takes TFO connections over and answers them with its own page.
    lab.router(
        "iptables -w -t nat -A PREROUTING -p tcp --dport 80 --tcp-option 34 -j REDIRECT --to-ports 3131",
    );
    let hijacked = dir.join("hijacked.pcapng");
    assert!(lab.collect(&hijacked, "2", &["http://198.51.100.1/"]).status.success());
    let (_, targets, _) = analyze(&hijacked, &dir.join("hijacked"));
    let r = row(&targets, "http://198.51.100.1/");
    assert!(r["signatures"].as_array().unwrap().contains(&serde_json::json!("response_differs")), "{r}");
    // The origin answers with echoes, the box with a page of its own.
    assert!(r["explanation"].as_str().unwrap().contains("an answer that is not the echo origin's"), "{r}");
    assert_eq!(r["synack_differs"], true, "the box is a hop nearer: {r}");
    assert_eq!(r["middlebox"], true);
    lab.router("iptables -w -t nat -F PREROUTING");

    // 4. SIGINT mid-run: no new fetches, and the file is finished properly.
    let interrupted = dir.join("interrupted.pcapng");
    let (code, text) =
        lab.collect_then_signal(&interrupted, "-INT", &["http://198.51.100.77/", "http://198.51.100.1/"]);
    assert_eq!(code, Some(130));
    assert!(text.contains("interrupted"), "{text}");
    tshark_opens(&interrupted);
    let (connections, _, summary) = analyze(&interrupted, &dir.join("interrupted"));
    assert!(!summary.contains("PARTIAL"), "a finished file: {summary}");
    assert!(!connections.is_empty());
    assert!(connections.len() < 6, "no new fetches after the signal");
    let _ = std::io::stdout().flush();

    // 5. TFO switched off for clients: a clear refusal naming the sysctl, or --fix-sysctl.
    let client_sysctl = |value: &str| {
        let status = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{PREFIX}-c"),
                "sysctl",
                "-qw",
                &format!("net.ipv4.tcp_fastopen={value}"),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    };
    client_sysctl("0");
    let off = dir.join("off.pcapng");
    let out = lab.collect(&off, "2", &["http://198.51.100.1/"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("net.ipv4.tcp_fastopen = 0"), "names the sysctl");
    assert!(
        stderr.contains("sudo sysctl -w net.ipv4.tcp_fastopen=1") && stderr.contains("--fix-sysctl"),
        "{stderr}"
    );
    let out = lab.collect(&off, "2", &["--fix-sysctl", "http://198.51.100.1/"]);
    assert!(out.status.success());
    let (connections, _, _) = analyze(&off, &dir.join("off"));
    assert_eq!(connections[0]["syn_tfo"], "cookie_request", "TFO was on for the run");
    let now = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c"), "sysctl", "-n", "net.ipv4.tcp_fastopen"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&now.stdout).trim(), "0", "restored afterwards");
    client_sysctl("1");

    // 6. --exclude: never touched, not even a SYN.
    let excluded = dir.join("excluded.pcapng");
    let list = dir.join("exclude.txt");
    std::fs::write(
        &list,
        "# lab hosts we must not touch
198.51.100.0/28
",
    )
    .unwrap();
    let out = lab.collect(
        &excluded,
        "2",
        &["--exclude", list.to_str().unwrap(), "http://198.51.100.1/", "http://[2001:db8:2::1]/"],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("http://198.51.100.1/ excluded"));
    let (connections, _, _) = analyze(&excluded, &dir.join("excluded"));
    assert!(
        connections.iter().all(|c| c["server_ip"] == "2001:db8:2::1"),
        "only the IPv6 origin was fetched"
    );

    // 6b. Its report to a reader that went away (`collect ... | head`): no panic, the capture
    // whole.
    let piped = dir.join("closed-pipe.pcapng");
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c")])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "2", "-o", piped.to_str().unwrap(), "http://198.51.100.1/"])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", out.status);
    let (connections, _, _) = analyze(&piped, &dir.join("closed-pipe"));
    assert_eq!(connections.len(), 3, "the three fetches, captured and linked to their records");
    assert!(connections.iter().all(|c| c["attempt_source"] == "record"));

    // 7. --locate without privileges (raw sockets): refused, naming the capability and the
    //    option; no half-run. (Without --locate an ordinary user measures: 1b.)
    let unprivileged = nobody_dir.join("locate.pcapng");
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-c")])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--locate", "-o", unprivileged.to_str().unwrap(), "http://198.51.100.1/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CAP_NET_RAW") && stderr.contains("--locate"), "{stderr}");
    assert!(!unprivileged.exists(), "no half-run: nothing written");

    // 7b. The kernel's TFO blackhole detection armed (the default before Linux 5.14): a target
    //     whose SYNs all vanish times a TFO socket out twice, and the kernel pauses TFO for the
    //     rest of the run. As nobody: the run warns at its start; the target measured before
    //     keeps a valid verdict, those measured after are not valid, naming the fetch that
    //     went out without TFO (here the tripping target's own next one: 198.51.100.77 is
    //     dropped since section 1, and no cookie is held for it).
    let client_ns = format!("{PREFIX}-c");
    let blackhole_timeout = |secs: &str| {
        let setting = format!("net.ipv4.tcp_fastopen_blackhole_timeout_sec={secs}");
        let status =
            Command::new("ip").args(["netns", "exec", &client_ns, "sysctl", "-qw", &setting]).status();
        assert!(status.unwrap().success(), "{setting}");
    };
    blackhole_timeout("3600");
    let flushed = Command::new("ip")
        .args(["netns", "exec", &client_ns, "ip", "tcp_metrics", "flush", "all"])
        .status()
        .unwrap();
    assert!(flushed.success());
    let blackhole_file = nobody_dir.join("blackhole.pcapng");
    let out = Command::new("ip")
        .args(["netns", "exec", &client_ns, "setpriv", "--reuid=65534", "--regid=65534"])
        .args(["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(env!("CARGO_BIN_EXE_tfoscope"))
        .args(["collect", "--timeout", "8", "--concurrency", "1", "-o", blackhole_file.to_str().unwrap()])
        .args(["http://198.51.100.1/", "http://198.51.100.77/", "http://[2001:db8:2::1]/"])
        .output()
        .unwrap();
    // Disarmed (0 also ends the pause) before anything can fail, for the sections after.
    blackhole_timeout("0");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("tcp_fastopen_blackhole_timeout_sec is on"), "{stderr}");
    let (_, targets, _) = analyze(&blackhole_file, &dir.join("blackhole-out"));
    let before = row(&targets, "http://198.51.100.1/");
    assert_eq!(
        (before["measurement_valid"].as_bool(), before["cookie"].as_str()),
        (Some(true), Some("received"))
    );
    let after = row(&targets, "http://[2001:db8:2::1]/");
    assert_eq!(after["measurement_valid"], false, "{after}");
    let explanation = after["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("blackhole detection paused TFO from")
            && explanation.contains("the fetch to 198.51.100.77:80 went out without it"),
        "{explanation}"
    );

    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
