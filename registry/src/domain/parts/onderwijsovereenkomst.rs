//! The onderwijsovereenkomst (OOK): details, status, signatures.

use super::*;

/// Intensiteit of an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Intensiteit {
    /// Voltijd.
    VT,
    /// Deeltijd.
    DT,
    /// Examendeelnemer.
    EX,
}

/// What an onderwijsovereenkomst is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OokDetails {
    /// The aanmelding it follows from, if any.
    #[serde(default)]
    pub aanmelding: Option<AanmeldingId>,
    /// RIO id of the aangeboden opleiding, if known.
    #[serde(default)]
    pub opleiding: Option<Uuid>,
    /// Crebo.
    pub crebo: Crebo,
    /// Niveau.
    pub niveau: Niveau,
    /// Leertraject.
    pub leertraject: Leertraject,
    /// Intensiteit.
    pub intensiteit: Intensiteit,
    /// Datum inschrijving.
    pub begin: NaiveDate,
    /// Geplande datum uitschrijving.
    pub gepland_einde: NaiveDate,
}

/// Status of an onderwijsovereenkomst:
/// `concept → aangeboden → ondertekend → beëindigd`; an unsigned one can lapse (`vervallen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OokStatus {
    /// Drafted, not yet shown to the student.
    Concept,
    /// Offered to the student.
    Aangeboden,
    /// Signed by everyone required.
    Ondertekend,
    /// Ended (uitschrijving) after signing.
    Beeindigd,
    /// Withdrawn before it was signed.
    Vervallen,
}

impl OokStatus {
    /// Whether it counts for "at most one active OOK per crebo".
    pub fn is_active(self) -> bool {
        matches!(self, Self::Concept | Self::Aangeboden | Self::Ondertekend)
    }
}

/// Who signs an onderwijsovereenkomst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OokOndertekenaar {
    /// The student.
    Student,
    /// A parent or guardian (required when the student may be under 18 on the signing date).
    Ouder,
    /// The institution.
    Instelling,
}

/// How something was signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "wijze", rename_all = "snake_case")]
pub enum Ondertekenwijze {
    /// Through the signing provider; `transactie` is its transaction id.
    Digitaal {
        /// Provider transaction id.
        transactie: String,
    },
    /// On paper, recorded by the institution.
    Papier,
}

/// One signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handtekening {
    /// Date of signing.
    pub datum: NaiveDate,
    /// How.
    pub wijze: Ondertekenwijze,
}

/// Reden uitschrijving: two digits (`01` geslaagd … `10`; DUO's list is authoritative).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedenUitschrijving(String);

impl RedenUitschrijving {
    /// `01`: geslaagd (diploma).
    pub fn geslaagd() -> Self {
        Self("01".to_owned())
    }

    /// The two digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedenUitschrijving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedenUitschrijving({})", self.0)
    }
}

impl FromStr for RedenUitschrijving {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let s = s.trim();
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) || s == "00" {
            return Err(ValueError::new(
                "reden_uitschrijving",
                "expected two digits 01–99",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl Serialize for RedenUitschrijving {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RedenUitschrijving {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Signatures on an onderwijsovereenkomst.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OokHandtekeningen {
    /// The student's.
    #[serde(default)]
    pub student: Option<Handtekening>,
    /// A parent's.
    #[serde(default)]
    pub ouder: Option<Handtekening>,
    /// The institution's.
    #[serde(default)]
    pub instelling: Option<Handtekening>,
}

impl OokHandtekeningen {
    /// The signature of `who`.
    pub fn get(&self, who: OokOndertekenaar) -> Option<&Handtekening> {
        match who {
            OokOndertekenaar::Student => self.student.as_ref(),
            OokOndertekenaar::Ouder => self.ouder.as_ref(),
            OokOndertekenaar::Instelling => self.instelling.as_ref(),
        }
    }

    /// Sets the signature of `who`.
    pub fn set(&mut self, who: OokOndertekenaar, h: Handtekening) {
        match who {
            OokOndertekenaar::Student => self.student = Some(h),
            OokOndertekenaar::Ouder => self.ouder = Some(h),
            OokOndertekenaar::Instelling => self.instelling = Some(h),
        }
    }
}

/// An onderwijsovereenkomst (OOK): the enrolment agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onderwijsovereenkomst {
    /// Id.
    pub id: OokId,
    /// The institution.
    pub instelling: Brin,
    /// What it is about.
    pub details: OokDetails,
    /// Status.
    pub status: OokStatus,
    /// Signatures so far.
    #[serde(default)]
    pub handtekeningen: OokHandtekeningen,
    /// Date the last required signature was set.
    #[serde(default)]
    pub ondertekend_op: Option<NaiveDate>,
    /// Werkelijke datum uitschrijving.
    #[serde(default)]
    pub werkelijk_einde: Option<NaiveDate>,
    /// Reden uitschrijving.
    #[serde(default)]
    pub reden_uitschrijving: Option<RedenUitschrijving>,
    /// Inschrijvingsvolgnummer for DUO, when the institution assigned one.
    #[serde(default)]
    pub inschrijvingsvolgnummer: Option<String>,
    /// True when it came from a bulk import (DUO registratieoverzicht).
    #[serde(default)]
    pub geimporteerd: bool,
}

impl Onderwijsovereenkomst {
    /// Whether it has been signed (also when it ended since).
    pub fn was_signed(&self) -> bool {
        self.ondertekend_op.is_some()
    }

    /// The last day of the enrolment: the actual end, else the planned one.
    pub fn einde(&self) -> NaiveDate {
        self.werkelijk_einde.unwrap_or(self.details.gepland_einde)
    }
}
