//! The whole analysis of a capture, from bytes to connections and verdicts: no panic, and
//! every connection is internally consistent.
#![no_main]

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tfoscope_analyze::decode::decode;
use tfoscope_analyze::flow::{FlowConfig, FlowTable, PacketRef};
use tfoscope_analyze::read::{read_capture_from, CaptureEvent};
use tfoscope_analyze::expect::Expectations;
use tfoscope_analyze::verdict::judge_vantage;

fuzz_target!(|data: &[u8]| {
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
});
