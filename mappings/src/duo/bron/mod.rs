//! Outgoing BRON/ROD delivery: one message per mutation (`domain.md` §1.2–1.4).
//!
//! No public BRON-mbo schema exists (`domain.md` §9), so the XML is our own, shaped after DUO's
//! record model and written down as `docs/partners/bron-mbo-v1.xsd` (namespace [`NAMESPACE`]).
//! Everything format-specific is in this module: the message ([`BronBericht`]), the fast
//! [`writer`], the [`reader`] (for tests and the DUO simulator) and the mapping from registry
//! events ([`event`]). When DUO's real schema is available, only this module changes.

pub mod event;
pub mod reader;
pub mod soap;
pub mod writer;

use chrono::{DateTime, Utc};
use knooppunt_registry::ids::{Brin, PersonId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codes::{Geboortedatum, Geslacht, Landcode, Mutatiesoort, Postcodecijfers};
use super::records::{Bpv, Diploma, Inschrijving, Uitschrijving};

pub use reader::read;
pub use writer::{write, write_into};

/// The namespace of our BRON-mbo format, version 1.
pub const NAMESPACE: &str = "urn:knooppunt:bron:mbo:v1";

/// The schema file, relative to the repository root.
pub const SCHEMA_PATH: &str = "docs/partners/bron-mbo-v1.xsd";

/// Largest BRON message the [`reader`] accepts (one person, one mutation).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One BRON mutation message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BronBericht {
    /// Unique message id; DUO's answer refers to it.
    pub bericht_id: Uuid,
    /// When the message was made (written to the second, UTC).
    pub aangemaakt: DateTime<Utc>,
    /// The institution (instelling level BRIN) delivering.
    pub brin: Brin,
    /// Toevoegen, aanpassen or verwijderen.
    pub mutatie: Mutatiesoort,
    /// Who it is about.
    pub persoon: BronPersoon,
    /// The record.
    pub inhoud: BronInhoud,
}

/// The person key of a BRON message (PER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BronPersoon {
    /// BSN or onderwijsnummer ("ofwel BSN ofwel ONR").
    pub id: PersonId,
    /// Geboortedatum; day or day and month may be unknown.
    pub geboortedatum: Geboortedatum,
    /// Geslacht.
    pub geslacht: Geslacht,
    /// Postcode digits (or 0010/0020/0030/0040).
    pub postcodecijfers: Option<Postcodecijfers>,
    /// Land (GBA code).
    pub land: Option<Landcode>,
    /// Name, only where DUO needs it to identify someone without a BSN (`domain.md` §1.1:
    /// "deliver as many personal data as possible").
    pub naam: Option<Naam>,
}

/// A person's name as BRP writes it. Personal data: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naam {
    /// Voornamen (≤ 200).
    pub voornamen: Option<String>,
    /// Voorvoegsels, e.g. `van 't` (≤ 20).
    pub voorvoegsels: Option<String>,
    /// Geslachtsnaam (≤ 200).
    pub geslachtsnaam: String,
}

impl std::fmt::Debug for Naam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Naam(***)")
    }
}

/// Maximum lengths of the name parts (CAMBO vca.Aanmelding limits).
pub const MAX_VOORNAMEN: usize = 200;
/// Maximum length of the voorvoegsels.
pub const MAX_VOORVOEGSELS: usize = 20;
/// Maximum length of the geslachtsnaam.
pub const MAX_GESLACHTSNAAM: usize = 200;

/// What a message delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "soort", rename_all = "snake_case")]
pub enum BronInhoud {
    /// ISG with its ISP (and ISE) records.
    Inschrijving(Inschrijving),
    /// A praktijkovereenkomst.
    Bpv(Bpv),
    /// DIP with GEO and KZD.
    Diploma(Diploma),
    /// The werkelijke datum and reden of uitschrijving.
    Uitschrijving(Uitschrijving),
}

impl BronInhoud {
    /// The XML element name of the record.
    pub fn element(&self) -> &'static str {
        match self {
            Self::Inschrijving(_) => "Inschrijving",
            Self::Bpv(_) => "BPV",
            Self::Diploma(_) => "Diploma",
            Self::Uitschrijving(_) => "Uitschrijving",
        }
    }
}
