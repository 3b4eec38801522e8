//! The request and response bodies of the student reads (`/api/v1/studenten`): the lookup, the
//! personalia, vooropleidingen, overstapdossiers and keuzedelen as the policy lets a caller see
//! them.

use chrono::{DateTime, NaiveDate, Utc};
use knooppunt_registry::domain::{Keuzedeel, Overstapdossier, Personalia, Vooropleiding};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::KeuzedeelResultaatView;
use crate::feed::serde_name;

/// `POST /api/v1/studenten/zoeken` body: the student's BSN or onderwijsnummer (exactly one).
/// In the body, never in a URL.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"bsn": "123456782"}))]
pub struct StudentLookupBody {
    /// BSN (9 digits, 11-proef).
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{9}$")]
    pub bsn: Option<String>,
    /// Onderwijsnummer (9 digits).
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{9}$")]
    pub onderwijsnummer: Option<String>,
}

/// The answer of a lookup: the student's reference for the reads and the parts the policy
/// lets the caller read now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"student": "0b6f1f5e-3f7a-4d0e-9a51-2f0c1a7e9b10", "delen": ["personalia", "vooropleidingen"]}))]
pub struct StudentLookupView {
    /// The student's reference (the dossier key, an opaque id) for `/api/v1/studenten/{student}/…`.
    pub student: Uuid,
    /// The parts among `personalia`, `vooropleidingen`, `overstapdossier` and `keuzedelen`
    /// the caller may read now (a consent withdrawn later takes effect at once).
    pub delen: Vec<String>,
}

/// The student's personalia (from DUO).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"voornamen": "Sanne", "achternaam": "Jansen", "geboortedatum": "2009-04-12", "geslacht": "V", "woongemeente": "0599"}))]
pub struct PersonaliaView {
    /// Voornamen.
    pub voornamen: String,
    /// Voorvoegsels, e.g. `van der`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voorvoegsels: Option<String>,
    /// Achternaam.
    pub achternaam: String,
    /// Geboortedatum, `YYYY-MM-DD` with `00` for an unknown month or day (as DUO gives it).
    pub geboortedatum: String,
    /// `M`, `V` or `O`.
    pub geslacht: String,
    /// CBS code of the woongemeente, when the student lives in the Netherlands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub woongemeente: Option<String>,
}

impl From<&Personalia> for PersonaliaView {
    fn from(p: &Personalia) -> Self {
        Self {
            voornamen: p.voornamen.clone(),
            voorvoegsels: p.voorvoegsels.clone(),
            achternaam: p.achternaam.clone(),
            geboortedatum: p.geboortedatum.duo_format(),
            geslacht: serde_name(&p.geslacht),
            woongemeente: p.woongemeente.as_ref().map(|g| g.as_str().to_owned()),
        }
    }
}

/// One prior education (from DUO).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VooropleidingView {
    /// BRIN of the school, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instelling: Option<String>,
    /// Opleiding code as DUO gives it.
    pub opleiding: String,
    /// Name.
    pub omschrijving: String,
    /// From.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vanaf: Option<NaiveDate>,
    /// Until (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tot_en_met: Option<NaiveDate>,
    /// Whether the diploma was obtained.
    pub diploma_behaald: bool,
    /// Date of the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datum_uitslag: Option<NaiveDate>,
}

impl From<&Vooropleiding> for VooropleidingView {
    fn from(v: &Vooropleiding) -> Self {
        Self {
            instelling: v.instelling.as_ref().map(|b| b.as_str().to_owned()),
            opleiding: v.opleiding.clone(),
            omschrijving: v.omschrijving.clone(),
            vanaf: v.vanaf,
            tot_en_met: v.tot_en_met,
            diploma_behaald: v.diploma_behaald,
            datum_uitslag: v.datum_uitslag,
        }
    }
}

/// The student's vooropleidingen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [{"instelling": "19XY", "opleiding": "VMBO-GL", "omschrijving": "vmbo gemengde leerweg", "diploma_behaald": true, "datum_uitslag": "2026-07-01"}]}))]
pub struct VooropleidingenView {
    /// Each vooropleiding DUO gave.
    pub items: Vec<VooropleidingView>,
}

/// One overstapdossier (OSO) from the sending school: its summary and the hash of the document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverstapdossierView {
    /// BRIN of the sending school.
    pub school: String,
    /// OSO codelijst 16 soort overstap, e.g. `VOMBO`.
    pub soort_overstap: String,
    /// OSO gegevensset version.
    pub gegevensset: String,
    /// The blocks present.
    pub blokken: Vec<String>,
    /// SHA-256 of the document (hex).
    pub content_hash: String,
    /// When Knooppunt received it.
    pub ontvangen_op: DateTime<Utc>,
}

impl From<&Overstapdossier> for OverstapdossierView {
    fn from(o: &Overstapdossier) -> Self {
        Self {
            school: o.school.as_str().to_owned(),
            soort_overstap: o.samenvatting.soort_overstap.clone(),
            gegevensset: o.samenvatting.gegevensset.clone(),
            blokken: o.samenvatting.blokken.iter().cloned().collect(),
            content_hash: o.content_hash.as_str().to_owned(),
            ontvangen_op: o.ontvangen_op,
        }
    }
}

/// The student's overstapdossiers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [{"school": "19XY", "soort_overstap": "VOMBO", "gegevensset": "2019.1", "blokken": ["overigvombo"], "content_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "ontvangen_op": "2027-03-01T09:00:00Z"}]}))]
pub struct OverstapdossiersView {
    /// Each overstapdossier received.
    pub items: Vec<OverstapdossierView>,
}

/// One keuzedeel as a reader sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StudentKeuzedeelView {
    /// The onderwijsovereenkomst it belongs to.
    pub onderwijsovereenkomst: Uuid,
    /// Keuzedeel code.
    pub code: String,
    /// BRIN of the enrolling institution.
    pub instelling: String,
    /// BRIN of the guest institution, when taken elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gastinstelling: Option<String>,
    /// The result, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resultaat: Option<KeuzedeelResultaatView>,
}

impl From<&Keuzedeel> for StudentKeuzedeelView {
    fn from(k: &Keuzedeel) -> Self {
        Self {
            onderwijsovereenkomst: k.ook.0,
            code: k.code.as_str().to_owned(),
            instelling: k.instelling.as_str().to_owned(),
            gastinstelling: k.gastinstelling.as_ref().map(|g| g.as_str().to_owned()),
            resultaat: k.resultaat.as_ref().map(|r| KeuzedeelResultaatView {
                uitslag: serde_name(&r.uitslag),
                datum: r.datum,
                vastgelegd_door: r.vastgelegd_door.as_str().to_owned(),
            }),
        }
    }
}

/// The keuzedelen the caller may see.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"items": [{"onderwijsovereenkomst": "5d1c7a52-8a4e-4a1f-9d4b-3e2f1a0c9b87", "code": "K0100", "instelling": "25LX", "gastinstelling": "27DV"}]}))]
pub struct StudentKeuzedelenView {
    /// The keuzedelen: an institution sees those it enrols or hosts (a guest only those it
    /// hosts), a samenwerkingsschool those of its samenwerkingsverband, a bevoegd gezag those
    /// of its institutions, an institution with consent all.
    pub items: Vec<StudentKeuzedeelView>,
}
