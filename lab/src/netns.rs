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
    /// The router the scenarios' middleboxes go on (`r`, or `r3` of a chain).
    middlebox: String,
    servers: Vec<Child>,
    /// A scenario's own processes (interceptors), stopped when it ends.
    daemons: Vec<Child>,
}

impl LabNet {
    pub fn client(&self) -> String {
        format!("{}-c", self.prefix)
    }

    /// The router that plays the middlebox.
    pub fn router(&self) -> String {
        self.middlebox.clone()
    }

    pub fn server(&self) -> String {
        format!("{}-s", self.prefix)
    }

    /// Every namespace a lab of this prefix may have made (one router, or a chain of four).
    fn namespaces(prefix: &str) -> Vec<String> {
        ["c", "r", "r1", "r2", "r3", "r4", "s"].iter().map(|n| format!("{prefix}-{n}")).collect()
    }

    /// A lab of `names` (namespace suffixes), removing any left by an earlier run with this
    /// prefix; the middlebox goes on `middlebox`.
    fn empty(prefix: &str, middlebox: &str, names: &[&str]) -> Result<LabNet, LabError> {
        // Interface names are PREFIX-xy and must fit in 15 bytes.
        if prefix.is_empty() || prefix.len() > 10 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(LabError::Prefix(prefix.to_string()));
        }
        remove_namespaces(prefix);
        let net = LabNet {
            prefix: prefix.to_string(),
            middlebox: format!("{prefix}-{middlebox}"),
            servers: Vec::new(),
            daemons: Vec::new(),
        };
        for name in names {
            let ns = format!("{prefix}-{name}");
            run(&["ip", "netns", "add", &ns])?;
            // `ip netns exec` binds these over /etc: an empty resolver configuration, so
            // nothing in the lab can reach the host's DNS resolver.
            let etc = PathBuf::from("/etc/netns").join(&ns);
            std::fs::create_dir_all(&etc).map_err(|e| LabError::Io(etc.display().to_string(), e))?;
            std::fs::write(etc.join("resolv.conf"), "")
                .map_err(|e| LabError::Io(etc.display().to_string(), e))?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// A veth pair between two namespaces, each end `PREFIX-DEV` with its addresses, up.
    fn link(&self, a: (&str, &str, [&str; 2]), b: (&str, &str, [&str; 2])) -> Result<(), LabError> {
        let dev = |d: &str| format!("{}-{d}", self.prefix);
        let (dev_a, dev_b) = (dev(a.1), dev(b.1));
        run(&[
            "ip", "link", "add", &dev_a, "netns", a.0, "type", "veth", "peer", "name", &dev_b, "netns", b.0,
        ])?;
        for (ns, dev, addrs) in [(a.0, &dev_a, a.2), (b.0, &dev_b, b.2)] {
            for addr in addrs {
                run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad"])?;
            }
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// A route in a namespace, IPv4 and IPv6 (`via` each).
    fn route(ns: &str, to: (&str, &str), via: (&str, &str)) -> Result<(), LabError> {
        run(&["ip", "-n", ns, "route", "add", to.0, "via", via.0])?;
        run(&["ip", "-n", ns, "-6", "route", "add", to.1, "via", via.1])?;
        Ok(())
    }

    fn forwarding(&self, router: &str) -> Result<(), LabError> {
        self.exec(router, &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])?;
        Ok(())
    }

    /// The client: TFO client on (MPTCP too), no blackhole pause to spoil the next scenario. Server and
    /// the middlebox router (its proxies): TFO server side on.
    fn tfo_sides(&self) -> Result<(), LabError> {
        self.exec(
            &self.client(),
            &["sysctl", "-qw", "net.ipv4.tcp_fastopen=1", "net.ipv4.tcp_fastopen_blackhole_timeout_sec=0"],
        )?;
        // Nor MPTCP's: one scenario's dropped MP_CAPABLE SYN would stop the next ones asking.
        // (-e: a kernel without MPTCP, or older than its blackhole detection, lacks the keys;
        // the feature scenarios then say what they met.)
        self.exec(
            &self.client(),
            &["sysctl", "-e", "-qw", "net.mptcp.enabled=1", "net.mptcp.blackhole_timeout=0"],
        )?;
        for ns in [&self.middlebox, &self.server()] {
            self.exec(ns, &["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"])?;
        }
        Ok(())
    }

    /// Builds the three namespaces, removing any left by an earlier run with this prefix.
    pub fn create(prefix: &str) -> Result<LabNet, LabError> {
        let net = Self::empty(prefix, "r", &["c", "r", "s"])?;
        let (c, r, s) = (net.client(), net.router(), net.server());
        net.link(
            (&c, "cr", ["192.0.2.1/24", "2001:db8:1::1/64"]),
            (&r, "rc", ["192.0.2.254/24", "2001:db8:1::fe/64"]),
        )?;
        net.link(
            (&r, "rs", ["198.51.100.254/24", "2001:db8:2::fe/64"]),
            (&s, "sr", ["198.51.100.1/24", "2001:db8:2::1/64"]),
        )?;
        Self::route(&c, ("default", "default"), ("192.0.2.254", "2001:db8:1::fe"))?;
        Self::route(&s, ("default", "default"), ("198.51.100.254", "2001:db8:2::fe"))?;
        net.forwarding(&r)?;
        net.tfo_sides()?;
        Ok(net)
    }

    /// A path of four routers, for the hop-limited probes (`collect --locate`): the client,
    /// routers at hops 1 to 4, the origin at hop 5; the middlebox goes on router 3.
    ///
    /// ```text
    /// PREFIX-c 192.0.2.1/25 ─ r1 .126 | .129/30 ─ r2 .130 | .133 ─ r3 .134 | .137 ─ r4 .138 | 198.51.100.254 ─ PREFIX-s 198.51.100.1
    ///          2001:db8:1::1   ::fe | 2001:db8:12::1   ::2 | 2001:db8:23::1  ::2 | 2001:db8:34::1  ::2 | 2001:db8:2::fe     2001:db8:2::1
    /// ```
    pub fn create_chain(prefix: &str) -> Result<LabNet, LabError> {
        let names = ["c", "r1", "r2", "r3", "r4", "s"];
        let net = Self::empty(prefix, "r3", &names)?;
        let all: Vec<String> = names.iter().map(|n| format!("{prefix}-{n}")).collect();
        // Links between neighbours (by position in `all`), each end with its addresses.
        let links: [(usize, [&str; 2], [&str; 2]); 5] = [
            (0, ["192.0.2.1/25", "2001:db8:1::1/64"], ["192.0.2.126/25", "2001:db8:1::fe/64"]),
            (1, ["192.0.2.129/30", "2001:db8:12::1/64"], ["192.0.2.130/30", "2001:db8:12::2/64"]),
            (2, ["192.0.2.133/30", "2001:db8:23::1/64"], ["192.0.2.134/30", "2001:db8:23::2/64"]),
            (3, ["192.0.2.137/30", "2001:db8:34::1/64"], ["192.0.2.138/30", "2001:db8:34::2/64"]),
            (4, ["198.51.100.254/24", "2001:db8:2::fe/64"], ["198.51.100.1/24", "2001:db8:2::1/64"]),
        ];
        for (a, a_addrs, b_addrs) in links {
            let b = a + 1;
            net.link((&all[a], &format!("{a}{b}"), a_addrs), (&all[b], &format!("{b}{a}"), b_addrs))?;
        }
        Self::route(&all[0], ("default", "default"), ("192.0.2.126", "2001:db8:1::fe"))?;
        // Toward the server: each router's next one; toward the client: its previous one.
        let next = [
            ("192.0.2.130", "2001:db8:12::2"),
            ("192.0.2.134", "2001:db8:23::2"),
            ("192.0.2.138", "2001:db8:34::2"),
        ];
        let prev = [
            ("192.0.2.129", "2001:db8:12::1"),
            ("192.0.2.133", "2001:db8:23::1"),
            ("192.0.2.137", "2001:db8:34::1"),
        ];
        for (k, router) in all[1..5].iter().enumerate() {
            if let Some(&via) = next.get(k) {
                Self::route(router, ("default", "default"), via)?;
            }
            if k > 0 {
                Self::route(router, ("192.0.2.0/25", "2001:db8:1::/64"), prev[k - 1])?;
            }
            net.forwarding(router)?;
        }
        Self::route(&all[5], ("default", "default"), ("198.51.100.254", "2001:db8:2::fe"))?;
        net.tfo_sides()?;
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

    /// Sets what a scenario needs beyond the router's rules, or (`None`) puts the defaults
    /// back: the client's TCP timestamps; the router's path for large SYNs (they are marked
    /// and routed through a table whose route to the origin has the MTU). Putting back also
    /// forgets the path MTUs the client learnt.
    pub fn apply_setup(&self, setup: Option<crate::scenario::Setup>) -> Result<(), LabError> {
        let (c, r) = (self.client(), self.router());
        let given = setup.unwrap_or(crate::scenario::Setup::NONE);
        let timestamps = format!("net.ipv4.tcp_timestamps={}", u8::from(given.client_timestamps));
        self.exec(&c, &["sysctl", "-qw", &timestamps])?;
        let dev = format!("{}-rs", self.prefix);
        let (mark, table) = (SYN_PATH_MARK, SYN_PATH_TABLE);
        match given.syn_path_mtu {
            Some(mtu) => {
                let mtu = mtu.to_string();
                let larger = format!("{}:65535", mtu.parse::<u32>().unwrap_or(1280) + 1);
                for (family, tool, net) in
                    [("-4", "iptables", "198.51.100.0/24"), ("-6", "ip6tables", "2001:db8:2::/64")]
                {
                    self.exec(
                        &r,
                        &[
                            "ip", family, "route", "replace", net, "dev", &dev, "mtu", "lock", &mtu, "table",
                            table,
                        ],
                    )?;
                    self.exec(&r, &["ip", family, "rule", "add", "fwmark", mark, "table", table])?;
                    let syn = ["-p", "tcp", "--syn", "-m", "length", "--length", &larger];
                    let mut rule = vec![tool, "-w", "-t", "mangle", "-A", "PREROUTING"];
                    rule.extend_from_slice(&syn);
                    rule.extend_from_slice(&["-j", "MARK", "--set-mark", mark]);
                    self.exec(&r, &rule)?;
                }
            }
            None => {
                for family in ["-4", "-6"] {
                    // Absent unless a scenario made them: errors are expected, and ignored.
                    let _ = self.exec(&r, &["ip", family, "rule", "del", "fwmark", mark, "table", table]);
                    let _ = self.exec(&r, &["ip", family, "route", "flush", "table", table]);
                    self.exec(&c, &["ip", family, "route", "flush", "cache"])?;
                }
            }
        }
        Ok(())
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

/// The router's mark and routing table for SYNs larger than a scenario's path MTU.
const SYN_PATH_MARK: &str = "0x80";
const SYN_PATH_TABLE: &str = "128";

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
