//! Keyed pseudonyms of persons: the fingerprint under which the registry indexes a dossier by
//! BSN or onderwijsnummer, and every id derived from it.
//!
//! A BSN has nine digits and a checksum, so there are fewer than 10⁸ of them: an unkeyed hash of
//! one is reversed by trying them all in seconds. The fingerprint is therefore an HMAC-SHA256
//! under a secret [`PersonKey`] from configuration (`store.person_key_file`); without the key a
//! fingerprint (in the person index, in a derived id) says nothing about the number.
//!
//! *Invariant:* the key never leaves this type: not in `Debug`, not in errors, not serialised.
//! [`PersonKey::key_id`] names a key (an HMAC of a fixed label, not the key) so that a store can
//! tell which key its index was built with.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::PersonId;

/// Fewest bytes a person key has (256 bits).
pub const MIN_KEY_BYTES: usize = 32;

/// The secret key of person fingerprints. Cheap to clone.
#[derive(Clone)]
pub struct PersonKey {
    mac: Arc<Hmac<Sha256>>,
}

/// Why a person key could not be loaded. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonKeyError {
    /// The key file could not be read.
    #[error("the person key file cannot be read: {0}")]
    Unreadable(String),
    /// The key is too short.
    #[error(
        "the person key has {got} bytes; it needs at least {MIN_KEY_BYTES} (e.g. `openssl rand -out person.key 32`)"
    )]
    TooShort {
        /// Bytes found.
        got: usize,
    },
}

impl PersonKey {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PersonKeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(PersonKeyError::TooShort { got: bytes.len() });
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes)
            .map_err(|_| PersonKeyError::TooShort { got: bytes.len() })?;
        Ok(Self { mac: Arc::new(mac) })
    }

    /// A key from a file: its raw bytes (a trailing newline, as editors and `echo` add, is
    /// part of the key; write the file with `openssl rand -out FILE 32`).
    pub fn from_file(path: &Path) -> Result<Self, PersonKeyError> {
        let bytes = std::fs::read(path).map_err(|e| PersonKeyError::Unreadable(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random key: for the sandbox's in-memory store and for tests, whose index lives
    /// no longer than the key.
    pub fn random() -> Self {
        Self::from_bytes(&random_key_bytes()).expect("32 bytes is a valid key length")
    }

    fn hmac(&self, parts: &[&[u8]]) -> String {
        let mut mac = (*self.mac).clone();
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The fingerprint of a person: hex HMAC-SHA256 over a domain-separated form of the kind
    /// and the digits. Stable for one key; unrelated across keys.
    pub fn fingerprint(&self, person: &PersonId) -> String {
        let kind: &[u8] = match person {
            PersonId::Bsn(_) => b"bsn:",
            PersonId::Onderwijsnummer(_) => b"onr:",
        };
        self.hmac(&[b"knooppunt:person:v2:", kind, person.digits().as_bytes()])
    }

    /// A short public name of this key (16 hex characters of an HMAC of a fixed label): stored
    /// beside an index so that a node started with another key refuses to use it.
    pub fn key_id(&self) -> String {
        let mut id = self.hmac(&[b"knooppunt:person-key-id:v1"]);
        id.truncate(16);
        id
    }
}

/// [`MIN_KEY_BYTES`] bytes from the operating system's random source: the content of a new key
/// file (what `openssl rand -out FILE 32` writes).
pub fn random_key_bytes() -> [u8; MIN_KEY_BYTES] {
    use rand::RngCore;
    let mut bytes = [0u8; MIN_KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

impl fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(s: &str) -> PersonId {
        PersonId::parse_either(s).unwrap()
    }

    #[test]
    fn fingerprint_is_stable_kind_separated_and_keyed() {
        let k = PersonKey::from_bytes(&[7u8; 32]).unwrap();
        let a = person("111222333");
        assert_eq!(k.fingerprint(&a), k.clone().fingerprint(&a));
        assert_eq!(k.fingerprint(&a).len(), 64);
        assert!(!k.fingerprint(&a).contains("111222333"));
        // Another key gives an unrelated fingerprint.
        let other = PersonKey::from_bytes(&[8u8; 32]).unwrap();
        assert_ne!(k.fingerprint(&a), other.fingerprint(&a));
        assert_ne!(k.key_id(), other.key_id());
        // Not the unkeyed SHA-256 of the old scheme.
        use sha2::Digest;
        let unkeyed = hex::encode(Sha256::digest(b"knooppunt:person:v1:bsn:111222333"));
        assert_ne!(k.fingerprint(&a), unkeyed);
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_the_key() {
        assert_eq!(
            PersonKey::from_bytes(&[1u8; 31]).unwrap_err(),
            PersonKeyError::TooShort { got: 31 }
        );
        let k = PersonKey::from_bytes(&[0x41u8; 32]).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains(&k.key_id()));
        assert!(!dbg.contains("AAAA"), "{dbg}");
        assert_eq!(k.key_id().len(), 16);
        assert_ne!(PersonKey::random().key_id(), PersonKey::random().key_id());
    }

    #[test]
    fn a_key_file_is_read_raw() {
        let dir = std::env::temp_dir().join(format!("person-key-{}", std::process::id()));
        std::fs::write(&dir, [9u8; 40]).unwrap();
        let k = PersonKey::from_file(&dir).unwrap();
        assert_eq!(
            k.key_id(),
            PersonKey::from_bytes(&[9u8; 40]).unwrap().key_id()
        );
        std::fs::remove_file(&dir).unwrap();
        assert!(matches!(
            PersonKey::from_file(&dir).unwrap_err(),
            PersonKeyError::Unreadable(_)
        ));
    }
}
