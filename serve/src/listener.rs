//! Listening sockets with TFO and TCP_SAVE_SYN, and what the kernel must allow first.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket, Type};

const TCP_SAVE_SYN: libc::c_int = 27;
const TCP_FASTOPEN: libc::c_int = 23;
const TCP_FASTOPEN_KEY: libc::c_int = 33;
/// net.ipv4.tcp_fastopen's server bit.
const TFO_SERVER_ENABLE: i64 = 0x2;
/// Pending TFO requests per listener (the kernel's queue for SYN-data not yet accepted).
const TFO_QUEUE: libc::c_int = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "the kernel's server side of TFO is off (net.ipv4.tcp_fastopen = {0}); once, as root: \
         sysctl -w net.ipv4.tcp_fastopen=3 (or run with --no-tfo)"
    )]
    ServerTfoOff(i64),
    #[error("reading net.ipv4.tcp_fastopen: {0}")]
    Sysctl(io::Error),
    #[error(
        "listening on {0}: permission denied (a port below 1024 needs root or \
         CAP_NET_BIND_SERVICE: setcap cap_net_bind_service=+ep $(which tfoscope))"
    )]
    PrivilegedPort(SocketAddr),
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, io::Error),
    #[error("--tfo-key must be 32 hex digits, optionally in four dash-separated words as net.ipv4.tcp_fastopen_key shows them: {0:?}")]
    BadKey(String),
}

/// Checks that the kernel will grant cookies to listeners.
pub fn check_server_tfo() -> Result<(), ListenError> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").map_err(ListenError::Sysctl)?;
    let value: i64 = text.trim().parse().map_err(|_| ListenError::Sysctl(io::Error::other(text.clone())))?;
    if value & TFO_SERVER_ENABLE == 0 {
        return Err(ListenError::ServerTfoOff(value));
    }
    Ok(())
}

/// A TFO key as `net.ipv4.tcp_fastopen_key` writes it (four 32-bit words in hex, dashes
/// between) or as 32 hex digits; the bytes the kernel keeps (each word little-endian, as the
/// sysctl stores it), so helpers given one key grant and accept the same cookies.
pub fn parse_tfo_key(text: &str) -> Result<[u8; 16], ListenError> {
    let bad = || ListenError::BadKey(text.to_string());
    let words: Vec<&str> = if text.contains('-') {
        text.split('-').collect()
    } else if text.len() == 32 {
        (0..4).map(|i| &text[i * 8..i * 8 + 8]).collect()
    } else {
        return Err(bad());
    };
    if words.len() != 4 {
        return Err(bad());
    }
    let mut key = [0u8; 16];
    for (i, word) in words.iter().enumerate() {
        if word.is_empty() || word.len() > 8 {
            return Err(bad());
        }
        let value = u32::from_str_radix(word, 16).map_err(|_| bad())?;
        key[i * 4..i * 4 + 4].copy_from_slice(&value.to_le_bytes());
    }
    Ok(key)
}

fn setsockopt(fd: &impl AsRawFd, level: libc::c_int, option: libc::c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: a valid fd and a value buffer that outlives the call, of the length given.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, option, value.as_ptr().cast(), value.len() as libc::socklen_t)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_int(fd: &impl AsRawFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    setsockopt(fd, libc::IPPROTO_TCP, option, &value.to_ne_bytes())
}

/// A listening socket that saves each connection's SYN; with `tfo`, the kernel grants
/// cookies (with `key`, this one) and accepts SYN data.
pub fn listen(
    addr: SocketAddr,
    tfo: bool,
    key: Option<&[u8; 16]>,
) -> Result<std::net::TcpListener, ListenError> {
    let fail = |e: io::Error| match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => ListenError::PrivilegedPort(addr),
        _ => ListenError::Listen(addr, e),
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    set_int(&socket, TCP_SAVE_SYN, 1).map_err(fail)?;
    if tfo {
        set_int(&socket, TCP_FASTOPEN, TFO_QUEUE).map_err(fail)?;
        if let Some(key) = key {
            setsockopt(&socket, libc::IPPROTO_TCP, TCP_FASTOPEN_KEY, key).map_err(fail)?;
        }
    }
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(4096).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
}

/// Raises the open-files limit to the hard limit; returns (soft limit now, hard limit).
pub fn raise_open_files_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one rlimit we own.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_the_sysctl_writes_them() {
        let dashed = parse_tfo_key("00000001-00000002-00000003-0000000a").unwrap();
        assert_eq!(&dashed[..4], &[1, 0, 0, 0]);
        assert_eq!(&dashed[12..], &[10, 0, 0, 0]);
        assert_eq!(
            parse_tfo_key("00000001000000020000000300000000a"[..32].as_ref()).unwrap()[..4],
            [1, 0, 0, 0]
        );
        for bad in ["", "xyz", "1-2-3", "0000000g-0-0-0", "000000001-0-0-0", "1-2-3-4-5"] {
            assert!(parse_tfo_key(bad).is_err(), "{bad}");
        }
    }
}
