//! Captures the collector's own packets: one AF_PACKET socket, cooked (SOCK_DGRAM, so every
//! interface yields raw IP), ETH_P_ALL. Kept: TCP segments with a local port in the fetch
//! sockets' range, and ICMP errors quoting one.

use std::io;
use std::mem::MaybeUninit;
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcap_parser::Linktype;
use socket2::{Domain, Protocol, Socket, Type};
use tfoscope_analyze::decode::{self, Packet};

use crate::fetch::now_ns;
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
    /// Needs CAP_NET_RAW.
    pub fn open() -> io::Result<Capture> {
        let protocol = Protocol::from(i32::from((libc::ETH_P_ALL as u16).to_be()));
        let socket = Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        socket.set_recv_buffer_size(8 << 20)?;
        Ok(Capture { socket })
    }

    /// Reads until `stop`, writing what concerns `ports` to `out`.
    pub fn run(
        &self,
        ports: RangeInclusive<u16>,
        snaplen: usize,
        out: &Arc<Mutex<PcapngWriter>>,
        stop: &AtomicBool,
    ) -> io::Result<CaptureStats> {
        let mut stats = CaptureStats::default();
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
        while !stop.load(Ordering::Relaxed) {
            let (len, _) = match self.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let ts = now_ns();
            // SAFETY: recv_from initialised the first `len` bytes.
            #[allow(unsafe_code)]
            let packet: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
            if concerns(packet, &ports) {
                stats.kept += 1;
                let kept = &packet[..len.min(snaplen)];
                out.lock().expect("writer lock").packet(ts, kept, len as u32)?;
            }
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

fn concerns(packet: &[u8], ports: &RangeInclusive<u16>) -> bool {
    match decode::decode(Linktype(LINKTYPE_RAW), packet) {
        Ok(Packet::Tcp { tcp, .. }) => ports.contains(&tcp.src_port) || ports.contains(&tcp.dst_port),
        Ok(Packet::IcmpError { error, .. }) => ports.contains(&error.quoted.src_port),
        Err(_) => false,
    }
}
