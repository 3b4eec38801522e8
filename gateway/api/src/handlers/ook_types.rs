//! The request and response bodies of the onderwijsovereenkomsten endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use knooppunt_registry::domain::{
    Dossier, Handtekening, Ondertekenwijze, Onderwijsovereenkomst, OokOndertekenaar, SigningSubject,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::resultaten_types::{DiplomaView, ExamenresultaatView, KeuzedeelView};
use crate::feed::{serde_name, signing_status_name};
use crate::store::IndexedOok;

/// The template (and version) an OOK is made from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SjabloonRef {
    /// The template id.
    pub id: Uuid,
    /// The version (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1)]
    pub versie: Option<i32>,
}

/// `POST /onderwijsovereenkomsten` body. The example is for an aanmelding of ROC Zuidwaard's
/// (25LX) Software Developer opleiding.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ook_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "aanmelding_id": "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3",
    "sjabloon": {"id": "5d1c7a40-8b2e-4f61-9c3d-2a4b6c8d0e11"},
    "aanbieden": true
}))]
pub struct NewOokBody {
    /// The OOK's id, chosen by the SIS.
    pub ook_id: Uuid,
    /// One of your aanmeldingen: the student and the opleiding come from it.
    pub aanmelding_id: Uuid,
    /// The template.
    pub sjabloon: SjabloonRef,
    /// `true`: offer it to the student at once (the signing provider invites the signers);
    /// `false` (default): a draft (`concept`).
    #[serde(default)]
    pub aanbieden: bool,
    /// Datum inschrijving (default: the cohort's startdatum).
    #[serde(default)]
    #[schema(nullable = false)]
    pub begin: Option<NaiveDate>,
    /// Geplande datum uitschrijving (default: the begin plus the template's duration, less a
    /// day).
    #[serde(default)]
    #[schema(nullable = false)]
    pub gepland_einde: Option<NaiveDate>,
}

/// `POST /onderwijsovereenkomsten/{id}/aanbieding` body (optional, empty): offers a draft.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferBody {}

/// How signatures are recorded by the institution: on paper (digital signatures come from the
/// signing provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WijzeValue {
    /// Signed on paper; the institution keeps the paper.
    Papier,
}

/// Who signs an onderwijsovereenkomst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OokSignerValue {
    /// The student.
    Student,
    /// A parent or guardian (required while the student may be under 18).
    Ouder,
    /// The institution.
    Instelling,
}

impl From<OokSignerValue> for OokOndertekenaar {
    fn from(v: OokSignerValue) -> Self {
        match v {
            OokSignerValue::Student => Self::Student,
            OokSignerValue::Ouder => Self::Ouder,
            OokSignerValue::Instelling => Self::Instelling,
        }
    }
}

/// `POST /onderwijsovereenkomsten/{id}/ondertekening` body: signatures on paper. Paper
/// completes the agreement: every required signer signs now or signed before.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "wijze": "papier",
    "ondertekenaars": ["student", "instelling"],
    "datum": "2027-06-05"
}))]
pub struct OokSignBody {
    /// `papier`.
    pub wijze: WijzeValue,
    /// Who signed (1–3 of `student`, `ouder`, `instelling`).
    #[schema(min_items = 1, max_items = 3)]
    pub ondertekenaars: Vec<OokSignerValue>,
    /// The date of signing (not in the future).
    pub datum: NaiveDate,
}

/// `POST /onderwijsovereenkomsten/{id}/beeindiging` body: ends a signed agreement
/// (uitschrijving, `reden` required) or withdraws an unsigned one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"datum": "2028-01-31", "reden": "02"}))]
pub struct TerminateBody {
    /// Werkelijke datum uitschrijving (ignored for an unsigned agreement).
    pub datum: NaiveDate,
    /// Reden uitschrijving, two digits `01`–`99` (DUO's list); required for a signed one.
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{2}$")]
    pub reden: Option<String>,
}

/// A signature as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HandtekeningView {
    /// Date of signing.
    pub datum: NaiveDate,
    /// `digitaal` (through the signing provider) or `papier`.
    pub wijze: String,
}

impl From<&Handtekening> for HandtekeningView {
    fn from(h: &Handtekening) -> Self {
        Self {
            datum: h.datum,
            wijze: match h.wijze {
                Ondertekenwijze::Digitaal { .. } => "digitaal",
                Ondertekenwijze::Papier => "papier",
            }
            .to_owned(),
        }
    }
}

/// The signatures so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OokHandtekeningenView {
    /// The student's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<HandtekeningView>,
    /// A parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ouder: Option<HandtekeningView>,
    /// The institution's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instelling: Option<HandtekeningView>,
}

/// A signing transaction at the signing provider, for this agreement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OndertekeningView {
    /// The provider's transaction id.
    pub transactie: String,
    /// `waiting_for_document`, `waiting_for_signer`, `in_progress`, `signed`, `rejected`,
    /// `expired`, `cancelled`, `failed`.
    pub status: String,
    /// When the provider last reported.
    pub bijgewerkt_op: DateTime<Utc>,
}

/// An onderwijsovereenkomst as the API shows it (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OokView {
    /// Id.
    pub ook_id: Uuid,
    /// Institution BRIN.
    pub instelling: String,
    /// The aanmelding it follows from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aanmelding_id: Option<Uuid>,
    /// The template and version it was made from.
    pub sjabloon: SjabloonRef,
    /// `concept`, `aangeboden`, `ondertekend`, `beeindigd`, `vervallen`.
    pub status: String,
    /// RIO id of the aangeboden opleiding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opleiding: Option<Uuid>,
    /// Crebo.
    pub crebo: String,
    /// Niveau (`MBO-1` … `MBO-4`).
    pub niveau: String,
    /// Leertraject (`BOL`, `BBL`).
    pub leertraject: String,
    /// Intensiteit (`VT`, `DT`, `EX`).
    pub intensiteit: String,
    /// Datum inschrijving.
    pub begin: NaiveDate,
    /// Geplande datum uitschrijving.
    pub gepland_einde: NaiveDate,
    /// Signatures so far.
    pub handtekeningen: OokHandtekeningenView,
    /// Date the last required signature was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ondertekend_op: Option<NaiveDate>,
    /// Werkelijke datum uitschrijving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub werkelijk_einde: Option<NaiveDate>,
    /// Reden uitschrijving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reden_uitschrijving: Option<String>,
    /// The signing provider's transactions for it, when the policy lets you read them.
    #[serde(default)]
    pub ondertekening: Vec<OndertekeningView>,
    /// Its keuzedelen with their results (once signed, when the policy lets you read them).
    #[serde(default)]
    pub keuzedelen: Vec<KeuzedeelView>,
    /// Its exam results (once signed, when the policy lets you read them).
    #[serde(default)]
    pub examenresultaten: Vec<ExamenresultaatView>,
    /// The diploma that concluded it (when the policy lets you read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diploma: Option<DiplomaView>,
}

impl OokView {
    /// The view of `o` in `d`; the signing transactions only when `with_signing`.
    pub fn new(
        d: &Dossier,
        o: &Onderwijsovereenkomst,
        entry: &IndexedOok,
        with_signing: bool,
    ) -> Self {
        let h = &o.handtekeningen;
        let ondertekening = if with_signing {
            let mut list: Vec<_> = d
                .ondertekening
                .values()
                .filter(|t| t.subject == SigningSubject::Ook(o.id))
                .map(|t| OndertekeningView {
                    transactie: t.transactie.clone(),
                    status: signing_status_name(t.status).to_owned(),
                    bijgewerkt_op: t.bijgewerkt_op,
                })
                .collect();
            list.sort_by_key(|t| t.bijgewerkt_op);
            list
        } else {
            Vec::new()
        };
        Self {
            ook_id: o.id.0,
            instelling: o.instelling.as_str().to_owned(),
            aanmelding_id: o.details.aanmelding.map(|a| a.0),
            sjabloon: SjabloonRef {
                id: entry.sjabloon,
                versie: Some(entry.versie),
            },
            status: serde_name(&o.status),
            opleiding: o.details.opleiding,
            crebo: o.details.crebo.as_str().to_owned(),
            niveau: serde_name(&o.details.niveau),
            leertraject: serde_name(&o.details.leertraject),
            intensiteit: serde_name(&o.details.intensiteit),
            begin: o.details.begin,
            gepland_einde: o.details.gepland_einde,
            handtekeningen: OokHandtekeningenView {
                student: h.student.as_ref().map(HandtekeningView::from),
                ouder: h.ouder.as_ref().map(HandtekeningView::from),
                instelling: h.instelling.as_ref().map(HandtekeningView::from),
            },
            ondertekend_op: o.ondertekend_op,
            werkelijk_einde: o.werkelijk_einde,
            reden_uitschrijving: o
                .reden_uitschrijving
                .as_ref()
                .map(|r| r.as_str().to_owned()),
            ondertekening,
            keuzedelen: Vec::new(),
            examenresultaten: Vec::new(),
            diploma: None,
        }
    }
}
