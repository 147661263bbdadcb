//! Hostile and damaged captures: each gets a clear error naming the file and the byte, or a
//! result marked partial; never a panic, never memory that grows without bound.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use tfoscope_analyze::flow::FlowConfig;
use tfoscope_analyze::{analyze, AnalyzeError, AnalyzeOptions, Inputs, VantageResult};

fn analyze_file(path: &Path, flow: FlowConfig) -> Result<VantageResult, AnalyzeError> {
    analyze(&Inputs::file("hostile", path), &AnalyzeOptions { flow, ..AnalyzeOptions::in_memory() })
        .into_single()
}

/// Analyzes `bytes` as a file; the analysis must return (an error is fine), not panic.
fn analyze_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<VantageResult, String> {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    let outcome = std::panic::catch_unwind(|| analyze_file(&path, FlowConfig::default()));
    match outcome {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => panic!("analyze panicked on {name} ({} bytes)", bytes.len()),
    }
}

fn pcap_header(linktype: u32, snaplen: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

fn pcap_record(out: &mut Vec<u8>, ts_sec: u32, ts_usec: u32, data: &[u8], orig_len: u32) {
    out.extend_from_slice(&ts_sec.to_le_bytes());
    out.extend_from_slice(&ts_usec.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&orig_len.to_le_bytes());
    out.extend_from_slice(data);
}

/// A raw IPv4 TCP SYN (40 bytes, no options) from 192.0.2.x:port to 198.51.100.1:80.
fn raw_syn(host: u8, port: u16, isn: u32) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[192, 0, 2, host]);
    p[16..20].copy_from_slice(&[198, 51, 100, 1]);
    p[20..22].copy_from_slice(&port.to_be_bytes());
    p[22..24].copy_from_slice(&80u16.to_be_bytes());
    p[24..28].copy_from_slice(&isn.to_be_bytes());
    p[32] = 0x50;
    p[33] = 0x02;
    p[34..36].copy_from_slice(&64240u16.to_be_bytes());
    p
}

/// The frames of a legacy pcap: (offset of the record, its bytes).
fn pcap_records(bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, bytes[at..at + 16 + len].to_vec()));
        at += 16 + len;
    }
    out
}

fn pcapng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let len = 12 + body.len().next_multiple_of(4);
    let mut b = Vec::new();
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&(len as u32).to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + body.len().next_multiple_of(4), 0);
    b.extend_from_slice(&(len as u32).to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    pcapng_block(0x0a0d_0d0a, &body)
}

fn idb(linktype: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    pcapng_block(1, &body)
}

fn epb(if_id: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&if_id.to_le_bytes());
    body.extend_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts_us as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    body.resize(20 + data.len().next_multiple_of(4), 0);
    pcapng_block(6, &body)
}

/// clean_http.pcap's frames as a pcapng: its Ethernet frames on interface `if_id`.
fn clean_http_frames() -> Vec<(u64, Vec<u8>)> {
    let bytes = fs::read(testdata().join("clean_http.pcap")).unwrap();
    pcap_records(&bytes)
        .into_iter()
        .map(|(_, r)| {
            let sec = u32::from_le_bytes(r[0..4].try_into().unwrap()) as u64;
            let usec = u32::from_le_bytes(r[4..8].try_into().unwrap()) as u64;
            (sec * 1_000_000 + usec, r[16..].to_vec())
        })
        .collect()
}

#[test]
fn empty_text_and_random_files_are_clear_errors_naming_the_file() {
    let dir = tempdir("hostile-junk");
    let err = analyze_bytes(&dir, "empty.pcap", b"").unwrap_err();
    assert!(err.contains("empty.pcap: empty file"), "{err}");
    let err = analyze_bytes(&dir, "text.pcap", b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
    assert!(err.contains("text.pcap: not a pcap or pcapng capture (byte 0)"), "{err}");
    // Random bytes: a simple generator, fixed seed.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for round in 0..50 {
        let len = (round * 97) % 5000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        // Random bytes begin with no capture's magic: a clear error naming the file, never a
        // panic and never a result made up from noise.
        let err = analyze_bytes(&dir, "random.bin", &bytes).expect_err("random bytes are no capture");
        let clear = err.contains("empty file") || err.contains("not a pcap or pcapng capture (byte 0)");
        assert!(err.contains("random.bin") && clear, "round {round} ({len} bytes): {err}");
    }
}

/// The length of a pcapng's section header block.
fn first_block_len(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize
}

#[test]
fn a_pcapng_cut_at_every_offset_keeps_what_came_before() {
    let dir = tempdir("hostile-cut");
    let bytes = fs::read(testdata().join("clean_https.pcapng")).unwrap();
    let whole = analyze_bytes(&dir, "whole.pcapng", &bytes).unwrap();
    let mut boundaries = std::collections::HashSet::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        boundaries.insert(at);
    }
    let mut last_frames = 0;
    for cut in 0..bytes.len() {
        match analyze_bytes(&dir, "cut.pcapng", &bytes[..cut]) {
            Err(e) => {
                assert!(cut < first_block_len(&bytes), "only a cut header is an error (cut at {cut}): {e}");
                assert!(
                    e.contains("empty file") || e.contains("file header cut short (byte 0)"),
                    "a cut header says so (cut at {cut}): {e}"
                );
            }
            Ok(r) => {
                assert_eq!(
                    r.report.complete(),
                    boundaries.contains(&cut),
                    "a file cut inside a block is partial, one cut between blocks is not (cut at {cut})"
                );
                if let Some(stop) = &r.report.files[0].read.stop {
                    assert!(stop.offset <= cut as u64, "the stop names a byte before the cut");
                }
                assert!(r.report.frames >= last_frames, "more file, no fewer frames");
                last_frames = r.report.frames;
            }
        }
    }
    assert!(last_frames <= whole.report.frames);
}

#[test]
fn flipped_bits_never_panic() {
    let dir = tempdir("hostile-flip");
    for name in ["clean_http.pcap", "clean_https.pcapng", "clean_ipv6_nanosecond.pcap"] {
        let bytes = fs::read(testdata().join(name)).unwrap();
        // Every bit of the first 600 bytes (headers, first records), then every 7th byte.
        let positions = (0..600.min(bytes.len()) * 8).chain((600..bytes.len()).step_by(7).map(|b| b * 8));
        for bit in positions {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let _ = analyze_bytes(&dir, name, &flipped);
        }
    }
}

#[test]
fn absurd_lengths_stop_with_the_offset_not_an_allocation() {
    let dir = tempdir("hostile-lengths");
    // A pcap record claiming 4 GB.
    let mut pcap = pcap_header(101, 65535);
    pcap_record(&mut pcap, 1, 0, &raw_syn(1, 40000, 1), 40);
    let absurd_at = pcap.len();
    pcap.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    pcap.extend_from_slice(&[0; 64]);
    let r = analyze_bytes(&dir, "huge-record.pcap", &pcap).unwrap();
    assert_eq!(r.report.frames, 1, "the record before is kept");
    let stop = r.report.files[0].read.stop.clone().expect("partial");
    assert_eq!(stop.offset, absurd_at as u64);
    // A pcapng block claiming 4 GB.
    let mut ng = shb();
    ng.extend(idb(101));
    ng.extend(epb(0, 1_000_000, &raw_syn(1, 40000, 1)));
    let absurd_at = ng.len();
    ng.extend_from_slice(&6u32.to_le_bytes());
    ng.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    ng.extend_from_slice(&[0; 64]);
    let r = analyze_bytes(&dir, "huge-block.pcapng", &ng).unwrap();
    assert_eq!(r.report.frames, 1);
    let stop = r.report.files[0].read.stop.clone().expect("partial");
    assert_eq!(stop.offset, absurd_at as u64, "{stop}");
}

#[test]
fn snap_length_zero_and_empty_records_are_read() {
    let dir = tempdir("hostile-snap0");
    // Some writers put 0 in the header's snap length; records are what they are.
    let mut pcap = pcap_header(101, 0);
    pcap_record(&mut pcap, 1, 0, &raw_syn(1, 40000, 7), 40);
    pcap_record(&mut pcap, 1, 5, &[], 40); // a record with nothing captured
    let r = analyze_bytes(&dir, "snap0.pcap", &pcap).unwrap();
    assert!(r.report.complete());
    assert_eq!(r.report.frames, 2);
    assert_eq!(r.connections.len(), 1);
    assert_eq!(r.connections[0].isn, 7);
}

#[test]
fn timestamps_going_backwards_lose_no_connection() {
    let dir = tempdir("hostile-time");
    let bytes = fs::read(testdata().join("clean_http.pcap")).unwrap();
    let records = pcap_records(&bytes);
    let mut reversed = bytes[..24].to_vec();
    let n = records.len() as u32;
    for (i, (_, r)) in records.iter().enumerate() {
        let mut r = r.clone();
        // Same order of packets, each stamped a second earlier than the one before.
        r[0..4].copy_from_slice(&(2_000_000_000 - i as u32).to_le_bytes());
        reversed.extend(r);
    }
    let normal = analyze_bytes(&dir, "normal.pcap", &bytes).unwrap();
    let backwards = analyze_bytes(&dir, "backwards.pcap", &reversed).unwrap();
    assert_eq!(backwards.report.frames, u64::from(n));
    assert_eq!(backwards.connections.len(), normal.connections.len());
    let mut reordered: Vec<_> = backwards.connections.iter().collect();
    reordered.sort_by_key(|c| {
        normal.connections.iter().position(|n| (n.client, n.isn) == (c.client, c.isn)).unwrap_or(usize::MAX)
    });
    for (a, b) in normal.connections.iter().zip(reordered) {
        assert_eq!((a.client, a.isn, a.first_syn().tfo), (b.client, b.isn, b.first_syn().tfo));
        assert_eq!(a.synack.is_some(), b.synack.is_some());
    }
}

#[test]
fn a_million_syns_to_one_target_stay_within_the_connection_cap() {
    let dir = tempdir("hostile-million");
    let path: PathBuf = dir.join("million.pcap");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(fs::File::create(&path).unwrap());
        out.write_all(&pcap_header(101, 65535)).unwrap();
        let mut record = Vec::with_capacity(64);
        for i in 0..1_000_000u32 {
            record.clear();
            let syn = raw_syn(1 + (i / 60_000) as u8, 1024 + (i % 60_000) as u16, i);
            pcap_record(&mut record, 1_700_000_000, i % 1_000_000, &syn, 40);
            out.write_all(&record).unwrap();
        }
        // And one SYN sent 100,000 times (same ISN): one connection, its SYNs counted.
        for i in 0..100_000u32 {
            record.clear();
            pcap_record(&mut record, 1_700_000_001, i, &raw_syn(200, 9, 42), 40);
            out.write_all(&record).unwrap();
        }
    }
    let config = FlowConfig { max_open: 10_000, ..FlowConfig::default() };
    let r = analyze_file(&path, config).unwrap();
    assert_eq!(r.report.frames, 1_100_000);
    assert!(r.connections.len() <= 10_000, "tracked connections are capped: {}", r.connections.len());
    assert!(r.report.flow.over_capacity >= 990_000, "{:?}", r.report.flow);
    assert!(
        r.report.warnings.iter().any(|w| w.contains("not tracked")),
        "the cap is reported: {:?}",
        r.report.warnings
    );
}

#[test]
fn the_same_packets_on_two_interfaces_are_one_connection_each() {
    let dir = tempdir("hostile-twice");
    let frames = clean_http_frames();
    let mut once = shb();
    once.extend(idb(1));
    let mut twice = shb();
    twice.extend(idb(1));
    twice.extend(idb(1));
    for (ts, data) in &frames {
        once.extend(epb(0, *ts, data));
        twice.extend(epb(0, *ts, data));
        twice.extend(epb(1, *ts + 3, data));
    }
    let single = analyze_bytes(&dir, "once.pcapng", &once).unwrap();
    let double = analyze_bytes(&dir, "twice.pcapng", &twice).unwrap();
    assert_eq!(double.report.frames, 2 * single.report.frames);
    assert_eq!(double.connections.len(), single.connections.len(), "no connection doubled");
    assert!(double.report.flow.duplicate_syns > 0);
    for (a, b) in single.connections.iter().zip(&double.connections) {
        assert_eq!(
            (a.first_syn().tfo, a.syn_data_acked, a.outcome),
            (b.first_syn().tfo, b.syn_data_acked, b.outcome)
        );
    }
}

#[test]
fn unknown_pcapng_blocks_are_skipped_and_counted() {
    let dir = tempdir("hostile-unknown");
    let mut ng = shb();
    ng.extend(idb(1));
    for (i, (ts, data)) in clean_http_frames().iter().enumerate() {
        if i == 2 {
            ng.extend(pcapng_block(0x0000_0999, b"something from the future"));
        }
        ng.extend(epb(0, *ts, data));
    }
    let r = analyze_bytes(&dir, "unknown.pcapng", &ng).unwrap();
    assert!(r.report.complete());
    assert_eq!(r.report.files[0].read.skipped_blocks, 1);
    assert_eq!(r.connections.len(), 3);
}

/// The connections of a capture as (client, ISN, first-SYN TFO, outcome), in order.
fn digest(r: &VantageResult) -> Vec<String> {
    r.connections
        .iter()
        .map(|c| format!("{} {} {} {}", c.client, c.isn, c.first_syn().tfo, c.outcome))
        .collect()
}

#[test]
fn gzip_and_zstd_captures_read_as_the_plain_file() {
    use std::io::Write;
    let dir = tempdir("compressed");
    for name in
        ["clean_http.pcap", "syndata_dropped.pcap", "clean_ipv6_nanosecond.pcap", "clean_https.pcapng"]
    {
        let plain = fs::read(testdata().join(name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(plain.as_slice(), 3).unwrap();
        let expected = analyze_bytes(&dir, name, &plain).unwrap();
        assert!(!expected.connections.is_empty());
        for (suffix, bytes) in [("gz", &gz), ("zst", &zst)] {
            let got = analyze_bytes(&dir, &format!("{name}.{suffix}"), bytes).unwrap();
            assert_eq!(digest(&got), digest(&expected), "{name}.{suffix}");
            assert_eq!(got.report.frames, expected.report.frames);
            assert!(got.report.complete(), "{name}.{suffix}: {:?}", got.report.warnings);
        }
    }
}

#[test]
fn a_compressed_capture_cut_off_or_damaged_keeps_what_came_before() {
    use std::io::Write;
    let dir = tempdir("compressed-cut");
    // Big enough for several compressed blocks (zstd's are up to 128 KiB): 20,000 SYNs in raw
    // IPv4 (link type 101), each a new connection.
    let mut plain = pcap_header(101, 65535);
    for i in 0..20_000u32 {
        let syn = raw_syn(1 + (i / 60_000) as u8, 1024 + (i % 60_000) as u16, i);
        pcap_record(&mut plain, 1_700_000_000 + i / 1000, (i % 1000) * 1000, &syn, 40);
    }
    let whole = analyze_bytes(&dir, "whole.pcap", &plain).unwrap();
    assert_eq!(whole.report.frames, 20_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    // With its checksum, as the zstd tool writes by default: damage is then detectable.
    let mut zst = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    zst.include_checksum(true).unwrap();
    zst.write_all(&plain).unwrap();
    let zst = zst.finish().unwrap();
    for (suffix, bytes) in [("gz", &gz), ("zst", &zst)] {
        // Cut off mid-write: partial, some frames kept, never more than the whole file.
        for cut in [bytes.len() / 2, bytes.len() - 3] {
            let r = analyze_bytes(&dir, &format!("cut.pcap.{suffix}"), &bytes[..cut]).unwrap();
            assert!(!r.report.complete(), "{suffix} cut at {cut} not marked partial");
            assert!(r.report.frames > 0 && r.report.frames <= whole.report.frames, "{suffix} cut at {cut}");
            assert!(r.report.warnings.iter().any(|w| w.contains("partial")), "{:?}", r.report.warnings);
            // The offset is the decompressed stream's, and says so.
            assert!(
                r.report.warnings.iter().any(|w| w.contains("of the decompressed stream")),
                "{:?}",
                r.report.warnings
            );
        }
        // Damaged in the middle: partial with the decompressor's reason, or an error naming
        // the file; never a panic.
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        for b in &mut damaged[mid..mid + 8] {
            *b ^= 0x5a;
        }
        match analyze_bytes(&dir, &format!("damaged.pcap.{suffix}"), &damaged) {
            Ok(r) => assert!(!r.report.complete(), "{suffix}: damage not noticed"),
            Err(e) => assert!(e.contains("damaged.pcap"), "{e}"),
        }
        // Only the first few bytes: a clear error, not "empty file".
        let e = analyze_bytes(&dir, &format!("stub.pcap.{suffix}"), &bytes[..6]).unwrap_err();
        assert!(e.contains("compressed stream") && e.contains("stub.pcap"), "{e}");
    }
}

/// The fuzz targets' bodies (fuzz/ calls them; cargo-fuzz runs outside CI) on every shipped
/// capture, a collector's pcapng with records among the packets, and each of those with bytes
/// mutated: they build with the project, and hold on real and damaged input.
#[test]
fn fuzz_target_bodies_hold_on_the_captures_and_their_mutations() {
    use tfoscope_analyze::fuzzing;
    let mut inputs: Vec<Vec<u8>> = captures_in(&testdata()).iter().map(|p| fs::read(p).unwrap()).collect();
    if let Some(shared) = shared_captures() {
        inputs.extend(captures_in(&shared).iter().map(|p| fs::read(p).unwrap()));
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let records = with_custom_blocks(&fs::read(testdata().join("clean_https.pcapng")).unwrap());
    inputs.push(records);
    for input in &inputs {
        let frames = fuzzing::read_capture(input);
        assert!(frames > 0);
        assert!(fuzzing::connections(input) > 0);
        fuzzing::tcp_options(&input[..input.len().min(60)]);
        for _ in 0..40 {
            let mut mutated = input.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % mutated.len();
                mutated[at] = next() as u8;
            }
            fuzzing::read_capture(&mutated);
            fuzzing::connections(&mutated);
            fuzzing::tcp_options(&mutated[(next() as usize) % mutated.len()..]);
        }
    }
}

/// `pcapng` with a custom block (a collector's record) after the interface description and
/// after every third block: the collector's own files interleave records and packets.
fn with_custom_blocks(pcapng: &[u8]) -> Vec<u8> {
    let record = |n: usize| {
        let data = format!("{{\"record\":\"run\",\"n\":{n}}}").into_bytes();
        let padded = data.len().div_ceil(4) * 4;
        let total = (4 + 4 + 4 + padded + 4) as u32;
        let mut block = 0x0000_0BADu32.to_le_bytes().to_vec();
        block.extend_from_slice(&total.to_le_bytes());
        block.extend_from_slice(&tfoscope_analyze::attempt::ATTEMPT_PEN.to_le_bytes());
        block.extend_from_slice(&data);
        block.resize(block.len() + padded - data.len(), 0);
        block.extend_from_slice(&total.to_le_bytes());
        block
    };
    let mut out = Vec::new();
    let (mut at, mut n) = (0, 0);
    while at + 8 <= pcapng.len() {
        let len = u32::from_le_bytes(pcapng[at + 4..at + 8].try_into().unwrap()) as usize;
        out.extend_from_slice(&pcapng[at..at + len]);
        at += len;
        n += 1;
        if n == 2 || (n > 2 && n % 3 == 0) {
            out.extend_from_slice(&record(n));
        }
    }
    out
}

#[test]
fn frames_are_numbered_as_wireshark_does_with_records_among_them() {
    let plain = fs::read(testdata().join("clean_https.pcapng")).unwrap();
    let interleaved = with_custom_blocks(&plain);
    let numbers = |bytes: &[u8]| {
        let mut numbers = Vec::new();
        let mut customs = 0;
        let _ = tfoscope_analyze::read::read_capture_from(std::path::Path::new("t"), bytes, |event| {
            match event {
                tfoscope_analyze::read::CaptureEvent::Frame(f) => numbers.push(f.number),
                tfoscope_analyze::read::CaptureEvent::Custom { .. } => customs += 1,
            }
            std::ops::ControlFlow::Continue(())
        });
        (numbers, customs)
    };
    let (plain_numbers, none) = numbers(&plain);
    let (numbers, customs) = numbers(&interleaved);
    assert_eq!((none, plain_numbers.len()), (0, numbers.len()));
    assert!(customs > 3);
    // Each packet's number counts the records before it, as tshark's frame.number does.
    let mut records_before = 1; // the one after the interface description
    for (i, (plain, with)) in plain_numbers.iter().zip(&numbers).enumerate() {
        let block = i + 3; // blocks 1 and 2: section header, interface
        if block > 3 && (block - 1) % 3 == 0 {
            records_before += 1;
        }
        assert_eq!(*with, plain + records_before, "packet {}", i + 1);
    }
}
