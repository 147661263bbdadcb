//! gzip and zstd captures, decompressed as they stream; a damaged or cut stream ends as a
//! partial result, with the decompressor's reason.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use super::{read_records, CaptureEvent, ReadError, ReadOptions, ReadReport, ReadStop, StopReason};

/// A reader that tells how many bytes each read returned.
pub(super) struct Counted<R, P> {
    pub(super) inner: R,
    pub(super) on_bytes: P,
}

impl<R: Read, P: FnMut(u64)> Read for Counted<R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}

pub(super) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(super) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A decompressor whose failure (a stream cut off mid-write, or damaged) ends the input where
/// it happened, remembered, so the records before it are kept and the file is marked partial
/// with the decompressor's reason (pcap-parser would only say "read error").
struct Decompressed<R> {
    inner: R,
    delivered: u64,
    failure: std::sync::Arc<std::sync::Mutex<Option<(u64, std::io::Error)>>>,
}

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.delivered += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((self.delivered, e));
                Ok(0)
            }
        }
    }
}

pub(super) fn read_compressed<R, F>(
    path: &Path,
    decoder: R,
    options: ReadOptions,
    on_event: F,
) -> Result<ReadReport, ReadError>
where
    R: Read + Send,
    F: FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
{
    let failure = std::sync::Arc::default();
    let input = Decompressed { inner: decoder, delivered: 0, failure: std::sync::Arc::clone(&failure) };
    let result = read_records(path, input, options, on_event);
    let failure = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
    let mut report = match (result, &failure) {
        // Too little came out to hold a capture header: say why, not "empty".
        (Err(_), Some((_, e))) => {
            return Err(ReadError::BadHeader {
                path: path.to_owned(),
                detail: format!("compressed stream: {e}"),
            })
        }
        (result, _) => result?,
    };
    if let Some(stop) = report.stop.as_mut() {
        stop.decompressed = true;
    }
    if let Some((offset, e)) = failure {
        let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            StopReason::Truncated
        } else {
            StopReason::Corrupt(format!("compressed stream: {e}"))
        };
        // Where the records stopped, if before the damage; else where the damage begins.
        let offset = report.stop.as_ref().map_or(offset, |s| s.offset.min(offset));
        report.stop = Some(ReadStop { offset, decompressed: true, reason });
    }
    Ok(report)
}
