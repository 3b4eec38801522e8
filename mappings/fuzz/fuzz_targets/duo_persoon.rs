//! Fuzz target: DUO "persoon en vooropleidingen" answers, mutation notifications and lookup
//! requests (what the DUO simulator parses). Parsing and mapping to commands return a value or
//! a typed error, never panic; whatever parses is written back to XML that parses to the same
//! value (the simulator's writers).
#![no_main]

use knooppunt_mappings::duo::persoon;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = persoon::parse_persoon_en_vooropleidingen(data) {
        let _ = persoon::lookup_to_commands(&a);
        let _ = persoon::lookup_to_command(&a);
        let written = persoon::write_persoon_en_vooropleidingen(&a);
        let back = persoon::parse_persoon_en_vooropleidingen(written.as_bytes());
        assert_eq!(back.ok().as_ref(), Some(&a), "answer round trip");
    }
    if let Ok(m) = persoon::parse_mutatiemelding(data) {
        let _ = persoon::melding_to_command(&m);
        let written = persoon::write_mutatiemelding(&m);
        let back = persoon::parse_mutatiemelding(written.as_bytes());
        assert_eq!(back.ok().as_ref(), Some(&m), "melding round trip");
    }
    if let Ok(o) = persoon::parse_opvraging(data) {
        let written = persoon::write_opvraging(&o);
        let back = persoon::parse_opvraging(written.as_bytes());
        assert_eq!(back.ok().as_ref(), Some(&o), "opvraging round trip");
    }
});
