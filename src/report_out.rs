//! The report lines `collect` and `lab` print as they go, to stdout.
//!
//! Rust ignores SIGPIPE, so `println!` panics once the reader has gone (`tfoscope collect ... |
//! head`). These commands hold sockets, namespaces and a capture being written, so they cannot
//! simply die of SIGPIPE as `analyze` does: a reader that went away only drops the remaining
//! lines, and the work (the capture, the lab's teardown) finishes as it would.

use std::io::Write;

#[derive(Debug, Default)]
pub struct ReportOut {
    /// The reader went away: the rest of the lines are dropped.
    gone: bool,
    /// Any other write error, kept for [`ReportOut::finish`].
    error: Option<std::io::Error>,
}

impl ReportOut {
    pub fn line(&mut self, args: std::fmt::Arguments<'_>) {
        if self.gone || self.error.is_some() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => self.gone = true,
            Err(e) => self.error = Some(e),
        }
    }

    /// The first write error other than a closed pipe.
    pub fn finish(self) -> std::io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

/// `outln!(out, "format", args...)`: one report line, as `println!` would print it.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
