//! Writes the collector's pcapng: a section header naming the tool, interface 0 "any" (the
//! capture socket, which holds the statistics), an interface per network interface a packet
//! came from (Linux cooked, nanoseconds, described when first seen), packets, the attempt records as custom blocks, and interface statistics with
//! the kernel's drop count at the end. Each block goes to the file in one write, unbuffered,
//! so a collector killed at any moment leaves whole blocks and at most one cut one, which
//! `tfoscope analyze` reads up to the cut.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use pcap_parser::pcapng::{
    CustomBlock, EnhancedPacketBlock, InterfaceDescriptionBlock, InterfaceStatisticsBlock, OptionCode,
    PcapNGOption, SectionHeaderBlock,
};
use pcap_parser::{Linktype, ToVec};
use tfoscope_wire::attempt::{CollectorRecord, ATTEMPT_PEN};

/// Where the packet socket saw a packet (its `sockaddr_ll`): what a Linux cooked header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSource {
    pub ifindex: i32,
    /// PACKET_HOST, PACKET_OUTGOING, ...
    pub packet_type: u8,
    /// ARPHRD_*.
    pub hardware_type: u16,
    pub address: [u8; 8],
    pub address_len: u8,
    /// The EtherType, host order.
    pub protocol: u16,
}

/// Every interface is Linux cooked (SLL, 113), as `tcpdump -i any` writes: libpcap reads a
/// pcapng only when all its interfaces share one link type, and for raw IP (LINKTYPE 101,
/// DLT 12) libpcap 1.10 compares the two numbering schemes and refuses the second interface
/// even then. SLL's numbers are the same in both, and its header keeps the direction.
const LINKTYPE_LINUX_SLL: u16 = 113;
const SLL_HEADER_LEN: usize = 16;

const SHB_USERAPPL: u16 = 4;
const SHB_OS: u16 = 3;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;
const OPT_COMMENT: u16 = 1;

fn option(code: u16, value: Vec<u8>) -> PcapNGOption<'static> {
    PcapNGOption { code: OptionCode(code), len: value.len() as u16, value: Cow::Owned(value) }
}

fn serialise(block: &mut impl ToVec) -> io::Result<Vec<u8>> {
    block.to_vec().map_err(|e| io::Error::other(format!("pcapng serialisation: {e:?}")))
}

/// A nanosecond timestamp as pcapng's high and low 32-bit halves (if_tsresol 9).
fn split_ts(ts_ns: i64) -> (u32, u32) {
    let ts = ts_ns.max(0) as u64;
    ((ts >> 32) as u32, ts as u32)
}

pub struct PcapngWriter {
    file: File,
    /// The first write that failed (a full disk, say): later writes fail the same way at once,
    /// so no block follows a cut one.
    failed: Option<(io::ErrorKind, String)>,
    snaplen: u32,
    /// Interface ids by kernel ifindex, in the order their descriptions were written.
    interfaces: Vec<(i32, u32)>,
}

impl PcapngWriter {
    pub fn create(path: &Path, snaplen: u32) -> io::Result<Self> {
        let mut writer =
            PcapngWriter { file: File::create(path)?, failed: None, snaplen, interfaces: Vec::new() };
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut shb = SectionHeaderBlock {
            block_type: 0,
            block_len1: 0,
            bom: 0,
            major_version: 1,
            minor_version: 0,
            section_len: -1,
            options: vec![
                option(SHB_USERAPPL, format!("tfoscope {}", env!("CARGO_PKG_VERSION")).into_bytes()),
                option(SHB_OS, format!("Linux {}", os.trim()).into_bytes()),
            ],
            block_len2: 0,
        };
        writer.write(&serialise(&mut shb)?)?;
        writer.describe_interface("any")?;
        Ok(writer)
    }

    fn describe_interface(&mut self, name: &str) -> io::Result<()> {
        let mut idb = InterfaceDescriptionBlock {
            block_type: 0,
            block_len1: 0,
            linktype: Linktype(i32::from(LINKTYPE_LINUX_SLL)),
            reserved: 0,
            snaplen: self.snaplen.saturating_add(SLL_HEADER_LEN as u32),
            options: vec![option(IF_NAME, name.as_bytes().to_vec()), option(IF_TSRESOL, vec![9])],
            block_len2: 0,
            if_tsresol: 9,
            if_tsoffset: 0,
        };
        let bytes = serialise(&mut idb)?;
        self.write(&bytes)
    }

    /// The interface id for a kernel ifindex, describing the interface on first sight.
    pub fn interface(&mut self, ifindex: i32, name: impl FnOnce() -> String) -> io::Result<u32> {
        if let Some((_, id)) = self.interfaces.iter().find(|(index, _)| *index == ifindex) {
            return Ok(*id);
        }
        self.describe_interface(&name())?;
        let id = self.interfaces.len() as u32 + 1;
        self.interfaces.push((ifindex, id));
        Ok(id)
    }

    fn write(&mut self, block: &[u8]) -> io::Result<()> {
        if let Some((kind, message)) = &self.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        self.file.write_all(block).inspect_err(|e| self.failed = Some((e.kind(), e.to_string())))
    }

    /// The first write error, if writing has failed.
    pub fn failed(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|(kind, message)| io::Error::new(*kind, message.clone()))
    }

    /// A packet; `comment` (opt_comment) shows in Wireshark's packet list and `frame.comment`.
    /// `data` is the IP packet as the cooked socket gave it; `source` makes its SLL header.
    pub fn packet(
        &mut self,
        if_id: u32,
        ts_ns: i64,
        source: &LinkSource,
        data: &[u8],
        orig_len: u32,
        comment: Option<&str>,
    ) -> io::Result<()> {
        let (ts_high, ts_low) = split_ts(ts_ns);
        let mut framed = Vec::with_capacity(SLL_HEADER_LEN + data.len());
        framed.extend_from_slice(&sll_header(source));
        framed.extend_from_slice(data);
        let mut epb = EnhancedPacketBlock {
            block_type: 0,
            block_len1: 0,
            if_id,
            ts_high,
            ts_low,
            caplen: framed.len() as u32,
            origlen: orig_len.saturating_add(SLL_HEADER_LEN as u32),
            data: &framed,
            options: comment.map(|c| option(OPT_COMMENT, c.as_bytes().to_vec())).into_iter().collect(),
            block_len2: 0,
        };
        let bytes = serialise(&mut epb)?;
        self.write(&bytes)
    }

    pub fn record(&mut self, record: &CollectorRecord) -> io::Result<()> {
        let json = record.to_json();
        let mut block =
            CustomBlock { block_type: 0, block_len1: 0, pen: ATTEMPT_PEN, data: &json, block_len2: 0 };
        let bytes = serialise(&mut block)?;
        self.write(&bytes)
    }

    /// The capture socket's counts, on interface 0 ("any").
    pub fn statistics(&mut self, ts_ns: i64, received: u64, dropped: u64) -> io::Result<()> {
        let (ts_high, ts_low) = split_ts(ts_ns);
        let mut isb = InterfaceStatisticsBlock {
            block_type: 0,
            block_len1: 0,
            if_id: 0,
            ts_high,
            ts_low,
            options: vec![
                option(ISB_IFRECV, received.to_le_bytes().to_vec()),
                option(ISB_IFDROP, dropped.to_le_bytes().to_vec()),
            ],
            block_len2: 0,
        };
        let bytes = serialise(&mut isb)?;
        self.write(&bytes)?;
        self.file.sync_data()
    }
}

/// The 16-byte Linux cooked header (LINKTYPE_LINUX_SLL), all fields big-endian.
fn sll_header(source: &LinkSource) -> [u8; SLL_HEADER_LEN] {
    let mut header = [0u8; SLL_HEADER_LEN];
    header[0..2].copy_from_slice(&u16::from(source.packet_type).to_be_bytes());
    header[2..4].copy_from_slice(&source.hardware_type.to_be_bytes());
    let address_len = usize::from(source.address_len).min(8);
    header[4..6].copy_from_slice(&(address_len as u16).to_be_bytes());
    header[6..6 + address_len].copy_from_slice(&source.address[..address_len]);
    header[14..16].copy_from_slice(&source.protocol.to_be_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooked_header_carries_direction_hardware_address_and_ethertype() {
        let source = LinkSource {
            ifindex: 3,
            packet_type: 4, // PACKET_OUTGOING
            hardware_type: 1,
            address: [2, 0, 0, 0, 0, 1, 0xaa, 0xbb],
            address_len: 6,
            protocol: 0x86dd,
        };
        assert_eq!(sll_header(&source), [0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd]);
    }
}
