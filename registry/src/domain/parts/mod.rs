//! The parts of a dossier and the value types they are made of.
//!
//! Values that are personal data (names, birth dates) have a redacted `Debug`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ids::{Brin, Crebo, KeuzedeelCode, LeerbedrijfId};
use crate::policy::Part;
use crate::reference::{Leertraject, Niveau};

/// A value of a domain type that did not validate: names the field and the reason, never the
/// value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid {field}: {reason}")]
pub struct ValueError {
    /// The field, e.g. `"geboortedatum"`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ValueError {
    fn new(field: &str, reason: &str) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

uuid_id!(
    /// Id of an aanmelding, chosen by whoever submits it (idempotent re-submission).
    AanmeldingId
);
uuid_id!(
    /// Id of an onderwijsovereenkomst (OOK), chosen by the institution; the signing transaction
    /// and DUO deliveries are keyed by it.
    OokId
);
uuid_id!(
    /// Id of a praktijkovereenkomst (BPV), chosen by the institution.
    BpvId
);

mod aanmelding;
mod onderwijsovereenkomst;
mod person;
mod praktijkovereenkomst;
mod resultaten;
mod terugkoppeling;
mod toestemming;

pub use aanmelding::*;
pub use onderwijsovereenkomst::*;
pub use person::*;
pub use praktijkovereenkomst::*;
pub use resultaten::*;
pub use terugkoppeling::*;
pub use toestemming::*;
