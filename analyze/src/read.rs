//! Capture files to timestamped link-layer frames.
//!
//! Streams legacy pcap (micro- and nanosecond, either byte order) and pcapng (several sections
//! and interfaces, EPB/SPB, per-interface timestamp resolution and offset) with pcap-parser's
//! buffered reader: the file is never loaded whole. A file cut off mid-record, or corrupt after
//! some good records, yields the frames before the damage and a [`ReadStop`] saying where and
//! why: a partial result, never lost data.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

const INITIAL_BUFFER: usize = 1 << 20;
/// No sane record is larger; a bigger length field means a corrupt file, not a big packet.
const MAX_BUFFER: usize = 64 << 20;
const NS_PER_SEC: i128 = 1_000_000_000;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based, counting packet records as Wireshark does.
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
    pub reason: StopReason,
}

impl std::fmt::Display for ReadStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            StopReason::Truncated => write!(f, "file ends inside the record at byte {}", self.offset),
            StopReason::Corrupt(e) => write!(f, "corrupt record at byte {}: {e}", self.offset),
            StopReason::RecordTooLarge => write!(f, "record at byte {} claims an absurd length", self.offset),
            StopReason::Io(e) => write!(f, "read error at byte {}: {e}", self.offset),
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

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_sec: i64,
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
fn read_records<R, F>(
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

/// A reader fed by a thread that reads its input ahead, a chunk at a time.
struct ReadAhead {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    /// Chunks read out, back to the thread to be filled again.
    spent: std::sync::mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl ReadAhead {
    const CHUNK: usize = 256 << 10;
    /// Chunks read ahead at most.
    const AHEAD: usize = 4;

    fn start<'scope, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        mut input: R,
    ) -> std::io::Result<Self> {
        let (send, chunks) = std::sync::mpsc::sync_channel(Self::AHEAD);
        let (spent, reuse) = std::sync::mpsc::sync_channel::<Vec<u8>>(Self::AHEAD + 2);
        std::thread::Builder::new().name("read-ahead".into()).spawn_scoped(scope, move || loop {
            // Zeroed only when new or after the last, short chunk: a spent chunk is full.
            let mut chunk = reuse.try_recv().unwrap_or_default();
            chunk.resize(Self::CHUNK, 0);
            let (filled, error) = fill(&mut input, &mut chunk);
            chunk.truncate(filled);
            // Sends fail once the parser is gone: the thread ends there.
            if filled > 0 && send.send(Ok(chunk)).is_err() {
                return;
            }
            if let Some(e) = error {
                let _ = send.send(Err(e));
            }
            if filled < Self::CHUNK {
                return;
            }
        })?;
        Ok(ReadAhead { chunks, spent, current: Vec::new(), at: 0 })
    }
}

/// Reads until `buf` is full, the input ends or fails: (bytes read, the failure). Not
/// `take(..).read_to_end`: that starts each chunk with small reads and doubles them, three times
/// the read(2) calls and 8% slower (measured).
fn fill(input: &mut impl Read, buf: &mut [u8]) -> (usize, Option<std::io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.current, chunk);
                    let _ = self.spent.try_send(spent);
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread is done: the input ended.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Whether `bytes` begin as a pcapng or pcap (µs or ns, either byte order) file does.
fn has_capture_magic(bytes: &[u8]) -> bool {
    bytes.get(..4).is_some_and(|m| {
        [0x0a0d_0d0a, 0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1u32]
            .contains(&u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
    })
}

/// A reader that tells how many bytes each read returned.
struct Counted<R, P> {
    inner: R,
    on_bytes: P,
}

impl<R: Read, P: FnMut(u64)> Read for Counted<R, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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

fn read_compressed<R, F>(
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
    if let Some((offset, e)) = failure {
        let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            StopReason::Truncated
        } else {
            StopReason::Corrupt(format!("compressed stream: {e}"))
        };
        // Where the records stopped, if before the damage; else where the damage begins.
        let offset = report.stop.as_ref().map_or(offset, |s| s.offset.min(offset));
        report.stop = Some(ReadStop { offset, reason });
    }
    Ok(report)
}

/// As [`read_capture`], from any reader; `path` only names the source in errors.
pub fn read_capture_from<R, F>(path: &Path, input: R, mut on_event: F) -> Result<ReadReport, ReadError>
where
    R: Read + Send,
    F: FnMut(CaptureEvent<'_>) -> ControlFlow<()>,
{
    // The magic, peeked first, tells a capture whose header was cut from a file that is no
    // capture at all (the parser reports both as unrecognised).
    let mut input = BufReader::with_capacity(64 << 10, input);
    let peeked = match input.fill_buf() {
        Ok(bytes) => bytes,
        Err(source) => return Err(ReadError::Open { path: path.to_owned(), source }),
    };
    // pcapng, then pcap µs and ns, each in both byte orders.
    let known_magic = has_capture_magic(peeked);
    let mut reader = match create_reader(INITIAL_BUFFER, input) {
        Ok(reader) => reader,
        Err(PcapError::Eof) => return Err(ReadError::Empty { path: path.to_owned() }),
        Err(PcapError::HeaderNotRecognized) if known_magic => {
            return Err(ReadError::HeaderTruncated { path: path.to_owned() })
        }
        Err(PcapError::HeaderNotRecognized) => return Err(ReadError::NotACapture { path: path.to_owned() }),
        Err(PcapError::Incomplete(_) | PcapError::UnexpectedEof) => {
            return Err(ReadError::HeaderTruncated { path: path.to_owned() })
        }
        Err(e) => return Err(ReadError::BadHeader { path: path.to_owned(), detail: format!("{e:?}") }),
    };
    let mut report = ReadReport::default();
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut legacy: Option<(Linktype, bool)> = None;
    let mut last_ts_ns = 0i64;
    let mut buffer_size = INITIAL_BUFFER;
    loop {
        let offset = reader.consumed() as u64;
        let previous_ts_ns = last_ts_ns;
        let (consumed, flow) = match reader.next() {
            Ok((consumed, block)) => {
                let mut flow = ControlFlow::Continue(());
                let mut frame = |ts_ns: i64, linktype: Linktype, data: &[u8], orig_len: u32| {
                    report.frames += 1;
                    report.bytes += data.len() as u64;
                    last_ts_ns = ts_ns;
                    on_event(CaptureEvent::Frame(Frame {
                        number: report.frames,
                        ts_ns,
                        linktype,
                        data,
                        orig_len,
                        offset,
                    }))
                };
                match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        let nano = header.is_nanosecond_precision();
                        report.format =
                            Some(if nano { CaptureFormat::PcapNanosecond } else { CaptureFormat::Pcap });
                        report.sections = 1;
                        report.interfaces = 1;
                        legacy = Some((header.network, nano));
                    }
                    PcapBlockOwned::Legacy(record) => {
                        let (linktype, nano) = legacy.unwrap_or((Linktype::ETHERNET, false));
                        let frac = i128::from(record.ts_usec) * if nano { 1 } else { 1000 };
                        let ts_ns = clamp_ns(i128::from(record.ts_sec) * NS_PER_SEC + frac);
                        let len = (record.caplen as usize).min(record.data.len());
                        flow = frame(ts_ns, linktype, &record.data[..len], record.origlen);
                    }
                    PcapBlockOwned::NG(block) => match block {
                        Block::SectionHeader(_) => {
                            report.format = Some(CaptureFormat::PcapNg);
                            report.sections += 1;
                            interfaces.clear();
                        }
                        Block::InterfaceDescription(idb) => {
                            report.interfaces += 1;
                            interfaces.push(Interface {
                                linktype: idb.linktype,
                                snaplen: idb.snaplen,
                                // An invalid resolution falls back to the default, microseconds.
                                units_per_sec: units_per_sec(idb.if_tsresol).unwrap_or(1_000_000),
                                offset_sec: idb.ts_offset(),
                            });
                        }
                        Block::EnhancedPacket(epb) => match interfaces.get(epb.if_id as usize) {
                            Some(iface) => {
                                let ts = (u128::from(epb.ts_high) << 32) | u128::from(epb.ts_low);
                                let ns = (ts * NS_PER_SEC as u128 / u128::from(iface.units_per_sec)) as i128;
                                let ts_ns = clamp_ns(ns + i128::from(iface.offset_sec) * NS_PER_SEC);
                                let len = (epb.caplen as usize).min(epb.data.len());
                                flow = frame(ts_ns, iface.linktype, &epb.data[..len], epb.origlen);
                            }
                            None => report.skipped_blocks += 1,
                        },
                        Block::SimplePacket(spb) => match interfaces.first().copied() {
                            Some(iface) => {
                                // An SPB has no timestamp: it inherits the previous packet's.
                                let ts_ns = previous_ts_ns;
                                let mut len = (spb.origlen as usize).min(spb.data.len());
                                if iface.snaplen > 0 {
                                    len = len.min(iface.snaplen as usize);
                                }
                                flow = frame(ts_ns, iface.linktype, &spb.data[..len], spb.origlen);
                            }
                            None => report.skipped_blocks += 1,
                        },
                        Block::InterfaceStatistics(isb) => {
                            if let Some(drops) = isb_ifdrop(&isb.options, reader_big_endian_hint(&isb)) {
                                *report.kernel_drops.get_or_insert(0) += drops;
                            }
                        }
                        Block::Custom(custom) => {
                            flow =
                                on_event(CaptureEvent::Custom { pen: custom.pen, data: custom.data, offset });
                        }
                        _ => report.skipped_blocks += 1,
                    },
                }
                (consumed, flow)
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    report.stop = Some(ReadStop { offset, reason: StopReason::Io(format!("{e:?}")) });
                    break;
                }
                continue;
            }
            Err(PcapError::UnexpectedEof) => {
                report.stop = Some(ReadStop { offset, reason: StopReason::Truncated });
                break;
            }
            Err(PcapError::BufferTooSmall) => {
                if buffer_size >= MAX_BUFFER {
                    report.stop = Some(ReadStop { offset, reason: StopReason::RecordTooLarge });
                    break;
                }
                buffer_size *= 4;
                reader.grow(buffer_size);
                if let Err(e) = reader.refill() {
                    report.stop = Some(ReadStop { offset, reason: StopReason::Io(format!("{e:?}")) });
                    break;
                }
                continue;
            }
            Err(e) => {
                report.stop = Some(ReadStop { offset, reason: StopReason::Corrupt(describe(&e)) });
                break;
            }
        };
        // pcap-parser's `consume` moves the unread half of its buffer down each time the read
        // position passes the middle: every byte of the file copied once more. Without the
        // shift, `refill` moves only the partial record left at the end.
        reader.consume_noshift(consumed);
        if flow.is_break() {
            break;
        }
    }
    Ok(report)
}

/// if_tsresol: 10^-n seconds, or 2^-n with the top bit set. (pcap-parser 0.17's
/// `ts_resolution` checks the range before masking the top bit, so it rejects every binary
/// resolution.)
fn units_per_sec(if_tsresol: u8) -> Option<u64> {
    let n = u32::from(if_tsresol & 0x7f);
    if if_tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

fn clamp_ns(ns: i128) -> i64 {
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("parse error ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("parse error ({kind:?})"),
        PcapError::ReadError => "read error".to_string(),
        other => format!("{other:?}"),
    }
}

fn reader_big_endian_hint(isb: &pcap_parser::InterfaceStatisticsBlock) -> bool {
    // The block type reads as 5 in the section's own byte order.
    isb.block_type != pcap_parser::pcapng::ISB_MAGIC
}

/// isb_ifdrop (option code 5), a u64 in the section's byte order.
fn isb_ifdrop(options: &[pcap_parser::pcapng::PcapNGOption], big_endian: bool) -> Option<u64> {
    options.iter().find(|o| o.code.0 == 5).and_then(|o| {
        let bytes: [u8; 8] = o.value.get(..8)?.try_into().ok()?;
        Some(if big_endian { u64::from_be_bytes(bytes) } else { u64::from_le_bytes(bytes) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_pcap(big_endian: bool, nano: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let magic: u32 = if nano { 0xa1b23c4d } else { 0xa1b2c3d4 };
        let mut out = Vec::new();
        let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let u16b = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        out.extend_from_slice(&u32b(magic));
        out.extend_from_slice(&u16b(2));
        out.extend_from_slice(&u16b(4));
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&u32b(65535));
        out.extend_from_slice(&u32b(101));
        for (sec, frac, data) in records {
            out.extend_from_slice(&u32b(*sec));
            out.extend_from_slice(&u32b(*frac));
            out.extend_from_slice(&u32b(data.len() as u32));
            out.extend_from_slice(&u32b(data.len() as u32));
            out.extend_from_slice(data);
        }
        out
    }

    type Frames = Vec<(u64, i64, Vec<u8>)>;

    fn collect(bytes: &[u8]) -> (Frames, Result<ReadReport, String>) {
        let mut frames = Vec::new();
        let result = read_capture_from(Path::new("mem.pcap"), bytes, |event| {
            if let CaptureEvent::Frame(f) = event {
                frames.push((f.number, f.ts_ns, f.data.to_vec()));
            }
            ControlFlow::Continue(())
        });
        (frames, result.map_err(|e| e.to_string()))
    }

    /// A capture spanning many read-ahead chunks, written plain, gzip and zstd, whole and cut.
    fn read_ahead_inputs(dir: &Path) -> Vec<std::path::PathBuf> {
        use std::io::Write;
        let payloads: Vec<Vec<u8>> = (0..20_000u32).map(|i| i.to_le_bytes().repeat(25)).collect();
        let records: Vec<(u32, u32, &[u8])> =
            payloads.iter().enumerate().map(|(i, p)| (i as u32, 0, p.as_slice())).collect();
        let plain = legacy_pcap(false, false, &records);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(plain.as_slice(), 1).unwrap();
        let files = [
            ("whole.pcap", &plain[..]),
            ("cut.pcap", &plain[..plain.len() - 50]),
            ("whole.pcap.gz", &gz[..]),
            ("cut.pcap.gz", &gz[..gz.len() / 2]),
            ("whole.pcap.zst", &zst[..]),
        ];
        files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.join(name);
                std::fs::write(&path, bytes).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn read_ahead_reads_what_reading_in_turn_does() {
        let dir = std::env::temp_dir().join(format!("tfoscope-read-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for path in read_ahead_inputs(&dir) {
            let read = |read_ahead: bool| {
                let (mut frames, mut bytes) = (Vec::new(), 0u64);
                let report = read_capture_with(
                    &path,
                    ReadOptions { read_ahead },
                    |n| bytes += n,
                    |event| {
                        if let CaptureEvent::Frame(f) = event {
                            frames.push((f.number, f.ts_ns, f.offset, f.data.to_vec()));
                        }
                        ControlFlow::Continue(())
                    },
                )
                .unwrap();
                (frames, format!("{report:?}"), bytes)
            };
            let (in_turn, ahead) = (read(false), read(true));
            assert!(in_turn.0.len() > 5_000, "{}: {} frames", path.display(), in_turn.0.len());
            assert_eq!(in_turn, ahead, "{}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_ahead_stops_with_the_parser() {
        // Stopped at the first frame, the read-ahead thread ends with it, the file unread.
        let dir = std::env::temp_dir().join(format!("tfoscope-read-ahead-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for path in read_ahead_inputs(&dir) {
            let mut frames = 0;
            let options = ReadOptions { read_ahead: true };
            let report = read_capture_with(
                &path,
                options,
                |_| {},
                |event| match event {
                    CaptureEvent::Frame(_) => {
                        frames += 1;
                        ControlFlow::Break(())
                    }
                    _ => ControlFlow::Continue(()),
                },
            )
            .unwrap();
            assert_eq!((frames, report.frames), (1, 1), "{}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn legacy_pcap_in_both_byte_orders_and_precisions() {
        for big_endian in [false, true] {
            for nano in [false, true] {
                let bytes = legacy_pcap(big_endian, nano, &[(10, 5, b"abc"), (11, 0, b"de")]);
                let (frames, report) = collect(&bytes);
                let report = report.unwrap();
                assert_eq!(report.stop, None);
                let scale = if nano { 1 } else { 1000 };
                assert_eq!(
                    frames,
                    vec![
                        (1, 10_000_000_000 + 5 * scale, b"abc".to_vec()),
                        (2, 11_000_000_000, b"de".to_vec())
                    ],
                    "big_endian={big_endian} nano={nano}"
                );
            }
        }
    }

    #[test]
    fn cut_anywhere_keeps_the_whole_records_before_the_cut() {
        let bytes = legacy_pcap(false, false, &[(10, 5, b"abcdef"), (11, 0, b"ghijkl")]);
        for cut in 0..bytes.len() {
            let (frames, report) = collect(&bytes[..cut]);
            match report {
                Err(e) => assert!(cut < 24, "cut {cut}: {e}"),
                Ok(report) => {
                    let whole = if cut >= 24 + 22 + 22 {
                        2
                    } else if cut >= 24 + 22 {
                        1
                    } else {
                        0
                    };
                    assert_eq!(frames.len(), whole, "cut {cut}");
                    let at_boundary = cut == 24 || cut == 46 || cut == 68;
                    assert_eq!(report.stop.is_none(), at_boundary, "cut {cut}: {:?}", report.stop);
                }
            }
        }
    }

    #[test]
    fn absurd_record_length_stops_with_a_reason() {
        let mut bytes = legacy_pcap(false, false, &[(10, 5, b"abc")]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xf0]);
        bytes.extend_from_slice(&[0; 100]);
        let (frames, report) = collect(&bytes);
        assert_eq!(frames.len(), 1);
        let stop = report.unwrap().stop.unwrap();
        assert_eq!(stop.offset, 24 + 19);
    }

    /// A pcapng block: type, body, total length on both ends (little-endian).
    fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        [block_type.to_le_bytes().as_slice(), &len.to_le_bytes(), &body, &len.to_le_bytes()].concat()
    }

    fn shb() -> Vec<u8> {
        block(
            0x0A0D0D0A,
            &[
                0x1A2B3C4Du32.to_le_bytes().as_slice(),
                &1u16.to_le_bytes(),
                &0u16.to_le_bytes(),
                &(-1i64).to_le_bytes(),
            ]
            .concat(),
        )
    }

    /// An IDB with if_tsresol and, if given, if_tsoffset options.
    fn idb(linktype: u16, tsresol: u8, tsoffset: Option<i64>) -> Vec<u8> {
        let mut body = [linktype.to_le_bytes().as_slice(), &0u16.to_le_bytes(), &0u32.to_le_bytes()].concat();
        body.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0]);
        if let Some(offset) = tsoffset {
            body.extend_from_slice(&[14, 0, 8, 0]);
            body.extend_from_slice(&offset.to_le_bytes());
        }
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(1, &body)
    }

    fn epb(if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let head = [
            if_id.to_le_bytes(),
            ((ts >> 32) as u32).to_le_bytes(),
            (ts as u32).to_le_bytes(),
            (data.len() as u32).to_le_bytes(),
            (data.len() as u32).to_le_bytes(),
        ]
        .concat();
        block(6, &[head.as_slice(), data].concat())
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions_offsets_and_spb() {
        let mut file = shb();
        file.extend(idb(1, 9, None)); // Ethernet, nanoseconds
        file.extend(idb(101, 0x80 | 10, Some(100))); // raw IP, 2^-10 s units, +100 s
        file.extend(epb(0, 1_500_000_000, b"eth"));
        file.extend(epb(1, 512, b"raw"));
        file.extend(block(3, &[5u32.to_le_bytes().as_slice(), b"spb!"].concat())); // SPB on interface 0
        file.extend(epb(7, 0, b"no such interface"));
        // A second section forgets the first one's interfaces.
        file.extend(shb());
        file.extend(idb(276, 6, None)); // SLL2, microseconds
        file.extend(epb(0, 2_000_000, b"sll2"));
        let mut seen = Vec::new();
        let report = read_capture_from(Path::new("mem.pcapng"), file.as_slice(), |event| {
            if let CaptureEvent::Frame(f) = event {
                seen.push((f.number, f.ts_ns, f.linktype.0, f.data.to_vec()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(report.format, Some(CaptureFormat::PcapNg));
        assert_eq!((report.sections, report.interfaces, report.skipped_blocks), (2, 3, 1));
        assert_eq!(report.stop, None);
        assert_eq!(
            seen,
            vec![
                (1, 1_500_000_000, 1, b"eth".to_vec()),
                (2, 100_500_000_000, 101, b"raw".to_vec()),
                // An SPB has no timestamp of its own, and only origlen bytes count.
                (3, 100_500_000_000, 1, b"spb!"[..4].to_vec()),
                (4, 2_000_000_000, 276, b"sll2".to_vec()),
            ]
        );
    }

    #[test]
    fn not_a_capture_and_empty_are_clear_errors() {
        assert!(collect(b"").1.unwrap_err().contains("empty"));
        assert!(collect(b"hello, this is not a capture file at all").1.unwrap_err().contains("not a pcap"));
    }
}
