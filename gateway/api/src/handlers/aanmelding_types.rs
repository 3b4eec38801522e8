//! The request and response bodies of the aanmeldingen endpoints, and the status names.

use chrono::{DateTime, Utc};
use knooppunt_registry::domain::{AanmeldStatus, Aanmelding};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::feed::serde_name;

/// The student of an aanmelding: exactly one of `bsn` and `onderwijsnummer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// `minProperties: 1` is set in `openapi.rs` (utoipa-gen 5.5 emits `min_properties` as max).
#[schema(max_properties = 1)]
pub struct StudentBody {
    /// Burgerservicenummer (9 digits, 11-proef).
    #[serde(default)]
    #[schema(
        nullable = false,
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$",
        example = "999990019"
    )]
    pub bsn: Option<String>,
    /// Onderwijsnummer (for a student without a BSN): 9 digits starting with 10, its own
    /// check digit.
    #[serde(default)]
    #[schema(
        nullable = false,
        min_length = 9,
        max_length = 9,
        pattern = "^10[0-9]{7}$"
    )]
    pub onderwijsnummer: Option<String>,
}

impl std::fmt::Display for StudentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StudentBody(***)")
    }
}

/// A CAMBO reference.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExterneReferentieBody {
    /// CAMBO ketenId, `BRIN:nnnnnnnn`.
    pub keten_id: String,
    /// CAMBO's change counter.
    pub wijzigingsvolgnummer: u64,
}

/// `POST /aanmeldingen` body. The example is a sandbox student and ROC Zuidwaard's (25LX)
/// Software Developer opleiding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "aanmelding_id": "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3",
    "student": {"bsn": "999990019"},
    "opleiding": "6f1e0a52-8c1b-4c4e-9a57-000000000001",
    "cohort": "2027-2028"
}))]
pub struct SubmitAanmeldingBody {
    /// The aanmelding's id, chosen by the SIS.
    pub aanmelding_id: Uuid,
    /// The student.
    pub student: StudentBody,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Cohort code, e.g. `2027-2028`.
    pub cohort: String,
    /// BRIN of the sending (va)vo school: 4 characters (`19XY`) or 6 (`19XY00`).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{2}[A-Za-z]{2}([0-9]{2})?$", example = "19XY")]
    pub toeleverende_school: Option<String>,
    /// CAMBO reference.
    #[serde(default)]
    pub externe_referentie: Option<ExterneReferentieBody>,
}

/// An aanmelding as the API shows it (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AanmeldingView {
    /// Id.
    pub aanmelding_id: Uuid,
    /// Institution BRIN.
    pub instelling: String,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Crebo.
    pub crebo: String,
    /// Cohort code.
    pub cohort: String,
    /// Status (registry name: `ontvangen`, `aangemeld`, `ook_aangeboden`,
    /// `leidt_niet_tot_inschrijving`, `ingetrokken`, `ingeschreven`).
    pub status: String,
    /// VA code of the status (`OT`, `AM`, `AO`, `LI`, `IT`, `IS`).
    pub va_code: String,
    /// When submitted.
    pub ingediend_op: DateTime<Utc>,
    /// Whether the aanmelding gives toelatingsrecht.
    pub toelatingsrecht: bool,
    /// Sending school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toeleverende_school: Option<String>,
    /// CAMBO reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externe_referentie: Option<ExterneReferentieBody>,
}

/// The VA code of a status (the one table lives with the VA mapping).
pub fn va_code(status: AanmeldStatus) -> &'static str {
    knooppunt_mappings::va::status_code(status)
}

/// Parses a status by registry name or VA code (case-insensitive codes).
pub fn parse_status(s: &str) -> Option<AanmeldStatus> {
    AanmeldStatus::ALL
        .into_iter()
        .find(|st| serde_name(st) == s || va_code(*st).eq_ignore_ascii_case(s.trim()))
}

impl From<&Aanmelding> for AanmeldingView {
    fn from(a: &Aanmelding) -> Self {
        Self {
            aanmelding_id: a.id.0,
            instelling: a.instelling.as_str().to_owned(),
            opleiding: a.opleiding,
            crebo: a.crebo.as_str().to_owned(),
            cohort: a.cohort.clone(),
            status: serde_name(&a.status),
            va_code: va_code(a.status).to_owned(),
            ingediend_op: a.ingediend_op,
            toelatingsrecht: a.toelatingsrecht,
            toeleverende_school: a
                .toeleverende_school
                .as_ref()
                .map(|b| b.as_str().to_owned()),
            externe_referentie: a
                .externe_referentie
                .as_ref()
                .map(|e| ExterneReferentieBody {
                    keten_id: e.keten_id.as_str().to_owned(),
                    wijzigingsvolgnummer: e.wijzigingsvolgnummer,
                }),
        }
    }
}

/// `POST /aanmeldingen/{id}/status` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "AM"}))]
pub struct StatusBody {
    /// The new status: a registry name (`aangemeld`, …) or a VA code (`AM`, …).
    #[schema(value_type = StatusValue)]
    pub status: String,
}

/// The values `status` takes: a registry name or its VA code (codes are also accepted in lower
/// case). Only for the OpenAPI document; the handler parses with `parse_status`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum StatusValue {
    /// `ontvangen` (initial).
    #[serde(rename = "ontvangen")]
    Ontvangen,
    /// `aangemeld`.
    #[serde(rename = "aangemeld")]
    Aangemeld,
    /// `ook_aangeboden`.
    #[serde(rename = "ook_aangeboden")]
    OokAangeboden,
    /// `leidt_niet_tot_inschrijving`.
    #[serde(rename = "leidt_niet_tot_inschrijving")]
    LeidtNietTotInschrijving,
    /// `ingetrokken`.
    #[serde(rename = "ingetrokken")]
    Ingetrokken,
    /// `ingeschreven`.
    #[serde(rename = "ingeschreven")]
    Ingeschreven,
    /// VA code of `ontvangen`.
    #[serde(rename = "OT")]
    Ot,
    /// VA code of `aangemeld`.
    #[serde(rename = "AM")]
    Am,
    /// VA code of `ook_aangeboden`.
    #[serde(rename = "AO")]
    Ao,
    /// VA code of `leidt_niet_tot_inschrijving`.
    #[serde(rename = "LI")]
    Li,
    /// VA code of `ingetrokken`.
    #[serde(rename = "IT")]
    It,
    /// VA code of `ingeschreven`.
    #[serde(rename = "IS")]
    Is,
}

/// Query of `GET /aanmeldingen`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Continue after this cursor (`volgende` of the previous page).
    #[serde(default)]
    pub na: Option<i64>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A page of aanmeldingen.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AanmeldingPage {
    /// The aanmeldingen, oldest first.
    pub items: Vec<AanmeldingView>,
    /// Cursor for the next page (`?na=`), absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volgende: Option<i64>,
}
