//! The tcp_metrics netlink client against the real kernel: a TFO connection on loopback caches a
//! cookie, `get` reads it (and `ip tcp_metrics` agrees), `delete` forgets it. The test thread
//! moves into a network namespace of its own, so the host's cache is never touched.

use crate::common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use socket2::{Domain, Socket, Type};
use tfoscope_collect::sockopt::set_int;
use tfoscope_collect::tcp_metrics::TcpMetrics;

fn ip_tcp_metrics_show() -> String {
    let out = Command::new("ip").args(["tcp_metrics", "show", "127.0.0.1"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn reads_and_forgets_a_cached_cookie() {
    let _one_at_a_time = common::namespace_lock();
    if !common::have_root() {
        return;
    }
    // SAFETY: unshare affects only this test's thread (and the processes it starts).
    assert_eq!(
        unsafe { libc::unshare(libc::CLONE_NEWNET) },
        0,
        "unshare: {}",
        std::io::Error::last_os_error()
    );
    assert!(Command::new("ip").args(["link", "set", "lo", "up"]).status().unwrap().success());
    std::fs::write("/proc/sys/net/ipv4/tcp_fastopen", "3").unwrap();

    let metrics = TcpMetrics::open().expect("tcp_metrics family");
    let local = "127.0.0.1".parse().unwrap();
    assert_eq!(metrics.get(local).unwrap(), None, "a new namespace caches nothing");
    assert!(!metrics.delete(local).unwrap(), "nothing to delete yet");

    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    set_int(&listener, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, 16).unwrap();
    listener.listen(16).unwrap();
    let server: std::net::TcpListener = listener.into();
    let to = server.local_addr().unwrap();
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    set_int(&client, libc::IPPROTO_TCP, 30, 1).unwrap(); // TCP_FASTOPEN_CONNECT
    client.connect(&to.into()).unwrap();
    let mut client: std::net::TcpStream = client.into();
    client.write_all(b"hello").unwrap();
    let (mut accepted, _) = server.accept().unwrap();
    let mut got = [0u8; 5];
    accepted.read_exact(&mut got).unwrap();
    drop((client, accepted));

    let cached = metrics.get(local).unwrap().expect("an entry after a TFO connection");
    let cookie = cached.cookie.expect("the cookie the listener granted");
    assert!((4..=16).contains(&cookie.len()), "{cookie:?}");
    assert_eq!(cached.syn_drops, 0);
    let hex: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        ip_tcp_metrics_show().contains(&hex),
        "ip shows the same cookie {hex}: {}",
        ip_tcp_metrics_show()
    );

    assert!(metrics.delete(local).unwrap(), "the entry was there");
    assert_eq!(metrics.get(local).unwrap(), None);
    assert!(!ip_tcp_metrics_show().contains("fo_cookie"), "{}", ip_tcp_metrics_show());
}
