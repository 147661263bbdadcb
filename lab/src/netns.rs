//! The lab's network: three namespaces in a row, client — router — server, joined by veth
//! pairs, with documentation addresses only:
//!
//! ```text
//! PREFIX-c 192.0.2.1 2001:db8:1::1 ── PREFIX-r 192.0.2.254 2001:db8:1::fe
//!                                             198.51.100.254 2001:db8:2::fe ── PREFIX-s 198.51.100.1 2001:db8:2::1
//! ```
//!
//! Everything is made with `ip` and removed on drop, after a panic too; a run killed outright
//! leaves namespaces that the next run with the same prefix removes first.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::LabError;

pub const CLIENT_V4: &str = "192.0.2.1";
pub const SERVER_V4: &str = "198.51.100.1";
pub const SERVER_V6: &str = "2001:db8:2::1";

/// Runs a command, failing with its words and stderr.
pub fn run(args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command { command: args.join(" "), detail: e.to_string() })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: args.join(" "),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

pub struct LabNet {
    pub prefix: String,
    servers: Vec<Child>,
    /// A scenario's own processes (interceptors), stopped when it ends.
    daemons: Vec<Child>,
}

impl LabNet {
    pub fn client(&self) -> String {
        format!("{}-c", self.prefix)
    }

    pub fn router(&self) -> String {
        format!("{}-r", self.prefix)
    }

    pub fn server(&self) -> String {
        format!("{}-s", self.prefix)
    }

    fn namespaces(prefix: &str) -> [String; 3] {
        [format!("{prefix}-c"), format!("{prefix}-r"), format!("{prefix}-s")]
    }

    /// Builds the three namespaces, removing any left by an earlier run with this prefix.
    pub fn create(prefix: &str) -> Result<LabNet, LabError> {
        // Interface names are PREFIX-xy and must fit in 15 bytes.
        if prefix.is_empty() || prefix.len() > 10 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(LabError::Prefix(prefix.to_string()));
        }
        remove_namespaces(prefix);
        let net = LabNet { prefix: prefix.to_string(), servers: Vec::new(), daemons: Vec::new() };
        let (c, r, s) = (net.client(), net.router(), net.server());
        let p = prefix;
        for ns in [&c, &r, &s] {
            run(&["ip", "netns", "add", ns])?;
            // `ip netns exec` binds these over /etc: an empty resolver configuration, so
            // nothing in the lab can reach the host's DNS resolver.
            let etc = PathBuf::from("/etc/netns").join(ns);
            std::fs::create_dir_all(&etc).map_err(|e| LabError::Io(etc.display().to_string(), e))?;
            std::fs::write(etc.join("resolv.conf"), "")
                .map_err(|e| LabError::Io(etc.display().to_string(), e))?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        let (cr, rc, rs, sr) = (format!("{p}-cr"), format!("{p}-rc"), format!("{p}-rs"), format!("{p}-sr"));
        run(&["ip", "link", "add", &cr, "netns", &c, "type", "veth", "peer", "name", &rc, "netns", &r])?;
        run(&["ip", "link", "add", &rs, "netns", &r, "type", "veth", "peer", "name", &sr, "netns", &s])?;
        for (ns, dev, addrs) in [
            (&c, &cr, ["192.0.2.1/24", "2001:db8:1::1/64"]),
            (&r, &rc, ["192.0.2.254/24", "2001:db8:1::fe/64"]),
            (&r, &rs, ["198.51.100.254/24", "2001:db8:2::fe/64"]),
            (&s, &sr, ["198.51.100.1/24", "2001:db8:2::1/64"]),
        ] {
            for addr in addrs {
                run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad"])?;
            }
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        run(&["ip", "-n", &c, "route", "add", "default", "via", "192.0.2.254"])?;
        run(&["ip", "-n", &c, "-6", "route", "add", "default", "via", "2001:db8:1::fe"])?;
        run(&["ip", "-n", &s, "route", "add", "default", "via", "198.51.100.254"])?;
        run(&["ip", "-n", &s, "-6", "route", "add", "default", "via", "2001:db8:2::fe"])?;
        net.exec(&r, &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])?;
        // The client: TFO client on, no blackhole pause to spoil the next scenario. Server and
        // router (its proxies): TFO server side on.
        net.exec(
            &c,
            &["sysctl", "-qw", "net.ipv4.tcp_fastopen=1", "net.ipv4.tcp_fastopen_blackhole_timeout_sec=0"],
        )?;
        for ns in [&r, &s] {
            net.exec(ns, &["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"])?;
        }
        Ok(net)
    }

    /// Runs a command inside a namespace.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<String, LabError> {
        let mut all = vec!["ip", "netns", "exec", ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Starts a long-running server in a namespace and waits for it to print `ready`.
    pub fn spawn_server(
        &mut self,
        ns: &str,
        program: &std::path::Path,
        args: &[String],
    ) -> Result<(), LabError> {
        let describe = format!("{} {}", program.display(), args.join(" "));
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| LabError::Command { command: describe.clone(), detail: e.to_string() })?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        if ready.trim() != "ready" {
            let _ = child.kill();
            let output = child.wait_with_output().ok();
            let stderr = output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
            return Err(LabError::Command {
                command: describe,
                detail: format!("did not start: {}", stderr.trim()),
            });
        }
        // The servers log a line per connection: drain it, or a full pipe would stall them.
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        }
        self.servers.push(child);
        Ok(())
    }

    /// Starts a program of the scenario's (an interceptor) in a namespace, its output in
    /// `log`, and waits until something listens on TCP `port` there.
    pub fn spawn_daemon(&mut self, ns: &str, args: &[String], port: u16, log: &Path) -> Result<(), LabError> {
        let describe = args.join(" ");
        let log_file = std::fs::File::create(log).map_err(|e| LabError::Io(log.display().to_string(), e))?;
        let err_file = log_file.try_clone().map_err(|e| LabError::Io(log.display().to_string(), e))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .map_err(|e| LabError::Command { command: describe.clone(), detail: e.to_string() })?;
        self.daemons.push(child);
        let filter = format!("sport = :{port}");
        for _ in 0..100 {
            if !self.exec(ns, &["ss", "-Hltn", &filter])?.trim().is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = std::fs::read_to_string(log).unwrap_or_default();
        self.stop_daemons();
        Err(LabError::Command {
            command: describe,
            detail: format!("nothing listened on port {port}: {}", output.trim()),
        })
    }

    pub fn stop_daemons(&mut self) {
        for mut child in self.daemons.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `ip netns exec` is gone, but what it started may remain: the router's listeners on
        // the interceptors' ports go with their processes.
    }

    /// Removes every middlebox rule from the router.
    pub fn clear_router(&self) -> Result<(), LabError> {
        let r = self.router();
        for tool in ["iptables", "ip6tables"] {
            for table in ["filter", "nat", "mangle"] {
                self.exec(&r, &[tool, "-w", "-t", table, "-F"])?;
            }
        }
        Ok(())
    }
}

impl Drop for LabNet {
    fn drop(&mut self) {
        self.stop_daemons();
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_namespaces(&self.prefix);
    }
}

/// Deleting a namespace removes its veth ends (and so their peers) with it.
fn remove_namespaces(prefix: &str) {
    for ns in LabNet::namespaces(prefix) {
        // A process still inside would keep the namespace alive: kill what a killed run left.
        if let Ok(pids) = run(&["ip", "netns", "pids", &ns]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-9", pid]);
            }
        }
        let _ = run(&["ip", "netns", "delete", &ns]);
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(&ns));
    }
}
