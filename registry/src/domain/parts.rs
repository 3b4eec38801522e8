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

// ---------------------------------------------------------------------------------------------
// Person
// ---------------------------------------------------------------------------------------------

/// Geslacht as DUO records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Geslacht {
    /// Man.
    M,
    /// Vrouw.
    V,
    /// Onbekend / anders.
    O,
}

/// A birth date where the day, or the day and the month, may be unknown (DUO writes `00`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geboortedatum {
    jaar: i32,
    maand: Option<u32>,
    dag: Option<u32>,
}

impl Geboortedatum {
    /// Builds one; a day needs a month and the date must exist.
    pub fn new(jaar: i32, maand: Option<u32>, dag: Option<u32>) -> Result<Self, ValueError> {
        const F: &str = "geboortedatum";
        if !(1900..=2200).contains(&jaar) {
            return Err(ValueError::new(
                F,
                "the year must lie between 1900 and 2200",
            ));
        }
        match (maand, dag) {
            (None, Some(_)) => Err(ValueError::new(F, "a day needs a month")),
            (Some(m), None) if !(1..=12).contains(&m) => {
                Err(ValueError::new(F, "the month must be 1 to 12"))
            }
            (Some(m), Some(d)) if NaiveDate::from_ymd_opt(jaar, m, d).is_none() => {
                Err(ValueError::new(F, "the date does not exist"))
            }
            _ => Ok(Self { jaar, maand, dag }),
        }
    }

    /// A fully known date.
    pub fn from_date(date: NaiveDate) -> Self {
        Self {
            jaar: date.year(),
            maand: Some(date.month()),
            dag: Some(date.day()),
        }
    }

    /// The year.
    pub fn jaar(&self) -> i32 {
        self.jaar
    }

    /// The month, when known.
    pub fn maand(&self) -> Option<u32> {
        self.maand
    }

    /// The day, when known.
    pub fn dag(&self) -> Option<u32> {
        self.dag
    }

    /// The latest date the person can have been born on.
    pub fn latest(&self) -> NaiveDate {
        let fallback = NaiveDate::MIN;
        match (self.maand, self.dag) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(self.jaar, m, d).unwrap_or(fallback),
            (Some(m), None) => NaiveDate::from_ymd_opt(self.jaar, m, 1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .and_then(|next| next.pred_opt())
                .unwrap_or(fallback),
            _ => NaiveDate::from_ymd_opt(self.jaar, 12, 31).unwrap_or(fallback),
        }
    }

    /// Whether the person may still be younger than `years` on `on`. With an unknown day or
    /// month the latest possible birth date counts: when in doubt, treat as younger (a parent
    /// signs; a parent may act).
    pub fn may_be_younger_than(&self, years: u32, on: NaiveDate) -> bool {
        match self.latest().checked_add_months(Months::new(years * 12)) {
            Some(birthday) => on < birthday,
            None => true,
        }
    }

    /// `YYYY-MM-DD` with `00` for unknown parts, as DUO writes it.
    pub fn duo_format(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.jaar,
            self.maand.unwrap_or(0),
            self.dag.unwrap_or(0)
        )
    }
}

impl fmt::Debug for Geboortedatum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Geboortedatum(***)")
    }
}

impl FromStr for Geboortedatum {
    type Err = ValueError;
    /// Parses `YYYY-MM-DD` where `MM`/`DD` may be `00`.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const F: &str = "geboortedatum";
        let mut parts = s.trim().split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValueError::new(F, "expected YYYY-MM-DD"));
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(ValueError::new(F, "expected YYYY-MM-DD"));
        }
        let jaar: i32 = y
            .parse()
            .map_err(|_| ValueError::new(F, "the year is not a number"))?;
        let m: u32 = m
            .parse()
            .map_err(|_| ValueError::new(F, "the month is not a number"))?;
        let d: u32 = d
            .parse()
            .map_err(|_| ValueError::new(F, "the day is not a number"))?;
        let maand = (m != 0).then_some(m);
        let dag = (d != 0).then_some(d);
        Self::new(jaar, maand, dag)
    }
}

impl Serialize for Geboortedatum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.duo_format())
    }
}

impl<'de> Deserialize<'de> for Geboortedatum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Personal data from DUO (BRP): names, birth date, sex, residence. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personalia {
    /// Voornamen.
    pub voornamen: String,
    /// Voorvoegsels, e.g. `"van der"`.
    #[serde(default)]
    pub voorvoegsels: Option<String>,
    /// Achternaam (geslachtsnaam).
    pub achternaam: String,
    /// Geboortedatum.
    pub geboortedatum: Geboortedatum,
    /// Geslacht.
    pub geslacht: Geslacht,
    /// Woongemeente, when the student lives in the Netherlands.
    #[serde(default)]
    pub woongemeente: Option<crate::reference::GemeenteCode>,
    /// Whether the student holds a startkwalificatie (VVA routing to the municipality).
    #[serde(default)]
    pub startkwalificatie: bool,
}

impl fmt::Debug for Personalia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personalia(***)")
    }
}

impl Personalia {
    /// Checks the fields: names must not be empty or over-long.
    pub fn validate(&self) -> Result<(), ValueError> {
        non_empty("voornamen", &self.voornamen, 200)?;
        non_empty("achternaam", &self.achternaam, 200)?;
        if let Some(v) = &self.voorvoegsels {
            non_empty("voorvoegsels", v, 20)?;
        }
        Ok(())
    }
}

fn non_empty(field: &str, value: &str, max: usize) -> Result<(), ValueError> {
    if value.trim().is_empty() {
        return Err(ValueError::new(field, "it is empty"));
    }
    if value.chars().count() > max {
        return Err(ValueError::new(field, "it is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(ValueError::new(field, "it contains control characters"));
    }
    Ok(())
}

/// A prior education (from DUO), keyed by school and opleiding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vooropleiding {
    /// BRIN of the school, when known.
    #[serde(default)]
    pub instelling: Option<Brin>,
    /// Opleiding code as DUO gives it (e.g. an ILT code or crebo).
    pub opleiding: String,
    /// Human-readable name.
    pub omschrijving: String,
    /// From.
    #[serde(default)]
    pub vanaf: Option<NaiveDate>,
    /// Until (inclusive).
    #[serde(default)]
    pub tot_en_met: Option<NaiveDate>,
    /// Whether the diploma was obtained.
    pub diploma_behaald: bool,
    /// Date of the result.
    #[serde(default)]
    pub datum_uitslag: Option<NaiveDate>,
}

impl Vooropleiding {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), ValueError> {
        non_empty("opleiding", &self.opleiding, 36)?;
        non_empty("omschrijving", &self.omschrijving, 200)?;
        if let (Some(a), Some(b)) = (self.vanaf, self.tot_en_met)
            && b < a
        {
            return Err(ValueError::new("tot_en_met", "it lies before vanaf"));
        }
        Ok(())
    }

    /// Whether `other` is the same vooropleiding (same school and opleiding).
    pub fn same_as(&self, other: &Vooropleiding) -> bool {
        self.instelling == other.instelling && self.opleiding == other.opleiding
    }
}

// ---------------------------------------------------------------------------------------------
// Aanmelding
// ---------------------------------------------------------------------------------------------

/// The VA statuses of an aanmelding (domain.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AanmeldStatus {
    /// "Aanmelding ontvangen": received, verified, enriched (non-statutory).
    Ontvangen,
    /// "Aangemeld".
    Aangemeld,
    /// "Aan de betrokkene is een onderwijsovereenkomst aangeboden".
    OokAangeboden,
    /// "De aanmelding leidt niet tot een inschrijving".
    LeidtNietTotInschrijving,
    /// "De aanmelding is ingetrokken".
    Ingetrokken,
    /// "De betrokkene is ingeschreven".
    Ingeschreven,
}

impl AanmeldStatus {
    /// Every status.
    pub const ALL: [AanmeldStatus; 6] = [
        Self::Ontvangen,
        Self::Aangemeld,
        Self::OokAangeboden,
        Self::LeidtNietTotInschrijving,
        Self::Ingetrokken,
        Self::Ingeschreven,
    ];

    /// The state machine: `ontvangen → aangemeld → ook_aangeboden → ingeschreven`, and from
    /// any of the first three to `leidt_niet_tot_inschrijving` or `ingetrokken`. The last three
    /// are final.
    pub fn can_become(self, to: AanmeldStatus) -> bool {
        use AanmeldStatus::*;
        matches!(
            (self, to),
            (Ontvangen, Aangemeld)
                | (Aangemeld, OokAangeboden)
                | (OokAangeboden, Ingeschreven)
                | (
                    Ontvangen | Aangemeld | OokAangeboden,
                    LeidtNietTotInschrijving | Ingetrokken
                )
        )
    }

    /// Whether no transition leaves this status.
    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|to| !self.can_become(*to))
    }
}

/// CAMBO ketenId: BRIN (4 or 6) + `:` + 8 digits, e.g. `99XX:90001119`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KetenId(String);

impl KetenId {
    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KetenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KetenId({})", self.0)
    }
}

impl fmt::Display for KetenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KetenId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const F: &str = "ketenId";
        let s = s.trim();
        let Some((brin, nummer)) = s.split_once(':') else {
            return Err(ValueError::new(F, "expected BRIN:nnnnnnnn"));
        };
        let brin: Brin = brin
            .parse()
            .map_err(|_| ValueError::new(F, "the part before ':' is not a BRIN"))?;
        if nummer.len() != 8 || !nummer.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::new(F, "expected 8 digits after ':'"));
        }
        Ok(Self(format!("{brin}:{nummer}")))
    }
}

impl Serialize for KetenId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KetenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Reference of an aanmelding in CAMBO (central aanmelding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExterneReferentie {
    /// CAMBO ketenId.
    pub keten_id: KetenId,
    /// CAMBO's change counter, increasing.
    pub wijzigingsvolgnummer: u64,
}

/// An aanmelding for an aangeboden opleiding of an institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aanmelding {
    /// Id.
    pub id: AanmeldingId,
    /// The institution applied to.
    pub instelling: Brin,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Crebo of that opleiding (copied from reference data).
    pub crebo: Crebo,
    /// Cohort code.
    pub cohort: String,
    /// When it was submitted.
    pub ingediend_op: DateTime<Utc>,
    /// Submitted on or before 1 April of the cohort's start year (not for entree).
    pub toelatingsrecht: bool,
    /// Current VA status.
    pub status: AanmeldStatus,
    /// The sending (va)vo school, when there is one.
    #[serde(default)]
    pub toeleverende_school: Option<Brin>,
    /// CAMBO reference, when it came through central aanmelding.
    #[serde(default)]
    pub externe_referentie: Option<ExterneReferentie>,
}

// ---------------------------------------------------------------------------------------------
// Consent and overstapdossier
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Onderwijsovereenkomst
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Praktijkovereenkomst
// ---------------------------------------------------------------------------------------------

/// What a BPV is for: the kwalificatie (crebo) or a keuzedeel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvOnderdeel {
    /// The kwalificatie.
    Crebo(Crebo),
    /// A keuzedeel.
    Keuzedeel(KeuzedeelCode),
}

/// SBB's answer on the recognition of the leerbedrijf for the crebo on the start date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SbbCheck {
    /// Asked, no answer yet.
    Pending,
    /// Recognised.
    Erkend {
        /// Date of SBB's answer.
        datum: NaiveDate,
    },
    /// Not recognised.
    NietErkend {
        /// SBB's reason (a code or short text, no personal data).
        reason: String,
    },
    /// Recognition withdrawn later by SBB.
    Ingetrokken {
        /// Date of withdrawal.
        datum: NaiveDate,
    },
}

/// Who signs a praktijkovereenkomst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvOndertekenaar {
    /// The student.
    Student,
    /// The school.
    School,
    /// The leerbedrijf.
    Leerbedrijf,
}

/// Signatures on a praktijkovereenkomst.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpvHandtekeningen {
    /// The student's.
    #[serde(default)]
    pub student: Option<Handtekening>,
    /// The school's.
    #[serde(default)]
    pub school: Option<Handtekening>,
    /// The leerbedrijf's.
    #[serde(default)]
    pub leerbedrijf: Option<Handtekening>,
}

impl BpvHandtekeningen {
    /// The signature of `who`.
    pub fn get(&self, who: BpvOndertekenaar) -> Option<&Handtekening> {
        match who {
            BpvOndertekenaar::Student => self.student.as_ref(),
            BpvOndertekenaar::School => self.school.as_ref(),
            BpvOndertekenaar::Leerbedrijf => self.leerbedrijf.as_ref(),
        }
    }

    /// Sets the signature of `who`.
    pub fn set(&mut self, who: BpvOndertekenaar, h: Handtekening) {
        match who {
            BpvOndertekenaar::Student => self.student = Some(h),
            BpvOndertekenaar::School => self.school = Some(h),
            BpvOndertekenaar::Leerbedrijf => self.leerbedrijf = Some(h),
        }
    }

    /// Whether all three have signed.
    pub fn complete(&self) -> bool {
        self.student.is_some() && self.school.is_some() && self.leerbedrijf.is_some()
    }
}

/// Status of a praktijkovereenkomst: `geregistreerd → ondertekend → beëindigd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvStatus {
    /// Registered, awaiting SBB and signatures.
    Geregistreerd,
    /// Signed by student, school and leerbedrijf (requires an `erkend` SBB check).
    Ondertekend,
    /// Ended.
    Beeindigd,
}

/// The dates and size of a BPV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpvDetails {
    /// The OOK (enrolment) it belongs to.
    pub ook: OokId,
    /// SBB leerbedrijf-ID.
    pub leerbedrijf: LeerbedrijfId,
    /// Crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// Datum begin.
    pub begin: NaiveDate,
    /// Datum einde gepland.
    pub gepland_einde: NaiveDate,
    /// Omvang in hours.
    pub omvang_uren: u32,
    /// Afsluitdatum: the date the agreement was drawn up.
    pub afsluitdatum: NaiveDate,
}

/// A praktijkovereenkomst (BPVO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Praktijkovereenkomst {
    /// Id.
    pub id: BpvId,
    /// The institution (of the OOK).
    pub instelling: Brin,
    /// Dates and size.
    pub details: BpvDetails,
    /// SBB check state.
    pub sbb: SbbCheck,
    /// Signatures.
    #[serde(default)]
    pub handtekeningen: BpvHandtekeningen,
    /// Status.
    pub status: BpvStatus,
    /// Datum einde werkelijk.
    #[serde(default)]
    pub werkelijk_einde: Option<NaiveDate>,
}

impl Praktijkovereenkomst {
    /// The last day: the actual end, else the planned one.
    pub fn einde(&self) -> NaiveDate {
        self.werkelijk_einde.unwrap_or(self.details.gepland_einde)
    }
}

// ---------------------------------------------------------------------------------------------
// Keuzedelen, results, diploma
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// DUO feedback, bekostiging, signing
// ---------------------------------------------------------------------------------------------

/// One parameter of a DUO signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignaalParameter {
    /// Parameternaam.
    pub naam: String,
    /// Parameterwaarde.
    pub waarde: String,
}

/// A DUO signal: an opaque code with its description and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signaal {
    /// Signaalcode.
    pub code: String,
    /// Signaalomschrijving.
    pub omschrijving: String,
    /// Parameters.
    #[serde(default)]
    pub parameters: Vec<SignaalParameter>,
}

/// DUO's answer to one delivered mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "uitkomst", rename_all = "snake_case")]
pub enum DuoUitkomst {
    /// Accepted.
    Geaccepteerd,
    /// Accepted, with signals.
    GeaccepteerdMetSignalen {
        /// Signals.
        signalen: Vec<Signaal>,
    },
    /// Rejected (afkeuring).
    Afgekeurd {
        /// Signals.
        signalen: Vec<Signaal>,
    },
}

/// DUO feedback on one delivered mutation (keyed by the delivered event's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuoTerugkoppeling {
    /// Id of the event that was delivered.
    pub mutatie: Uuid,
    /// The institution.
    pub instelling: Brin,
    /// The outcome.
    pub uitkomst: DuoUitkomst,
    /// When received.
    pub ontvangen_op: DateTime<Utc>,
}

/// StatusBepalingBekostigingsstatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BekostigingsStatus {
    /// Voorlopig (V).
    Voorlopig,
    /// Definitief (D): final, does not go back.
    Definitief,
}

/// Bekostigingsstatus of an inschrijving (OOK) for a teldatum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bekostiging {
    /// The enrolment.
    pub ook: OokId,
    /// The institution.
    pub instelling: Brin,
    /// Teldatum (1 October or 1 February).
    pub teldatum: NaiveDate,
    /// Voorlopig or definitief.
    pub status: BekostigingsStatus,
    /// Whether DUO funds it.
    pub bekostigbaar: bool,
}

/// What a signing transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "soort", content = "id", rename_all = "snake_case")]
pub enum SigningSubject {
    /// An onderwijsovereenkomst.
    Ook(OokId),
    /// A praktijkovereenkomst.
    Bpv(BpvId),
}

/// The signing provider's transaction status (Signhost codes 5..70).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum SigningStatus {
    /// 5: waiting for document.
    WaitingForDocument,
    /// 10: waiting for signer.
    WaitingForSigner,
    /// 20: in progress.
    InProgress,
    /// 30: signed.
    Signed,
    /// 40: rejected.
    Rejected,
    /// 50: expired.
    Expired,
    /// 60: cancelled.
    Cancelled,
    /// 70: failed.
    Failed,
}

impl SigningStatus {
    /// The provider's code.
    pub fn code(self) -> u16 {
        match self {
            Self::WaitingForDocument => 5,
            Self::WaitingForSigner => 10,
            Self::InProgress => 20,
            Self::Signed => 30,
            Self::Rejected => 40,
            Self::Expired => 50,
            Self::Cancelled => 60,
            Self::Failed => 70,
        }
    }

    /// Whether nothing follows (30 and up).
    pub fn is_final(self) -> bool {
        self.code() >= 30
    }
}

impl TryFrom<u16> for SigningStatus {
    type Error = ValueError;
    fn try_from(code: u16) -> Result<Self, ValueError> {
        Ok(match code {
            5 => Self::WaitingForDocument,
            10 => Self::WaitingForSigner,
            20 => Self::InProgress,
            30 => Self::Signed,
            40 => Self::Rejected,
            50 => Self::Expired,
            60 => Self::Cancelled,
            70 => Self::Failed,
            _ => {
                return Err(ValueError::new(
                    "signing status",
                    "expected one of 5, 10, 20, 30, 40, 50, 60, 70",
                ));
            }
        })
    }
}

impl From<SigningStatus> for u16 {
    fn from(s: SigningStatus) -> u16 {
        s.code()
    }
}

/// A signing transaction at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningTransaction {
    /// Provider transaction id.
    pub transactie: String,
    /// What is being signed.
    pub subject: SigningSubject,
    /// The institution.
    pub instelling: Brin,
    /// Latest status.
    pub status: SigningStatus,
    /// When last updated.
    pub bijgewerkt_op: DateTime<Utc>,
}
