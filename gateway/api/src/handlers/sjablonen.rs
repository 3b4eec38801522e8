//! The institution's templates of an onderwijsovereenkomst (`ook-sjablonen`): for the institution
//! as a whole, for one opleiding, or for an individual situation. Create, list, read, new
//! version. A template holds no personal data: its name, scope, intensiteit, duration and text,
//! checked here (a run of nine or more digits, which could be a BSN, is refused). Kept in the API
//! store ([`crate::store::ApiStore::create_sjabloon`]); versions never change, and an OOK made
//! from a template records its id and version.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Utc};
use knooppunt_registry::reference::Participation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::rejection::{opleiding_other_institution, unknown_opleiding};
use super::{ListQuery, page_limit, query_problem, require_level, unavailable_api};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{ErrorCode, Problem, parse_json};
use crate::store::{SjabloonWrite, StoredResponse, StoredSjabloon};

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reikwijdte {
    /// Every opleiding of the institution.
    Instelling,
    /// One aangeboden opleiding (`opleiding` names it).
    Opleiding,
    /// An individual situation (chosen per student by the institution).
    Individueel,
}

/// Intensiteit of the enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum IntensiteitValue {
    /// Voltijd.
    VT,
    /// Deeltijd.
    DT,
    /// Examendeelnemer.
    EX,
}

impl From<IntensiteitValue> for knooppunt_registry::domain::Intensiteit {
    fn from(v: IntensiteitValue) -> Self {
        match v {
            IntensiteitValue::VT => Self::VT,
            IntensiteitValue::DT => Self::DT,
            IntensiteitValue::EX => Self::EX,
        }
    }
}

/// The content of a template version (also the body of `POST /ook-sjablonen/{id}/versies`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "naam": "OOK Software Developer voltijd",
    "reikwijdte": "opleiding",
    "opleiding": "6f1e0a52-8c1b-4c4e-9a57-000000000001",
    "intensiteit": "VT",
    "duur_maanden": 36,
    "tekst": "Artikel 1. De instelling verzorgt de opleiding ..."
}))]
pub struct SjabloonInhoud {
    /// A name for the institution's own use (1–200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub naam: String,
    /// What the template is for.
    pub reikwijdte: Reikwijdte,
    /// RIO id of one of your aangeboden opleidingen: required with `reikwijdte` `opleiding`,
    /// not allowed otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub opleiding: Option<Uuid>,
    /// Intensiteit of the enrolments made from it.
    pub intensiteit: IntensiteitValue,
    /// Planned duration in months (1–96): the geplande datum uitschrijving is the begin plus
    /// this, less one day.
    #[schema(minimum = 1, maximum = 96)]
    pub duur_maanden: u16,
    /// The agreement's text (1–20000 characters; no personal data).
    #[schema(min_length = 1, max_length = 20000)]
    pub tekst: String,
}

/// `POST /ook-sjablonen` body: the id chosen by the SIS and the first version's content.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "sjabloon_id": "5d1c7a40-8b2e-4f61-9c3d-2a4b6c8d0e11",
    "naam": "OOK Software Developer voltijd",
    "reikwijdte": "opleiding",
    "opleiding": "6f1e0a52-8c1b-4c4e-9a57-000000000001",
    "intensiteit": "VT",
    "duur_maanden": 36,
    "tekst": "Artikel 1. De instelling verzorgt de opleiding ..."
}))]
pub struct NewSjabloonBody {
    /// The template's id, chosen by the SIS.
    pub sjabloon_id: Uuid,
    /// See [`SjabloonInhoud`].
    #[schema(min_length = 1, max_length = 200)]
    pub naam: String,
    /// See [`SjabloonInhoud`].
    pub reikwijdte: Reikwijdte,
    /// See [`SjabloonInhoud`].
    #[serde(default)]
    #[schema(nullable = false)]
    pub opleiding: Option<Uuid>,
    /// See [`SjabloonInhoud`].
    pub intensiteit: IntensiteitValue,
    /// See [`SjabloonInhoud`].
    #[schema(minimum = 1, maximum = 96)]
    pub duur_maanden: u16,
    /// See [`SjabloonInhoud`].
    #[schema(min_length = 1, max_length = 20000)]
    pub tekst: String,
}

/// A template version as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SjabloonView {
    /// Id.
    pub sjabloon_id: Uuid,
    /// This version.
    pub versie: i32,
    /// The latest version.
    pub laatste_versie: i32,
    /// When this version was made.
    pub aangemaakt_op: DateTime<Utc>,
    /// See [`SjabloonInhoud`]. (Its fields, not the type flattened: `SjabloonInhoud` refuses
    /// unknown fields, and the document would then forbid this view's own.)
    pub naam: String,
    /// See [`SjabloonInhoud`].
    pub reikwijdte: Reikwijdte,
    /// See [`SjabloonInhoud`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub opleiding: Option<Uuid>,
    /// See [`SjabloonInhoud`].
    pub intensiteit: IntensiteitValue,
    /// See [`SjabloonInhoud`].
    pub duur_maanden: u16,
    /// See [`SjabloonInhoud`].
    pub tekst: String,
}

/// A page of templates (latest versions).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SjabloonPage {
    /// The templates, oldest first.
    pub items: Vec<SjabloonView>,
    /// Cursor for the next page (`?na=`), absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volgende: Option<i64>,
}

/// Query of `GET /ook-sjablonen/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SjabloonQuery {
    /// A version (default: the latest).
    #[serde(default)]
    #[param(minimum = 1)]
    pub versie: Option<i32>,
}

/// The `{id}` of a template's path; one that is not a UUID is answered 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SjabloonPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for SjabloonPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::not_found("ook-sjabloon"))
    }
}

impl SjabloonView {
    fn from_stored(s: &StoredSjabloon) -> Result<Self, Problem> {
        let inhoud = serde_json::from_value(s.inhoud.clone()).map_err(|e| {
            tracing::error!(error = %e, "a stored template does not parse");
            Problem::internal()
        })?;
        let SjabloonInhoud {
            naam,
            reikwijdte,
            opleiding,
            intensiteit,
            duur_maanden,
            tekst,
        } = inhoud;
        Ok(Self {
            sjabloon_id: s.sjabloon,
            versie: s.versie,
            laatste_versie: s.laatste_versie,
            aangemaakt_op: s.aangemaakt_op,
            naam,
            reikwijdte,
            opleiding,
            intensiteit,
            duur_maanden,
            tekst,
        })
    }
}

/// A free text of a template: not blank, at most `max` characters, no control characters
/// besides line breaks and tabs, and no run of nine or more digits (a BSN or onderwijsnummer
/// has no place in a template).
fn check_text(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::invalid_field(field, "it is empty"));
    }
    if value.chars().count() > max {
        return Err(Problem::invalid_field(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Problem::invalid_field(
            field,
            "it contains control characters",
        ));
    }
    let longest = value
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest >= 9 {
        return Err(Problem::invalid_field(
            field,
            "it holds a number of nine or more digits; a template holds no personal data",
        ));
    }
    Ok(())
}

/// The checks of a template's content against the caller's own reference data.
fn check_inhoud(state: &ApiState, caller: &Caller, i: &SjabloonInhoud) -> Result<(), Problem> {
    check_text("naam", &i.naam, 200)?;
    check_text("tekst", &i.tekst, 20_000)?;
    if !(1..=96).contains(&i.duur_maanden) {
        return Err(Problem::invalid_field("duur_maanden", "expected 1 to 96"));
    }
    match (i.reikwijdte, i.opleiding) {
        (Reikwijdte::Opleiding, None) => Err(Problem::invalid_field(
            "opleiding",
            "required when reikwijdte is opleiding",
        )),
        (Reikwijdte::Opleiding, Some(id)) => {
            let opl = state
                .reference
                .opleiding(&id)
                .ok_or_else(unknown_opleiding)?;
            if opl.instelling.instelling() != caller.brin.instelling() {
                return Err(opleiding_other_institution());
            }
            Ok(())
        }
        (_, Some(_)) => Err(Problem::invalid_field(
            "opleiding",
            "only allowed when reikwijdte is opleiding",
        )),
        (_, None) => Ok(()),
    }
}

fn written(w: SjabloonWrite) -> Result<StoredResponse, Problem> {
    let s = match w {
        SjabloonWrite::Written(s) => s,
        SjabloonWrite::Exists => {
            return Err(Problem::new(ErrorCode::SjabloonExists)
                .detail("a template with this id exists already")
                .field("sjabloon_id", "exists already"));
        }
        SjabloonWrite::NotFound => return Err(Problem::not_found("ook-sjabloon")),
    };
    let view = SjabloonView::from_stored(&s)?;
    let location = if s.versie == 1 {
        format!("/api/v1/ook-sjablonen/{}", s.sjabloon)
    } else {
        format!("/api/v1/ook-sjablonen/{}?versie={}", s.sjabloon, s.versie)
    };
    Ok(StoredResponse {
        status: 201,
        location: Some(location),
        body: serde_json::to_value(&view).unwrap_or_default(),
    })
}

/// `POST /api/v1/ook-sjablonen`: creates a template (version 1).
#[utoipa::path(
    post, path = "/api/v1/ook-sjablonen", tag = "onderwijsovereenkomsten",
    request_body = NewSjabloonBody,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Created", body = SjabloonView, headers(("Location" = String, description = "URL of the template"))),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "sjabloon_exists, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, unknown_opleiding, opleiding_other_institution, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_sjabloon(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let req: NewSjabloonBody = parse_json(&headers, &body)?;
    let inhoud = SjabloonInhoud {
        naam: req.naam,
        reikwijdte: req.reikwijdte,
        opleiding: req.opleiding,
        intensiteit: req.intensiteit,
        duur_maanden: req.duur_maanden,
        tekst: req.tekst,
    };
    check_inhoud(&state, &caller, &inhoud)?;
    let request = IdempotentRequest::post(&caller, &key, "/api/v1/ook-sjablonen", &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let w = state
                .api_store
                .create_sjabloon(
                    caller.brin.instelling().as_str(),
                    req.sjabloon_id,
                    request.derived_id("sjabloon"),
                    &serde_json::to_value(&inhoud).unwrap_or_default(),
                )
                .await
                .map_err(|e| unavailable_api(&e))?;
            written(w)
        },
    )
    .await
}

/// `POST /api/v1/ook-sjablonen/{id}/versies`: adds a version; earlier versions stay as they
/// were (an OOK names the version it was made from).
#[utoipa::path(
    post, path = "/api/v1/ook-sjablonen/{id}/versies", tag = "onderwijsovereenkomsten",
    request_body = SjabloonInhoud,
    params(("id" = Uuid, Path, description = "The template id"), IdempotencyKey),
    responses(
        (status = 201, description = "The new version", body = SjabloonView, headers(("Location" = String, description = "URL of the version"))),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's template)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, unknown_opleiding, opleiding_other_institution, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn add_sjabloon_versie(
    State(state): State<ApiState>,
    caller: Caller,
    SjabloonPath(id): SjabloonPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let inhoud: SjabloonInhoud = parse_json(&headers, &body)?;
    let brin = caller.brin.instelling();
    if state
        .api_store
        .sjabloon(brin.as_str(), id, None)
        .await
        .map_err(|e| unavailable_api(&e))?
        .is_none()
    {
        return Err(Problem::not_found("ook-sjabloon"));
    }
    check_inhoud(&state, &caller, &inhoud)?;
    let path = format!("/api/v1/ook-sjablonen/{id}/versies");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let w = state
                .api_store
                .add_sjabloon_versie(
                    brin.as_str(),
                    id,
                    request.derived_id("sjabloon-versie"),
                    &serde_json::to_value(&inhoud).unwrap_or_default(),
                )
                .await
                .map_err(|e| unavailable_api(&e))?;
            written(w)
        },
    )
    .await
}

/// `GET /api/v1/ook-sjablonen/{id}`: the latest version, or `?versie=n`.
#[utoipa::path(
    get, path = "/api/v1/ook-sjablonen/{id}", tag = "onderwijsovereenkomsten",
    params(("id" = Uuid, Path, description = "The template id"), SjabloonQuery),
    responses(
        (status = 200, description = "The template version", body = SjabloonView),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's template, or a version that does not exist)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_sjabloon(
    State(state): State<ApiState>,
    caller: Caller,
    SjabloonPath(id): SjabloonPath,
    query: Result<Query<SjabloonQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SjabloonView>, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let Query(q) = query.map_err(|e| query_problem(&e))?;
    let s = state
        .api_store
        .sjabloon(caller.brin.instelling().as_str(), id, q.versie)
        .await
        .map_err(|e| unavailable_api(&e))?
        .ok_or_else(|| Problem::not_found("ook-sjabloon"))?;
    SjabloonView::from_stored(&s).map(Json)
}

/// `GET /api/v1/ook-sjablonen`: the institution's templates (latest versions), cursor-paged.
#[utoipa::path(
    get, path = "/api/v1/ook-sjablonen", tag = "onderwijsovereenkomsten",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = SjabloonPage),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_sjablonen(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SjabloonPage>, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let Query(q) = query.map_err(|e| query_problem(&e))?;
    let limit = page_limit(&state, q.limit)?;
    let stored = state
        .api_store
        .list_sjablonen(caller.brin.instelling().as_str(), q.na.unwrap_or(0), limit)
        .await
        .map_err(|e| unavailable_api(&e))?;
    let items = stored
        .iter()
        .map(SjabloonView::from_stored)
        .collect::<Result<Vec<_>, _>>()?;
    let volgende = (stored.len() == limit)
        .then(|| stored.last().map(|s| s.seq))
        .flatten();
    Ok(Json(SjabloonPage { items, volgende }))
}
