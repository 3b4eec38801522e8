//! The aanmeldingen: submit (opening the student's dossier when needed), read, list and change
//! the VA status.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Utc};
use knooppunt_ops::audit::AuditEntry;
use knooppunt_registry::domain::{AanmeldingId, ExterneReferentie};
use knooppunt_registry::domain::{Command, Person, Rejection};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{Brin, Bsn, IdError, IdErrorReason, Onderwijsnummer, PersonId};
use knooppunt_registry::policy::{self, Access, Part, Subject};
use knooppunt_registry::reference::AanbodRefusal;
use uuid::Uuid;

use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::rejection::{
    aanmelding_exists, aanmeldperiode_gesloten, institution_not_participating,
    opleiding_other_institution, unknown_cohort, unknown_opleiding, unknown_school,
};
use super::{
    AanmeldingPage, AanmeldingView, ListQuery, StatusBody, StudentBody, SubmitAanmeldingBody,
    api_time, command_meta, outcome_ok, page_limit, parse_status, query_problem, rejection_problem,
    unavailable_api, unavailable_store,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::feed::serde_name;
use crate::problem::{Problem, parse_json};
use crate::store::{IndexedAanmelding, StoredResponse};

pub(crate) fn id_reason(e: &IdError) -> String {
    match &e.reason {
        IdErrorReason::Checksum { .. } if e.kind == "BSN" => "elfproef".to_owned(),
        r => r.to_string(),
    }
}

/// The person of exactly one of a BSN and an onderwijsnummer, each checked. A problem names
/// `<prefix>bsn` or `<prefix>onderwijsnummer`, or `group` when both or neither are given.
pub(crate) fn person_from(
    bsn: Option<&str>,
    onderwijsnummer: Option<&str>,
    prefix: &str,
    group: &str,
) -> Result<PersonId, Problem> {
    match (bsn, onderwijsnummer) {
        (Some(bsn), None) => bsn
            .parse::<Bsn>()
            .map(PersonId::Bsn)
            .map_err(|e| Problem::invalid_field(format!("{prefix}bsn"), id_reason(&e))),
        (None, Some(onr)) => onr
            .parse::<Onderwijsnummer>()
            .map(PersonId::Onderwijsnummer)
            .map_err(|e| Problem::invalid_field(format!("{prefix}onderwijsnummer"), id_reason(&e))),
        (Some(_), Some(_)) => Err(Problem::invalid_field(
            group,
            "give either bsn or onderwijsnummer, not both",
        )),
        (None, None) => Err(Problem::invalid_field(group, "give bsn or onderwijsnummer")),
    }
}

fn person(student: &StudentBody) -> Result<PersonId, Problem> {
    person_from(
        student.bsn.as_deref(),
        student.onderwijsnummer.as_deref(),
        "student.",
        "student",
    )
}

/// `POST /api/v1/aanmeldingen`: submits an aanmelding (opening the student's dossier if needed).
#[utoipa::path(
    post, path = "/api/v1/aanmeldingen", tag = "aanmeldingen",
    request_body = SubmitAanmeldingBody,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Submitted", body = AanmeldingView, headers(("Location" = String, description = "URL of the aanmelding"))),
        (status = 400, description = "malformed_json, idempotency_key_missing", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing_token, invalid_token, client_certificate_required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "aanmelding_exists, duplicate_aanmelding, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, unknown_opleiding, opleiding_other_institution, unknown_cohort, unknown_school, institution_not_participating, aanmeldperiode_gesloten, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_aanmelding(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let req: SubmitAanmeldingBody = parse_json(&headers, &body)?;
    let person = person(&req.student)?;
    let school = match &req.toeleverende_school {
        None => None,
        Some(s) => Some(
            s.parse::<Brin>()
                .map_err(|e| Problem::invalid_field("toeleverende_school", id_reason(&e)))?,
        ),
    };
    let externe = match &req.externe_referentie {
        None => None,
        Some(e) => Some(ExterneReferentie {
            keten_id: e
                .keten_id
                .parse()
                .map_err(|v: knooppunt_registry::domain::ValueError| {
                    Problem::invalid_field("externe_referentie.keten_id", v.to_string())
                })?,
            wijzigingsvolgnummer: e.wijzigingsvolgnummer,
        }),
    };
    // The reference checks before anything is written, so a refused aanmelding leaves no
    // dossier: the registry's own function for them (`ReferenceData::aanbod`), which its
    // `SubmitAanmelding` rule calls too — after the Idempotency-Key lookup, so a replay of an
    // accepted request gets its stored answer even when a check would now refuse it.
    let reference = &state.reference;
    let now = api_time();
    let precheck = || -> Result<(), Problem> {
        let today = knooppunt_registry::domain::time::local_date(now);
        // The registry's rule (`ReferenceData::aanbod`), each refusal with the API's own code.
        reference
            .aanbod(&caller.brin, &req.opleiding, &req.cohort, today)
            .map_err(|refusal| match refusal {
                AanbodRefusal::UnknownInstitution => institution_not_participating(),
                AanbodRefusal::UnknownOpleiding => unknown_opleiding(),
                AanbodRefusal::OtherInstitution => opleiding_other_institution(),
                AanbodRefusal::UnknownCohort => unknown_cohort(),
                AanbodRefusal::AanmeldperiodeGesloten {
                    begin,
                    einde,
                    datum,
                } => aanmeldperiode_gesloten(begin, einde, datum),
            })?;
        if let Some(s) = &school
            && reference.vo_school(s).is_none()
        {
            return Err(unknown_school());
        }
        Ok(())
    };
    let aanmelding_id = req.aanmelding_id;
    let command = Command::SubmitAanmelding {
        aanmelding: AanmeldingId(aanmelding_id),
        instelling: caller.brin.clone(),
        opleiding: req.opleiding,
        cohort: req.cohort.clone(),
        toeleverende_school: school.clone(),
        externe_referentie: externe,
    };
    let request = IdempotentRequest::post(&caller, &key, "/api/v1/aanmeldingen", &body);
    idempotent(&state, &request, precheck, || async {
        // An id indexed before belongs to whoever submitted it.
        if let Some(existing) = state
            .api_store
            .find_aanmelding(aanmelding_id)
            .await
            .map_err(|e| unavailable_api(&e))?
        {
            let dossier_of_person = state
                .store
                .find_dossier(&person)
                .await
                .map_err(|e| unavailable_store(&e))?;
            if existing.brin != caller.brin.as_str()
                || dossier_of_person.map(|k| k.0) != Some(existing.dossier)
            {
                return Err(aanmelding_exists());
            }
        }
        let dossier = open_dossier(&state, &caller, &request, &person, now).await?;
        let meta = command_meta(dossier, &caller, &request, "submit", now);
        let outcome = state
            .store
            .execute(meta, command, reference)
            .await
            .map_err(|e| unavailable_store(&e))?;
        let events = outcome_ok(outcome)?;
        let view = events
            .iter()
            .find_map(|e| match &e.data {
                knooppunt_registry::domain::Event::AanmeldingIngediend { aanmelding } => {
                    Some(AanmeldingView::from(aanmelding))
                }
                _ => None,
            })
            .ok_or_else(|| {
                tracing::error!("submit accepted without an AanmeldingIngediend event");
                Problem::internal()
            })?;
        state
            .api_store
            .index_aanmelding(aanmelding_id, caller.brin.as_str(), dossier.0)
            .await
            .map_err(|e| unavailable_api(&e))?;
        state.api_metrics.aanmelding_submitted();
        Ok(StoredResponse {
            status: 201,
            location: Some(format!("/api/v1/aanmeldingen/{aanmelding_id}")),
            body: serde_json::to_value(&view).unwrap_or_default(),
        })
    })
    .await
}

/// Finds the student's dossier or opens it as the institution (the registry lets a known
/// institution open a dossier). The ids are derived from the idempotency key and the request's
/// hash, so a retry after a crash opens nothing twice, and another body under the same key
/// (another student) cannot replay this opening.
async fn open_dossier(
    state: &ApiState,
    caller: &Caller,
    request: &IdempotentRequest,
    person: &PersonId,
    now: DateTime<Utc>,
) -> Result<DossierKey, Problem> {
    if let Some(k) = state
        .store
        .find_dossier(person)
        .await
        .map_err(|e| unavailable_store(&e))?
    {
        return Ok(k);
    }
    let dossier = DossierKey(request.derived_id("dossier"));
    let meta = command_meta(dossier, caller, request, "open", now);
    let outcome = state
        .store
        .execute(
            meta,
            Command::OpenDossier {
                person: Person { id: person.clone() },
            },
            &state.reference,
        )
        .await
        .map_err(|e| unavailable_store(&e))?;
    match outcome.result {
        Ok(_) => Ok(outcome.dossier),
        // Opened by someone else in between.
        Err(Rejection::DossierAlreadyOpen) => state
            .store
            .find_dossier(person)
            .await
            .map_err(|e| unavailable_store(&e))?
            .ok_or_else(Problem::unavailable),
        Err(r) => Err(rejection_problem(&r)),
    }
}

/// The `{id}` of an aanmelding's path. One that is not a UUID is answered like an id that does
/// not exist: 404 `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AanmeldingPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for AanmeldingPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::not_found("aanmelding"))
    }
}

/// The index entry of an aanmelding of the caller; 404 for anything else.
pub(super) async fn own_entry(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
) -> Result<IndexedAanmelding, Problem> {
    match state
        .api_store
        .find_aanmelding(id)
        .await
        .map_err(|e| unavailable_api(&e))?
    {
        Some(e) if e.brin == caller.brin.as_str() => Ok(e),
        _ => Err(Problem::not_found("aanmelding")),
    }
}

/// `POST /api/v1/aanmeldingen/{id}/status`: changes the VA status.
#[utoipa::path(
    post, path = "/api/v1/aanmeldingen/{id}/status", tag = "aanmeldingen",
    request_body = StatusBody,
    params(
        ("id" = Uuid, Path, description = "The aanmelding id"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "The aanmelding with its new status", body = AanmeldingView),
        (status = 404, description = "not_found (also another institution's aanmelding)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, no_signed_ook_at_institution, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn change_status(
    State(state): State<ApiState>,
    caller: Caller,
    AanmeldingPath(id): AanmeldingPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let req: StatusBody = parse_json(&headers, &body)?;
    let status = parse_status(&req.status).ok_or_else(|| {
        Problem::invalid_field(
            "status",
            "expected ontvangen, aangemeld, ook_aangeboden, leidt_niet_tot_inschrijving, ingetrokken, ingeschreven (or OT, AM, AO, LI, IT, IS)",
        )
    })?;
    let entry = own_entry(&state, &caller, id).await?;
    let path = format!("/api/v1/aanmeldingen/{id}/status");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let now = api_time();
            let dossier = DossierKey(entry.dossier);
            let meta = command_meta(dossier, &caller, &request, "status", now);
            let outcome = state
                .store
                .execute(
                    meta,
                    Command::ChangeAanmeldingStatus {
                        aanmelding: AanmeldingId(id),
                        status,
                    },
                    &state.reference,
                )
                .await
                .map_err(|e| unavailable_store(&e))?;
            outcome_ok(outcome)?;
            let d = state
                .store
                .dossier(dossier)
                .await
                .map_err(|e| unavailable_store(&e))?
                .ok_or_else(Problem::unavailable)?;
            let a = d
                .aanmeldingen
                .get(&AanmeldingId(id))
                .ok_or_else(|| Problem::not_found("aanmelding"))?;
            Ok(StoredResponse {
                status: 200,
                location: None,
                body: serde_json::to_value(AanmeldingView::from(a)).unwrap_or_default(),
            })
        },
    )
    .await
}

/// Reads one aanmelding with the policy check and an audit record per part read; `None` when
/// the policy denies it (answered as 404).
async fn read_aanmelding(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedAanmelding,
) -> Result<Option<AanmeldingView>, Problem> {
    let key = DossierKey(entry.dossier);
    let Some(d) = state
        .store
        .dossier(key)
        .await
        .map_err(|e| unavailable_store(&e))?
    else {
        return Ok(None);
    };
    let subject = Subject {
        key,
        dossier: &d,
        reference: &state.reference,
        on: knooppunt_registry::domain::time::local_date(api_time()),
    };
    let actor = caller.actor();
    let mut allowed = true;
    let mut entries = Vec::new();
    for part in [Part::Aanmeldingen, Part::VaStatus] {
        let (ground, denied) = match policy::decide(&actor, &subject, part, Access::Read) {
            policy::Decision::Allow { ground } => (serde_name(&ground), false),
            policy::Decision::Deny { reason } => (serde_name(&reason), true),
        };
        allowed &= !denied;
        entries.push(
            AuditEntry::for_read(key, caller.audit_actor(), serde_name(&part), ground, denied)
                .endpoint("/api/v1/aanmeldingen"),
        );
    }
    state.audit.append_many(entries).await.map_err(|e| {
        tracing::warn!(error = %e, "audit trail unavailable; read refused");
        Problem::unavailable()
    })?;
    if !allowed {
        return Ok(None);
    }
    Ok(d.aanmeldingen
        .get(&AanmeldingId(entry.aanmelding))
        .filter(|a| a.instelling.instelling() == caller.brin)
        .map(AanmeldingView::from))
}

/// `GET /api/v1/aanmeldingen/{id}`.
#[utoipa::path(
    get, path = "/api/v1/aanmeldingen/{id}", tag = "aanmeldingen",
    params(("id" = Uuid, Path, description = "The aanmelding id")),
    responses(
        (status = 200, description = "The aanmelding", body = AanmeldingView),
        (status = 404, description = "not_found (also another institution's aanmelding)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_aanmelding(
    State(state): State<ApiState>,
    caller: Caller,
    AanmeldingPath(id): AanmeldingPath,
) -> Result<Json<AanmeldingView>, Problem> {
    let entry = own_entry(&state, &caller, id).await?;
    read_aanmelding(&state, &caller, &entry)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("aanmelding"))
}

/// `GET /api/v1/aanmeldingen`: the caller's aanmeldingen, cursor-paged.
#[utoipa::path(
    get, path = "/api/v1/aanmeldingen", tag = "aanmeldingen",
    params(ListQuery),
    responses((status = 200, description = "A page", body = AanmeldingPage)),
    security(("bearer" = []))
)]
pub async fn list_aanmeldingen(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AanmeldingPage>, Problem> {
    let Query(q) = query.map_err(|e| query_problem(&e))?;
    let limit = page_limit(&state, q.limit)?;
    let entries = state
        .api_store
        .list_aanmeldingen(caller.brin.as_str(), q.na.unwrap_or(0), limit)
        .await
        .map_err(|e| unavailable_api(&e))?;
    let mut items = Vec::with_capacity(entries.len());
    for e in &entries {
        if let Some(v) = read_aanmelding(&state, &caller, e).await? {
            items.push(v);
        }
    }
    let volgende = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AanmeldingPage { items, volgende }))
}
