//! What the kernel kept of an accepted connection's SYN: its IP and TCP headers
//! (TCP_SAVED_SYN, readable once) and whether the SYN's data was taken (TCP_INFO).

use std::io;
use std::os::fd::AsRawFd;

const TCP_SAVED_SYN: libc::c_int = 28;
const TCPI_OPT_SYN_DATA: u8 = 32;
/// IPv6 with extension headers and 60 bytes of TCP fits well within this.
const SAVED_SYN_MAX: usize = 512;

/// Takes the saved SYN headers of an accepted socket (the kernel gives them once).
pub fn take_saved_syn(fd: &impl AsRawFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; SAVED_SYN_MAX];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer outlives the call and `len` holds its size.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, TCP_SAVED_SYN, buf.as_mut_ptr().cast(), &mut len)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len == 0 {
        // Read already, or the listener did not save it.
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// Whether the kernel accepted data carried by the SYN (TCP_INFO's TCPI_OPT_SYN_DATA, which a
/// TFO server sets on the child socket it made from the SYN-data).
pub fn syn_data_accepted(fd: &impl AsRawFd) -> Option<bool> {
    let mut buf = [0u8; 8];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the buffer outlives the call and `len` holds its size; the kernel writes at most
    // that much of struct tcp_info.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, buf.as_mut_ptr().cast(), &mut len)
    };
    // Byte 5 of struct tcp_info is tcpi_options.
    (rc == 0 && len >= 6).then(|| buf[5] & TCPI_OPT_SYN_DATA != 0)
}
