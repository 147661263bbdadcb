//! Captures built packet by packet, for shapes no lab makes on demand: other tools' orders of
//! fetches, many targets interleaved, a box answering beside the origin. Ethernet frames in a
//! legacy pcap (microseconds); every SYN and SYN-ACK carries timestamps, so the analyzer can
//! tell which SYN a SYN-ACK answers, as on real Linux traffic.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use etherparse::PacketBuilder;

/// What a client's SYN carries in the TFO option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SynOption {
    None,
    /// Kind 34, length 2.
    Request,
    /// Kind 34 with this cookie.
    Cookie(Vec<u8>),
}

/// One TCP segment to write.
#[derive(Debug, Clone)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub ttl: u8,
    pub seq: u32,
    pub ack: Option<u32>,
    pub syn: bool,
    pub rst: bool,
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

/// A legacy pcap being written in memory, frames in the order given.
pub struct Capture {
    bytes: Vec<u8>,
    frames: u64,
}

impl Default for Capture {
    fn default() -> Self {
        let mut bytes = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        Capture { bytes, frames: 0 }
    }
}

impl Capture {
    /// Writes `segment` at `t_ms` milliseconds; returns its frame number (1-based).
    pub fn push(&mut self, t_ms: u64, segment: &Segment) -> u64 {
        let mac = [2, 0, 0, 0, 0, 1];
        let eth = PacketBuilder::ethernet2(mac, mac);
        let ip = match (segment.src.ip(), segment.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), segment.ttl),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), segment.ttl),
            _ => panic!("one family per segment"),
        };
        let mut tcp = ip.tcp(segment.src.port(), segment.dst.port(), segment.seq, 64240);
        if segment.syn {
            tcp = tcp.syn();
        }
        if segment.rst {
            tcp = tcp.rst();
        }
        if let Some(ack) = segment.ack {
            tcp = tcp.ack(ack);
        }
        let tcp = tcp.options_raw(&segment.options).expect("options fit");
        let mut frame = Vec::new();
        tcp.write(&mut frame, &segment.payload).expect("a frame");
        self.push_frame(t_ms, &frame)
    }

    /// An ICMP time-exceeded (v4 type 11, v6 type 3) from `router` to `to`, arriving with TTL
    /// `ttl`, quoting `quoted` (an IP packet, cut as the router cuts it). Returns its frame.
    pub fn push_time_exceeded(
        &mut self,
        t_ms: u64,
        router: IpAddr,
        to: IpAddr,
        ttl: u8,
        quoted: &[u8],
    ) -> u64 {
        let mac = [2, 0, 0, 0, 0, 1];
        let eth = PacketBuilder::ethernet2(mac, mac);
        let mut frame = Vec::new();
        match (router, to) {
            (IpAddr::V4(r), IpAddr::V4(t)) => eth
                .ipv4(r.octets(), t.octets(), ttl)
                .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
                ))
                .write(&mut frame, quoted)
                .expect("a frame"),
            (IpAddr::V6(r), IpAddr::V6(t)) => eth
                .ipv6(r.octets(), t.octets(), ttl)
                .icmpv6(etherparse::Icmpv6Type::TimeExceeded(
                    etherparse::icmpv6::TimeExceededCode::HopLimitExceeded,
                ))
                .write(&mut frame, quoted)
                .expect("a frame"),
            _ => panic!("one family per packet"),
        }
        self.push_frame(t_ms, &frame)
    }

    /// A path-MTU error from `router` to `to`: ICMPv4 fragmentation needed (type 3 code 4)
    /// with the next-hop MTU, or ICMPv6 Packet Too Big, quoting `quoted`. Returns its frame.
    pub fn push_too_big(&mut self, t_ms: u64, router: IpAddr, to: IpAddr, mtu: u16, quoted: &[u8]) -> u64 {
        let mac = [2, 0, 0, 0, 0, 1];
        let eth = PacketBuilder::ethernet2(mac, mac);
        let mut frame = Vec::new();
        match (router, to) {
            (IpAddr::V4(r), IpAddr::V4(t)) => eth
                .ipv4(r.octets(), t.octets(), 63)
                .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
                ))
                // Linux quotes at most 576 bytes in all.
                .write(&mut frame, &quoted[..quoted.len().min(548)])
                .expect("a frame"),
            (IpAddr::V6(r), IpAddr::V6(t)) => eth
                .ipv6(r.octets(), t.octets(), 63)
                .icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: u32::from(mtu) })
                .write(&mut frame, &quoted[..quoted.len().min(1184)])
                .expect("a frame"),
            _ => panic!("one family per packet"),
        }
        self.push_frame(t_ms, &frame)
    }

    fn push_frame(&mut self, t_ms: u64, frame: &[u8]) -> u64 {
        let t_us = t_ms * 1000;
        self.bytes.extend_from_slice(&((t_us / 1_000_000) as u32 + 1_700_000_000).to_le_bytes());
        self.bytes.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
        self.frames += 1;
        self.frames
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.bytes).unwrap();
    }
}

/// The IP packet of a segment, without a link layer: what a router quotes in an ICMP error.
pub fn ip_packet(segment: &Segment) -> Vec<u8> {
    let mut cap = Capture::default();
    cap.push(0, segment);
    // The frame after the pcap header (24) and record header (16), without Ethernet (14).
    cap.bytes[24 + 16 + 14..].to_vec()
}

/// SYN options as Linux sends them: MSS, SACK permitted, timestamps, window scale, then the
/// TFO option; padded to 32 bits.
pub fn syn_options(tsval: u32, tfo: &SynOption) -> Vec<u8> {
    let mut o = vec![2, 4, 0x05, 0xb4, 4, 2, 8, 10];
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&0u32.to_be_bytes());
    o.extend_from_slice(&[1, 3, 3, 7]);
    match tfo {
        SynOption::None => {}
        SynOption::Request => o.extend_from_slice(&[34, 2]),
        SynOption::Cookie(cookie) => {
            o.extend_from_slice(&[34, 2 + cookie.len() as u8]);
            o.extend_from_slice(cookie);
        }
    }
    while o.len() % 4 != 0 {
        o.push(1);
    }
    o
}

/// `options` without its timestamps option (kind 8), re-padded: what a Windows client, or a
/// box that strips timestamps, sends.
pub fn without_timestamps(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let len = usize::from(options[i + 1]).max(2);
                if kind != 8 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    while out.len() % 4 != 0 {
        out.push(1);
    }
    out
}

/// SYN-ACK options: MSS, SACK permitted, timestamps echoing `tsecr`, window scale, and a
/// kind-34 cookie if granted.
pub fn synack_options(mss: u16, tsval: u32, tsecr: u32, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut o = vec![2, 4];
    o.extend_from_slice(&mss.to_be_bytes());
    o.extend_from_slice(&[4, 2, 8, 10]);
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&tsecr.to_be_bytes());
    o.extend_from_slice(&[1, 3, 3, 7]);
    if let Some(cookie) = cookie {
        o.extend_from_slice(&[34, 2 + cookie.len() as u8]);
        o.extend_from_slice(cookie);
    }
    while o.len() % 4 != 0 {
        o.push(1);
    }
    o
}

/// One client connection to one server: writes the handshake's segments with the right
/// sequence numbers and timestamps. `ttl` is the SYN-ACKs' (the server's distance).
pub struct Conn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub isn: u32,
    pub server_isn: u32,
    pub ttl: u8,
    /// TSval of each SYN sent, in order.
    sent_tsvals: Vec<u32>,
    data_len: u32,
    /// Both ends send TCP timestamps (Linux's default; Windows sends none).
    pub timestamps: bool,
}

impl Conn {
    pub fn new(client: SocketAddr, server: SocketAddr, isn: u32) -> Conn {
        Conn {
            client,
            server,
            isn,
            server_isn: isn ^ 0x5a5a_0000,
            ttl: 57,
            sent_tsvals: vec![],
            data_len: 0,
            timestamps: true,
        }
    }

    /// The client's SYN (a retransmission when one was sent already: Linux sends those without
    /// the TFO option and without data). Returns the frame.
    pub fn syn(&mut self, cap: &mut Capture, t_ms: u64, tfo: SynOption, data: &[u8]) -> u64 {
        let tsval = 1000 + t_ms as u32;
        let first = self.sent_tsvals.is_empty();
        self.sent_tsvals.push(tsval);
        let (tfo, data) = if first { (tfo, data) } else { (SynOption::None, &[][..]) };
        if first {
            self.data_len = data.len() as u32;
        }
        let options = syn_options(tsval, &tfo);
        let options = if self.timestamps { options } else { without_timestamps(&options) };
        cap.push(
            t_ms,
            &Segment { syn: true, options, payload: data.to_vec(), ..self.bare(true, 64, self.isn, None) },
        )
    }

    /// The server's SYN-ACK to SYN number `answers` (0: the first), acknowledging its data
    /// when `ack_data`, granting `cookie`. Returns the frame.
    pub fn synack(
        &mut self,
        cap: &mut Capture,
        t_ms: u64,
        answers: usize,
        ack_data: bool,
        cookie: Option<&[u8]>,
    ) -> u64 {
        self.synack_from(cap, t_ms, answers, ack_data, cookie, self.server_isn, self.ttl, &[])
    }

    /// As [`Conn::synack`], with the server's ISN, TTL and payload given (a second box
    /// answering, another stack).
    #[allow(clippy::too_many_arguments)]
    pub fn synack_from(
        &mut self,
        cap: &mut Capture,
        t_ms: u64,
        answers: usize,
        ack_data: bool,
        cookie: Option<&[u8]>,
        server_isn: u32,
        ttl: u8,
        payload: &[u8],
    ) -> u64 {
        let acked = if ack_data && answers == 0 { self.data_len } else { 0 };
        self.synack_with(cap, t_ms, answers, acked, cookie, server_isn, ttl, payload)
    }

    /// The server's SYN-ACK to SYN number `answers` acknowledging `acked` bytes of its data
    /// (all but one: a proxy answering the handshake itself). Returns the frame.
    pub fn synack_acking(&mut self, cap: &mut Capture, t_ms: u64, acked: u32, cookie: Option<&[u8]>) -> u64 {
        let (isn, ttl) = (self.server_isn, self.ttl);
        self.synack_with(cap, t_ms, 0, acked, cookie, isn, ttl, &[])
    }

    /// The SYN's IP packet as sent (for an ICMP error to quote): the first SYN of this
    /// connection, with `tfo` and `data`.
    pub fn syn_packet(&self, tfo: &SynOption, data: &[u8]) -> Vec<u8> {
        let options = syn_options(1000, tfo);
        let options = if self.timestamps { options } else { without_timestamps(&options) };
        ip_packet(&Segment {
            syn: true,
            options,
            payload: data.to_vec(),
            ..self.bare(true, 64, self.isn, None)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn synack_with(
        &mut self,
        cap: &mut Capture,
        t_ms: u64,
        answers: usize,
        acked: u32,
        cookie: Option<&[u8]>,
        server_isn: u32,
        ttl: u8,
        payload: &[u8],
    ) -> u64 {
        let ack = self.isn.wrapping_add(1).wrapping_add(acked);
        let options = synack_options(1460, 7000 + t_ms as u32, self.sent_tsvals[answers], cookie);
        let options = if self.timestamps { options } else { without_timestamps(&options) };
        cap.push(
            t_ms,
            &Segment {
                syn: true,
                options,
                payload: payload.to_vec(),
                ..self.bare(false, ttl, server_isn, Some(ack))
            },
        )
    }

    /// The client's ACK of the handshake, acknowledging `server_isn`.
    pub fn ack(&mut self, cap: &mut Capture, t_ms: u64, server_isn: u32) -> u64 {
        let (seq, ack) = (self.isn.wrapping_add(1), server_isn.wrapping_add(1));
        cap.push(t_ms, &self.bare(true, 64, seq, Some(ack)))
    }

    /// A RST from the path to the first SYN (acknowledging its data, as Linux's tcp-reset does).
    pub fn reset(&mut self, cap: &mut Capture, t_ms: u64) -> u64 {
        let ack = self.isn.wrapping_add(1).wrapping_add(self.data_len);
        cap.push(t_ms, &Segment { rst: true, ..self.bare(false, 63, 0, Some(ack)) })
    }

    /// A segment without flags (but ACK with `ack`), options or payload, from the client or
    /// to it: the start every segment of the connection is written from.
    fn bare(&self, from_client: bool, ttl: u8, seq: u32, ack: Option<u32>) -> Segment {
        let (src, dst) = if from_client { (self.client, self.server) } else { (self.server, self.client) };
        Segment { src, dst, ttl, seq, ack, syn: false, rst: false, options: vec![], payload: vec![] }
    }
}
