use super::records::*;
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
    // The reading thread stopped too: of a file far larger than what it reads ahead, it read
    // a few chunks, not the whole (a thread left reading would read to the end or hang here).
    let payloads: Vec<Vec<u8>> = (0..80_000u32).map(|i| i.to_le_bytes().repeat(25)).collect();
    let records: Vec<(u32, u32, &[u8])> =
        payloads.iter().enumerate().map(|(i, p)| (i as u32, 0, p.as_slice())).collect();
    let big = dir.join("big.pcap");
    std::fs::write(&big, legacy_pcap(false, false, &records)).unwrap();
    let size = std::fs::metadata(&big).unwrap().len();
    let read = std::sync::atomic::AtomicU64::new(0);
    let report = read_capture_with(
        &big,
        ReadOptions { read_ahead: true },
        |bytes| {
            read.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        },
        |_| ControlFlow::Break(()),
    )
    .unwrap();
    let read = read.into_inner();
    assert_eq!(report.frames, 1);
    assert!(read < size / 3, "read {read} of {size} bytes after the parser stopped at the first frame");
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
                vec![(1, 10_000_000_000 + 5 * scale, b"abc".to_vec()), (2, 11_000_000_000, b"de".to_vec())],
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
fn pcapng_cut_anywhere_keeps_the_whole_blocks_before_the_cut() {
    let mut file = shb();
    file.extend(idb(1, 9, None));
    let header = file.len();
    let record = br#"{"r":1}"#;
    let custom_body = [7u32.to_le_bytes().as_slice(), record].concat();
    let (packet, custom) = (epb(0, 0, &[0; 13]).len(), block(0xBAD, &custom_body).len());
    for i in 0..4u64 {
        file.extend(epb(0, i * 1_000, &[i as u8; 13]));
        file.extend(block(0xBAD, &custom_body));
    }
    // Where each block ends.
    let ends: Vec<usize> = (0..4)
        .flat_map(|i| [header + i * (packet + custom) + packet, header + (i + 1) * (packet + custom)])
        .collect();
    for cut in 0..=file.len() {
        let (mut frames, mut customs) = (Vec::new(), Vec::new());
        let report = read_capture_from(Path::new("mem.pcapng"), &file[..cut], |event| {
            match event {
                CaptureEvent::Frame(f) => frames.push((f.number, f.ts_ns, f.data.to_vec())),
                CaptureEvent::Custom { pen, data, .. } => customs.push((pen, data.to_vec())),
            }
            ControlFlow::Continue(())
        });
        if cut < shb().len() {
            assert!(report.is_err(), "cut {cut}: {report:?}");
            continue;
        }
        let report = report.unwrap();
        let whole = (0..4).filter(|i| ends[2 * i] <= cut).count();
        assert_eq!(frames.len(), whole, "cut {cut}");
        // Numbered as Wireshark does: the custom block before a packet counts too.
        for (k, f) in frames.iter().enumerate() {
            assert_eq!(*f, (2 * k as u64 + 1, k as i64 * 1_000, vec![k as u8; 13]), "cut {cut}");
        }
        let whole_customs = (0..4).filter(|i| ends[2 * i + 1] <= cut).count();
        assert_eq!(customs.len(), whole_customs, "cut {cut}");
        assert!(customs.iter().all(|(pen, data)| *pen == 7 && data.starts_with(record)), "cut {cut}");
        // Cut inside a block: the stop names the truncation where the block began.
        let last_boundary = [shb().len(), header]
            .into_iter()
            .chain(ends.iter().copied())
            .filter(|e| *e <= cut)
            .max()
            .unwrap();
        match &report.stop {
            None => assert_eq!(cut, last_boundary, "cut {cut}"),
            Some(stop) => {
                assert_ne!(cut, last_boundary, "cut {cut}");
                assert_eq!(
                    (stop.offset, &stop.reason),
                    (last_boundary as u64, &StopReason::Truncated),
                    "cut {cut}"
                );
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
