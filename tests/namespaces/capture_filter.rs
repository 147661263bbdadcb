//! The collector's kernel capture filter, on the real kernel: SYNs from a local port in the
//! range are passed (cut to the snap length, with their length on the wire and interface),
//! SYNs from a port outside it are not. Loopback only.

use crate::common;

use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tfoscope_collect::capture::Capture;

/// A loopback port with nothing listening: connecting to it gets SYN, then RST.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

fn connect_from(local_port: u16, to: u16) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, local_port)).into()).unwrap();
    let refused = socket.connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, to)).into());
    assert!(refused.is_err(), "nothing listens on {to}");
}

#[test]
fn kernel_filter_passes_only_the_port_range_cut_to_the_snap_length() {
    let _one_at_a_time = common::namespace_lock();
    if !common::have_root() {
        return;
    }
    let capture = Capture::open(&(61900..=61909), 40).expect("capture socket as root");
    let closed = closed_port();
    connect_from(61950, closed);
    connect_from(61903, closed);
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Some((packet, wire_len, source)) = capture.next_packet(&mut buf).unwrap() {
            let ifindex = source.ifindex;
            let ports =
                (u16::from_be_bytes([packet[20], packet[21]]), u16::from_be_bytes([packet[22], packet[23]]));
            seen.push((ports, packet.len(), wire_len, ifindex));
            if seen.iter().any(|(p, ..)| p.0 == closed) {
                break;
            }
        }
    }
    // Packets queued before the filter was attached may precede; only ours matter.
    let ours: Vec<_> = seen.iter().filter(|((s, d), ..)| *s == closed || *d == closed).collect();
    let syn = ours.iter().find(|((s, _), ..)| *s == 61903).expect("the SYN from 61903 was captured");
    assert_eq!(syn.1, 40, "cut to the snap length in the kernel");
    assert!(syn.2 > 40, "the length on the wire is kept (SYN with options): {}", syn.2);
    assert_eq!(syn.3, 1, "loopback's ifindex");
    assert!(
        ours.iter().any(|((s, d), ..)| *s == closed && *d == 61903),
        "the RST back to 61903 was captured"
    );
    assert!(
        !ours.iter().any(|((s, d), ..)| *s == 61950 || *d == 61950),
        "port 61950 is outside the range: {ours:?}"
    );
}
