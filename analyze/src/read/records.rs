//! The pcap and pcapng records themselves: headers, sections, interfaces, timestamps, packets
//! and custom blocks, walked with pcap-parser's streaming reader.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

use super::{CaptureEvent, CaptureFormat, Frame, ReadError, ReadReport, ReadStop, StopReason};

const INITIAL_BUFFER: usize = 1 << 20;
/// No sane record is larger; a bigger length field means a corrupt file, not a big packet.
const MAX_BUFFER: usize = 64 << 20;
const NS_PER_SEC: i128 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: Linktype,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_sec: i64,
}

/// Whether `bytes` begin as a pcapng or pcap (µs or ns, either byte order) file does.
fn has_capture_magic(bytes: &[u8]) -> bool {
    bytes.get(..4).is_some_and(|m| {
        [0x0a0d_0d0a, 0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1u32]
            .contains(&u32::from_be_bytes([m[0], m[1], m[2], m[3]]))
    })
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
    // Wireshark numbers records, not packets: a pcapng custom block and a systemd journal
    // entry are frames of their own there (tshark 4.0 lists "PCAPNG Custom Block"), so a
    // packet's number counts them too.
    let mut wireshark_number = 0u64;
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
                    report.last_frame_ns = Some(ts_ns);
                    wireshark_number += 1;
                    on_event(CaptureEvent::Frame(Frame {
                        number: wireshark_number,
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
                            wireshark_number += 1;
                            flow =
                                on_event(CaptureEvent::Custom { pen: custom.pen, data: custom.data, offset });
                        }
                        Block::SystemdJournalExport(_) => {
                            wireshark_number += 1;
                            report.skipped_blocks += 1;
                        }
                        _ => report.skipped_blocks += 1,
                    },
                }
                (consumed, flow)
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    report.stop = Some(ReadStop {
                        offset,
                        decompressed: false,
                        reason: StopReason::Io(format!("{e:?}")),
                    });
                    break;
                }
                continue;
            }
            Err(PcapError::UnexpectedEof) => {
                report.stop = Some(ReadStop { offset, decompressed: false, reason: StopReason::Truncated });
                break;
            }
            Err(PcapError::BufferTooSmall) => {
                if buffer_size >= MAX_BUFFER {
                    report.stop =
                        Some(ReadStop { offset, decompressed: false, reason: StopReason::RecordTooLarge });
                    break;
                }
                buffer_size *= 4;
                reader.grow(buffer_size);
                if let Err(e) = reader.refill() {
                    report.stop = Some(ReadStop {
                        offset,
                        decompressed: false,
                        reason: StopReason::Io(format!("{e:?}")),
                    });
                    break;
                }
                continue;
            }
            Err(e) => {
                report.stop =
                    Some(ReadStop { offset, decompressed: false, reason: StopReason::Corrupt(describe(&e)) });
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
