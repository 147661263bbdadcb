//! The kernel's per-destination TCP metrics (where TFO cookies and SYN-data losses are cached),
//! over the `tcp_metrics` generic-netlink family: read one address's entry, delete it. This is
//! what `ip tcp_metrics show|delete ADDR` does, without a child process per target.
//!
//! Netlink messages are built and parsed here by hand: a header, a generic-netlink header and
//! type-length-value attributes, all in host byte order except the addresses.

use std::io;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Protocol, Socket, Type};

const NETLINK_GENERIC: i32 = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const TCP_METRICS_CMD_GET: u8 = 1;
const TCP_METRICS_CMD_DEL: u8 = 2;
const TCP_METRICS_ATTR_ADDR_IPV4: u16 = 1;
const TCP_METRICS_ATTR_ADDR_IPV6: u16 = 2;
const TCP_METRICS_ATTR_FOPEN_MSS: u16 = 7;
const TCP_METRICS_ATTR_FOPEN_SYN_DROPS: u16 = 8;
const TCP_METRICS_ATTR_FOPEN_COOKIE: u16 = 10;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// What the kernel caches about one destination for TFO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TfoMetrics {
    pub cookie: Option<Vec<u8>>,
    pub mss: Option<u16>,
    /// SYN-data losses the kernel remembers; while non-zero it may send no data in SYNs.
    pub syn_drops: u16,
}

/// Safe to share between threads: each request holds the socket until its answer is read.
pub struct TcpMetrics {
    socket: std::sync::Mutex<Socket>,
    family: u16,
    sequence: AtomicU32,
}

impl TcpMetrics {
    /// Finds the family; fails where the kernel has no tcp_metrics (or no netlink).
    pub fn open() -> io::Result<TcpMetrics> {
        let socket =
            Socket::new(Domain::from(libc::AF_NETLINK), Type::RAW, Some(Protocol::from(NETLINK_GENERIC)))?;
        socket.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        let mut metrics = TcpMetrics {
            socket: std::sync::Mutex::new(socket),
            family: GENL_ID_CTRL,
            sequence: AtomicU32::new(1),
        };
        let reply = metrics.request(CTRL_CMD_GETFAMILY, 0, &[(CTRL_ATTR_FAMILY_NAME, b"tcp_metrics\0")])?;
        let family = reply
            .and_then(|attrs| attribute(&attrs, CTRL_ATTR_FAMILY_ID).map(<[u8]>::to_vec))
            .and_then(|id| Some(u16::from_ne_bytes(id.get(..2)?.try_into().ok()?)))
            .ok_or_else(|| io::Error::other("the kernel has no tcp_metrics netlink family"))?;
        metrics.family = family;
        Ok(metrics)
    }

    /// The cached entry for `addr` (any source address), None when there is none.
    pub fn get(&self, addr: IpAddr) -> io::Result<Option<TfoMetrics>> {
        let (kind, bytes) = address_attribute(addr);
        let Some(attrs) = self.request(TCP_METRICS_CMD_GET, 0, &[(kind, &bytes)])? else { return Ok(None) };
        let u16_of = |kind| {
            attribute(&attrs, kind).and_then(|v| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
        };
        Ok(Some(TfoMetrics {
            cookie: attribute(&attrs, TCP_METRICS_ATTR_FOPEN_COOKIE).map(<[u8]>::to_vec),
            mss: u16_of(TCP_METRICS_ATTR_FOPEN_MSS),
            syn_drops: u16_of(TCP_METRICS_ATTR_FOPEN_SYN_DROPS).unwrap_or(0),
        }))
    }

    /// Forgets everything cached for `addr`: cookie, SYN-drop history, RTT. Needs
    /// CAP_NET_ADMIN. Returns whether there was an entry.
    pub fn delete(&self, addr: IpAddr) -> io::Result<bool> {
        let (kind, bytes) = address_attribute(addr);
        Ok(self.request(TCP_METRICS_CMD_DEL, NLM_F_ACK, &[(kind, &bytes)])?.is_some())
    }

    /// Sends one request and reads its answer: the reply's attributes, Some(empty) for a bare
    /// acknowledgement, None when the kernel says there is no such entry.
    fn request(&self, command: u8, flags: u16, attrs: &[(u16, &[u8])]) -> io::Result<Option<Vec<u8>>> {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut message = Vec::with_capacity(64);
        message.extend_from_slice(&[0; 4]); // length, set below
        message.extend_from_slice(&self.family.to_ne_bytes());
        message.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        message.extend_from_slice(&sequence.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns ours
        message.extend_from_slice(&[command, 1, 0, 0]); // genl command, version 1
        for (kind, value) in attrs {
            message.extend_from_slice(&(4 + value.len() as u16).to_ne_bytes());
            message.extend_from_slice(&kind.to_ne_bytes());
            message.extend_from_slice(value);
            message.resize(message.len().next_multiple_of(4), 0);
        }
        let length = message.len() as u32;
        message[..4].copy_from_slice(&length.to_ne_bytes());
        let socket = self.socket.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        socket.send(&message)?;

        let mut buf = vec![MaybeUninit::<u8>::uninit(); 8192];
        loop {
            let n = socket.recv(&mut buf)?;
            // SAFETY: recv initialised the first n bytes.
            #[allow(unsafe_code)]
            let reply: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            for (kind, seq, payload) in messages(reply) {
                if seq != sequence {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                        return match -code {
                            0 => Ok(Some(Vec::new())),
                            libc::ESRCH | libc::ENOENT => Ok(None),
                            errno => Err(io::Error::from_raw_os_error(errno)),
                        };
                    }
                    NLMSG_DONE => return Ok(Some(Vec::new())),
                    _ => return Ok(Some(payload.get(4..).unwrap_or_default().to_vec())),
                }
            }
        }
    }
}

fn address_attribute(addr: IpAddr) -> (u16, Vec<u8>) {
    match addr {
        IpAddr::V4(v4) => (TCP_METRICS_ATTR_ADDR_IPV4, v4.octets().to_vec()),
        IpAddr::V6(v6) => (TCP_METRICS_ATTR_ADDR_IPV6, v6.octets().to_vec()),
    }
}

/// Netlink messages in one datagram: (type, sequence, payload after the 16-byte header).
fn messages(mut data: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        let length = u32::from_ne_bytes(data.get(..4)?.try_into().ok()?) as usize;
        if length < 16 || length > data.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(data[4..6].try_into().ok()?);
        let sequence = u32::from_ne_bytes(data[8..12].try_into().ok()?);
        let payload = &data[16..length];
        data = &data[length.next_multiple_of(4).min(data.len())..];
        Some((kind, sequence, payload))
    })
}

/// The value of the first attribute of `kind` in a run of attributes.
fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let length = usize::from(u16::from_ne_bytes(attrs[..2].try_into().ok()?));
        let this = u16::from_ne_bytes(attrs[2..4].try_into().ok()?) & NLA_TYPE_MASK;
        if length < 4 || length > attrs.len() {
            return None;
        }
        if this == kind {
            return Some(&attrs[4..length]);
        }
        attrs = &attrs[length.next_multiple_of(4).min(attrs.len())..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_found_past_padding_and_bad_lengths_stop_the_walk() {
        // A 5-byte value padded to 8, then a u16.
        let attrs = [9, 0, 10, 0, 1, 2, 3, 4, 5, 0, 0, 0, 6, 0, 8, 0, 0x34, 0x12, 0, 0];
        assert_eq!(attribute(&attrs, 10), Some(&[1, 2, 3, 4, 5][..]));
        assert_eq!(attribute(&attrs, 8), Some(&[0x34, 0x12][..]));
        assert_eq!(attribute(&attrs, 7), None);
        assert_eq!(attribute(&[200, 0, 10, 0, 1], 10), None, "a length past the end");
        assert_eq!(attribute(&[2, 0, 10, 0], 10), None, "a length shorter than the header");
    }

    #[test]
    fn messages_split_a_datagram_and_stop_at_a_cut_one() {
        let mut datagram = Vec::new();
        for (kind, seq) in [(2u16, 7u32), (3, 8)] {
            datagram.extend_from_slice(&20u32.to_ne_bytes());
            datagram.extend_from_slice(&kind.to_ne_bytes());
            datagram.extend_from_slice(&[0; 2]);
            datagram.extend_from_slice(&seq.to_ne_bytes());
            datagram.extend_from_slice(&[0; 4]);
            datagram.extend_from_slice(&[0xaa; 4]);
        }
        let found: Vec<_> = messages(&datagram).map(|(k, s, p)| (k, s, p.len())).collect();
        assert_eq!(found, vec![(2, 7, 4), (3, 8, 4)]);
        assert_eq!(messages(&datagram[..30]).count(), 1);
    }
}
