//! Fuzz target: the BRON message reader (used by the DUO simulator on what Knooppunt sends).
//! Whatever it accepts, the writer writes back to the same message.
#![no_main]

use knooppunt_mappings::duo::bron;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = bron::read(data) {
        if let Ok(xml) = bron::write(&m) {
            assert_eq!(bron::read(xml.as_bytes()).ok(), Some(m));
        }
    }
});
