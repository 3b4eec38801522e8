//! Fuzz target: DUO registratieoverzicht (RO) CSV. The record stream, the per-person grouping
//! (with the SLR check) and the bulk-import mapping return values or typed errors, never panic.
#![no_main]

use knooppunt_mappings::duo::ro::{self, RoReader};
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::Niveau;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for r in RoReader::new(data) {
        let _ = r;
    }
    if let Ok((vlp, personen)) = ro::open(data) {
        let key = PersonKey::from_bytes(&[0x5a; 32]).expect("a 32-byte key");
        for p in personen.flatten() {
            let _ = ro::import_commands(&vlp, &p, &|_: &_| Some(Niveau::Mbo3), &key);
        }
    }
});
