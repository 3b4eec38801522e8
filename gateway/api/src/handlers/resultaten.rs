//! Results of an onderwijsovereenkomst (memo §5d, §5f) for an institution at level `krd`: a
//! keuzedeel registered within a signed, running OOK, optionally taken at a guest institution
//! (`RegisterKeuzedeel`), its result (`RecordKeuzedeelResultaat`), an exam result, generic or
//! institutional (`RecordExamenresultaat`), and the diploma (`AwardDiploma`, for the OOK's
//! crebo; it ends the OOK with reden `01`). Each is one registry command as the institution,
//! answered with the OOK as it now stands (its `GET` view, whose results parts are checked
//! against `policy::decide` and audited).

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use knooppunt_registry::domain::{
    Command, ExamenOnderdeel, Onderwijsovereenkomst, OokId, OokStatus, Rejection,
};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{Brin, IdError, KeuzedeelCode};
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::Participation;
use uuid::Uuid;

use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::onderwijsovereenkomsten::{ENDPOINT, OokPath, ook_answer, own_ook};
use super::ook_types::OokView;
use super::resultaten_types::{
    DiplomaBody, ExamenresultaatBody, KeuzedeelResultaatBody, NewKeuzedeelBody, SoortValue, cijfer,
};
use super::{
    api_time, command_meta, read_parts, rejection_problem, require_level, unavailable_store,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, parse_json};
use crate::store::{IndexedOok, StoredResponse};

/// The `{id}` and `{code}` of a keuzedeel's path; an id that is not a UUID or a code that is
/// not a keuzedeel code is answered 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeuzedeelPath(pub Uuid, pub KeuzedeelCode);

impl<S: Send + Sync> FromRequestParts<S> for KeuzedeelPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path((id, code)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("onderwijsovereenkomst"))?;
        let code = code.parse().map_err(|_| Problem::not_found("keuzedeel"))?;
        Ok(Self(id, code))
    }
}

fn id_problem(field: &str, e: &IdError) -> Problem {
    Problem::invalid_field(field, e.reason.to_string())
}

/// The state an OOK must be in for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Signed and running.
    Running,
    /// Signed once (a result may follow the end).
    Signed,
    /// Signed and running, or ended by its diploma (a retry of the award finds it so, and the
    /// registry replays its first answer to the same command id).
    Diploma,
}

/// The caller's OOK from the dossier (its `onderwijsovereenkomsten` part, read and audited);
/// 409 `ook_not_running` unless it is in the state `needs`.
async fn signed_ook(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedOok,
    needs: Needs,
) -> Result<Onderwijsovereenkomst, Problem> {
    let key = DossierKey(entry.dossier);
    let read = read_parts(
        state,
        caller,
        key,
        &[Part::Onderwijsovereenkomsten],
        ENDPOINT,
    )
    .await?
    .filter(|r| r.allows(0))
    .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
    let o = read
        .dossier
        .onderwijsovereenkomsten
        .get(&OokId(entry.ook))
        .filter(|o| o.instelling.instelling() == caller.brin)
        .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
    // The registry's rule, answered before its policy check (an institution whose OOK is not
    // signed has no relation yet that lets it record results).
    let running = o.status == OokStatus::Ondertekend;
    let ok = match needs {
        Needs::Running => running,
        Needs::Signed => o.was_signed(),
        Needs::Diploma => running || read.dossier.diplomas.iter().any(|d| d.ook == o.id),
    };
    if !ok {
        return Err(rejection_problem(&Rejection::OokNotRunning { ook: o.id }));
    }
    Ok(o.clone())
}

/// Executes `command` on the OOK's dossier as the caller and answers the OOK as it now stands.
/// A result recorded exactly so before (`Unchanged`) is answered like the first time.
async fn execute(
    state: &ApiState,
    caller: &Caller,
    request: &IdempotentRequest,
    entry: &IndexedOok,
    step: &str,
    command: Command,
    status: u16,
) -> Result<StoredResponse, Problem> {
    let meta = command_meta(DossierKey(entry.dossier), caller, request, step, api_time());
    let outcome = state
        .store
        .execute(meta, command, &state.reference)
        .await
        .map_err(|e| unavailable_store(&e))?;
    match outcome.result {
        Ok(_) | Err(Rejection::Unchanged) => {}
        Err(r) => return Err(rejection_problem(&r)),
    }
    let mut answer = ook_answer(state, caller, entry, 200).await?;
    answer.status = status;
    Ok(answer)
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/keuzedelen`: registers a keuzedeel within one
/// of your signed, running onderwijsovereenkomsten, optionally taken at a guest institution.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/keuzedelen", tag = "resultaten",
    request_body = NewKeuzedeelBody,
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 201, description = "Registered; the body is the onderwijsovereenkomst with its keuzedelen", body = OokView, headers(("Location" = String, description = "URL of the onderwijsovereenkomst"))),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_not_running, keuzedeel_exists, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (a malformed code, an unknown or your own gastinstelling), idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn register_keuzedeel(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: NewKeuzedeelBody = parse_json(&headers, &body)?;
    let code: KeuzedeelCode = req.code.parse().map_err(|e| id_problem("code", &e))?;
    let gast: Option<Brin> = req
        .gastinstelling
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: IdError| id_problem("gastinstelling", &e))?;
    if let Some(g) = &gast
        && state.reference.institution(g).is_none()
    {
        return Err(Problem::invalid_field(
            "gastinstelling",
            "not an institution taking part in Knooppunt",
        ));
    }
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/keuzedelen");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            signed_ook(&state, &caller, &entry, Needs::Running).await?;
            let command = Command::RegisterKeuzedeel {
                ook: OokId(id),
                code: code.clone(),
                gastinstelling: gast.clone(),
            };
            let mut answer =
                execute(&state, &caller, &request, &entry, "keuzedeel", command, 201).await?;
            answer.location = Some(format!("{ENDPOINT}/{id}"));
            Ok(answer)
        },
    )
    .await
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/keuzedelen/{code}/resultaat`: records (or
/// corrects) the result of a registered keuzedeel.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/keuzedelen/{code}/resultaat", tag = "resultaten",
    request_body = KeuzedeelResultaatBody,
    params(
        ("id" = Uuid, Path, description = "The onderwijsovereenkomst id"),
        ("code" = String, Path, description = "The keuzedeel code, e.g. K0067"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Recorded; the body is the onderwijsovereenkomst with its keuzedelen", body = OokView),
        (status = 403, description = "participation_level_too_low (below krd), not_permitted, certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such onderwijsovereenkomst of yours, or no such keuzedeel in it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_not_running (never signed), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (datum before the datum inschrijving or in the future), idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn record_keuzedeel_resultaat(
    State(state): State<ApiState>,
    caller: Caller,
    KeuzedeelPath(id, code): KeuzedeelPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: KeuzedeelResultaatBody = parse_json(&headers, &body)?;
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/keuzedelen/{}/resultaat", code.as_str());
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            signed_ook(&state, &caller, &entry, Needs::Signed).await?;
            let command = Command::RecordKeuzedeelResultaat {
                ook: OokId(id),
                code: code.clone(),
                uitslag: req.uitslag.into(),
                datum: req.datum,
            };
            execute(&state, &caller, &request, &entry, "resultaat", command, 200).await
        },
    )
    .await
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/examenresultaten`: records a generic or an
/// institutional exam result; one for the same exam replaces the earlier one.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/examenresultaten", tag = "resultaten",
    request_body = ExamenresultaatBody,
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Recorded; the body is the onderwijsovereenkomst with its exam results", body = OokView),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_not_running, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (a field missing for the soort or given for the other one, a grade outside 1.0–10.0, datum outside the enrolment), examen_not_applicable (Engels outside niveau 4), idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn record_examenresultaat(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: ExamenresultaatBody = parse_json(&headers, &body)?;
    let onderdeel = examen_onderdeel(&req)?;
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/examenresultaten");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            signed_ook(&state, &caller, &entry, Needs::Running).await?;
            let command = Command::RecordExamenresultaat {
                ook: OokId(id),
                onderdeel: onderdeel.clone(),
                datum: req.datum,
            };
            execute(&state, &caller, &request, &entry, "examen", command, 200).await
        },
    )
    .await
}

/// The exam of a body: each field of the other soort refused by name, each one of this soort
/// required.
fn examen_onderdeel(req: &ExamenresultaatBody) -> Result<ExamenOnderdeel, Problem> {
    let not_for = |field: &str, present: bool| {
        if present {
            Err(Problem::invalid_field(
                field,
                "not for this soort of exam result",
            ))
        } else {
            Ok(())
        }
    };
    match req.soort {
        SoortValue::Generiek => {
            not_for("onderdeel", req.onderdeel.is_some())?;
            not_for("cijfer", req.cijfer.is_some())?;
            let vak = req
                .vak
                .ok_or_else(|| Problem::invalid_field("vak", "required for a generic exam"))?;
            if req.cijfer_ie.is_none() && req.cijfer_ce.is_none() {
                return Err(Problem::invalid_field(
                    "cijfer_ie",
                    "give an IE or a CE grade (or both)",
                ));
            }
            Ok(ExamenOnderdeel::Generiek {
                vak: vak.into(),
                cijfer_ie: req.cijfer_ie.map(|c| cijfer("cijfer_ie", c)).transpose()?,
                cijfer_ce: req.cijfer_ce.map(|c| cijfer("cijfer_ce", c)).transpose()?,
            })
        }
        SoortValue::Instelling => {
            not_for("vak", req.vak.is_some())?;
            not_for("cijfer_ie", req.cijfer_ie.is_some())?;
            not_for("cijfer_ce", req.cijfer_ce.is_some())?;
            let onderdeel = req.onderdeel.as_deref().map(str::trim).ok_or_else(|| {
                Problem::invalid_field("onderdeel", "required for an institutional exam")
            })?;
            if onderdeel.is_empty() || onderdeel.chars().count() > 20 {
                return Err(Problem::invalid_field(
                    "onderdeel",
                    "expected 1 to 20 characters",
                ));
            }
            if onderdeel.chars().any(char::is_control) {
                return Err(Problem::invalid_field(
                    "onderdeel",
                    "control characters are not allowed",
                ));
            }
            let c = req.cijfer.ok_or_else(|| {
                Problem::invalid_field("cijfer", "required for an institutional exam")
            })?;
            Ok(ExamenOnderdeel::Instelling {
                onderdeel: onderdeel.to_owned(),
                cijfer: cijfer("cijfer", c)?,
            })
        }
    }
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/diploma`: awards the diploma for the
/// onderwijsovereenkomst's crebo; the onderwijsovereenkomst ends on its date (reden `01`,
/// geslaagd).
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/diploma", tag = "resultaten",
    request_body = DiplomaBody,
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Awarded; the onderwijsovereenkomst is `beeindigd` with its diploma", body = OokView),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_not_running (not signed, or ended already), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (datum before the datum inschrijving or in the future), bpv_outside_enrolment (a praktijkovereenkomst runs past the datum), idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn award_diploma(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: DiplomaBody = parse_json(&headers, &body)?;
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/diploma");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let o = signed_ook(&state, &caller, &entry, Needs::Diploma).await?;
            let command = Command::AwardDiploma {
                crebo: o.details.crebo.clone(),
                datum: req.datum,
            };
            execute(&state, &caller, &request, &entry, "diploma", command, 200).await
        },
    )
    .await
}
