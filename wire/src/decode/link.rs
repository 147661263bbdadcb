//! Link layers: from a captured frame to the bytes of its network layer.
//!
//! Ethernet (with 802.1Q/802.1ad tags) is etherparse's; Linux cooked SLL and SLL2 and BSD
//! null/loopback are read here, since etherparse has no SLL2 or null.

use pcap_parser::Linktype;

use super::DecodeError;

pub const LINKTYPE_NULL: i32 = 0;
pub const LINKTYPE_ETHERNET: i32 = 1;
/// DLT_RAW as written by some BSDs and old libpcap builds.
pub const LINKTYPE_RAW_12: i32 = 12;
pub const LINKTYPE_RAW_14: i32 = 14;
pub const LINKTYPE_RAW: i32 = 101;
pub const LINKTYPE_LOOP: i32 = 108;
pub const LINKTYPE_LINUX_SLL: i32 = 113;
pub const LINKTYPE_IPV4: i32 = 228;
pub const LINKTYPE_IPV6: i32 = 229;
pub const LINKTYPE_LINUX_SLL2: i32 = 276;

const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const NULL_HEADER_LEN: usize = 4;

/// Slices a frame down to its network layer, leniently (etherparse's lax mode: a short IP
/// payload is kept and marked incomplete rather than rejected).
/// The network-layer bytes of a frame (IPv4 or IPv6), past the link-layer header and any
/// 802.1Q/802.1ad tags. Only the link layer is read here; the IP header is etherparse's.
pub fn network_layer(linktype: Linktype, frame: &[u8]) -> Result<&[u8], DecodeError> {
    match linktype.0 {
        LINKTYPE_ETHERNET => {
            let mut ether_type = be16(frame, 12).ok_or(DecodeError::LinkTooShort)?;
            let mut at = 14;
            // At most a few tags: 802.1Q, 802.1ad (QinQ) and the old 0x9100.
            for _ in 0..4 {
                if !matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                ether_type = be16(frame, at + 2).ok_or(DecodeError::LinkTooShort)?;
                at += 4;
            }
            ip_ether_type(ether_type, &frame[at..])
        }
        LINKTYPE_RAW | LINKTYPE_RAW_12 | LINKTYPE_RAW_14 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Ok(frame),
        LINKTYPE_LINUX_SLL => {
            let ether_type = be16(frame, 14).ok_or(DecodeError::LinkTooShort)?;
            ip_ether_type(ether_type, &frame[SLL_HEADER_LEN..])
        }
        LINKTYPE_LINUX_SLL2 => {
            frame.get(..SLL2_HEADER_LEN).ok_or(DecodeError::LinkTooShort)?;
            let ether_type = be16(frame, 0).ok_or(DecodeError::LinkTooShort)?;
            ip_ether_type(ether_type, &frame[SLL2_HEADER_LEN..])
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let header = frame.get(..NULL_HEADER_LEN).ok_or(DecodeError::LinkTooShort)?;
            let family = null_family(linktype.0, [header[0], header[1], header[2], header[3]]);
            match family {
                2 | 10 | 24 | 28 | 30 => Ok(&frame[NULL_HEADER_LEN..]),
                other => Err(DecodeError::NotIp { ether_type: other as u16 }),
            }
        }
        other => Err(DecodeError::UnsupportedLinktype(other)),
    }
}

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
}

fn ip_ether_type(ether_type: u16, rest: &[u8]) -> Result<&[u8], DecodeError> {
    match ether_type {
        0x0800 | 0x86dd => Ok(rest),
        other => Err(DecodeError::NotIp { ether_type: other }),
    }
}

fn null_family(linktype: i32, bytes: [u8; 4]) -> u32 {
    let be = u32::from_be_bytes(bytes);
    if linktype == LINKTYPE_LOOP || be <= 0xffff {
        be
    } else {
        u32::from_le_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPV4_HEADER: [u8; 20] = [0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2];

    #[test]
    fn null_family_in_either_byte_order() {
        assert_eq!(null_family(LINKTYPE_NULL, [2, 0, 0, 0]), 2);
        assert_eq!(null_family(LINKTYPE_NULL, [0, 0, 0, 30]), 30);
        assert_eq!(null_family(LINKTYPE_LOOP, [0, 0, 0, 2]), 2);
    }

    #[test]
    fn every_supported_link_type_reaches_ip() {
        let mut sll = vec![0u8; 16];
        sll[14..16].copy_from_slice(&[0x08, 0x00]);
        let mut sll2 = vec![0u8; 20];
        sll2[0..2].copy_from_slice(&[0x08, 0x00]);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        // 802.1ad outer tag, 802.1Q inner tag.
        let mut qinq = vec![0u8; 12];
        qinq.extend_from_slice(&[0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        let cases: Vec<(i32, Vec<u8>)> = vec![
            (LINKTYPE_ETHERNET, eth),
            (LINKTYPE_ETHERNET, qinq),
            (LINKTYPE_RAW, vec![]),
            (LINKTYPE_IPV4, vec![]),
            (LINKTYPE_LINUX_SLL, sll),
            (LINKTYPE_LINUX_SLL2, sll2),
            (LINKTYPE_NULL, vec![2, 0, 0, 0]),
            (LINKTYPE_LOOP, vec![0, 0, 0, 2]),
        ];
        for (linktype, mut frame) in cases {
            frame.extend_from_slice(&IPV4_HEADER);
            let ip = network_layer(Linktype(linktype), &frame).unwrap();
            assert_eq!(ip, &IPV4_HEADER[..], "link type {linktype}");
        }
    }

    #[test]
    fn short_link_headers_are_errors_not_panics() {
        for linktype in [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL] {
            assert_eq!(network_layer(Linktype(linktype), &[0u8; 3]).unwrap_err(), DecodeError::LinkTooShort);
        }
        let mut cut_tag = vec![0u8; 12];
        cut_tag.extend_from_slice(&[0x81, 0x00, 0x00]);
        assert_eq!(
            network_layer(Linktype(LINKTYPE_ETHERNET), &cut_tag).unwrap_err(),
            DecodeError::LinkTooShort
        );
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(
            network_layer(Linktype(LINKTYPE_ETHERNET), &arp).unwrap_err(),
            DecodeError::NotIp { ether_type: 0x0806 }
        );
        assert_eq!(
            network_layer(Linktype(147), &[0u8; 40]).unwrap_err(),
            DecodeError::UnsupportedLinktype(147)
        );
    }
}
