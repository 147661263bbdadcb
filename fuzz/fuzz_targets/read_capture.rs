//! The capture reader on any bytes: frames, custom blocks, a stop or an error; no panic.
#![no_main]

use std::ops::ControlFlow;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tfoscope_analyze::read::{read_capture_from, CaptureEvent};

fuzz_target!(|data: &[u8]| {
    let mut frames = 0u64;
    let _ = read_capture_from(Path::new("fuzz"), data, |event| {
        if let CaptureEvent::Frame(frame) = event {
            frames += 1;
            assert!(frame.number == frames);
        }
        ControlFlow::Continue(())
    });
});
