//! The one socket option socket2 does not name for us: a plain `int` set with setsockopt
//! (TCP_FASTOPEN_CONNECT, TCP_FASTOPEN, PACKET_AUXDATA).

use std::io;
use std::os::fd::AsRawFd;

pub fn set_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid fd and a c_int option value that outlives the call, of the size given.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
