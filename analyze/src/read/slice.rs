//! A capture already in memory (a mapped file), walked in place: pcap-parser's reader interface
//! over a slice, so the records walker is the streaming one, but no byte is copied into a
//! buffer and none is read twice.

use pcap_parser::nom;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapBlock, PcapBlockOwned, PcapError, PcapHeader};

use super::records::MAX_BUFFER;

type LegacyParse = fn(&[u8]) -> nom::IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

enum Format {
    /// The section's byte order, from its header block.
    PcapNg {
        big_endian: bool,
    },
    Legacy {
        header: PcapHeader,
        parse: LegacyParse,
    },
}

pub(super) struct SliceReader<'a> {
    bytes: &'a [u8],
    consumed: usize,
    format: Format,
}

impl<'a> SliceReader<'a> {
    /// Told apart as pcap-parser's `create_reader` does, with its errors.
    pub(super) fn new(bytes: &'a [u8]) -> Result<Self, PcapError<&'a [u8]>> {
        if bytes.is_empty() {
            return Err(PcapError::Eof);
        }
        if parse_sectionheaderblock(bytes).is_ok() {
            return Ok(SliceReader { bytes, consumed: 0, format: Format::PcapNg { big_endian: false } });
        }
        match parse_pcap_header(bytes) {
            Ok((_, header)) => {
                let parse: LegacyParse = if header.is_modified_format() {
                    parse_pcap_frame_modified
                } else if header.is_bigendian() {
                    parse_pcap_frame_be
                } else {
                    parse_pcap_frame
                };
                Ok(SliceReader { bytes, consumed: 0, format: Format::Legacy { header, parse } })
            }
            Err(nom::Err::Incomplete(_)) => Err(PcapError::Incomplete(0)),
            Err(_) => Err(PcapError::HeaderNotRecognized),
        }
    }
}

/// A record cut off: the slice is all there is, so it is the end of the capture, unless the
/// record claims more than any real one (then the walker says so, as for a stream).
fn incomplete<I>(rest: usize, needed: nom::Needed) -> PcapError<I> {
    match needed {
        nom::Needed::Size(n) if rest.saturating_add(n.get()) >= MAX_BUFFER => PcapError::BufferTooSmall,
        _ => PcapError::UnexpectedEof,
    }
}

impl PcapReaderIterator for SliceReader<'_> {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&[u8]>> {
        let bytes = self.bytes;
        let rest = &bytes[self.consumed..];
        match &mut self.format {
            Format::Legacy { header, .. } if self.consumed == 0 => {
                Ok((header.size(), PcapBlockOwned::from(header.clone())))
            }
            _ if rest.is_empty() => Err(PcapError::Eof),
            Format::Legacy { parse, .. } => match parse(rest) {
                Ok((after, block)) => Ok((rest.len() - after.len(), PcapBlockOwned::from(block))),
                Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
                Err(nom::Err::Incomplete(needed)) => Err(incomplete(rest.len(), needed)),
            },
            Format::PcapNg { big_endian } => {
                let parse = if *big_endian { parse_block_be } else { parse_block_le };
                match parse(rest) {
                    Ok((after, block)) => {
                        if let Block::SectionHeader(shb) = &block {
                            *big_endian = shb.big_endian();
                        }
                        Ok((rest.len() - after.len(), PcapBlockOwned::from(block)))
                    }
                    Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
                    Err(nom::Err::Incomplete(needed)) => Err(incomplete(rest.len(), needed)),
                }
            }
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consumed = (self.consumed + offset).min(self.bytes.len());
    }

    fn consume_noshift(&mut self, offset: usize) {
        self.consume(offset);
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    /// Nothing to read: the whole capture is there.
    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        Ok(())
    }

    fn position(&self) -> usize {
        self.consumed
    }

    fn grow(&mut self, _new_size: usize) -> bool {
        true
    }

    fn data(&self) -> &[u8] {
        &self.bytes[self.consumed..]
    }

    fn reader_exhausted(&self) -> bool {
        true
    }
}
