//! Consent (toestemming) and the OSO overstapdossier.

use super::*;

/// Consent of the student for one institution to read some parts of the dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toestemming {
    /// The institution.
    pub instelling: Brin,
    /// The parts it may read.
    pub scopes: BTreeSet<Part>,
    /// When granted.
    pub verleend_op: DateTime<Utc>,
    /// When withdrawn; withdrawn consent grants nothing.
    #[serde(default)]
    pub ingetrokken_op: Option<DateTime<Utc>>,
}

impl Toestemming {
    /// Whether it is in force and covers `part`.
    pub fn covers(&self, part: Part) -> bool {
        self.ingetrokken_op.is_none() && self.scopes.contains(&part)
    }
}

/// SHA-256 of a document, lower-case hex (64 characters).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(String);

impl ContentHash {
    /// The hash of these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(hex::encode(Sha256::digest(bytes)))
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.0)
    }
}

impl FromStr for ContentHash {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let s = s.trim().to_ascii_lowercase();
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValueError::new(
                "content_hash",
                "expected 64 hex characters (SHA-256)",
            ));
        }
        Ok(Self(s))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Summary of an OSO overstapdossier: what kind, and which blocks it carries. The document
/// itself stays with the sender; Knooppunt keeps its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverstapSamenvatting {
    /// OSO codelijst 16 soort overstap, e.g. `"VOMBO"`.
    pub soort_overstap: String,
    /// OSO gegevensset version, e.g. `"2019.1"`.
    pub gegevensset: String,
    /// Names of the blocks present (e.g. `"overigvombo"`, `"ondersteuning"`).
    #[serde(default)]
    pub blokken: BTreeSet<String>,
}

/// An overstapdossier (OSO) from the sending school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overstapdossier {
    /// The sending school.
    pub school: Brin,
    /// Summary.
    pub samenvatting: OverstapSamenvatting,
    /// SHA-256 of the dossier document.
    pub content_hash: ContentHash,
    /// When received.
    pub ontvangen_op: DateTime<Utc>,
}
