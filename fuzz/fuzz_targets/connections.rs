//! The whole analysis of a capture (the body: tfoscope_analyze::fuzzing, built and run by CI).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tfoscope_analyze::fuzzing::connections(data);
});
