//! Capture files to timestamped link-layer frames.
//!
//! Streams legacy pcap (micro- and nanosecond, either byte order) and pcapng (several sections
//! and interfaces, EPB/SPB, per-interface timestamp resolution and offset) with pcap-parser's
//! buffered reader: the file is never loaded whole. A file cut off mid-record, or corrupt after
//! some good records, yields the frames before the damage and a [`ReadStop`] saying where and
//! why: a partial result, never lost data.

//!
//! One job a module: [`records`] walks the pcap/pcapng records, [`compressed`] undoes gzip and
//! zstd as the bytes stream, [`ahead`] reads the file on a thread of its own.

mod ahead;
mod compressed;
mod records;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use pcap_parser::Linktype;

use ahead::ReadAhead;
use compressed::{read_compressed, Counted, GZIP_MAGIC, ZSTD_MAGIC};
pub use records::read_capture_from;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, as Wireshark's `frame.number`: pcapng custom blocks (the collector's records)
    /// and systemd journal entries are numbered too.
    pub number: u64,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub linktype: Linktype,
    pub data: &'a [u8],
    pub orig_len: u32,
    /// Byte offset of the record in the file.
    pub offset: u64,
}

/// What a capture file holds besides packets, handed to the caller as it streams by.
#[derive(Debug, Clone, Copy)]
pub enum CaptureEvent<'a> {
    Frame(Frame<'a>),
    /// A pcapng custom block (block type 0xBAD or 0x40000BAD).
    Custom {
        pen: u32,
        data: &'a [u8],
        offset: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The file ends inside a record (a capture cut off mid-write).
    Truncated,
    /// A record could not be parsed.
    Corrupt(String),
    /// A length field asks for more than any real record needs.
    RecordTooLarge,
    Io(String),
}

/// Where and why reading ended before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStop {
    pub offset: u64,
    /// `offset` counts the bytes of a decompressed stream (a .gz or .zst capture), not of the
    /// file.
    pub decompressed: bool,
    pub reason: StopReason,
}

impl std::fmt::Display for ReadStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.decompressed {
            format!("byte {} of the decompressed stream", self.offset)
        } else {
            format!("byte {}", self.offset)
        };
        match &self.reason {
            StopReason::Truncated => write!(f, "file ends inside the record at {at}"),
            StopReason::Corrupt(e) => write!(f, "corrupt record at {at}: {e}"),
            StopReason::RecordTooLarge => write!(f, "record at {at} claims an absurd length"),
            StopReason::Io(e) => write!(f, "read error at {at}: {e}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub format: Option<CaptureFormat>,
    pub frames: u64,
    pub bytes: u64,
    pub sections: u32,
    pub interfaces: u32,
    /// pcapng blocks of types we do not use, and packets naming an interface never described.
    pub skipped_blocks: u64,
    /// Drops the capturing kernel reported in Interface Statistics Blocks (isb_ifdrop).
    pub kernel_drops: Option<u64>,
    pub stop: Option<ReadStop>,
    /// The timestamp of the last frame read (where a cut-off file ends).
    pub last_frame_ns: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNanosecond,
    PcapNg,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: empty file")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (byte 0)")]
    NotACapture { path: PathBuf },
    #[error("{path}: file header cut short (byte 0)")]
    HeaderTruncated { path: PathBuf },
    #[error("{path}: byte 0: {detail}")]
    BadHeader { path: PathBuf, detail: String },
}

/// Streams one capture file, calling `on_event` for each frame and custom block.
/// `on_event` may stop the walk early with `ControlFlow::Break`.
///
/// A gzip- or zstd-compressed capture (`.pcap.gz`, `.pcapng.zst`, told by its magic, not its
/// name) is decompressed as it streams; offsets in a [`ReadStop`] then count decompressed bytes,
/// and a compressed stream cut off mid-write ends as a partial result like any other.
pub fn read_capture<F>(path: &Path, on_event: F) -> Result<ReadReport, ReadError>
where
    F: FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
{
    read_capture_with(path, ReadOptions::default(), |_| {}, on_event)
}

/// How [`read_capture_with`] reads a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read (and decompress) the file on a thread of its own, ahead of the parsing: the
    /// kernel's copy of the file, a third of the reading's time, then overlaps the parsing.
    /// Faster with a core to spare (measured on two cores: a seventh to a quarter less time),
    /// slower without (the bytes are copied once more).
    pub read_ahead: bool,
}

/// As [`read_capture`], telling `on_bytes` how many bytes of the file each read took from it
/// (compressed bytes, for a compressed capture): progress against the file's size.
pub fn read_capture_with<P, F>(
    path: &Path,
    options: ReadOptions,
    on_bytes: P,
    on_event: F,
) -> Result<ReadReport, ReadError>
where
    P: FnMut(u64) + Send,
    F: FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
{
    let open_err = |source| ReadError::Open { path: path.to_owned(), source };
    let file = Counted { inner: File::open(path).map_err(open_err)?, on_bytes };
    let mut input = BufReader::with_capacity(1 << 16, file);
    let magic = input.fill_buf().map_err(open_err)?;
    if magic.starts_with(&GZIP_MAGIC) {
        read_compressed(path, flate2::bufread::MultiGzDecoder::new(input), options, on_event)
    } else if magic.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(open_err)?;
        read_compressed(path, decoder, options, on_event)
    } else {
        read_records(path, input, options, on_event)
    }
}

/// [`read_capture_from`], the input read ahead if asked.
pub(super) fn read_records<R, F>(
    path: &Path,
    input: R,
    options: ReadOptions,
    on_event: F,
) -> Result<ReadReport, ReadError>
where
    R: Read + Send,
    F: FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
{
    if !options.read_ahead {
        return read_capture_from(path, input, on_event);
    }
    // The reading thread ends with the scope: when the records are read, or when the parser
    // stops early and drops its end of the channel.
    std::thread::scope(|scope| {
        let input = ReadAhead::start(scope, input)
            .map_err(|source| ReadError::Open { path: path.to_owned(), source })?;
        read_capture_from(path, input, on_event)
    })
}
