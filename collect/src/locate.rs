//! `collect --locate`: hop-limited SYNs crafted on a raw socket, as tracebox and Paris
//! traceroute send them. Every probe of a target has the same flow fields (addresses and
//! ports: ECMP routers keep them on one path) and its own sequence number; none is resent
//! (a kernel socket would resend a dropped TFO SYN as a plain one, whose answer would look
//! like a change). One probe is outstanding at a time; the answer (an ICMP error quoting the
//! probe, a SYN-ACK or an RST) is awaited on raw sockets, and the capture keeps it for the
//! analyzer. Probing stops one hop after the origin answered.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tfoscope_wire::attempt::FetchKind;
use tfoscope_wire::decode::{self, link::LINKTYPE_RAW, Packet, TCP_ACK, TCP_RST, TCP_SYN};
use tfoscope_wire::feature::{Feature, Features, TCP_CWR, TCP_ECE};

use crate::fetch::now_ns;

#[derive(Debug, Clone)]
pub struct LocateConfig {
    /// Hop limits 1 to this.
    pub max_hops: u8,
    /// The second port (None: the target's port plus one).
    pub port: Option<u16>,
    /// How long to await each probe's answer.
    pub wait: Duration,
}

/// One probe to send: the same flow for a target, its own sequence number.
#[derive(Debug, Clone)]
pub struct Probe {
    pub kind: FetchKind,
    /// What the SYN asks for beside its TFO kind: MPTCP (MP_CAPABLE) or ECN (ECE+CWR), one
    /// at a time, on a `plain` probe; none on the others.
    pub features: Features,
    pub port: u16,
    pub hop_limit: u8,
    pub isn: u32,
    pub segment: Vec<u8>,
}

/// What came back for one probe.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub probe: Probe,
    pub sent_ns: i64,
    /// `time_exceeded`, `synack`, `rst`, `unreachable`, `none`.
    pub reply: &'static str,
    /// The answer came from the target's address (a SYN-ACK or RST).
    pub from_target: bool,
}

/// What one target's probing needs.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    pub target: SocketAddr,
    pub local_port: u16,
    /// The cookie the fetches got (from the kernel's cache), else None: a well-formed cookie
    /// the origin will refuse still carries the data past the boxes.
    pub cookie: Option<Vec<u8>>,
    /// What the SYN-data probe carries (the fetch's request).
    pub data: Vec<u8>,
    /// The run's features: each beside TFO gets a probe of its own at every hop.
    pub features: Features,
}

impl Probe {
    /// The plain SYN to the target's port or the second one: what every other probe is held to.
    fn baseline(&self) -> bool {
        self.kind == FetchKind::Plain && self.features.is_empty()
    }
}

/// The source address the kernel would use toward `target`.
fn source_for(target: IpAddr) -> io::Result<IpAddr> {
    let unspecified: SocketAddr =
        if target.is_ipv4() { "0.0.0.0:0".parse() } else { "[::]:0".parse() }.expect("literal");
    let udp = UdpSocket::bind(unspecified)?;
    udp.connect(SocketAddr::new(target, 9))?;
    Ok(udp.local_addr()?.ip())
}

/// The Internet checksum of TCP over IPv4 or IPv6, with its pseudo-header.
fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
            sum = sum.wrapping_add(u32::from(word));
        }
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            add(&s.octets());
            add(&d.octets());
            add(&[0, 6]);
            add(&(segment.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            add(&s.octets());
            add(&d.octets());
            add(&(segment.len() as u32).to_be_bytes());
            add(&[0, 0, 0, 6]);
        }
        _ => {}
    }
    add(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A SYN as Linux builds one (MSS, SACK permitted, timestamps, window scale), with the TFO
/// option of `kind` and, for SYN-data, `data`; MP_CAPABLE (version 1, as a Linux SYN has it)
/// and ECE+CWR where `features` ask for MPTCP and ECN.
pub fn syn_segment(
    src: SocketAddr,
    dst: SocketAddr,
    isn: u32,
    tsval: u32,
    (kind, features): (FetchKind, Features),
    cookie: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let mss: u16 = if src.is_ipv4() { 1460 } else { 1440 };
    let mut options = vec![2, 4];
    options.extend_from_slice(&mss.to_be_bytes());
    options.extend_from_slice(&[4, 2, 8, 10]);
    options.extend_from_slice(&tsval.to_be_bytes());
    options.extend_from_slice(&0u32.to_be_bytes());
    options.extend_from_slice(&[1, 3, 3, 7]);
    match kind {
        FetchKind::Plain => {}
        FetchKind::TfoCookieRequest => options.extend_from_slice(&[34, 2]),
        FetchKind::TfoData => {
            options.extend_from_slice(&[34, 2 + cookie.len() as u8]);
            options.extend_from_slice(cookie);
        }
    }
    if features.contains(Feature::Mptcp) {
        options.extend_from_slice(&MP_CAPABLE_SYN);
    }
    while options.len() % 4 != 0 {
        options.push(1);
    }
    let header_len = 20 + options.len();
    let mut segment = Vec::with_capacity(header_len + data.len());
    segment.extend_from_slice(&src.port().to_be_bytes());
    segment.extend_from_slice(&dst.port().to_be_bytes());
    segment.extend_from_slice(&isn.to_be_bytes());
    segment.extend_from_slice(&0u32.to_be_bytes());
    segment.push(((header_len / 4) << 4) as u8);
    segment.push(if features.contains(Feature::Ecn) { TCP_SYN | TCP_ECE | TCP_CWR } else { TCP_SYN });
    segment.extend_from_slice(&64240u16.to_be_bytes());
    segment.extend_from_slice(&[0, 0, 0, 0]);
    segment.extend_from_slice(&options);
    if kind == FetchKind::TfoData {
        segment.extend_from_slice(data);
    }
    let checksum = tcp_checksum(src.ip(), dst.ip(), &segment);
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    segment
}

/// The probes of one hop limit: a plain SYN, a cookie request and SYN-data to the target's
/// port, a SYN asking for each other feature of the run (MPTCP, ECN) alone, and a plain SYN
/// to the second port.
fn probes_at(
    hop: u8,
    src: SocketAddr,
    plan: &ProbePlan,
    second_port: u16,
    base_isn: u32,
    tsval: u32,
) -> Vec<Probe> {
    let port = plan.target.port();
    let mut kinds = vec![
        ((FetchKind::Plain, Features::NONE), port),
        ((FetchKind::TfoCookieRequest, Features::TFO), port),
        ((FetchKind::TfoData, Features::TFO), port),
    ];
    for feature in plan.features.iter().filter(|f| *f != Feature::Tfo) {
        kinds.push(((FetchKind::Plain, Features::of([feature])), port));
    }
    kinds.push(((FetchKind::Plain, Features::NONE), second_port));
    kinds
        .iter()
        .enumerate()
        .map(|(i, &(kind, port))| {
            plan.probe(kind, port, hop, base_isn.wrapping_add(u32::from(hop) << 8 | i as u32), src, tsval)
        })
        .collect()
}

impl ProbePlan {
    /// One probe of this plan: its kind, port, hop limit and sequence number.
    fn probe(
        &self,
        (kind, features): (FetchKind, Features),
        port: u16,
        hop_limit: u8,
        isn: u32,
        src: SocketAddr,
        tsval: u32,
    ) -> Probe {
        // A cookie of the RFC's form the origin will refuse, where the fetches got none.
        let cookie =
            self.cookie.clone().filter(|c| (4..=16).contains(&c.len())).unwrap_or_else(|| vec![0x5a; 8]);
        let dst = SocketAddr::new(self.target.ip(), port);
        Probe {
            kind,
            port,
            hop_limit,
            isn,
            features,
            segment: syn_segment(src, dst, isn, tsval, (kind, features), &cookie, &self.data),
        }
    }
}

/// MP_CAPABLE as Linux puts it in a SYN: kind 30, length 4, subtype 0 version 1, flag H
/// (HMAC-SHA256).
const MP_CAPABLE_SYN: [u8; 4] = [30, 4, 0x01, 0x01];

/// Hops probed past the target port's first answer while the second port is silent.
const SECOND_PORT_SLACK: u8 = 3;
/// Long enough for a rate-limiting router to have a token again.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(1);

/// The same probe again, with a sequence number of its own (the flow stays the same).
fn reprobe(probe: &Probe, src: SocketAddr, plan: &ProbePlan, tsval: u32) -> Probe {
    plan.probe((probe.kind, probe.features), probe.port, probe.hop_limit, probe.isn ^ 0x0000_8000, src, tsval)
}

/// The raw sockets of one target's probing: TCP out (and SYN-ACKs, RSTs in), ICMP in.
struct RawSockets {
    tcp: Socket,
    icmp: Socket,
    v6: bool,
}

impl RawSockets {
    fn open(v6: bool) -> io::Result<RawSockets> {
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let icmp = if v6 { Protocol::ICMPV6 } else { Protocol::ICMPV4 };
        let tcp = Socket::new(domain, Type::RAW, Some(Protocol::TCP))?;
        let icmp = Socket::new(domain, Type::RAW, Some(icmp))?;
        tcp.set_nonblocking(true)?;
        icmp.set_nonblocking(true)?;
        Ok(RawSockets { tcp, icmp, v6 })
    }

    fn send(&self, probe: &Probe, target: IpAddr) -> io::Result<()> {
        if self.v6 {
            self.tcp.set_unicast_hops_v6(u32::from(probe.hop_limit))?;
        } else {
            self.tcp.set_ttl_v4(u32::from(probe.hop_limit))?;
        }
        // Raw sockets take no port in the address.
        self.tcp.send_to(&probe.segment, &SockAddr::from(SocketAddr::new(target, 0)))?;
        Ok(())
    }

    /// Waits up to `wait` for the answer to `probe`.
    fn await_reply(&self, probe: &Probe, plan: &ProbePlan, wait: Duration) -> (&'static str, bool) {
        let deadline = Instant::now() + wait;
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let mut fds = [
                libc::pollfd { fd: self.tcp.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.icmp.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: two pollfds we own, for the length given.
            #[allow(unsafe_code)]
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, left.as_millis().max(1) as libc::c_int) };
            if ready <= 0 {
                continue;
            }
            for (socket, is_icmp) in [(&self.tcp, false), (&self.icmp, true)] {
                while let Ok((n, from)) = socket.recv_from(&mut buf) {
                    // SAFETY: recv_from initialised the first n bytes.
                    #[allow(unsafe_code)]
                    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n) };
                    let from = from.as_socket().map(|a| a.ip());
                    if let Some(reply) = self.match_reply(bytes, from, is_icmp, probe, plan) {
                        return reply;
                    }
                }
            }
        }
        ("none", false)
    }

    /// Whether `bytes` answer `probe`: an ICMP error quoting it, or a SYN-ACK or RST to it.
    fn match_reply(
        &self,
        bytes: &[u8],
        from: Option<IpAddr>,
        is_icmp: bool,
        probe: &Probe,
        plan: &ProbePlan,
    ) -> Option<(&'static str, bool)> {
        let ours = |src_port: u16, dst_port: u16| src_port == plan.local_port && dst_port == probe.port;
        if is_icmp {
            fn raw(bytes: &[u8]) -> Result<Packet<'_>, decode::DecodeError> {
                decode::decode(pcap_parser::Linktype(LINKTYPE_RAW), bytes)
            }
            let (kind, exceeded, quoted_ports, quoted_seq) = if self.v6 {
                // ICMPv6 arrives without its IPv6 header: type, code, checksum, 4 unused bytes,
                // then the quoted packet, which the analyzer's decoder reads.
                let kind = *bytes.first()?;
                let Ok(Packet::Tcp { tcp, .. }) = raw(bytes.get(8..)?) else { return None };
                ((1..=4).contains(&kind), kind == 3, (tcp.src_port, tcp.dst_port), tcp.seq)
            } else {
                let Ok(Packet::IcmpError { error, .. }) = raw(bytes) else { return None };
                let q = error.quoted;
                (true, error.is_time_exceeded(), (q.src_port, q.dst_port), q.seq)
            };
            return (kind && ours(quoted_ports.0, quoted_ports.1) && quoted_seq == probe.isn)
                .then_some((if exceeded { "time_exceeded" } else { "unreachable" }, false));
        }
        // TCP: IPv4 raw sockets hand the IP header too, IPv6 ones only the segment.
        let tcp = if self.v6 { bytes } else { bytes.get(usize::from(bytes.first()? & 0x0f) * 4..)? };
        let fixed = tcp.get(..14)?;
        let (sp, dp) = (u16::from_be_bytes([fixed[0], fixed[1]]), u16::from_be_bytes([fixed[2], fixed[3]]));
        let ack = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        let flags = fixed[13];
        if from != Some(plan.target.ip()) || !ours(dp, sp) {
            return None;
        }
        let data = if probe.kind == FetchKind::TfoData {
            probe.segment.len() - (usize::from(probe.segment[12] >> 4) * 4)
        } else {
            0
        };
        let acks_probe = ack == probe.isn.wrapping_add(1) || ack == probe.isn.wrapping_add(1 + data as u32);
        if !acks_probe {
            return None;
        }
        if flags & TCP_RST != 0 {
            Some(("rst", true))
        } else if flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK {
            Some(("synack", true))
        } else {
            None
        }
    }
}

/// Probes one target hop by hop (1 to `max_hops`), pacing by `pace`, until one hop after the
/// origin answered, or `stop`. `on_probe` gets each outcome as it comes (for the records).
pub fn locate(
    plan: &ProbePlan,
    config: &LocateConfig,
    pace: Duration,
    stop: &AtomicBool,
    mut on_probe: impl FnMut(&ProbeOutcome),
) -> io::Result<Vec<ProbeOutcome>> {
    let v6 = plan.target.is_ipv6();
    let sockets = RawSockets::open(v6)?;
    let src = SocketAddr::new(source_for(plan.target.ip())?, plan.local_port);
    let second_port = config.port.unwrap_or(plan.target.port().wrapping_add(1));
    let base_isn = (now_ns() as u32).wrapping_mul(2_654_435_761) & 0xffff_0000;
    let tsval = (now_ns() / 1_000_000) as u32;
    let mut outcomes = Vec::new();
    // The origin's distance comes from the second port (a proxy answers the target's port
    // nearer); the target port's first answer only bounds how long to wait for it.
    let (mut second_answered_at, mut target_answered_at): (Option<u8>, Option<u8>) = (None, None);
    for hop in 1..=config.max_hops.max(1) {
        let done = match (second_answered_at, target_answered_at) {
            (Some(at), _) => hop > at + 1,
            (None, Some(at)) => hop > at + SECOND_PORT_SLACK,
            (None, None) => false,
        };
        if done {
            break;
        }
        for probe in probes_at(hop, src, plan, second_port, base_isn, tsval) {
            // Silence may be a router's ICMP rate limit (Linux: a burst of six, then one a
            // second): once, after a pause, the same probe again with a sequence number of its
            // own. A box that drops the probe drops it again.
            for attempt in 0..2u32 {
                if stop.load(Ordering::Relaxed) {
                    return Ok(outcomes);
                }
                let mut probe = probe.clone();
                if attempt > 0 {
                    std::thread::sleep(RATE_LIMIT_PAUSE);
                    probe = reprobe(&probe, src, plan, tsval);
                }
                let sent_ns = now_ns();
                sockets.send(&probe, plan.target.ip())?;
                let (reply, from_target) = sockets.await_reply(&probe, plan, config.wait);
                if from_target && probe.baseline() {
                    let at = if probe.port == plan.target.port() {
                        &mut target_answered_at
                    } else {
                        &mut second_answered_at
                    };
                    at.get_or_insert(hop);
                }
                let answered = reply != "none";
                let outcome = ProbeOutcome { probe, sent_ns, reply, from_target };
                on_probe(&outcome);
                outcomes.push(outcome);
                std::thread::sleep(pace);
                if answered {
                    break;
                }
            }
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crafted_syn_decodes_as_what_it_was_meant_to_be() {
        let src: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let dst: SocketAddr = "198.51.100.1:80".parse().unwrap();
        let segment = syn_segment(
            src,
            dst,
            777,
            5,
            (FetchKind::TfoData, Features::TFO),
            &[1; 8],
            b"GET / HTTP/1.1\r\n\r\n",
        );
        // The checksum over the pseudo-header and segment sums to zero.
        assert_eq!(tcp_checksum(src.ip(), dst.ip(), &segment), 0);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 7, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1];
        let total = (ip.len() + segment.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&segment);
        let Ok(Packet::Tcp { tcp, ip: info }) = decode::decode(pcap_parser::Linktype(LINKTYPE_RAW), &ip)
        else {
            panic!("decodes");
        };
        assert_eq!((info.ttl, tcp.seq, tcp.payload_len), (7, 777, 18));
        let summary = decode::OptionSummary::of(tcp.options());
        assert_eq!(summary.kinds(), &[2, 4, 8, 1, 3, 34, 1, 1]);
        assert!(matches!(summary.tfo, Some((_, decode::Tfo::Cookie(c))) if c == [1; 8]));
        let v6 = syn_segment(
            "[2001:db8:1::1]:40000".parse().unwrap(),
            "[2001:db8:2::1]:80".parse().unwrap(),
            1,
            5,
            (FetchKind::TfoCookieRequest, Features::TFO),
            &[],
            &[],
        );
        assert_eq!(tcp_checksum("2001:db8:1::1".parse().unwrap(), "2001:db8:2::1".parse().unwrap(), &v6), 0);
    }

    #[test]
    fn feature_probes_ask_for_mptcp_and_ecn_as_a_linux_syn_does() {
        let (src, dst) = ("192.0.2.1:40000".parse().unwrap(), "198.51.100.1:80".parse().unwrap());
        for (features, flags) in [("mptcp", TCP_SYN), ("ecn", TCP_SYN | TCP_ECE | TCP_CWR)] {
            let features = Features::parse_list(features).unwrap();
            let segment = syn_segment(src, dst, 9, 5, (FetchKind::Plain, features), &[], &[]);
            assert_eq!(segment[13], flags);
            let header_len = usize::from(segment[12] >> 4) * 4;
            let summary =
                decode::OptionSummary::of(decode::OptionIter::new(&segment[20..header_len], header_len - 20));
            // What the analyzer reads back is what the probe asked for.
            assert_eq!(Features::of_syn(segment[13], &summary), features, "{features}");
            // MP_CAPABLE as Linux sends it in a SYN: length 4, version 1, flag H.
            let has_mp_capable = segment[20..header_len].windows(4).any(|w| w == [30, 4, 0x01, 0x01]);
            assert_eq!(has_mp_capable, features.contains(Feature::Mptcp));
            assert_eq!(tcp_checksum(src.ip(), dst.ip(), &segment), 0);
        }
    }

    #[test]
    fn each_hop_sends_three_kinds_to_the_port_and_a_plain_syn_to_the_second() {
        let mut plan = ProbePlan {
            target: "198.51.100.1:80".parse().unwrap(),
            local_port: 40000,
            cookie: None,
            data: b"x".to_vec(),
            features: Features::TFO,
        };
        let probes = probes_at(3, "192.0.2.1:40000".parse().unwrap(), &plan, 81, 0x1234_0000, 5);
        let kinds: Vec<(FetchKind, u16)> = probes.iter().map(|p| (p.kind, p.port)).collect();
        assert_eq!(
            kinds,
            [
                (FetchKind::Plain, 80),
                (FetchKind::TfoCookieRequest, 80),
                (FetchKind::TfoData, 80),
                (FetchKind::Plain, 81)
            ]
        );
        let mut isns: Vec<u32> = probes.iter().map(|p| p.isn).collect();
        isns.dedup();
        assert_eq!(isns.len(), 4, "each probe its own sequence number");
        assert!(probes.iter().all(|p| p.segment[..2] == 40000u16.to_be_bytes()), "one source port");

        // With MPTCP and ECN among the run's features: a probe of each alone, before the second port.
        plan.features = Features::parse_list("tfo,mptcp,ecn").unwrap();
        let probes = probes_at(3, "192.0.2.1:40000".parse().unwrap(), &plan, 81, 0x1234_0000, 5);
        let classes: Vec<String> =
            probes.iter().map(|p| format!("{}:{}:{}", p.kind, p.features, p.port)).collect();
        assert_eq!(
            classes,
            [
                "plain:none:80",
                "tfo_cookie_request:tfo:80",
                "tfo_data:tfo:80",
                "plain:mptcp:80",
                "plain:ecn:80",
                "plain:none:81"
            ]
        );
        assert_eq!(probes.iter().filter(|p| p.baseline()).count(), 2);
        let mut isns: Vec<u32> = probes.iter().map(|p| p.isn).collect();
        isns.sort_unstable();
        isns.dedup();
        assert_eq!(isns.len(), probes.len(), "each probe its own sequence number");
    }
}
