//! Frames to IP/TCP views.
//!
//! Contract (after smoltcp): once a frame is handed to [`decode`], no accessor panics, whatever
//! the bytes. Nothing here keeps state between packets.
//!
//! Lengths come from the IP header, not from the captured bytes, so a capture cut to a short
//! snap length still tells how much data a SYN carried.

pub mod link;
pub mod options;

use std::net::IpAddr;

use etherparse::{Icmpv4Slice, Icmpv6Slice, LaxIpSlice};
use pcap_parser::Linktype;

pub use options::{OptionError, OptionIter, OptionSummary, SynTfo, TcpOption, Tfo, TfoKind};

const TCP_HEADER_MIN: usize = 20;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// Why a frame yielded nothing the analyzer uses. Counted, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("link type {0} is not supported")]
    UnsupportedLinktype(i32),
    #[error("frame shorter than its link-layer header")]
    LinkTooShort,
    #[error("not IP (ether type or family {ether_type:#06x})")]
    NotIp { ether_type: u16 },
    #[error("bad IP header: {0}")]
    Ip(String),
    #[error("not TCP or an ICMP error")]
    NotTcp,
    #[error("a later IP fragment")]
    Fragment,
    #[error("TCP header cut by the snap length ({captured} of 20 bytes)")]
    TcpTruncated { captured: usize },
    #[error("TCP data offset {data_offset} is below 5")]
    TcpBadDataOffset { data_offset: u8 },
}

impl DecodeError {
    /// The reason's kind, for counting frames that decoded to nothing we use.
    pub fn category(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedLinktype(_) => "unsupported link type",
            DecodeError::LinkTooShort => "short link header",
            DecodeError::NotIp { .. } => "not IP",
            DecodeError::Ip(_) => "bad IP header",
            DecodeError::NotTcp => "not TCP",
            DecodeError::Fragment => "IP fragment",
            DecodeError::TcpTruncated { .. } => "TCP header cut by snap length",
            DecodeError::TcpBadDataOffset { .. } => "bad TCP data offset",
        }
    }
}

/// The IP layer facts the analyzer keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
}

/// A TCP segment: the fixed header, the options as captured, and the payload length the IP
/// header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Header length the data offset declares.
    pub header_len: usize,
    /// Option bytes present in the capture (may be fewer than declared).
    pub captured_options: &'a [u8],
    /// Payload length from the IP header (0 when the IP length is shorter than the header).
    pub payload_len: u32,
    pub checksum: u16,
    /// The payload bytes the capture holds (fewer than `payload_len` under a snap length).
    pub captured_payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn options(&self) -> OptionIter<'a> {
        OptionIter::new(self.captured_options, self.header_len - TCP_HEADER_MIN)
    }
}

/// The TCP header quoted inside an ICMP error: enough to find the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// TCP bytes quoted (8 from an RFC 792 router).
    pub tcp_len: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError<'a> {
    pub version: u8,
    pub icmp_type: u8,
    pub code: u8,
    pub quoted: QuotedTcp,
    /// The quoted packet as captured, from its IP header on: as much of the TCP header (and
    /// data) as the router quoted (RFC 792: 8 bytes; RFC 1812 and Linux: more).
    pub quote: &'a [u8],
    /// For a path-MTU error: the MTU it names (v4: the next-hop MTU of RFC 1191, 0 from old
    /// routers; v6: Packet Too Big's MTU).
    pub mtu: Option<u32>,
}

impl IcmpError<'_> {
    /// Time exceeded in transit (v4 type 11, v6 type 3): a hop-limited probe's answer.
    pub fn is_time_exceeded(&self) -> bool {
        matches!((self.version, self.icmp_type), (4, 11) | (6, 3))
    }

    /// Fragmentation needed (v4) or packet too big (v6): a path MTU signal, not a refusal.
    pub fn is_path_mtu(&self) -> bool {
        matches!((self.version, self.icmp_type, self.code), (4, 3, 4) | (6, 2, _))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Tcp { ip: IpInfo, tcp: TcpSegment<'a> },
    IcmpError { ip: IpInfo, error: IcmpError<'a> },
}

/// Decodes one captured frame of the given link type.
pub fn decode(linktype: Linktype, frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let network = link::network_layer(linktype, frame)?;
    // Only the IP layer is sliced: TCP is ours (below), ICMP is sliced only when present.
    let (net, _) = LaxIpSlice::from_slice(network).map_err(|e| DecodeError::Ip(e.to_string()))?;
    let (ip, payload, declared_len, fragment_offset) = match &net {
        LaxIpSlice::Ipv4(v4) => {
            let header = v4.header();
            let ip = IpInfo {
                src: header.source_addr().into(),
                dst: header.destination_addr().into(),
                ttl: header.ttl(),
            };
            let payload = v4.payload();
            let headers_len = offset_of(header.slice(), payload.payload);
            // A zero total length (TSO/GSO captures) leaves the captured bytes as the truth.
            let declared = (header.total_len() != 0)
                .then(|| usize::from(header.total_len()).saturating_sub(headers_len));
            (ip, payload, declared, header.fragments_offset().value())
        }
        LaxIpSlice::Ipv6(v6) => {
            let header = v6.header();
            let ip = IpInfo {
                src: header.source_addr().into(),
                dst: header.destination_addr().into(),
                ttl: header.hop_limit(),
            };
            let payload = v6.payload();
            let headers_len = offset_of(header.slice(), payload.payload);
            // Zero: a jumbogram, or a TSO capture.
            let declared = (header.payload_length() != 0)
                .then(|| (40 + usize::from(header.payload_length())).saturating_sub(headers_len));
            (ip, payload, declared, if v6.is_payload_fragmented() { 1 } else { 0 })
        }
    };
    if fragment_offset != 0 {
        return Err(DecodeError::Fragment);
    }
    let declared_len = declared_len.unwrap_or(payload.payload.len());
    if payload.ip_number.0 == IPPROTO_TCP {
        let tcp = parse_tcp(payload.payload, declared_len)?;
        return Ok(Packet::Tcp { ip, tcp });
    }
    // Bytes 5 to 8 of the ICMP header: the MTU of a path-MTU error.
    let (version, icmp_type, code, rest, body) = match (&net, payload.ip_number.0) {
        (LaxIpSlice::Ipv4(_), IPPROTO_ICMP) => match Icmpv4Slice::from_slice(payload.payload) {
            Ok(icmp) => (4, icmp.type_u8(), icmp.code_u8(), icmp.bytes5to8(), icmp.payload()),
            Err(_) => return Err(DecodeError::NotTcp),
        },
        (LaxIpSlice::Ipv6(_), IPPROTO_ICMPV6) => match Icmpv6Slice::from_slice(payload.payload) {
            Ok(icmp) => (6, icmp.type_u8(), icmp.code_u8(), icmp.bytes5to8(), icmp.payload()),
            Err(_) => return Err(DecodeError::NotTcp),
        },
        _ => return Err(DecodeError::NotTcp),
    };
    let is_error = match version {
        4 => matches!(icmp_type, 3 | 11 | 12),
        _ => matches!(icmp_type, 1..=4),
    };
    if !is_error {
        return Err(DecodeError::NotTcp);
    }
    let quoted = parse_quoted_tcp(body).ok_or(DecodeError::NotTcp)?;
    let mtu = match (version, icmp_type, code) {
        (4, 3, 4) => Some(u32::from(u16::from_be_bytes([rest[2], rest[3]]))),
        (6, 2, _) => Some(u32::from_be_bytes(rest)),
        _ => None,
    };
    Ok(Packet::IcmpError { ip, error: IcmpError { version, icmp_type, code, quoted, quote: body, mtu } })
}

/// Bytes from the start of `outer` to the start of `inner`, both slices of one frame.
fn offset_of(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

fn parse_tcp(captured: &[u8], declared_len: usize) -> Result<TcpSegment<'_>, DecodeError> {
    // The fixed header read by offset, not through a parser: this runs for every packet.
    let Some(fixed) = captured.get(..TCP_HEADER_MIN) else {
        return Err(DecodeError::TcpTruncated { captured: captured.len() });
    };
    let be16 = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let data_offset = fixed[12] >> 4;
    if data_offset < 5 {
        return Err(DecodeError::TcpBadDataOffset { data_offset });
    }
    let header_len = usize::from(data_offset) * 4;
    let captured_options = &captured[TCP_HEADER_MIN..captured.len().min(header_len)];
    let payload_len = u32::try_from(declared_len.saturating_sub(header_len)).unwrap_or(u32::MAX);
    // Link-layer padding beyond the IP length is no payload.
    let payload_end = captured.len().min(header_len.saturating_add(payload_len as usize));
    let captured_payload = captured.get(header_len..payload_end).unwrap_or_default();
    Ok(TcpSegment {
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: fixed[13],
        window: be16(14),
        header_len,
        captured_options,
        payload_len,
        checksum: be16(16),
        captured_payload,
    })
}

/// ICMP errors quote the IP header and at least 8 bytes of TCP: ports and sequence number.
fn parse_quoted_tcp(body: &[u8]) -> Option<QuotedTcp> {
    let (quoted, _) = LaxIpSlice::from_slice(body).ok()?;
    let (src, dst, payload) = match &quoted {
        LaxIpSlice::Ipv4(v4) => {
            (v4.header().source_addr().into(), v4.header().destination_addr().into(), v4.payload())
        }
        LaxIpSlice::Ipv6(v6) => {
            (v6.header().source_addr().into(), v6.header().destination_addr().into(), v6.payload())
        }
    };
    if payload.ip_number.0 != IPPROTO_TCP {
        return None;
    }
    let p = payload.payload;
    if p.len() < 8 {
        return None;
    }
    Some(QuotedTcp {
        src,
        dst,
        src_port: u16::from_be_bytes([p[0], p[1]]),
        dst_port: u16::from_be_bytes([p[2], p[3]]),
        seq: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        tcp_len: u16::try_from(p.len()).unwrap_or(u16::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn syn_with(options: &[etherparse::TcpOptionElement], payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .tcp(40000, 80, 1000, 64240)
            .syn()
            .options(options)
            .unwrap();
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn payload_length_comes_from_the_ip_header_even_when_cut() {
        let frame = syn_with(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)], &[7; 39]);
        let full = decode(Linktype(link::LINKTYPE_RAW), &frame).unwrap();
        let Packet::Tcp { tcp, ip } = full else { panic!("not tcp") };
        assert_eq!(tcp.payload_len, 39);
        assert_eq!(tcp.header_len, 24);
        assert_eq!(ip.ttl, 64);
        let cut = decode(Linktype(link::LINKTYPE_RAW), &frame[..50]).unwrap();
        let Packet::Tcp { tcp, .. } = cut else { panic!("not tcp") };
        assert_eq!(tcp.payload_len, 39);
    }

    #[test]
    fn every_prefix_decodes_or_errs_without_panic() {
        let frame = syn_with(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)], &[7; 10]);
        for cut in 0..frame.len() {
            let result = decode(Linktype(link::LINKTYPE_RAW), &frame[..cut]);
            if cut < 40 {
                assert!(result.is_err(), "cut {cut} decoded: {result:?}");
            } else {
                let Ok(Packet::Tcp { tcp, .. }) = result else { panic!("cut {cut}: {result:?}") };
                assert_eq!(tcp.payload_len, 10);
                let summary = OptionSummary::of(tcp.options());
                assert_eq!(summary.truncated(), cut < 44, "cut {cut}");
            }
        }
    }

    #[test]
    fn ipv6_extension_headers_are_skipped_and_counted_out_of_the_payload() {
        // IPv6 with a hop-by-hop header (8 bytes) before a 20-byte TCP SYN with 5 data bytes.
        let mut frame = vec![0x60, 0, 0, 0, 0, 33, 0, 64];
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        frame.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next header TCP, PadN
        frame.extend_from_slice(&[
            0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        frame.extend_from_slice(b"hello");
        let Ok(Packet::Tcp { ip, tcp }) = decode(Linktype(link::LINKTYPE_IPV6), &frame) else {
            panic!("not tcp")
        };
        assert!(ip.src.is_ipv6());
        assert_eq!(ip.ttl, 64);
        assert_eq!((tcp.src_port, tcp.dst_port, tcp.seq), (40000, 80, 1000));
        assert_eq!(tcp.payload_len, 5);
    }

    #[test]
    fn icmp_error_quotes_the_syn() {
        let syn = syn_with(&[], &[]);
        let builder = PacketBuilder::ipv4([203, 0, 113, 9], [192, 0, 2, 1], 60).icmpv4(
            etherparse::Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Host),
        );
        let mut frame = Vec::new();
        builder.write(&mut frame, &syn).unwrap();
        let Ok(Packet::IcmpError { error, .. }) = decode(Linktype(link::LINKTYPE_RAW), &frame) else {
            panic!()
        };
        assert_eq!(error.quoted.src_port, 40000);
        assert_eq!(error.quoted.dst_port, 80);
        assert_eq!(error.quoted.seq, 1000);
        assert!(!error.is_path_mtu());
    }
}
