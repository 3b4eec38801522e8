//! The request and response bodies of the praktijkovereenkomsten endpoints.

use chrono::NaiveDate;
use knooppunt_registry::domain::{
    BpvOnderdeel, BpvOndertekenaar, Dossier, Praktijkovereenkomst, SbbCheck, SigningSubject,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ook_types::{HandtekeningView, OndertekeningView, WijzeValue};
use crate::feed::{sbb_state, serde_name, signing_status_name};

/// `POST /praktijkovereenkomsten` body. The example is for a signed OOK of ROC Zuidwaard's
/// Software Developer opleiding at a leerbedrijf SBB recognises in the sandbox.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "bpv_id": "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a",
    "ook_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "leerbedrijf": "100018965",
    "begin": "2028-02-01",
    "gepland_einde": "2028-06-30",
    "omvang_uren": 640,
    "afsluitdatum": "2026-12-03"
}))]
pub struct NewBpvBody {
    /// The BPV's id, chosen by the SIS.
    pub bpv_id: Uuid,
    /// Your signed, running onderwijsovereenkomst (the enrolment) it belongs to.
    pub ook_id: Uuid,
    /// SBB leerbedrijf-ID (9 digits).
    #[schema(pattern = "^[1-9][0-9]{8}$", example = "100018965")]
    pub leerbedrijf: String,
    /// A keuzedeel code of the enrolment the BPV is for (default: the kwalificatie, the
    /// enrolment's crebo).
    #[serde(default)]
    #[schema(nullable = false, example = "K0067")]
    pub keuzedeel: Option<String>,
    /// Datum begin.
    pub begin: NaiveDate,
    /// Datum einde gepland.
    pub gepland_einde: NaiveDate,
    /// Omvang in hours (1–10000).
    #[schema(minimum = 1, maximum = 10000)]
    pub omvang_uren: u32,
    /// The date the agreement was drawn up (default: today).
    #[serde(default)]
    #[schema(nullable = false)]
    pub afsluitdatum: Option<NaiveDate>,
}

/// Who signs a praktijkovereenkomst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BpvSignerValue {
    /// The student.
    Student,
    /// The school.
    School,
    /// The leerbedrijf.
    Leerbedrijf,
}

impl From<BpvSignerValue> for BpvOndertekenaar {
    fn from(v: BpvSignerValue) -> Self {
        match v {
            BpvSignerValue::Student => Self::Student,
            BpvSignerValue::School => Self::School,
            BpvSignerValue::Leerbedrijf => Self::Leerbedrijf,
        }
    }
}

/// `POST /praktijkovereenkomsten/{id}/ondertekening` body: signatures on paper. Only after SBB
/// recognised the leerbedrijf.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "wijze": "papier",
    "ondertekenaars": ["student", "school", "leerbedrijf"],
    "datum": "2026-12-03"
}))]
pub struct BpvSignBody {
    /// `papier`.
    pub wijze: WijzeValue,
    /// Who signed (1–3 of `student`, `school`, `leerbedrijf`).
    #[schema(min_items = 1, max_items = 3)]
    pub ondertekenaars: Vec<BpvSignerValue>,
    /// The date of signing (not in the future).
    pub datum: NaiveDate,
}

/// `POST /praktijkovereenkomsten/{id}/beeindiging` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"datum": "2028-05-31"}))]
pub struct EndBpvBody {
    /// Datum einde werkelijk (not before the begin, not after the enrolment).
    pub datum: NaiveDate,
}

/// SBB's answer on the recognition of the leerbedrijf.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SbbView {
    /// `pending` (asked, no answer yet), `erkend`, `niet_erkend`, `ingetrokken` (withdrawn
    /// later).
    pub status: String,
    /// SBB's reason for `niet_erkend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reden: Option<String>,
    /// The date of SBB's answer (`erkend`) or of the withdrawal (`ingetrokken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datum: Option<NaiveDate>,
}

impl From<&SbbCheck> for SbbView {
    fn from(s: &SbbCheck) -> Self {
        let (status, reden) = sbb_state(s);
        let datum = match s {
            SbbCheck::Erkend { datum } | SbbCheck::Ingetrokken { datum } => Some(*datum),
            SbbCheck::Pending | SbbCheck::NietErkend { .. } => None,
        };
        Self {
            status: status.to_owned(),
            reden,
            datum,
        }
    }
}

/// The signatures on a praktijkovereenkomst so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BpvHandtekeningenView {
    /// The student's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<HandtekeningView>,
    /// The school's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<HandtekeningView>,
    /// The leerbedrijf's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leerbedrijf: Option<HandtekeningView>,
}

/// A praktijkovereenkomst as the API shows it (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BpvView {
    /// Id.
    pub bpv_id: Uuid,
    /// The onderwijsovereenkomst it belongs to.
    pub ook_id: Uuid,
    /// Institution BRIN.
    pub instelling: String,
    /// SBB leerbedrijf-ID.
    pub leerbedrijf: String,
    /// The crebo, when it is for the kwalificatie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crebo: Option<String>,
    /// The keuzedeel, when it is for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keuzedeel: Option<String>,
    /// Datum begin.
    pub begin: NaiveDate,
    /// Datum einde gepland.
    pub gepland_einde: NaiveDate,
    /// Omvang in hours.
    pub omvang_uren: u32,
    /// Afsluitdatum.
    pub afsluitdatum: NaiveDate,
    /// `geregistreerd`, `ondertekend`, `beeindigd`.
    pub status: String,
    /// SBB's answer.
    pub sbb: SbbView,
    /// Signatures so far.
    pub handtekeningen: BpvHandtekeningenView,
    /// Datum einde werkelijk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub werkelijk_einde: Option<NaiveDate>,
    /// The signing provider's transactions for it, when the policy lets you read them.
    #[serde(default)]
    pub ondertekening: Vec<OndertekeningView>,
}

impl BpvView {
    /// The view of `b` in `d`; the signing transactions only when `with_signing`.
    pub fn new(d: &Dossier, b: &Praktijkovereenkomst, with_signing: bool) -> Self {
        let (crebo, keuzedeel) = match &b.details.onderdeel {
            BpvOnderdeel::Crebo(c) => (Some(c.as_str().to_owned()), None),
            BpvOnderdeel::Keuzedeel(k) => (None, Some(k.as_str().to_owned())),
        };
        let mut ondertekening: Vec<OndertekeningView> = if with_signing {
            d.ondertekening
                .values()
                .filter(|t| t.subject == SigningSubject::Bpv(b.id))
                .map(|t| OndertekeningView {
                    transactie: t.transactie.clone(),
                    status: signing_status_name(t.status).to_owned(),
                    bijgewerkt_op: t.bijgewerkt_op,
                })
                .collect()
        } else {
            Vec::new()
        };
        ondertekening.sort_by_key(|t| t.bijgewerkt_op);
        let h = &b.handtekeningen;
        Self {
            bpv_id: b.id.0,
            ook_id: b.details.ook.0,
            instelling: b.instelling.as_str().to_owned(),
            leerbedrijf: b.details.leerbedrijf.as_str().to_owned(),
            crebo,
            keuzedeel,
            begin: b.details.begin,
            gepland_einde: b.details.gepland_einde,
            omvang_uren: b.details.omvang_uren,
            afsluitdatum: b.details.afsluitdatum,
            status: serde_name(&b.status),
            sbb: SbbView::from(&b.sbb),
            handtekeningen: BpvHandtekeningenView {
                student: h.student.as_ref().map(HandtekeningView::from),
                school: h.school.as_ref().map(HandtekeningView::from),
                leerbedrijf: h.leerbedrijf.as_ref().map(HandtekeningView::from),
            },
            werkelijk_einde: b.werkelijk_einde,
            ondertekening,
        }
    }
}
