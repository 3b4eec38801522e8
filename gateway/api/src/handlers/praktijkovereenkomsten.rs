//! Praktijkovereenkomsten (BPVO, memo §5e) for an institution at level `krd`: registered within
//! one of its signed onderwijsovereenkomsten (`RegisterPraktijkovereenkomst`; the SBB adapter
//! then asks SBB whether the leerbedrijf is recognised, and SBB's answer is recorded as a
//! command of SBB), read with SBB's answer, signed on paper once SBB recognised the leerbedrijf
//! (`SignPraktijkovereenkomst`, wijze `papier`; the signing provider's transaction for a
//! recognised BPVO signs it digitally too), ended (`EndPraktijkovereenkomst`). The BPV index
//! (`ApiStore::index_bpv`) maps the BPV id to its dossier; reads go through `read_parts`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use knooppunt_registry::domain::{
    BpvDetails, BpvId, BpvOnderdeel, Command, Ondertekenwijze, OokId, OokStatus, Rejection,
};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{IdError, KeuzedeelCode, LeerbedrijfId};
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::Participation;
use uuid::Uuid;

use super::bpv_types::{BpvSignBody, BpvView, EndBpvBody, NewBpvBody};
use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::{
    api_time, execute_step, read_parts, rejection_problem, require_level, unavailable_api,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, parse_json};
use crate::store::{IndexedBpv, StoredResponse};

const ENDPOINT: &str = "/api/v1/praktijkovereenkomsten";

/// The `{id}` of a praktijkovereenkomst's path; one that is not a UUID is answered 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpvPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for BpvPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::not_found("praktijkovereenkomst"))
    }
}

fn id_problem(field: &str, e: &IdError) -> Problem {
    Problem::invalid_field(field, e.reason.to_string())
}

/// The index entry of a BPV of the caller; 404 for anything else.
async fn own_bpv(state: &ApiState, caller: &Caller, id: Uuid) -> Result<IndexedBpv, Problem> {
    match state
        .api_store
        .find_bpv(id)
        .await
        .map_err(|e| unavailable_api(&e))?
    {
        Some(e) if e.brin == caller.brin.as_str() => Ok(e),
        _ => Err(Problem::not_found("praktijkovereenkomst")),
    }
}

/// The BPV as the caller may see it (parts `praktijkovereenkomsten`, required, and
/// `ondertekening`), read and audited.
async fn read_bpv(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedBpv,
) -> Result<Option<BpvView>, Problem> {
    let parts = [Part::Praktijkovereenkomsten, Part::Ondertekening];
    let Some(read) = read_parts(state, caller, DossierKey(entry.dossier), &parts, ENDPOINT).await?
    else {
        return Ok(None);
    };
    if !read.allows(0) {
        return Ok(None);
    }
    Ok(read
        .dossier
        .praktijkovereenkomsten
        .get(&BpvId(entry.bpv))
        .filter(|b| b.instelling.instelling() == caller.brin)
        .map(|b| BpvView::new(&read.dossier, b, read.allows(1))))
}

async fn bpv_answer(
    state: &ApiState,
    caller: &Caller,
    entry: &IndexedBpv,
    status: u16,
) -> Result<StoredResponse, Problem> {
    let view = read_bpv(state, caller, entry)
        .await?
        .ok_or_else(|| Problem::not_found("praktijkovereenkomst"))?;
    Ok(StoredResponse {
        status,
        location: (status == 201).then(|| format!("{ENDPOINT}/{}", entry.bpv)),
        body: serde_json::to_value(&view).unwrap_or_default(),
    })
}

/// `POST /api/v1/praktijkovereenkomsten`: registers a BPVO within one of your signed
/// onderwijsovereenkomsten; SBB is asked next.
#[utoipa::path(
    post, path = "/api/v1/praktijkovereenkomsten", tag = "praktijkovereenkomsten",
    request_body = NewBpvBody,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Registered; `sbb.status` is `pending` until SBB answers", body = BpvView, headers(("Location" = String, description = "URL of the praktijkovereenkomst"))),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such onderwijsovereenkomst of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "bpv_exists, ook_not_running, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, bpv_outside_enrolment, bpv_onderdeel_mismatch, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_bpv(
    State(state): State<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: NewBpvBody = parse_json(&headers, &body)?;
    let leerbedrijf: LeerbedrijfId = req
        .leerbedrijf
        .parse()
        .map_err(|e| id_problem("leerbedrijf", &e))?;
    let keuzedeel: Option<KeuzedeelCode> = req
        .keuzedeel
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: IdError| id_problem("keuzedeel", &e))?;
    let ook = match state
        .api_store
        .find_ook(req.ook_id)
        .await
        .map_err(|e| unavailable_api(&e))?
    {
        Some(e) if e.brin == caller.brin.as_str() => e,
        _ => return Err(Problem::not_found("onderwijsovereenkomst")),
    };
    if let Some(existing) = state
        .api_store
        .find_bpv(req.bpv_id)
        .await
        .map_err(|e| unavailable_api(&e))?
        && (existing.brin != caller.brin.as_str() || existing.ook != req.ook_id)
    {
        return Err(rejection_problem(&Rejection::BpvExists {
            bpv: BpvId(req.bpv_id),
        }));
    }
    let request = IdempotentRequest::post(&caller, &key, ENDPOINT, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let dossier = DossierKey(ook.dossier);
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
                .get(&OokId(ook.ook))
                .ok_or_else(|| Problem::not_found("onderwijsovereenkomst"))?;
            // The registry's rule, answered before its policy check (an institution whose OOK
            // is not signed has no relation yet that lets it register a BPV).
            if o.status != OokStatus::Ondertekend {
                return Err(rejection_problem(&Rejection::OokNotRunning { ook: o.id }));
            }
            let onderdeel = match keuzedeel {
                Some(k) => BpvOnderdeel::Keuzedeel(k),
                None => BpvOnderdeel::Crebo(o.details.crebo.clone()),
            };
            let details = BpvDetails {
                ook: OokId(ook.ook),
                leerbedrijf,
                onderdeel,
                begin: req.begin,
                gepland_einde: req.gepland_einde,
                omvang_uren: req.omvang_uren,
                afsluitdatum: req
                    .afsluitdatum
                    .unwrap_or_else(|| knooppunt_registry::domain::time::local_date(api_time())),
            };
            let command = Command::RegisterPraktijkovereenkomst {
                bpv: BpvId(req.bpv_id),
                details,
            };
            execute_step(&state, &caller, &request, dossier, "bpv", command).await?;
            let entry = IndexedBpv {
                bpv: req.bpv_id,
                brin: caller.brin.as_str().to_owned(),
                dossier: ook.dossier,
                ook: ook.ook,
            };
            state
                .api_store
                .index_bpv(&entry)
                .await
                .map_err(|e| unavailable_api(&e))?;
            bpv_answer(&state, &caller, &entry, 201).await
        },
    )
    .await
}

/// `GET /api/v1/praktijkovereenkomsten/{id}`: one BPVO with SBB's answer, its signatures and
/// signing transactions.
#[utoipa::path(
    get, path = "/api/v1/praktijkovereenkomsten/{id}", tag = "praktijkovereenkomsten",
    params(("id" = Uuid, Path, description = "The praktijkovereenkomst id")),
    responses(
        (status = 200, description = "The praktijkovereenkomst", body = BpvView),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_bpv(
    State(state): State<ApiState>,
    caller: Caller,
    BpvPath(id): BpvPath,
) -> Result<Json<BpvView>, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let entry = own_bpv(&state, &caller, id).await?;
    read_bpv(&state, &caller, &entry)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("praktijkovereenkomst"))
}

/// `POST /api/v1/praktijkovereenkomsten/{id}/ondertekening`: records signatures on paper; only
/// once SBB recognised the leerbedrijf (else 409 `leerbedrijf_not_erkend`).
#[utoipa::path(
    post, path = "/api/v1/praktijkovereenkomsten/{id}/ondertekening", tag = "praktijkovereenkomsten",
    request_body = BpvSignBody,
    params(("id" = Uuid, Path, description = "The praktijkovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Recorded; `status` is `ondertekend` once student, school and leerbedrijf signed", body = BpvView),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "leerbedrijf_not_erkend, already_signed, invalid_transition, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (e.g. a date in the future), signer_not_allowed, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn sign_bpv(
    State(state): State<ApiState>,
    caller: Caller,
    BpvPath(id): BpvPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: BpvSignBody = parse_json(&headers, &body)?;
    if req.ondertekenaars.is_empty() {
        return Err(Problem::invalid_field("ondertekenaars", "it is empty"));
    }
    let entry = own_bpv(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/ondertekening");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let command = Command::SignPraktijkovereenkomst {
                bpv: BpvId(id),
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
            bpv_answer(&state, &caller, &entry, 200).await
        },
    )
    .await
}

/// `POST /api/v1/praktijkovereenkomsten/{id}/beeindiging`: ends a BPVO (datum einde werkelijk).
#[utoipa::path(
    post, path = "/api/v1/praktijkovereenkomsten/{id}/beeindiging", tag = "praktijkovereenkomsten",
    request_body = EndBpvBody,
    params(("id" = Uuid, Path, description = "The praktijkovereenkomst id"), IdempotencyKey),
    responses(
        (status = 200, description = "Ended", body = BpvView),
        (status = 403, description = "participation_level_too_low (below krd), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found (also another institution's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition (ended already), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (datum before the begin), bpv_outside_enrolment, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn end_bpv(
    State(state): State<ApiState>,
    caller: Caller,
    BpvPath(id): BpvPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    require_level(&state, &caller, Participation::Krd).await?;
    let req: EndBpvBody = parse_json(&headers, &body)?;
    let entry = own_bpv(&state, &caller, id).await?;
    let path = format!("{ENDPOINT}/{id}/beeindiging");
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let command = Command::EndPraktijkovereenkomst {
                bpv: BpvId(id),
                datum: req.datum,
            };
            execute_step(
                &state,
                &caller,
                &request,
                DossierKey(entry.dossier),
                "end",
                command,
            )
            .await?;
            bpv_answer(&state, &caller, &entry, 200).await
        },
    )
    .await
}
