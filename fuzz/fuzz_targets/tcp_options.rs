//! The TCP option walker on any bytes and any declared length: every item in bounds; no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfoscope_analyze::decode::options::{OptionIter, OptionSummary};

fuzz_target!(|data: &[u8]| {
    let Some((&declared, options)) = data.split_first() else { return };
    let declared = usize::from(declared % 41);
    for item in OptionIter::new(options, declared) {
        if let Ok(option) = item {
            let _ = option.kind();
            let _ = option.tfo();
        }
    }
    let summary = OptionSummary::of(OptionIter::new(options, declared));
    let _ = summary.truncated();
});
