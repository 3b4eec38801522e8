//! Fuzz target: DUO "persoon en vooropleidingen" answers and mutation notifications. Parsing
//! and mapping to commands return a value or a typed error, never panic.
#![no_main]

use knooppunt_mappings::duo::persoon;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = persoon::parse_persoon_en_vooropleidingen(data) {
        let _ = persoon::lookup_to_commands(&a);
    }
    if let Ok(m) = persoon::parse_mutatiemelding(data) {
        let _ = persoon::melding_to_command(&m);
    }
});
