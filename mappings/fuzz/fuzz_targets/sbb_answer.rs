//! Fuzz target: the sbb answer parser (and the SBB simulator's parser of the question) must
//! return a value or a typed error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = knooppunt_mappings::sbb::parse(data);
    let _ = knooppunt_mappings::sbb::parse_verzoek(data);
});
