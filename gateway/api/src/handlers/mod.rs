//! The endpoints under `/api/v1`: token, aanmeldingen, status changes, the feed and the webhook
//! registration, plus health, readiness and metrics. Each handler is annotated for the OpenAPI
//! document ([`super::openapi`]); every public item is re-exported here, so
//! `knooppunt_api::handlers::<item>` names it wherever it lives.
//!
//! - [`token`](mod@token): the OAuth2 token endpoint;
//! - `aanmeldingen` (with the request and response bodies in `aanmelding_types`): submit, read,
//!   list and change the status of aanmeldingen;
//! - [`feed`](mod@feed), [`webhook`](mod@webhook), [`health`]: the feed, the webhook
//!   registration, the ops endpoints;
//! - `sjablonen`: the institution's OOK templates; `onderwijsovereenkomsten` (bodies and views
//!   in `ook_types`): an OOK from a template, offer, paper signing, termination, read;
//!   `praktijkovereenkomsten` (bodies in `bpv_types`): register (SBB is asked), read with
//!   SBB's answer, paper signing, end; `resultaten` (bodies and views in `resultaten_types`):
//!   keuzedelen (also at a guest institution) and their results, examenresultaten and the
//!   diploma of an onderwijsovereenkomst;
//! - `studenten` (bodies and views in `studenten_types`): the student reads — a lookup by BSN
//!   or onderwijsnummer, personalia, vooropleidingen, overstapdossier and keuzedelen as the
//!   policy gives them to an institution or a bevoegd gezag — and the result of a keuzedeel
//!   recorded by its guest institution;
//! - `idempotency`: the `Idempotency-Key` of a POST and the one idempotent flow;
//! - `rejection`: how a registry rejection is answered.
//!
//! This file holds what they share: derived command ids, the time of a request, the store
//! failures and registry outcomes as problems, query helpers.

use chrono::{DateTime, Utc};
use knooppunt_ops::audit::AuditEntry;
use knooppunt_registry::domain::Dossier;
use knooppunt_registry::envelope::{CommandMeta, DossierKey};
use knooppunt_registry::policy::{self, Access, Part, Subject};
use knooppunt_registry::reference::Participation;
use knooppunt_registry::store::{CommandOutcome, StoreError};
use uuid::Uuid;

use self::rejection::{institution_not_participating, participation_too_low};
use super::ApiState;
use super::auth::Caller;
use super::problem::{ErrorCode, Problem};

mod aanmelding_types;
mod aanmeldingen;
mod bpv_types;
pub mod feed;
pub mod health;
mod idempotency;
mod onderwijsovereenkomsten;
mod ook_types;
mod praktijkovereenkomsten;
mod rejection;
mod resultaten;
mod resultaten_types;
mod sjablonen;
mod studenten;
mod studenten_types;
pub mod token;
pub mod webhook;

pub use self::aanmelding_types::*;
pub use self::aanmeldingen::*;
pub use self::bpv_types::*;
pub use self::feed::*;
pub use self::health::*;
pub use self::idempotency::*;
pub use self::onderwijsovereenkomsten::*;
pub use self::ook_types::*;
pub use self::praktijkovereenkomsten::*;
pub use self::rejection::*;
pub use self::resultaten::*;
pub use self::resultaten_types::*;
pub use self::sjablonen::*;
pub use self::studenten::*;
pub use self::studenten_types::*;
pub use self::token::*;
pub use self::webhook::*;

/// Namespace of the command ids derived from `(oin, idempotency key, request hash, step)`.
const COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_5a01_8a70_6900_0000_0002);

/// A deterministic id for one step of one idempotent request: the caller's OIN, its
/// `Idempotency-Key` and the SHA-256 of the request (method, path, body) all go in, so the same
/// key with another body can never replay a command of the first body (say, the opening of
/// another student's dossier).
pub fn derived_id(oin: &str, key: &str, request_hash: &str, step: &str) -> Uuid {
    Uuid::new_v5(
        &COMMAND_NAMESPACE,
        format!("{oin}\n{key}\n{request_hash}\n{step}").as_bytes(),
    )
}

fn unavailable_store(e: &StoreError) -> Problem {
    tracing::warn!(error = %e, "registry store failed");
    Problem::unavailable()
}

fn unavailable_api(e: &super::store::ApiStoreError) -> Problem {
    tracing::warn!(error = %e, "api store failed");
    Problem::unavailable()
}

/// The meta of the command of one `step` of an idempotent request: the caller as actor, and as
/// id (also correlation and causation id) the one derived from the caller, its key and the
/// request's hash, so a retry of the same request sends the same command.
fn command_meta(
    dossier: DossierKey,
    caller: &Caller,
    request: &IdempotentRequest,
    step: &str,
    now: DateTime<Utc>,
) -> CommandMeta {
    let mut meta = CommandMeta::new(dossier, caller.actor(), now);
    meta.id = request.derived_id(step);
    meta.correlation_id = meta.id;
    meta.causation_id = meta.id;
    meta
}

/// The time of a request: the command's time in the registry, and the day the rules and the
/// policy judge by.
fn api_time() -> DateTime<Utc> {
    Utc::now()
}

/// Executes `command` as one `step` of an idempotent request on `dossier`: the caller as actor,
/// the id derived from the request; a rejection is its problem.
async fn execute_step(
    state: &ApiState,
    caller: &Caller,
    request: &IdempotentRequest,
    dossier: DossierKey,
    step: &str,
    command: knooppunt_registry::domain::Command,
) -> Result<(), Problem> {
    let meta = command_meta(dossier, caller, request, step, api_time());
    let outcome = state
        .store
        .execute(meta, command, &state.reference)
        .await
        .map_err(|e| unavailable_store(&e))?;
    outcome_ok(outcome).map(drop)
}

fn outcome_ok(
    outcome: CommandOutcome,
) -> Result<Vec<knooppunt_registry::store::EventEnvelope>, Problem> {
    outcome.result.map_err(|r| rejection_problem(&r))
}

fn query_problem(e: &axum::extract::rejection::QueryRejection) -> Problem {
    let text = e.body_text();
    let reason = text
        .split_once(": ")
        .map(|(_, r)| r.to_owned())
        .unwrap_or(text);
    Problem::new(ErrorCode::InvalidQuery).detail(format!("invalid query string: {reason}"))
}

fn page_limit(state: &ApiState, limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(state.limits.default_page),
        Some(n) if n >= 1 && n <= state.limits.max_page => Ok(n),
        Some(_) => Err(Problem::new(ErrorCode::InvalidQuery)
            .detail(format!("limit must be 1 to {}", state.limits.max_page))
            .field("limit", "out of range")),
    }
}

/// The caller's institution must take part at `required` or higher (the registry's rule, with
/// the edge's answer: 403 `participation_level_too_low` naming both levels). Checked before
/// anything else, so a `va` institution learns why, not a 404. The level is the effective one:
/// the latest change an operator recorded ([`Store::levels`](knooppunt_registry::store::Store::levels)),
/// else the reference data's.
async fn require_level(
    state: &ApiState,
    caller: &Caller,
    required: Participation,
) -> Result<(), Problem> {
    let inst = state
        .reference
        .institution(&caller.brin)
        .ok_or_else(institution_not_participating)?;
    let levels = state
        .store
        .levels()
        .await
        .map_err(|e| unavailable_store(&e))?;
    let level = levels.of(inst);
    if level >= required {
        Ok(())
    } else {
        Err(participation_too_low(level, required))
    }
}

/// A dossier read by the caller, with the policy's answer per part asked.
struct PartsRead {
    dossier: Dossier,
    allowed: Vec<bool>,
}

impl PartsRead {
    fn allows(&self, i: usize) -> bool {
        self.allowed.get(i).copied().unwrap_or(false)
    }
}

/// Reads the dossier `key` for the caller: each of `parts` is decided by `policy::decide` and
/// written to the audit trail (one entry per part, allowed or denied, ids only) before anything
/// is shown; `None` when there is no dossier. An audit trail that cannot be written refuses the
/// read (503).
async fn read_parts(
    state: &ApiState,
    caller: &Caller,
    key: DossierKey,
    parts: &[Part],
    endpoint: &'static str,
) -> Result<Option<PartsRead>, Problem> {
    let Some(d) = state
        .store
        .dossier(key)
        .await
        .map_err(|e| unavailable_store(&e))?
    else {
        return Ok(None);
    };
    let allowed = decide_parts(state, caller, key, &d, parts, endpoint).await?;
    Ok(Some(PartsRead {
        dossier: d,
        allowed,
    }))
}

/// Decides each of `parts` of the dossier `d` (read already) for the caller with
/// `policy::decide` and writes the decisions to the audit trail (ids only) before anything is
/// shown: for a part a read shows only in some states (the results of a signed agreement).
async fn decide_parts(
    state: &ApiState,
    caller: &Caller,
    key: DossierKey,
    d: &Dossier,
    parts: &[Part],
    endpoint: &'static str,
) -> Result<Vec<bool>, Problem> {
    let subject = Subject {
        key,
        dossier: d,
        reference: &state.reference,
        on: knooppunt_registry::domain::time::local_date(api_time()),
    };
    let actor = caller.actor();
    let mut allowed = Vec::with_capacity(parts.len());
    let mut entries = Vec::with_capacity(parts.len());
    for part in parts {
        let (ground, denied) = match policy::decide(&actor, &subject, *part, Access::Read) {
            policy::Decision::Allow { ground } => (crate::feed::serde_name(&ground), false),
            policy::Decision::Deny { reason } => (crate::feed::serde_name(&reason), true),
        };
        allowed.push(!denied);
        entries.push(
            AuditEntry::for_read(
                key,
                caller.audit_actor(),
                crate::feed::serde_name(part),
                ground,
                denied,
            )
            .endpoint(endpoint),
        );
    }
    state.audit.append_many(entries).await.map_err(|e| {
        tracing::warn!(error = %e, "audit trail unavailable; read refused");
        Problem::unavailable()
    })?;
    Ok(allowed)
}
