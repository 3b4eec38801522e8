//! Onderwijsovereenkomsten (memo §5c) for an institution at level `aanmelden` or `krd`: made
//! from one of its templates for a student of one of its aanmeldingen (as a draft, or offered at
//! once), offered, signed on paper, terminated, read. Each change is one registry command as the
//! institution (`DraftOnderwijsovereenkomst`, `OfferOnderwijsovereenkomst`,
//! `SignOnderwijsovereenkomst` with wijze `papier`, `TerminateOnderwijsovereenkomst`); an offer
//! starts the signing transaction through the signing provider's adapter (with a parent for a
//! minor). The OOK index (`ApiStore::index_ook`) maps the OOK id to its dossier and records the
//! template version it was made from. Every read of the dossier is checked against
//! `policy::decide` and audited (`read_parts`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::Months;
use knooppunt_registry::domain::{
    AanmeldingId, Command, Ondertekenwijze, OokDetails, OokId, OokStatus, RedenUitschrijving,
    Rejection,
};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::Participation;
use uuid::Uuid;

use super::aanmeldingen::own_entry;
use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::ook_types::{NewOokBody, OfferBody, OokSignBody, OokView, TerminateBody};
use super::rejection::{unknown_cohort, unknown_opleiding};
use super::resultaten_types::results_of;
use super::sjablonen::{Reikwijdte, SjabloonInhoud};
use super::{
    api_time, command_meta, decide_parts, execute_step, read_parts, rejection_problem,
    require_level, unavailable_api, unavailable_store,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::feed::serde_name;
use crate::problem::{ErrorCode, Problem, parse_json};
use crate::store::{IndexedOok, StoredResponse};

pub(super) const ENDPOINT: &str = "/api/v1/onderwijsovereenkomsten";

/// The `{id}` of an onderwijsovereenkomst's path; one that is not a UUID is answered 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OokPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for OokPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::not_found("onderwijsovereenkomst"))
    }
}

/// The index entry of an OOK of the caller; 404 for anything else.
pub(super) async fn own_ook(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
) -> Result<IndexedOok, Problem> {
    match state
        .api_store
        .find_ook(id)
        .await
        .map_err(|e| unavailable_api(&e))?
    {
        Some(e) if e.brin == caller.brin.as_str() => Ok(e),
        _ => Err(Problem::not_found("onderwijsovereenkomst")),
    }
}

/// The OOK as the caller may see it: the `onderwijsovereenkomsten` part (required) and the
/// `ondertekening` part (its signing transactions, when the policy allows), read and audited;
/// once it was signed also the `keuzedelen`, `examenresultaten` and `diplomas` parts (results
/// exist only for a signed agreement, so an unsigned one's read does not ask for them).
pub(super) async fn read_ook(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedOok,
) -> Result<Option<OokView>, Problem> {
    let parts = [Part::Onderwijsovereenkomsten, Part::Ondertekening];
    let key = DossierKey(entry.dossier);
    let Some(read) = read_parts(state, caller, key, &parts, ENDPOINT).await? else {
        return Ok(None);
    };
    if !read.allows(0) {
        return Ok(None);
    }
    let Some(o) = read
        .dossier
        .onderwijsovereenkomsten
        .get(&OokId(entry.ook))
        .filter(|o| o.instelling.instelling() == caller.brin)
    else {
        return Ok(None);
    };
    let mut view = OokView::new(&read.dossier, o, entry, read.allows(1));
    if o.was_signed() {
        let parts = [Part::Keuzedelen, Part::Examenresultaten, Part::Diplomas];
        let allowed = decide_parts(state, caller, key, &read.dossier, &parts, ENDPOINT).await?;
        let allowed = [0, 1, 2].map(|i| allowed.get(i).copied().unwrap_or(false));
        (view.keuzedelen, view.examenresultaten, view.diploma) =
            results_of(&read.dossier, o.id, allowed);
    }
    Ok(Some(view))
}

/// The answer after a change: the OOK as it now stands.
pub(super) async fn ook_answer(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedOok,
    status: u16,
) -> Result<StoredResponse, Problem> {
    let view = read_ook(state, caller, entry)
        .await?
        .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
    Ok(StoredResponse {
        status,
        location: (status == 201).then(|| format!("{ENDPOINT}/{}", entry.ook)),
        body: serde_json::to_value(&view).unwrap_or_default(),
    })
}

fn unknown_sjabloon(versie: bool) -> Problem {
    let p = Problem::new(ErrorCode::UnknownSjabloon);
    if versie {
        p.detail("your template has no such version")
            .field("sjabloon.versie", "no such version")
    } else {
        p.detail("no template with this id at your institution")
            .field("sjabloon.id", "unknown template")
    }
}

/// `POST /api/v1/onderwijsovereenkomsten`: an OOK from a template for the student of one of
/// your aanmeldingen, as a draft or offered at once.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten", tag = "onderwijsovereenkomsten",
    request_body = NewOokBody,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Drafted or offered", body = OokView, headers(("Location" = String, description = "URL of the onderwijsovereenkomst"))),
        (status = 403, description = "participation_level_too_low (level va), not_permitted, certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such aanmelding of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_exists, active_ook_exists, invalid_transition (the aanmelding's status does not allow an offer), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, unknown_sjabloon, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_ook(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let req: NewOokBody = parse_json(&headers, &body)?;
    if req.sjabloon.versie.is_some_and(|v| v < 1) {
        return Err(Problem::invalid_field(
            "sjabloon.versie",
            "expected 1 or more",
        ));
    }
    let aanmelding = own_entry(&state, &caller, req.aanmelding_id).await?;
    let sjabloon = state
        .api_store
        .sjabloon(caller.brin.as_str(), req.sjabloon.id, req.sjabloon.versie)
        .await
        .map_err(|e| unavailable_api(&e))?
        .ok_or_else(|| unknown_sjabloon(req.sjabloon.versie.is_some()))?;
    let inhoud: SjabloonInhoud = serde_json::from_value(sjabloon.inhoud.clone()).map_err(|e| {
        tracing::error!(error = %e, "a stored template does not parse");
        Problem::internal()
    })?;
    // An OOK id names one agreement: of this institution, this student and this aanmelding.
    if let Some(existing) = state
        .api_store
        .find_ook(req.ook_id)
        .await
        .map_err(|e| unavailable_api(&e))?
        && (existing.brin != caller.brin.as_str()
            || existing.dossier != aanmelding.dossier
            || existing.aanmelding != Some(req.aanmelding_id))
    {
        return Err(rejection_problem(&Rejection::OokExists {
            ook: OokId(req.ook_id),
        }));
    }
    let request = IdempotentRequest::post(&caller, &key, ENDPOINT, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let dossier = DossierKey(aanmelding.dossier);
            let read = read_parts(&state, &caller, dossier, &[Part::Aanmeldingen], ENDPOINT)
                .await?
                .filter(|r| r.allows(0))
                .ok_or_else(|| Problem::not_found("aanmelding"))?;
            let a = read
                .dossier
                .aanmeldingen
                .get(&AanmeldingId(req.aanmelding_id))
                .filter(|a| a.instelling.instelling() == caller.brin)
                .ok_or_else(|| Problem::not_found("aanmelding"))?;
            let opl = state
                .reference
                .opleiding(&a.opleiding)
                .ok_or_else(unknown_opleiding)?;
            if inhoud.reikwijdte == Reikwijdte::Opleiding && inhoud.opleiding != Some(a.opleiding) {
                return Err(Problem::invalid_field(
                    "sjabloon.id",
                    "the template is for another opleiding than the aanmelding's",
                ));
            }
            let cohort = opl.cohort(&a.cohort).ok_or_else(unknown_cohort)?;
            let begin = req.begin.unwrap_or(cohort.startdatum);
            let gepland_einde = match req.gepland_einde {
                Some(d) => d,
                None => begin
                    .checked_add_months(Months::new(u32::from(inhoud.duur_maanden)))
                    .and_then(|d| d.pred_opt())
                    .ok_or_else(|| Problem::invalid_field("begin", "out of range"))?,
            };
            let details = OokDetails {
                aanmelding: Some(a.id),
                opleiding: Some(a.opleiding),
                crebo: opl.crebo.clone(),
                niveau: opl.niveau,
                leertraject: opl.leertraject,
                intensiteit: inhoud.intensiteit.into(),
                begin,
                gepland_einde,
            };
            let (ook, instelling) = (OokId(req.ook_id), caller.brin.clone());
            let command = if req.aanbieden {
                Command::OfferOnderwijsovereenkomst {
                    ook,
                    instelling,
                    details,
                }
            } else {
                Command::DraftOnderwijsovereenkomst {
                    ook,
                    instelling,
                    details,
                }
            };
            execute_step(&state, &caller, &request, dossier, "ook", command).await?;
            let entry = IndexedOok {
                ook: req.ook_id,
                brin: caller.brin.as_str().to_owned(),
                dossier: aanmelding.dossier,
                aanmelding: Some(req.aanmelding_id),
                sjabloon: sjabloon.sjabloon,
                versie: sjabloon.versie,
            };
            state
                .api_store
                .index_ook(&entry)
                .await
                .map_err(|e| unavailable_api(&e))?;
            // The first entry stays (a retry after a new template version keeps the first).
            let entry = state
                .api_store
                .find_ook(req.ook_id)
                .await
                .map_err(|e| unavailable_api(&e))?
                .unwrap_or(entry);
            ook_answer(&state, &caller, &entry, 201).await
        },
    )
    .await
}

/// `GET /api/v1/onderwijsovereenkomsten/{id}`: one OOK with its status, signatures and signing
/// transactions.
#[utoipa::path(
    get, path = "/api/v1/onderwijsovereenkomsten/{id}", tag = "onderwijsovereenkomsten",
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id")),
    responses(
        (status = 200, description = "The onderwijsovereenkomst", body = OokView),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_ook(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
) -> Result<Json<OokView>, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let entry = own_ook(&state, &caller, id).await?;
    read_ook(&state, &caller, &entry)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/aanbieding`: offers a draft to the student.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/aanbieding", tag = "onderwijsovereenkomsten",
    request_body(content = Option<OfferBody>, description = "Empty, or an empty object"),
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Offered", body = OokView),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition (not a draft, or the aanmelding's status does not allow it), active_ook_exists, request_in_progress", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn offer_ook(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    if !body.is_empty() {
        // The document says "empty, or an empty object"; JSON `null` is an empty body too.
        let _: Option<OfferBody> = parse_json(&headers, &body)?;
    }
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/aanbieding");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let dossier = DossierKey(entry.dossier);
            let read = read_parts(
                &state,
                &caller,
                dossier,
                &[Part::Onderwijsovereenkomsten],
                ENDPOINT,
            )
            .await?
            .filter(|r| r.allows(0))
            .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
            let o = read
                .dossier
                .onderwijsovereenkomsten
                .get(&OokId(id))
                .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
            let not_a_draft = || {
                rejection_problem(&Rejection::InvalidTransition {
                    part: Part::Onderwijsovereenkomsten,
                    from: serde_name(&o.status),
                    to: serde_name(&OokStatus::Aangeboden),
                })
            };
            // A retry of an offer that went through finds it offered: the same command id
            // replays the registry's first answer. Another request finds it no longer a draft.
            if !matches!(o.status, OokStatus::Concept | OokStatus::Aangeboden) {
                return Err(not_a_draft());
            }
            let command = Command::OfferOnderwijsovereenkomst {
                ook: o.id,
                instelling: o.instelling.clone(),
                details: o.details.clone(),
            };
            let meta = command_meta(dossier, &caller, &request, "offer", api_time());
            let outcome = state
                .store
                .execute(meta, command, &state.reference)
                .await
                .map_err(|e| unavailable_store(&e))?;
            match outcome.result {
                Ok(_) => {}
                Err(Rejection::OokExists { .. }) => return Err(not_a_draft()),
                Err(r) => return Err(rejection_problem(&r)),
            }
            ook_answer(&state, &caller, &entry, 200).await
        },
    )
    .await
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/ondertekening`: records signatures on paper.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/ondertekening", tag = "onderwijsovereenkomsten",
    request_body = OokSignBody,
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Recorded; `status` is `ondertekend` once every required signer signed", body = OokView),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition (not offered), already_signed, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (e.g. a date in the future), parent_signature_required, signature_missing, signer_not_allowed, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sign_ook(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let req: OokSignBody = parse_json(&headers, &body)?;
    if req.ondertekenaars.is_empty() {
        return Err(Problem::invalid_field("ondertekenaars", "it is empty"));
    }
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/ondertekening");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let command = Command::SignOnderwijsovereenkomst {
                ook: OokId(id),
                ondertekenaars: req.ondertekenaars.iter().map(|w| (*w).into()).collect(),
                wijze: Ondertekenwijze::Papier,
                datum: req.datum,
            };
            execute_step(
                &state,
                &caller,
                &request,
                DossierKey(entry.dossier),
                "sign",
                command,
            )
            .await?;
            ook_answer(&state, &caller, &entry, 200).await
        },
    )
    .await
}

/// `POST /api/v1/onderwijsovereenkomsten/{id}/beeindiging`: ends a signed OOK (uitschrijving,
/// with a reden) or withdraws an unsigned one.
#[utoipa::path(
    post, path = "/api/v1/onderwijsovereenkomsten/{id}/beeindiging", tag = "onderwijsovereenkomsten",
    request_body = TerminateBody,
    params(("id" = Uuid, Path, description = "The onderwijsovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Ended (`beeindigd`) or withdrawn (`vervallen`)", body = OokView),
        (status = 403, description = "participation_level_too_low (level va), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition (ended or withdrawn already), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (reden missing or malformed, datum before the begin), bpv_outside_enrolment, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn terminate_ook(
    State(state): State<ApiState>,
    caller: Caller,
    OokPath(id): OokPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Aanmelden).await?;
    let req: TerminateBody = parse_json(&headers, &body)?;
    let reden = req
        .reden
        .as_deref()
        .map(str::parse::<RedenUitschrijving>)
        .transpose()
        .map_err(|e| Problem::invalid_field("reden", e.reason))?;
    let entry = own_ook(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/beeindiging");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let command = Command::TerminateOnderwijsovereenkomst {
                ook: OokId(id),
                datum: req.datum,
                reden,
            };
            execute_step(
                &state,
                &caller,
                &request,
                DossierKey(entry.dossier),
                "terminate",
                command,
            )
            .await?;
            ook_answer(&state, &caller, &entry, 200).await
        },
    )
    .await
}
