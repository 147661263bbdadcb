//! The bodies of the fuzz targets (fuzz/, run by cargo-fuzz outside CI), here so that every
//! build compiles them and the test suite runs them on the shipped captures and on mutated
//! bytes: a fuzz target that no longer builds, or asserts what is no longer true, fails CI.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use crate::decode::decode;
use crate::decode::options::{OptionIter, OptionSummary};
use crate::expect::Expectations;
use crate::flow::{FlowConfig, FlowTable, PacketRef};
use crate::read::{read_capture_from, CaptureEvent};
use crate::verdict::judge_vantage;

/// The capture reader on any bytes: frames numbered upward (custom blocks take numbers too),
/// a stop or an error; no panic. Returns the frames read.
pub fn read_capture(data: &[u8]) -> u64 {
    let mut frames = 0u64;
    let mut last_number = 0u64;
    let _ = read_capture_from(Path::new("fuzz"), data, |event| {
        if let CaptureEvent::Frame(frame) = event {
            frames += 1;
            assert!(frame.number > last_number && frame.number >= frames, "frame numbers go up");
            last_number = frame.number;
        }
        ControlFlow::Continue(())
    });
    frames
}

/// The TCP option walker on any bytes and any declared length (the first byte): every item in
/// bounds; no panic.
pub fn tcp_options(data: &[u8]) {
    let Some((&declared, options)) = data.split_first() else { return };
    let declared = usize::from(declared % 41);
    for option in OptionIter::new(options, declared).flatten() {
        let _ = option.kind();
        let _ = option.tfo();
    }
    let summary = OptionSummary::of(OptionIter::new(options, declared));
    let _ = summary.truncated();
}

/// The whole analysis of a capture, from bytes to connections and verdicts: no panic, and
/// every connection internally consistent. Returns the connections.
pub fn connections(data: &[u8]) -> usize {
    let capture: Arc<str> = Arc::from("fuzz");
    let mut table = FlowTable::new(FlowConfig { max_open: 64, ..FlowConfig::default() });
    let _ = read_capture_from(Path::new("fuzz"), data, |event| {
        if let CaptureEvent::Frame(frame) = event {
            if let Ok(packet) = decode(frame.linktype, frame.data) {
                table.push(PacketRef { capture: &capture, frame: frame.number, ts_ns: frame.ts_ns }, &packet);
            }
        }
        ControlFlow::Continue(())
    });
    let (connections, _) = table.finish();
    for c in &connections {
        assert!(!c.syns.is_empty());
        assert!(c.syn_count as usize >= c.syns.len());
    }
    let _ = judge_vantage("fuzz", &connections, &Expectations::new(), false);
    connections.len()
}
