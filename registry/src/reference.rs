//! Reference data the registry's rules look up: institutions, aangeboden opleidingen with their
//! cohorts (from RIO), sending schools with their regional system, municipalities.
//!
//! Reference data is not personal data. It changes rarely (RIO refreshes daily) and is passed to
//! every decision through [`crate::domain::DecideContext`], so a decision never does I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ids::{
    Brin, Crebo, IdError, IdErrorReason, Oin, OnderwijsaanbiederCode, OnderwijsbestuurCode,
};

/// A snapshot of reference data. Small (hundreds of institutions, thousands of opleidingen), so
/// the registry holds it in memory and the store persists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceData {
    /// mbo institutions by BRIN (instelling level, 4 characters).
    #[serde(default)]
    pub institutions: BTreeMap<Brin, Institution>,
    /// Aangeboden opleidingen by their RIO id (a UUID).
    #[serde(default)]
    pub opleidingen: BTreeMap<Uuid, AangebodenOpleiding>,
    /// Sending (va)vo schools by BRIN.
    #[serde(default)]
    pub vo_scholen: BTreeMap<Brin, VoSchool>,
    /// Municipalities by CBS code.
    #[serde(default)]
    pub gemeenten: BTreeMap<GemeenteCode, Gemeente>,
}

impl ReferenceData {
    /// The mbo institution with this BRIN (a vestiging BRIN finds its instelling).
    pub fn institution(&self, brin: &Brin) -> Option<&Institution> {
        self.institutions.get(&brin.instelling())
    }

    /// The aangeboden opleiding with this RIO id.
    pub fn opleiding(&self, id: &Uuid) -> Option<&AangebodenOpleiding> {
        self.opleidingen.get(id)
    }

    /// The sending school with this BRIN (a vestiging BRIN finds its instelling).
    pub fn vo_school(&self, brin: &Brin) -> Option<&VoSchool> {
        self.vo_scholen
            .get(brin)
            .or_else(|| self.vo_scholen.get(&brin.instelling()))
    }

    /// What the reference data says of an aanmelding of `instelling` for `opleiding` in
    /// `cohort` on `today`, in this order: the institution takes part, the aangeboden opleiding
    /// exists and is the institution's, the cohort exists and its aanmeldperiode includes
    /// `today`. The registry's rule for `SubmitAanmelding` and the API's check before it writes
    /// anything are this one function.
    pub fn aanbod(
        &self,
        instelling: &Brin,
        opleiding: &Uuid,
        cohort: &str,
        today: NaiveDate,
    ) -> Result<Aanbod<'_>, AanbodRefusal> {
        let institution = self
            .institution(instelling)
            .ok_or(AanbodRefusal::UnknownInstitution)?;
        let opleiding = self
            .opleiding(opleiding)
            .ok_or(AanbodRefusal::UnknownOpleiding)?;
        if opleiding.instelling.instelling() != instelling.instelling() {
            return Err(AanbodRefusal::OtherInstitution);
        }
        let cohort = opleiding
            .cohort(cohort)
            .ok_or(AanbodRefusal::UnknownCohort)?;
        if !cohort.open_on(today) {
            return Err(AanbodRefusal::AanmeldperiodeGesloten {
                begin: cohort.begin_aanmeldperiode,
                einde: cohort.einde_aanmeldperiode,
                datum: today,
            });
        }
        Ok(Aanbod {
            institution,
            opleiding,
            cohort,
        })
    }
}

/// An aanmelding's place in the reference data ([`ReferenceData::aanbod`]).
#[derive(Debug, Clone, Copy)]
pub struct Aanbod<'a> {
    /// The institution.
    pub institution: &'a Institution,
    /// The aangeboden opleiding.
    pub opleiding: &'a AangebodenOpleiding,
    /// The cohort, open on the day asked.
    pub cohort: &'a Cohort,
}

/// Why the reference data refuses an aanmelding ([`ReferenceData::aanbod`]). Names no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AanbodRefusal {
    /// The institution is not in the reference data.
    UnknownInstitution,
    /// No aangeboden opleiding with this RIO id.
    UnknownOpleiding,
    /// The aangeboden opleiding is another institution's.
    OtherInstitution,
    /// The opleiding has no cohort with this code.
    UnknownCohort,
    /// The cohort's aanmeldperiode does not include the day.
    AanmeldperiodeGesloten {
        /// First day of the period.
        begin: NaiveDate,
        /// Last day of the period.
        einde: NaiveDate,
        /// The day asked.
        datum: NaiveDate,
    },
}

/// How far an institution takes part in Knooppunt (`design.md` §2). Ordered: each level includes
/// the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Participation {
    /// Vroegtijdige aanmelding only: the institution reports aanmeldstatussen.
    Va,
    /// Central aanmelding, consent and digital OOK as well.
    Aanmelden,
    /// Full core registry: OOK, BPV, keuzedelen, results and diplomas live in Knooppunt.
    Krd,
}

impl fmt::Display for Participation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Va => "va",
            Self::Aanmelden => "aanmelden",
            Self::Krd => "krd",
        })
    }
}

/// An mbo institution (RIO onderwijsaanbieder with its erkenning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    /// BRIN of the instelling.
    pub brin: Brin,
    /// Name as registered in RIO.
    pub naam: String,
    /// RIO onderwijsaanbiedercode.
    pub aanbieder: OnderwijsaanbiederCode,
    /// OIN (derived from the BRIN for education institutions).
    pub oin: Oin,
    /// Participation level.
    pub participatie: Participation,
    /// RIO code of the bevoegd gezag (onderwijsbestuur).
    pub bevoegd_gezag: OnderwijsbestuurCode,
    /// Samenwerkingsverband the institution belongs to, if any (a name or code).
    #[serde(default)]
    pub samenwerkingsverband: Option<String>,
}

/// mbo niveau of an opleiding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Niveau {
    /// Entree (drempelloos: no toelatingsrecht).
    #[serde(rename = "MBO-1")]
    Mbo1,
    /// Basisberoepsopleiding.
    #[serde(rename = "MBO-2")]
    Mbo2,
    /// Vakopleiding.
    #[serde(rename = "MBO-3")]
    Mbo3,
    /// Middenkader- of specialistenopleiding.
    #[serde(rename = "MBO-4")]
    Mbo4,
}

/// Leertraject as RIO and DUO use it: leerweg and default intensiteit in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Leertraject {
    /// Beroepsopleidende leerweg.
    Bol,
    /// Beroepsbegeleidende leerweg (requires a BPV).
    Bbl,
    /// BOL deeltijd (until 2023-07-31).
    BolDt,
    /// Onderwijs voor volwassenen.
    Ovo,
    /// Examendeelnemer.
    Ex,
    /// Open deeltijd (since 2019).
    Odt,
}

/// A cohort of an aangeboden opleiding: when one may apply and when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cohort {
    /// Cohort code, e.g. `"2027-2028"`.
    pub code: String,
    /// First day of the aanmeldperiode.
    pub begin_aanmeldperiode: NaiveDate,
    /// Last day of the aanmeldperiode (inclusive).
    pub einde_aanmeldperiode: NaiveDate,
    /// Start date of the opleiding for this cohort.
    pub startdatum: NaiveDate,
}

impl Cohort {
    /// Whether one may apply on `day` (the aanmeldperiode includes both ends).
    pub fn open_on(&self, day: NaiveDate) -> bool {
        self.begin_aanmeldperiode <= day && day <= self.einde_aanmeldperiode
    }
}

/// An aangeboden opleiding (RIO `AangebodenMboOpleiding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AangebodenOpleiding {
    /// RIO aangebodenOpleidingcode.
    pub id: Uuid,
    /// The institution offering it.
    pub instelling: Brin,
    /// Own name.
    pub naam: String,
    /// The crebo of the kwalificatie.
    pub crebo: Crebo,
    /// mbo niveau.
    pub niveau: Niveau,
    /// Leertraject.
    pub leertraject: Leertraject,
    /// Cohorts.
    pub cohorts: Vec<Cohort>,
}

impl AangebodenOpleiding {
    /// The cohort with this code.
    pub fn cohort(&self, code: &str) -> Option<&Cohort> {
        self.cohorts.iter().find(|c| c.code == code)
    }

    /// The first cohort one may apply for on `day`.
    pub fn open_cohort(&self, day: NaiveDate) -> Option<&Cohort> {
        self.cohorts.iter().find(|c| c.open_on(day))
    }
}

/// The regional transfer system a VO school uses; aanmeldstatussen reach the school through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionaalSysteem {
    /// Intergrip.
    Intergrip,
    /// Digidoor.
    Digidoor,
    /// Voroc.
    Voroc,
}

impl RegionaalSysteem {
    /// The chain partner that is this system.
    pub fn partner(self) -> crate::partner::Partner {
        use crate::partner::Partner;
        match self {
            Self::Intergrip => Partner::Intergrip,
            Self::Digidoor => Partner::Digidoor,
            Self::Voroc => Partner::Voroc,
        }
    }
}

/// A sending (va)vo school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoSchool {
    /// BRIN.
    pub brin: Brin,
    /// Name.
    pub naam: String,
    /// Regional system it is reached through.
    pub systeem: RegionaalSysteem,
    /// Municipality where the school is.
    pub gemeente: GemeenteCode,
}

/// A municipality (for VVA routing: students in NL, under 23, without startkwalificatie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gemeente {
    /// CBS gemeentecode.
    pub code: GemeenteCode,
    /// Name.
    pub naam: String,
}

/// CBS gemeentecode: 4 digits, e.g. `0363` (Amsterdam). Leading zeros are kept.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GemeenteCode(String);

impl GemeenteCode {
    /// The canonical 4 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GemeenteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GemeenteCode({})", self.0)
    }
}

impl fmt::Display for GemeenteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GemeenteCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "gemeentecode";
        let s = input.trim();
        if s.is_empty() {
            return Err(IdError {
                kind: KIND,
                reason: IdErrorReason::Empty,
            });
        }
        if s.chars().count() != 4 {
            return Err(IdError {
                kind: KIND,
                reason: IdErrorReason::Length {
                    expected: "4",
                    got: s.chars().count(),
                },
            });
        }
        if let Some(position) = s.chars().position(|c| !c.is_ascii_digit()) {
            return Err(IdError {
                kind: KIND,
                reason: IdErrorReason::Character {
                    position: position + 1,
                    expected: "a digit",
                },
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl Serialize for GemeenteCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GemeenteCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemeentecode_keeps_zeros_and_names_errors() {
        assert_eq!("0363".parse::<GemeenteCode>().unwrap().as_str(), "0363");
        let e = "363".parse::<GemeenteCode>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid gemeentecode: expected 4 characters, got 3"
        );
        assert!("03a3".parse::<GemeenteCode>().is_err());
        assert!(serde_json::from_str::<GemeenteCode>("\"12345\"").is_err());
    }

    #[test]
    fn participation_is_ordered() {
        assert!(Participation::Va < Participation::Aanmelden);
        assert!(Participation::Aanmelden < Participation::Krd);
        assert_eq!(
            serde_json::to_string(&Participation::Krd).unwrap(),
            "\"krd\""
        );
    }

    #[test]
    fn niveau_and_leertraject_use_duo_spelling() {
        assert_eq!(serde_json::to_string(&Niveau::Mbo4).unwrap(), "\"MBO-4\"");
        assert_eq!(
            serde_json::to_string(&Leertraject::BolDt).unwrap(),
            "\"BOL_DT\""
        );
    }
}
