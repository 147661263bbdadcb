//! The capture reader on any bytes (the body: tfoscope_analyze::fuzzing, built and run by CI).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tfoscope_analyze::fuzzing::read_capture(data);
});
