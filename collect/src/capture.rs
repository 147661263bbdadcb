//! Captures the collector's own packets: one AF_PACKET socket, cooked (SOCK_DGRAM, so every
//! interface yields raw IP), ETH_P_ALL, with a kernel filter on the fetch sockets' port range
//! (see `bpf`). Kept: TCP segments with a local port in that range, and ICMP errors quoting
//! one; our decoder checks again in userspace, since packets queued before the filter was
//! attached passed unfiltered.

use std::io;
use std::mem::MaybeUninit;
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcap_parser::Linktype;
use socket2::{Domain, MsgHdrMut, Protocol, SockAddr, Socket, Type};
use tfoscope_wire::decode::{self, Packet};

use crate::bpf;
use crate::fetch::now_ns;
use crate::pcapng::LinkSource;
use crate::pcapng::PcapngWriter;

const LINKTYPE_RAW: i32 = 101;

#[derive(Debug, Clone, Copy, Default)]
pub struct CaptureStats {
    pub kept: u64,
    pub kernel_received: u64,
    pub kernel_dropped: u64,
}

pub struct Capture {
    socket: Socket,
}

impl Capture {
    /// Needs CAP_NET_RAW. The kernel passes at most `snaplen` bytes of each packet.
    pub fn open(ports: &RangeInclusive<u16>, snaplen: u32) -> io::Result<Capture> {
        let protocol = Protocol::from(i32::from((libc::ETH_P_ALL as u16).to_be()));
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))?;
        socket.attach_filter(&bpf::to_socket_filter(&bpf::port_range_filter(ports, snaplen.max(1))))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        socket.set_recv_buffer_size(8 << 20)?;
        crate::sockopt::set_int(&socket, libc::SOL_PACKET, libc::PACKET_AUXDATA, 1)?;
        Ok(Capture { socket })
    }

    /// One packet as the kernel filter passed it: (cut bytes, length on the wire, where it was
    /// seen). None when the read timed out.
    pub fn next_packet<'b>(
        &self,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> io::Result<Option<(&'b [u8], usize, LinkSource)>> {
        // SAFETY: zeroed storage is a valid, empty address for recvmsg to fill.
        #[allow(unsafe_code)]
        let mut from = unsafe {
            SockAddr::new(
                socket2::SockAddrStorage::zeroed(),
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            )
        };
        let mut control = [MaybeUninit::<u8>::new(0); 128];
        let (copied, control_len) = {
            let mut bufs = [socket2::MaybeUninitSlice::new(buf)];
            let mut msg =
                MsgHdrMut::new().with_addr(&mut from).with_buffers(&mut bufs).with_control(&mut control);
            match self.socket.recvmsg(&mut msg, 0) {
                Ok(n) => (n, msg.control_len()),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        // SAFETY: the control buffer was initialised with zeros and recvmsg wrote into it.
        #[allow(unsafe_code)]
        let control: &[u8] =
            unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), control_len) };
        // The kernel filter cut the packet; its length on the wire comes in PACKET_AUXDATA.
        let wire_len = auxdata_wire_len(control).map_or(copied, |len| len as usize);
        let mut storage = from.as_storage();
        // SAFETY: a packet socket's source address is a sockaddr_ll, which fits the storage.
        #[allow(unsafe_code)]
        let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
        let source = LinkSource {
            ifindex: ll.sll_ifindex,
            packet_type: ll.sll_pkttype,
            hardware_type: ll.sll_hatype,
            address: ll.sll_addr,
            address_len: ll.sll_halen,
            protocol: u16::from_be(ll.sll_protocol),
        };
        // SAFETY: recvmsg initialised the first `copied` bytes.
        #[allow(unsafe_code)]
        let packet: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), copied) };
        Ok(Some((packet, wire_len, source)))
    }

    /// Reads until `stop`, writing what concerns `ports` to `out`; the first SYN from a port
    /// with a note in `comments` carries it as its packet comment.
    pub fn run(
        &self,
        ports: RangeInclusive<u16>,
        snaplen: usize,
        out: &Arc<Mutex<PcapngWriter>>,
        stop: &AtomicBool,
        comments: &SynComments,
    ) -> io::Result<CaptureStats> {
        let mut stats = CaptureStats::default();
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
        while !stop.load(Ordering::Relaxed) {
            let Some((packet, wire_len, source)) = self.next_packet(&mut buf)? else { continue };
            let ts = now_ns();
            let Some(seen) = concerns(packet, &ports) else { continue };
            stats.kept += 1;
            let comment = seen.syn_from.and_then(|port| comments.take(port));
            let kept = &packet[..packet.len().min(snaplen)];
            let mut out = out.lock().expect("writer lock");
            let if_id = out.interface(source.ifindex, || interface_name(source.ifindex))?;
            out.packet(if_id, ts, &source, kept, wire_len as u32, comment.as_deref())?;
        }
        let (received, dropped) = self.kernel_stats();
        stats.kernel_received = received;
        stats.kernel_dropped = dropped;
        Ok(stats)
    }

    /// PACKET_STATISTICS: packets the kernel handed over and dropped (reset on reading).
    fn kernel_stats(&self) -> (u64, u64) {
        let mut stats = [0u32; 2];
        let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
        // SAFETY: the buffer is a struct tpacket_stats and outlives the call.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                stats.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc == 0 {
            (u64::from(stats[0]), u64::from(stats[1]))
        } else {
            (0, 0)
        }
    }
}

/// tp_len of the `struct tpacket_auxdata` control message, if the kernel sent one.
fn auxdata_wire_len(control: &[u8]) -> Option<u32> {
    let header = std::mem::size_of::<libc::cmsghdr>();
    let align = std::mem::size_of::<usize>();
    let mut at = 0;
    while at + header <= control.len() {
        let len = usize::from_ne_bytes(control[at..at + align].try_into().ok()?);
        let level = i32::from_ne_bytes(control[at + align..at + align + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(control[at + align + 4..at + align + 8].try_into().ok()?);
        if len < header {
            return None;
        }
        if level == libc::SOL_PACKET && kind == libc::PACKET_AUXDATA {
            // tpacket_auxdata: tp_status u32, then tp_len u32.
            let data = control.get(at + header + 4..at + header + 8)?;
            return Some(u32::from_ne_bytes(data.try_into().ok()?));
        }
        at += len.div_ceil(align) * align;
    }
    None
}

fn interface_name(ifindex: i32) -> String {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer has IF_NAMESIZE bytes, as if_indextoname requires.
    #[allow(unsafe_code)]
    let found = unsafe { !libc::if_indextoname(ifindex as libc::c_uint, name.as_mut_ptr()).is_null() };
    if found {
        let bytes: Vec<u8> = name.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        format!("ifindex{ifindex}")
    }
}

/// A packet that concerns the fetch ports: `syn_from`, the port of a client SYN (no ACK).
struct Concerning {
    syn_from: Option<u16>,
}

fn concerns(packet: &[u8], ports: &RangeInclusive<u16>) -> Option<Concerning> {
    match decode::decode(Linktype(LINKTYPE_RAW), packet) {
        Ok(Packet::Tcp { tcp, .. }) if ports.contains(&tcp.src_port) || ports.contains(&tcp.dst_port) => {
            let syn = tcp.has(decode::TCP_SYN) && !tcp.has(decode::TCP_ACK) && ports.contains(&tcp.src_port);
            Some(Concerning { syn_from: syn.then_some(tcp.src_port) })
        }
        Ok(Packet::IcmpError { error, .. }) if ports.contains(&error.quoted.src_port) => {
            Some(Concerning { syn_from: None })
        }
        _ => None,
    }
}

/// Notes for the first SYN of each fetch, by local port: written as that packet's comment,
/// so Wireshark shows what the collector meant (the outcome stays in the attempt records, so
/// every block is still written whole and at once).
#[derive(Debug, Default)]
pub struct SynComments(Mutex<std::collections::HashMap<u16, String>>);

impl SynComments {
    /// The next SYN from `port` gets `comment`.
    pub fn note(&self, port: u16, comment: String) {
        self.0.lock().expect("comments").insert(port, comment);
    }

    fn take(&self, port: u16) -> Option<String> {
        self.0.lock().expect("comments").remove(&port)
    }
}
