//! The error kinds an attempt record names (`refused`, `reset`, `timeout`, `no_route`, ...),
//! from the errors of the layers that fail: the one vocabulary of fetch and tls.

use std::io;

/// The kind of a socket error.
pub fn error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            "reset"
        }
        io::ErrorKind::TimedOut => "timeout",
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => "no_route",
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH) => "no_route",
            _ => "reset",
        },
    }
}
