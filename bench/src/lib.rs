//! Synthetic TFO captures with known truth, for the benchmarks: Ethernet frames in a legacy
//! pcap (microseconds), IPv4 and IPv6 mixed, many connections open at once and their packets
//! interleaved, each connection one of a fixed set of TFO behaviours. Alongside each capture,
//! the truth: what `tfoscope analyze` must report for every connection.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::PacketBuilder;

/// What a generated connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// No TFO.
    Plain,
    /// Cookie request (kind 34) answered with a cookie.
    CookieGranted,
    /// Cookie request answered without one.
    CookieNotGranted,
    /// SYN with a cookie and data; the SYN-ACK acks the data.
    SynDataAcked,
    /// SYN with a cookie and data; the SYN-ACK acks only the SYN, the data is sent again.
    SynDataIgnored,
    /// Cookie request and cookie in the experimental option 254 with magic 0xF989.
    Experimental,
    /// SYN-data unanswered; the plain retransmission is answered, the data sent again.
    SynDataDropped,
}

impl Behaviour {
    pub const ALL: [Behaviour; 7] = [
        Behaviour::Plain,
        Behaviour::CookieGranted,
        Behaviour::CookieNotGranted,
        Behaviour::SynDataAcked,
        Behaviour::SynDataIgnored,
        Behaviour::Experimental,
        Behaviour::SynDataDropped,
    ];
}

/// What analyze must say of one connection, in the connections table's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub isn: u32,
    pub behaviour: Behaviour,
    pub syn_tfo: &'static str,
    pub syn_tfo_kind: Option<u8>,
    pub syn_data_len: u32,
    pub synack_tfo: &'static str,
    pub synack_tfo_kind: Option<u8>,
    pub synack_answers: &'static str,
    pub syn_data_acked: Option<&'static str>,
    pub outcome: &'static str,
}

impl Truth {
    pub const CSV_HEADER: &'static str = "client_ip,client_port,server_ip,server_port,client_isn,behaviour,syn_tfo,syn_tfo_kind,syn_data_len,synack_tfo,synack_tfo_kind,synack_answers,syn_data_acked,outcome";

    pub fn csv_row(&self) -> String {
        let opt = |v: Option<u8>| v.map_or(String::new(), |k| k.to_string());
        format!(
            "{},{},{},{},{},{:?},{},{},{},{},{},{},{},{}",
            self.client.ip(),
            self.client.port(),
            self.server.ip(),
            self.server.port(),
            self.isn,
            self.behaviour,
            self.syn_tfo,
            opt(self.syn_tfo_kind),
            self.syn_data_len,
            self.synack_tfo,
            opt(self.synack_tfo_kind),
            self.synack_answers,
            self.syn_data_acked.unwrap_or(""),
            self.outcome
        )
    }
}

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const DATA_LEN: usize = 100;
/// Payload of a full-sized segment (Ethernet MTU, timestamps on).
const MSS: usize = 1448;
const COOKIE: [u8; 8] = [0xc0, 0x0c, 0x1e, 0x5a, 0x11, 0x22, 0x33, 0x44];

/// One connection's packets, in order, before interleaving.
struct Segment {
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    options: Vec<u8>,
    payload_len: usize,
}

fn timestamps(tsval: u32, tsecr: u32) -> [u8; 10] {
    let mut o = [8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
    o[2..6].copy_from_slice(&tsval.to_be_bytes());
    o[6..10].copy_from_slice(&tsecr.to_be_bytes());
    o
}

/// MSS, SACK permitted, timestamps, NOP, window scale: 20 bytes, then `extra` padded with NOPs.
fn syn_options(tsval: u32, tsecr: u32, extra: &[u8]) -> Vec<u8> {
    let mut o = vec![2, 4, 0x05, 0xb4, 4, 2];
    o.extend_from_slice(&timestamps(tsval, tsecr));
    o.extend_from_slice(&[1, 3, 3, 7]);
    o.extend_from_slice(extra);
    while o.len() % 4 != 0 {
        o.push(1);
    }
    o
}

fn data_options(tsval: u32, tsecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1];
    o.extend_from_slice(&timestamps(tsval, tsecr));
    o
}

fn rfc_cookie() -> Vec<u8> {
    let mut o = vec![34, 10];
    o.extend_from_slice(&COOKIE);
    o
}

fn exp_cookie() -> Vec<u8> {
    let mut o = vec![254, 12, 0xf9, 0x89];
    o.extend_from_slice(&COOKIE);
    o
}

/// The segments of one connection and the truth about it.
fn connection(
    behaviour: Behaviour,
    client: SocketAddr,
    server: SocketAddr,
    isn: u32,
    tsval: u32,
    response_bytes: usize,
) -> (Vec<Segment>, Truth) {
    use Behaviour::*;
    let server_isn = isn.wrapping_mul(2654435761);
    let (request, data_in_syn, synack_extra): (Vec<u8>, bool, Vec<u8>) = match behaviour {
        Plain => (vec![], false, vec![]),
        CookieGranted => (vec![34, 2], false, rfc_cookie()),
        CookieNotGranted => (vec![34, 2], false, vec![]),
        SynDataAcked | SynDataIgnored | SynDataDropped => (rfc_cookie(), true, vec![]),
        Experimental => (vec![254, 4, 0xf9, 0x89], false, exp_cookie()),
    };
    let syn_len = if data_in_syn { DATA_LEN } else { 0 };
    let data_acked = behaviour == SynDataAcked;
    let mut segs = vec![Segment {
        from_client: true,
        seq: isn,
        ack: None,
        syn: true,
        fin: false,
        options: syn_options(tsval, 0, &request),
        payload_len: syn_len,
    }];
    let mut answered_tsval = tsval;
    if behaviour == SynDataDropped {
        // The kernel's retransmission: no TFO option, no data, a later timestamp.
        answered_tsval = tsval + 1000;
        segs.push(Segment {
            from_client: true,
            seq: isn,
            ack: None,
            syn: true,
            fin: false,
            options: syn_options(answered_tsval, 0, &[]),
            payload_len: 0,
        });
    }
    let client_next = isn.wrapping_add(1);
    let synack_ack = if data_acked { client_next.wrapping_add(DATA_LEN as u32) } else { client_next };
    let s_ts = tsval ^ 0x5555_0000;
    segs.push(Segment {
        from_client: false,
        seq: server_isn,
        ack: Some(synack_ack),
        syn: true,
        fin: false,
        options: syn_options(s_ts, answered_tsval, &synack_extra),
        payload_len: 0,
    });
    let server_next = server_isn.wrapping_add(1);
    // The handshake's last ACK carries the request, unless the SYN-ACK acked it already.
    let request_len = if data_acked { 0 } else { DATA_LEN };
    let c_ts = answered_tsval + 1;
    segs.push(Segment {
        from_client: true,
        seq: synack_ack,
        ack: Some(server_next),
        syn: false,
        fin: false,
        options: data_options(c_ts, s_ts),
        payload_len: request_len,
    });
    let c_seq = synack_ack.wrapping_add(request_len as u32);
    // The response in full-sized segments, the last with the FIN; the client acks every second
    // one, as a delayed-ACK stack does.
    let mut server_seq = server_next;
    let mut left = response_bytes.max(1);
    let mut sent = 0u32;
    let mut ts = s_ts + 1;
    while left > 0 {
        let len = left.min(MSS);
        left -= len;
        sent += 1;
        segs.push(Segment {
            from_client: false,
            seq: server_seq,
            ack: Some(c_seq),
            syn: false,
            fin: left == 0,
            options: data_options(ts, c_ts),
            payload_len: len,
        });
        server_seq = server_seq.wrapping_add(len as u32);
        ts += 1;
        if left > 0 && sent.is_multiple_of(2) {
            segs.push(Segment {
                from_client: true,
                seq: c_seq,
                ack: Some(server_seq),
                syn: false,
                fin: false,
                options: data_options(c_ts, ts - 1),
                payload_len: 0,
            });
        }
    }
    let server_fin_next = server_seq.wrapping_add(1);
    segs.push(Segment {
        from_client: true,
        seq: c_seq,
        ack: Some(server_fin_next),
        syn: false,
        fin: true,
        options: data_options(c_ts + 1, ts - 1),
        payload_len: 0,
    });
    segs.push(Segment {
        from_client: false,
        seq: server_fin_next,
        ack: Some(c_seq.wrapping_add(1)),
        syn: false,
        fin: false,
        options: data_options(ts, c_ts + 1),
        payload_len: 0,
    });
    let truth = Truth {
        client,
        server,
        isn,
        behaviour,
        syn_tfo: match behaviour {
            Plain => "none",
            CookieGranted | CookieNotGranted | Experimental => "cookie_request",
            SynDataAcked | SynDataIgnored | SynDataDropped => "cookie",
        },
        syn_tfo_kind: match behaviour {
            Plain => None,
            Experimental => Some(254),
            _ => Some(34),
        },
        syn_data_len: syn_len as u32,
        synack_tfo: if synack_extra.is_empty() { "none" } else { "cookie" },
        synack_tfo_kind: match behaviour {
            CookieGranted => Some(34),
            Experimental => Some(254),
            _ => None,
        },
        synack_answers: if behaviour == SynDataDropped { "retransmitted_syn" } else { "first_syn" },
        syn_data_acked: match behaviour {
            SynDataAcked => Some("acked"),
            SynDataIgnored | SynDataDropped => Some("not_acked"),
            _ => None,
        },
        outcome: if behaviour == SynDataDropped { "established_after_fallback" } else { "established" },
    };
    (segs, truth)
}

#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Stop after about this many packets (whole connections only).
    pub packets: u64,
    /// Connections open at once, their packets interleaved.
    pub concurrent: usize,
    /// Microseconds between packets.
    pub gap_us: u64,
    /// Bytes of each HTTP response, sent in full-sized segments.
    pub response_bytes: usize,
}

impl GenConfig {
    /// A response of 10,000 bytes makes about 750 bytes per packet, 15 packets per
    /// connection: web-like traffic. A small response makes a connection-heavy capture.
    pub const WEB_RESPONSE: usize = 10_000;
}

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenStats {
    pub packets: u64,
    pub connections: u64,
    pub bytes: u64,
}

fn endpoints(i: u64) -> (SocketAddr, SocketAddr) {
    // Ports from 1024 up, a new client address every 60,000 connections, so that endpoint
    // pairs repeat only with another ISN.
    let port = 1024 + (i % 60_000) as u16;
    let host = (i / 60_000) as u32;
    let server_port = if i.is_multiple_of(3) { 443 } else { 80 };
    if (i / 7).is_multiple_of(2) {
        let client = Ipv4Addr::new(192, 0, 2, 1 + (host % 250) as u8);
        let server = Ipv4Addr::new(198, 51, 100, 1 + (i % 200) as u8);
        (SocketAddr::new(IpAddr::V4(client), port), SocketAddr::new(IpAddr::V4(server), server_port))
    } else {
        let client = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (host >> 16) as u16, host as u16 + 1);
        let server = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1 + (i % 200) as u16);
        (SocketAddr::new(IpAddr::V6(client), port), SocketAddr::new(IpAddr::V6(server), server_port))
    }
}

fn frame(
    seg: &Segment,
    client: SocketAddr,
    server: SocketAddr,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let (src, dst, smac, dmac) = if seg.from_client {
        (client, server, CLIENT_MAC, ROUTER_MAC)
    } else {
        (server, client, ROUTER_MAC, CLIENT_MAC)
    };
    let eth = PacketBuilder::ethernet2(smac, dmac);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            eth.ipv4(s.octets(), d.octets(), if seg.from_client { 64 } else { 57 })
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            eth.ipv6(s.octets(), d.octets(), if seg.from_client { 64 } else { 57 })
        }
        _ => unreachable!("one family per connection"),
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), seg.seq, 64240);
    if seg.syn {
        tcp = tcp.syn();
    }
    if let Some(ack) = seg.ack {
        tcp = tcp.ack(ack);
    }
    if seg.fin {
        tcp = tcp.fin();
    }
    if seg.payload_len > 0 {
        tcp = tcp.psh();
    }
    let tcp = tcp.options_raw(&seg.options).map_err(|e| io::Error::other(format!("{e:?}")))?;
    tcp.write(out, &payload[..seg.payload_len]).map_err(|e| io::Error::other(format!("{e:?}")))
}

/// Writes a legacy pcap (Ethernet, microseconds) to `out` and returns the truth for every
/// connection, in order of first SYN.
pub fn generate(
    config: &GenConfig,
    out: &mut impl Write,
    mut truth: impl FnMut(&Truth),
) -> io::Result<GenStats> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    out.write_all(&header)?;

    let payload = vec![b'x'; 1500];
    // Packets of a connection, about: handshake, response, every second ACK, close.
    let data_segments = config.response_bytes.max(1).div_ceil(MSS) as u64;
    let per_conn = 5 + data_segments + data_segments / 2;
    let mut stats = GenStats { bytes: 24, ..GenStats::default() };
    let mut active: Vec<(std::vec::IntoIter<Segment>, SocketAddr, SocketAddr)> = Vec::new();
    let mut next_conn = 0u64;
    let mut ts_us: u64 = 1_700_000_000_000_000;
    let mut buf = Vec::with_capacity(2048);
    let mut cursor = 0usize;
    loop {
        while active.len() < config.concurrent.max(1)
            && stats.packets + (active.len() as u64) * per_conn < config.packets
        {
            let (client, server) = endpoints(next_conn);
            let behaviour = Behaviour::ALL[(next_conn % 7) as usize];
            let isn = (next_conn as u32).wrapping_mul(0x9e37_79b9).wrapping_add(12345);
            let (segs, t) = connection(
                behaviour,
                client,
                server,
                isn,
                1_000_000 + next_conn as u32,
                config.response_bytes,
            );
            truth(&t);
            active.push((segs.into_iter(), client, server));
            next_conn += 1;
            stats.connections += 1;
        }
        if active.is_empty() {
            break;
        }
        cursor %= active.len();
        let (segs, client, server) = &mut active[cursor];
        match segs.next() {
            Some(seg) => {
                buf.clear();
                frame(&seg, *client, *server, &payload, &mut buf)?;
                let mut record = [0u8; 16];
                record[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
                record[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
                record[8..12].copy_from_slice(&(buf.len() as u32).to_le_bytes());
                record[12..16].copy_from_slice(&(buf.len() as u32).to_le_bytes());
                out.write_all(&record)?;
                out.write_all(&buf)?;
                stats.packets += 1;
                stats.bytes += 16 + buf.len() as u64;
                ts_us += config.gap_us;
                cursor += 1;
            }
            None => {
                active.swap_remove(cursor);
            }
        }
    }
    Ok(stats)
}
