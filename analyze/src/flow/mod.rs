//! Decoded packets to connection records.
//!
//! A table of open connections keyed by the (unordered) endpoint pair; each entry is one
//! attempt, identified by the client's ISN, so a reused port with a new ISN starts a new
//! record. A connection is emitted and freed once it is closed or idle, so memory follows
//! open connections, not file size. Nothing here parses bytes.

use std::collections::HashMap;

/// Endpoint pairs hash with foldhash (fast, seeded per process), not SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use pcap_parser::Linktype;

use crate::decode::link::LINKTYPE_RAW;
use crate::record::SynSeen;

use crate::decode::{
    IcmpError, IpInfo, OptionError, OptionSummary, Packet, TcpSegment, Tfo, TCP_ACK, TCP_FIN, TCP_RST,
    TCP_SYN,
};
use crate::record::{
    Connection, DataAcked, Features, IcmpReply, Outcome, Refusal, RequestPrint, SynAck, SynAckAnswers,
    SynAckTfo, SynShape, SynTransmission,
};

const NS_PER_SEC: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// A connection with no packet for this long is emitted.
    pub idle_ns: i64,
    /// A closed connection (FIN both ways, or RST) is emitted this long after its last packet.
    pub closed_grace_ns: i64,
    /// An unanswered attempt counts as a timeout when the capture ran on this long after its
    /// first SYN; otherwise the capture ended too soon to tell (`incomplete`).
    pub timeout_evidence_ns: i64,
    /// SYN transmissions kept per connection (all are counted).
    pub max_syns_kept: usize,
    /// Open connections tracked at once; beyond, new connections are counted, not tracked.
    pub max_open: usize,
    /// Finished connections handed on at once (a batch of the connections table).
    pub batch: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle_ns: 120 * NS_PER_SEC,
            closed_grace_ns: 5 * NS_PER_SEC,
            timeout_evidence_ns: 3 * NS_PER_SEC,
            max_syns_kept: 8,
            max_open: 2_000_000,
            batch: 16_384,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub tcp_segments: u64,
    pub icmp_errors: u64,
    /// Segments of connections whose SYN was not seen (started before the capture).
    pub untracked_segments: u64,
    /// SYN-ACKs whose SYN was not seen: handshakes the capture caught midway, which make no
    /// connection record.
    pub half_seen_handshakes: u64,
    /// The same SYN seen twice within a few milliseconds (captured on two interfaces).
    pub duplicate_syns: u64,
    /// Connections not tracked because `max_open` was reached.
    pub over_capacity: u64,
}

/// Where a packet sits in its capture.
#[derive(Debug, Clone, Copy)]
pub struct PacketRef<'a> {
    pub capture: &'a Arc<str>,
    pub frame: u64,
    pub ts_ns: i64,
}

/// One end of a connection as the table compares it: the address as numbers (and its family,
/// so an IPv4 address never equals an IPv6 one) and the port. Cheaper to order, compare and hash
/// than `(IpAddr, u16)`, and 20 bytes, not 32 as a `u128` would make it: the table is probed for
/// every packet, and fewer cache lines per entry is what makes it fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct End {
    ip: [u32; 4],
    v6: bool,
    port: u16,
}

impl End {
    fn new(ip: IpAddr, port: u16) -> End {
        match ip {
            IpAddr::V4(v4) => End { ip: [0, 0, 0, u32::from(v4)], v6: false, port },
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                End { ip: [(n >> 96) as u32, (n >> 64) as u32, (n >> 32) as u32, n as u32], v6: true, port }
            }
        }
    }

    fn ip_bits(&self) -> u128 {
        self.ip.iter().fold(0u128, |acc, &part| acc << 32 | u128::from(part))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    lo: End,
    hi: End,
}

impl Key {
    /// The key of a segment from `src` to `dst`, and whether `src` is the key's `lo` end.
    fn new(src: End, dst: End) -> (Key, bool) {
        if src <= dst {
            (Key { lo: src, hi: dst }, true)
        } else {
            (Key { lo: dst, hi: src }, false)
        }
    }
}

impl std::hash::Hash for Key {
    // Two writes instead of one per field: this runs for every packet. Equal keys hash equal.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.lo.ip_bits() ^ self.hi.ip_bits().rotate_left(64));
        state.write_u64(u64::from(self.lo.port) << 32 | u64::from(self.hi.port) << 8 | u64::from(self.lo.v6));
    }
}

/// An open connection: what every packet reads or writes, inline in the table, so that a data
/// segment touches the table's entry and nothing else; the record being built, boxed, touched
/// only by the packets that change it (SYN, SYN-ACK, RST, ICMP).
#[derive(Debug)]
struct Open {
    conn: Box<Connection>,
    last_time_ns: i64,
    isn: u32,
    /// Payload bytes of the first SYN.
    first_data_len: u32,
    /// Whether the client is the key's `lo` end: tells a segment's direction.
    client_is_lo: bool,
    /// A SYN-ACK has been seen.
    answered: bool,
    /// The client acknowledged a SYN-ACK: which one the connection went on with is settled.
    client_acked: bool,
    fin_client: bool,
    fin_server: bool,
    closed: bool,
}

#[derive(Debug)]
pub struct FlowTable {
    config: FlowConfig,
    open: FastMap<Key, Open>,
    done: Vec<Connection>,
    now_ns: i64,
    last_sweep_ns: i64,
    pub stats: FlowStats,
}

/// Often enough that closed connections leave the table soon after their grace period.
const SWEEP_EVERY_NS: i64 = NS_PER_SEC;
/// Two copies of one SYN closer than this are one transmission seen twice.
const DUPLICATE_WINDOW_NS: i64 = 10_000_000;

impl Default for FlowTable {
    fn default() -> Self {
        FlowTable::new(FlowConfig::default())
    }
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> Self {
        FlowTable {
            config,
            open: FastMap::with_capacity_and_hasher(1024, Default::default()),
            // A batch's room at once: grown by doubling from nothing, the first batch copied
            // its records into fresh pages at every step (later ones keep the capacity).
            done: Vec::with_capacity(config.batch.clamp(1, 1 << 16)),
            now_ns: i64::MIN,
            last_sweep_ns: i64::MIN,
            stats: FlowStats::default(),
        }
    }

    pub fn open_connections(&self) -> usize {
        self.open.len()
    }

    /// Connections emitted and not yet taken.
    pub fn done_len(&self) -> usize {
        self.done.len()
    }

    /// Takes the connections emitted so far.
    pub fn take_done(&mut self) -> Vec<Connection> {
        let capacity = self.done.capacity();
        std::mem::replace(&mut self.done, Vec::with_capacity(capacity))
    }

    pub fn push(&mut self, at: PacketRef<'_>, packet: &Packet<'_>) {
        self.now_ns = self.now_ns.max(at.ts_ns);
        match packet {
            Packet::Tcp { ip, tcp } => self.push_tcp(at, ip, tcp),
            Packet::IcmpError { ip, error } => self.push_icmp(at, ip, error),
        }
        if self.now_ns.saturating_sub(self.last_sweep_ns) >= SWEEP_EVERY_NS {
            self.sweep();
        }
    }

    /// Ends the stream: every open connection is emitted, judged as of the last packet seen.
    pub fn finish(mut self) -> (Vec<Connection>, FlowStats) {
        let end = self.now_ns;
        for (_, open) in self.open.drain() {
            self.done.push(finalize(open, end, &self.config));
        }
        (self.done, self.stats)
    }

    fn sweep(&mut self) {
        self.last_sweep_ns = self.now_ns;
        let (now, config) = (self.now_ns, self.config);
        let expired: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, o)| {
                let quiet = now.saturating_sub(o.last_time_ns);
                quiet >= config.idle_ns || (o.closed && quiet >= config.closed_grace_ns)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            if let Some(open) = self.open.remove(&key) {
                self.done.push(finalize(open, now, &config));
            }
        }
    }

    fn push_tcp(&mut self, at: PacketRef<'_>, ip: &IpInfo, tcp: &TcpSegment<'_>) {
        self.stats.tcp_segments += 1;
        let (key, src_is_lo) = Key::new(End::new(ip.src, tcp.src_port), End::new(ip.dst, tcp.dst_port));
        if tcp.has(TCP_SYN) && !tcp.has(TCP_ACK) {
            self.push_syn(at, key, src_is_lo, ip, tcp);
            return;
        }
        let Some(open) = self.open.get_mut(&key) else {
            self.stats.untracked_segments += 1;
            // A SYN without ACK went to push_syn: this is a SYN-ACK.
            self.stats.half_seen_handshakes += u64::from(tcp.has(TCP_SYN));
            return;
        };
        open.last_time_ns = at.ts_ns;
        let from_client = open.client_is_lo == src_is_lo;
        let (isn, first_data_len) = (open.isn, open.first_data_len);
        if tcp.has(TCP_SYN) {
            if !from_client && !open.answered {
                open.conn.synack = Some(synack(at, ip, tcp, &open.conn));
                open.answered = true;
            } else if !from_client {
                second_synack(open, at, ip, tcp);
            }
        } else if tcp.has(TCP_RST) {
            open.closed = true;
            if !from_client && !open.answered && open.conn.reset.is_none() {
                let covers_data =
                    first_data_len > 0 && tcp.ack == isn.wrapping_add(1).wrapping_add(first_data_len);
                open.conn.reset = Some(Refusal {
                    frame: at.frame,
                    time_ns: at.ts_ns,
                    icmp: None,
                    ttl: ip.ttl,
                    answers_first_syn: open.conn.syn_count == 1 || covers_data,
                    mtu: None,
                });
            }
        } else if from_client
            && first_data_len > 0
            && tcp.payload_len > 0
            && open.answered
            && tcp.seq == isn.wrapping_add(1)
        {
            open.conn.syn_data_resent = true;
        } else if from_client && open.conn.request_print.is_none() && tcp.seq == isn.wrapping_add(1) {
            open.conn.request_print = RequestPrint::of(tcp.captured_payload, tcp.payload_len);
        }
        if from_client && open.answered && !open.client_acked && tcp.has(TCP_ACK) && !tcp.has(TCP_SYN) {
            open.client_acked = true;
            went_on_with(&mut open.conn, tcp.ack);
        }
        if tcp.has(TCP_FIN) {
            if from_client {
                open.fin_client = true
            } else {
                open.fin_server = true
            }
            open.closed |= open.fin_client && open.fin_server;
        }
    }

    fn push_syn(&mut self, at: PacketRef<'_>, key: Key, src_is_lo: bool, ip: &IpInfo, tcp: &TcpSegment<'_>) {
        let src = SocketAddr::new(ip.src, tcp.src_port);
        let dst = SocketAddr::new(ip.dst, tcp.dst_port);
        let summary = OptionSummary::of(tcp.options());
        let tsval = summary.timestamps.map(|(tsval, _)| tsval);
        let transmission = SynTransmission {
            frame: at.frame,
            time_ns: at.ts_ns,
            tfo: summary.syn_tfo(),
            data_len: tcp.payload_len,
            tsval,
            shape: SynShape::new(ip.ttl, tcp.window, summary.mss, summary.wscale, summary.kinds())
                .with_checksum(tcp.checksum),
            features: Features::of_syn(tcp.flags, &summary),
        };
        if let Some(open) = self.open.get_mut(&key) {
            if open.client_is_lo == src_is_lo && open.isn == tcp.seq {
                let last = open.conn.syns.last().expect("a connection has its first SYN");
                // The same SYN seen twice; not the kernel's plain resend within the same
                // timestamp tick (after an ICMP too-big), which carries no option and no data.
                if tsval.is_some()
                    && last.tsval == tsval
                    && at.ts_ns.abs_diff(last.time_ns) < DUPLICATE_WINDOW_NS as u64
                    && last.tfo == transmission.tfo
                    && last.data_len == transmission.data_len
                {
                    self.stats.duplicate_syns += 1;
                    return;
                }
                open.conn.syn_count += 1;
                open.last_time_ns = at.ts_ns;
                if open.conn.syns.len() < self.config.max_syns_kept {
                    open.conn.syns.push(transmission);
                }
                return;
            }
            // Same endpoints, new ISN: the old attempt is over.
            let old = self.open.remove(&key).expect("present");
            self.done.push(finalize(old, self.now_ns, &self.config));
        }
        if self.open.len() >= self.config.max_open {
            self.stats.over_capacity += 1;
            return;
        }
        let (syn_tfo_kind, syn_cookie) = summary.tfo_kind_and_cookie();
        let syn_cookie = syn_cookie.map(<[u8]>::to_vec);
        let conn = Box::new(Connection {
            capture: at.capture.clone(),
            client: src,
            server: dst,
            isn: tcp.seq,
            syns: vec![transmission],
            syn_count: 1,
            syn_tfo_kind,
            syn_tfo_duplicate: summary.tfo_duplicate,
            syn_cookie,
            syn_options_error: summary.error.map(describe_option_error),
            synack: None,
            other_synack: None,
            synack_conflict: false,
            syn_data_acked: None,
            syn_data_resent: false,
            reset: None,
            icmp: None,
            outcome: Outcome::Incomplete,
            last_time_ns: at.ts_ns,
            attempt: None,
            arrival: None,
            request_print: RequestPrint::of(tcp.captured_payload, tcp.payload_len),
            icmp_reply: None,
        });
        self.open.insert(
            key,
            Open {
                conn,
                last_time_ns: at.ts_ns,
                isn: tcp.seq,
                first_data_len: tcp.payload_len,
                client_is_lo: src_is_lo,
                answered: false,
                client_acked: false,
                fin_client: false,
                fin_server: false,
                closed: false,
            },
        );
    }

    fn push_icmp(&mut self, at: PacketRef<'_>, ip: &IpInfo, error: &IcmpError<'_>) {
        self.stats.icmp_errors += 1;
        let q = error.quoted;
        let (key, src_is_lo) = Key::new(End::new(q.src, q.src_port), End::new(q.dst, q.dst_port));
        let Some(open) = self.open.get_mut(&key) else { return };
        let quotes_client = open.client_is_lo == src_is_lo && q.seq == open.isn;
        if quotes_client && open.conn.icmp_reply.is_none() {
            open.conn.icmp_reply = Some(Box::new(icmp_reply(at, ip, error)));
        }
        if quotes_client && !open.answered && open.conn.icmp.is_none() {
            open.last_time_ns = at.ts_ns;
            open.conn.icmp = Some(Refusal {
                frame: at.frame,
                time_ns: at.ts_ns,
                icmp: Some((error.icmp_type, error.code)),
                answers_first_syn: open.conn.syn_count == 1,
                ttl: ip.ttl,
                // Quoting the SYN: a SYN carrying data can be larger than the path takes.
                mtu: error.mtu.filter(|_| error.is_path_mtu()),
            });
        }
    }
}

/// What an ICMP error says of the SYN it quotes: its sender and distance, and the quote
/// decoded as far as the router quoted it.
fn icmp_reply(at: PacketRef<'_>, ip: &IpInfo, error: &IcmpError<'_>) -> IcmpReply {
    let mut reply = IcmpReply {
        frame: at.frame,
        time_ns: at.ts_ns,
        responder: ip.src,
        ttl: ip.ttl,
        icmp_type: error.icmp_type,
        code: error.code,
        time_exceeded: error.is_time_exceeded(),
        quote_tcp_len: error.quoted.tcp_len,
        quote_has_options: false,
        quoted: None,
        quoted_checksum: None,
    };
    if let Ok(Packet::Tcp { ip: qip, tcp: q }) = crate::decode::decode(Linktype(LINKTYPE_RAW), error.quote) {
        let summary = OptionSummary::of(q.options());
        reply.quote_has_options = usize::from(error.quoted.tcp_len) >= q.header_len && !summary.truncated();
        let (tfo_kind, cookie) = summary.tfo_kind_and_cookie();
        reply.quoted = Some(SynSeen {
            client: SocketAddr::new(qip.src, q.src_port),
            isn: q.seq,
            tsval: summary.timestamps.map(|(tsval, _)| tsval),
            shape: SynShape::new(qip.ttl, q.window, summary.mss, summary.wscale, summary.kinds())
                .with_checksum(q.checksum),
            tfo: summary.syn_tfo(),
            tfo_kind,
            cookie: cookie.map(<[u8]>::to_vec),
            data_len: q.payload_len,
        });
        reply.quoted_checksum = Some(q.checksum);
    }
    reply
}

/// A SYN-ACK after the first: the server's retransmission (the same ISN) changes nothing; one
/// with another ISN is kept beside the first, and whether both answer the same SYN
/// transmission is told by their TSecr, or by there being one SYN only.
fn second_synack(open: &mut Open, at: PacketRef<'_>, ip: &IpInfo, tcp: &TcpSegment<'_>) {
    let conn = &mut open.conn;
    let Some(first) = conn.synack.as_ref() else { return };
    if tcp.seq == first.isn || conn.other_synack.is_some() {
        return;
    }
    let second = synack(at, ip, tcp, conn);
    conn.synack_conflict = match (first.tsecr, second.tsecr) {
        (Some(a), Some(b)) => a == b,
        _ => conn.syn_count == 1,
    };
    conn.other_synack = Some(Box::new(second));
}

/// The client's first ACK after a SYN-ACK tells which of two SYN-ACKs the connection went on
/// with: that one becomes `synack`.
fn went_on_with(conn: &mut Connection, ack: u32) {
    let (Some(first), Some(other)) = (conn.synack.as_ref(), conn.other_synack.as_deref()) else { return };
    if ack == other.isn.wrapping_add(1) && ack != first.isn.wrapping_add(1) {
        let other = conn.other_synack.take().expect("present");
        let first = conn.synack.replace(*other).expect("present");
        conn.other_synack = Some(Box::new(first));
    }
}

fn synack(at: PacketRef<'_>, ip: &IpInfo, tcp: &TcpSegment<'_>, conn: &Connection) -> SynAck {
    let summary = OptionSummary::of(tcp.options());
    let (tfo, tfo_kind, cookie) = match (summary.tfo, summary.error) {
        (Some((kind, Tfo::Cookie(cookie))), _) => {
            (SynAckTfo::Cookie, Some(kind.kind()), Some(cookie.to_vec()))
        }
        // A cookie of a length RFC 7413 forbids (2, 3 or 18 bytes, say): kept as it was on the
        // wire; what the client then did with it (Linux ignores it) is the evidence.
        (Some((kind, Tfo::Malformed(bytes))), _) if !bytes.is_empty() => {
            (SynAckTfo::CookieBadLength, Some(kind.kind()), Some(bytes.to_vec()))
        }
        // A request has no place in a SYN-ACK.
        (Some((kind, _)), _) => (SynAckTfo::Malformed, Some(kind.kind()), None),
        (None, Some(OptionError::Truncated { .. })) => (SynAckTfo::Truncated, None, None),
        (None, Some(_)) => (SynAckTfo::Malformed, None, None),
        (None, None) => (SynAckTfo::None, None, None),
    };
    let tsecr = summary.timestamps.map(|(_, tsecr)| tsecr);
    SynAck {
        frame: at.frame,
        time_ns: at.ts_ns,
        isn: tcp.seq,
        data_len: tcp.payload_len,
        tsecr,
        answers: answered_syn(conn, tsecr, tcp.ack),
        tfo,
        tfo_kind,
        cookie,
        ack: tcp.ack,
        ttl: ip.ttl,
        window: tcp.window,
        mss: summary.mss,
        option_kinds: summary.kinds().to_vec(),
        features: Features::of_synack(tcp.flags, &summary),
    }
}

/// Which SYN a SYN-ACK answers: by its TSecr against the SYNs' TSvals; without timestamps, a
/// lone SYN, or an ack that covers data only the first SYN carried, decides; else ambiguous.
fn answered_syn(conn: &Connection, tsecr: Option<u32>, ack: u32) -> SynAckAnswers {
    if let Some(tsecr) = tsecr {
        let mut sharing = conn.syns.iter().enumerate().filter(|(_, s)| s.tsval == Some(tsecr));
        if let Some((i, first)) = sharing.next() {
            // SYNs sent within one tick of the timestamp clock share it (Linux resends a SYN
            // at once after an ICMP too-big): an ack of the first one's data says it was that
            // one; else the latest.
            let covers_data =
                first.data_len > 0 && ack == conn.isn.wrapping_add(1).wrapping_add(first.data_len);
            let i = match sharing.last() {
                Some((last, _)) if !covers_data => last,
                _ => i,
            };
            return if i == 0 { SynAckAnswers::FirstSyn } else { SynAckAnswers::RetransmittedSyn };
        }
    }
    let first = &conn.syns[0];
    if conn.syn_count == 1
        || (first.data_len > 0 && ack == conn.isn.wrapping_add(1).wrapping_add(first.data_len))
    {
        SynAckAnswers::FirstSyn
    } else {
        SynAckAnswers::Ambiguous
    }
}

fn syn_data_acked(isn: u32, data_len: u32, ack: u32) -> DataAcked {
    let acked = ack.wrapping_sub(isn.wrapping_add(1));
    match acked {
        0 => DataAcked::NotAcked,
        a if a == data_len => DataAcked::Acked,
        // What a proxy that answers the handshake itself acks (Apple's stack calls it a
        // "one-byte proxy"): told apart from other partial acks.
        a if a + 1 == data_len && data_len > 1 => DataAcked::AllButOne,
        a if a < data_len => DataAcked::Partial,
        _ => DataAcked::Bogus,
    }
}

fn finalize(open: Open, end_ns: i64, config: &FlowConfig) -> Connection {
    let mut conn = *open.conn;
    conn.last_time_ns = open.last_time_ns;
    let first_data_len = conn.syns[0].data_len;
    // The SYN data's fate is told by the SYN-ACK that answered the SYN that carried it.
    conn.syn_data_acked = match conn.synack_to_first_syn() {
        Some(s) if first_data_len > 0 => Some(syn_data_acked(conn.isn, first_data_len, s.ack)),
        _ => None,
    };
    let first_syn_ns = conn.syns[0].time_ns;
    conn.outcome = match (&conn.synack, conn.reset, conn.icmp) {
        (Some(s), _, _)
            if s.answers == SynAckAnswers::RetransmittedSyn && (conn.tried_tfo() || first_data_len > 0) =>
        {
            Outcome::EstablishedAfterFallback
        }
        (Some(_), _, _) => Outcome::Established,
        (None, Some(_), _) => Outcome::Reset,
        (None, None, Some(_)) => Outcome::IcmpError,
        (None, None, None) if end_ns.saturating_sub(first_syn_ns) >= config.timeout_evidence_ns => {
            Outcome::Timeout
        }
        (None, None, None) => Outcome::Incomplete,
    };
    conn
}

fn describe_option_error(e: OptionError) -> String {
    match e {
        OptionError::BadLength { offset, kind, len } => {
            format!("option kind {kind} at offset {offset} has length {len}")
        }
        OptionError::Overrun { offset, kind, len } => {
            format!("option kind {kind} at offset {offset} (length {len}) overruns the header")
        }
        OptionError::Truncated { offset } => format!("options cut by the snap length at offset {offset}"),
    }
}

#[cfg(test)]
mod tests;
