//! Fuzz target: the rio response parser must return a value or a typed error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = knooppunt_mappings::rio::soap::parse_response(data);
});
