//! Keuzedelen, exam results and the diploma.

use super::*;

/// Result of a keuzedeel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeuzedeelUitslag {
    /// Behaald.
    Behaald,
    /// Niet behaald.
    NietBehaald,
}

/// A recorded keuzedeel result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeuzedeelResultaat {
    /// Outcome.
    pub uitslag: KeuzedeelUitslag,
    /// Date of the result.
    pub datum: NaiveDate,
    /// Institution that recorded it (the enrolling or the guest institution).
    pub vastgelegd_door: Brin,
}

/// A keuzedeel chosen within an enrolment, possibly taken at a guest institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keuzedeel {
    /// Code.
    pub code: KeuzedeelCode,
    /// The enrolment.
    pub ook: OokId,
    /// The enrolling institution.
    pub instelling: Brin,
    /// The guest institution where it is taken, if not the enrolling one.
    #[serde(default)]
    pub gastinstelling: Option<Brin>,
    /// Result, once there is one.
    #[serde(default)]
    pub resultaat: Option<KeuzedeelResultaat>,
}

/// A grade 1.0–10.0 kept in tenths (10–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Cijfer(u8);

impl Cijfer {
    /// From tenths (10 = 1.0, 100 = 10.0).
    pub fn from_tenths(t: u8) -> Result<Self, ValueError> {
        if (10..=100).contains(&t) {
            Ok(Self(t))
        } else {
            Err(ValueError::new("cijfer", "expected 1.0 to 10.0"))
        }
    }

    /// From tenths, clamped into 1.0–10.0 (for literals in demos and tests).
    pub const fn clamped(t: u8) -> Self {
        if t < 10 {
            Self(10)
        } else if t > 100 {
            Self(100)
        } else {
            Self(t)
        }
    }

    /// Tenths.
    pub fn tenths(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Cijfer {
    type Error = ValueError;
    fn try_from(t: u8) -> Result<Self, ValueError> {
        Self::from_tenths(t)
    }
}

impl From<Cijfer> for u8 {
    fn from(c: Cijfer) -> u8 {
        c.0
    }
}

/// Generic exam subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneriekVak {
    /// Nederlands.
    Nederlands,
    /// Rekenen.
    Rekenen,
    /// Engels (niveau 4 only).
    Engels,
}

/// An exam result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "soort", rename_all = "snake_case")]
pub enum Examenresultaat {
    /// Generic exam: institutional (IE) and central (CE) grade.
    Generiek {
        /// The enrolment.
        ook: OokId,
        /// Subject.
        vak: GeneriekVak,
        /// Instellingsexamen grade.
        #[serde(default)]
        cijfer_ie: Option<Cijfer>,
        /// Centraal examen grade.
        #[serde(default)]
        cijfer_ce: Option<Cijfer>,
        /// Date.
        datum: NaiveDate,
    },
    /// An institutional exam part (beroepsgericht).
    Instelling {
        /// The enrolment.
        ook: OokId,
        /// The institution's code of the part.
        onderdeel: String,
        /// Grade.
        cijfer: Cijfer,
        /// Date.
        datum: NaiveDate,
    },
}

impl Examenresultaat {
    /// The enrolment it belongs to.
    pub fn ook(&self) -> OokId {
        match self {
            Self::Generiek { ook, .. } | Self::Instelling { ook, .. } => *ook,
        }
    }

    /// Whether `other` is a result for the same exam (and so replaces it).
    pub fn same_exam(&self, other: &Examenresultaat) -> bool {
        match (self, other) {
            (Self::Generiek { ook: a, vak: x, .. }, Self::Generiek { ook: b, vak: y, .. }) => {
                a == b && x == y
            }
            (
                Self::Instelling {
                    ook: a,
                    onderdeel: x,
                    ..
                },
                Self::Instelling {
                    ook: b,
                    onderdeel: y,
                    ..
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

/// A diploma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diploma {
    /// Crebo.
    pub crebo: Crebo,
    /// Datum kwalificatie behaald.
    pub datum: NaiveDate,
    /// The enrolment it concludes.
    pub ook: OokId,
    /// The institution.
    pub instelling: Brin,
}
