//! Fuzz target: DUO TBG-i XML. Parsing and mapping to commands return a value or a typed
//! error, never panic.
#![no_main]

use knooppunt_mappings::duo::tbgi::{self, InschrijvingRef};
use knooppunt_registry::domain::OokId;
use knooppunt_registry::envelope::DossierKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tbgi::parse(data) {
        let lookup = |_: &_, _: &_, _: &_| {
            Some(InschrijvingRef {
                dossier: DossierKey(uuid::Uuid::nil()),
                ook: OokId(uuid::Uuid::nil()),
                laatste_mutatie: Some(uuid::Uuid::nil()),
            })
        };
        let _ = tbgi::to_commands(&t, &lookup);
    }
});
