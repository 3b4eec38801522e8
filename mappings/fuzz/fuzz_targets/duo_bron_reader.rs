//! Fuzz target: the BRON message reader and the SOAP envelope reader (used by the DUO simulator
//! on what Knooppunt sends), and the reader of DUO's answer (used by the BRON adapter on what DUO
//! sends). Whatever the message reader accepts, the writer writes back to the same message;
//! whatever the answer reader accepts, the answer writer writes back to the same answer.
#![no_main]

use knooppunt_mappings::duo::bron::{self, soap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = bron::read(data) {
        if let Ok(xml) = bron::write(&m) {
            assert_eq!(bron::read(xml.as_bytes()).ok(), Some(m));
        }
    }
    let _ = soap::read_envelope(data);
    if let Ok(a) = soap::read_answer(data) {
        let xml = soap::write_answer(&a, uuid::Uuid::nil());
        assert_eq!(soap::read_answer(xml.as_bytes()).ok(), Some(a), "answer round trip");
    }
});
