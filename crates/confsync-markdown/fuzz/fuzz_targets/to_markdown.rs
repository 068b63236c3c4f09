//! Fuzz target: any bytes, read as (lossy) UTF-8, must convert without a
//! panic, and the output must hold no storage markup outside code.

#![no_main]

use confsync_markdown::{Converter, NoLookup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    // A small depth limit reaches the flattening paths with short inputs.
    for converter in [Converter::default(), Converter::default().with_max_depth(2)] {
        let markdown = converter.convert(&input, &NoLookup);
        // Output is linear in the input: a constant factor (table padding and
        // list prefixes are capped), whatever the shape.
        assert!(
            markdown.len() <= 64 * input.len() + 1024,
            "output {} bytes for {} bytes of input",
            markdown.len(),
            input.len()
        );
    }
});
