//! The student reads (`/api/v1/studenten`): an institution (as the student's own school, with
//! the student's consent, as guest institution for a keuzedeel or as samenwerkingsschool) or a
//! bevoegd gezag reads exactly the parts `policy::decide` gives it — personalia,
//! vooropleidingen, overstapdossier, keuzedelen — and nothing else; and the guest institution
//! records the result of a keuzedeel it hosts with its own credentials.
//!
//! A student is found with `POST /api/v1/studenten/zoeken` (the BSN or onderwijsnummer in the
//! body, never in a URL), which answers the dossier key as the student's reference. Every read
//! is decided by the policy and written to the audit trail (one entry per part, allowed or
//! denied, ids only) before anything is shown; the policy judges the dossier as it is now, so a
//! withdrawn consent refuses the next read. A caller with no relation with the student gets
//! 404 (an unknown student and a stranger's look alike); a relation that does not cover the
//! part gets 403 `no_consent` (an institution with an aanmelding: consent would cover it) or
//! `not_permitted`, naming the part.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use knooppunt_ops::audit::AuditEntry;
use knooppunt_registry::domain::{Command, Dossier, Keuzedeel, OokId, Rejection};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{KeuzedeelCode, PersonId};
use knooppunt_registry::policy::{self, Access, Decision, DenyReason, Ground, Part, Subject};
use uuid::Uuid;

use super::idempotency::{IdempotencyKey, IdempotentRequest, idempotent};
use super::studenten_types::{
    OverstapdossiersView, PersonaliaView, StudentKeuzedeelView, StudentKeuzedelenView,
    StudentLookupBody, StudentLookupView, VooropleidingenView,
};
use super::{KeuzedeelResultaatBody, api_time, command_meta, rejection_problem, unavailable_store};
use crate::ApiState;
use crate::auth::{Caller, Reader};
use crate::feed::serde_name;
use crate::problem::{ErrorCode, Problem, parse_json};
use crate::store::StoredResponse;

/// The route prefix.
const STUDENTEN: &str = "/api/v1/studenten";

/// The parts a student read can show, in the order of a lookup's `delen`.
pub const READABLE_PARTS: [Part; 4] = [
    Part::Personalia,
    Part::Vooropleidingen,
    Part::Overstapdossier,
    Part::Keuzedelen,
];

/// The `{student}` of a path; one that is not a UUID is answered 404 like an unknown student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StudentPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for StudentPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::for_status(e.status()))?;
        Uuid::parse_str(&raw)
            .map(Self)
            .map_err(|_| Problem::not_found("student"))
    }
}

/// The `{student}`, `{ook}` and `{code}` of a keuzedeel result's path; anything malformed is
/// answered 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentKeuzedeelPath(pub Uuid, pub Uuid, pub KeuzedeelCode);

impl<S: Send + Sync> FromRequestParts<S> for StudentKeuzedeelPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path((student, ook, code)) =
            Path::<(String, String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| Problem::for_status(e.status()))?;
        let student = Uuid::parse_str(&student).map_err(|_| Problem::not_found("student"))?;
        let ook = Uuid::parse_str(&ook).map_err(|_| Problem::not_found("keuzedeel"))?;
        let code = code.parse().map_err(|_| Problem::not_found("keuzedeel"))?;
        Ok(Self(student, ook, code))
    }
}

fn lookup_person(body: &StudentLookupBody) -> Result<PersonId, Problem> {
    super::aanmeldingen::person_from(
        body.bsn.as_deref(),
        body.onderwijsnummer.as_deref(),
        "",
        "bsn",
    )
}

/// The dossier `key`, or 404 `not_found` for a student that is not there.
async fn load(state: &ApiState, key: DossierKey) -> Result<Dossier, Problem> {
    state
        .store
        .dossier(key)
        .await
        .map_err(|e| unavailable_store(&e))?
        .ok_or_else(|| Problem::not_found("student"))
}

/// Decides `parts` of `d` for the reader and writes each decision to the audit trail (ids
/// only) before anything is shown; an audit trail that cannot be written refuses the read.
async fn decide_and_audit(
    state: &ApiState,
    reader: &Reader,
    key: DossierKey,
    d: &Dossier,
    parts: &[Part],
    endpoint: &str,
) -> Result<Vec<Decision>, Problem> {
    let subject = Subject {
        key,
        dossier: d,
        reference: &state.reference,
        on: knooppunt_registry::domain::time::local_date(api_time()),
    };
    let actor = reader.actor();
    let decisions: Vec<Decision> = parts
        .iter()
        .map(|part| policy::decide(&actor, &subject, *part, Access::Read))
        .collect();
    let entries = parts
        .iter()
        .zip(&decisions)
        .map(|(part, decision)| {
            let (ground, denied) = match decision {
                Decision::Allow { ground } => (serde_name(ground), false),
                Decision::Deny { reason } => (serde_name(reason), true),
            };
            AuditEntry::for_read(key, reader.audit_actor(), part.as_str(), ground, denied)
                .endpoint(endpoint.to_owned())
        })
        .collect();
    state.audit.append_many(entries).await.map_err(|e| {
        tracing::warn!(error = %e, "audit trail unavailable; read refused");
        Problem::unavailable()
    })?;
    Ok(decisions)
}

/// The problem of a refused read of `part`: 404 without a relation, else 403 naming the part.
fn refused(reader: &Reader, d: &Dossier, part: Part, reason: DenyReason) -> Problem {
    if reason == DenyReason::NoRelation {
        return Problem::not_found("student");
    }
    // Consent is given to an institution the student applied to; for it, consent is what is
    // missing.
    let consentable = !matches!(part, Part::History | Part::Toestemmingen);
    let applied = reader.institution().is_some_and(|c| {
        d.aanmeldingen
            .values()
            .any(|a| a.instelling.instelling() == c.brin)
    });
    if consentable && applied {
        Problem::new(ErrorCode::NoConsent).detail(format!(
            "the student's consent does not cover {part} (none given, another scope, or withdrawn)"
        ))
    } else {
        Problem::new(ErrorCode::NotPermitted).detail(format!(
            "your relation with the student does not cover {part}"
        ))
    }
}

/// Reads one part of the student's dossier for the reader: decided, audited, refused as a
/// problem; the dossier and the ground when allowed.
async fn read_part(
    state: &ApiState,
    reader: &Reader,
    student: Uuid,
    part: Part,
    endpoint: &str,
) -> Result<(Dossier, Ground), Problem> {
    let key = DossierKey(student);
    let d = load(state, key).await?;
    let decisions = decide_and_audit(state, reader, key, &d, &[part], endpoint).await?;
    match decisions.first() {
        Some(Decision::Allow { ground }) => Ok((d, *ground)),
        Some(Decision::Deny { reason }) => Err(refused(reader, &d, part, *reason)),
        None => Err(Problem::internal()),
    }
}

/// `POST /api/v1/studenten/zoeken`: finds a student by BSN or onderwijsnummer.
#[utoipa::path(
    post, path = "/api/v1/studenten/zoeken", tag = "studenten",
    request_body = StudentLookupBody,
    responses(
        (status = 200, description = "The student's reference and the parts you may read now", body = StudentLookupView),
        (status = 400, description = "malformed_json", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing_token, invalid_token, client_certificate_required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student, or none you have a relation with", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (bsn or onderwijsnummer: malformed, both or neither; an unknown field)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn lookup_student(
    State(state): State<ApiState>,
    reader: Reader,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StudentLookupView>, Problem> {
    let req: StudentLookupBody = parse_json(&headers, &body)?;
    let person = lookup_person(&req)?;
    let key = state
        .store
        .find_dossier(&person)
        .await
        .map_err(|e| unavailable_store(&e))?
        .ok_or_else(|| Problem::not_found("student"))?;
    let d = load(&state, key).await?;
    let endpoint = format!("{STUDENTEN}/zoeken");
    let decisions = decide_and_audit(&state, &reader, key, &d, &READABLE_PARTS, &endpoint).await?;
    let related = decisions.iter().any(|d| {
        !matches!(
            d,
            Decision::Deny {
                reason: DenyReason::NoRelation
            }
        )
    });
    if !related {
        return Err(Problem::not_found("student"));
    }
    let delen = READABLE_PARTS
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.is_allowed())
        .map(|(p, _)| p.as_str().to_owned())
        .collect();
    Ok(Json(StudentLookupView {
        student: key.0,
        delen,
    }))
}

/// `GET /api/v1/studenten/{student}/personalia`.
#[utoipa::path(
    get, path = "/api/v1/studenten/{student}/personalia", tag = "studenten",
    params(("student" = Uuid, Path, description = "The student's reference from /api/v1/studenten/zoeken")),
    responses(
        (status = 200, description = "The personalia", body = PersonaliaView),
        (status = 403, description = "no_consent (your aanmelding's consent does not cover personalia), not_permitted (your relation does not cover it), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student or no relation; or DUO has not given the personalia yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_personalia(
    State(state): State<ApiState>,
    reader: Reader,
    StudentPath(student): StudentPath,
) -> Result<Json<PersonaliaView>, Problem> {
    let endpoint = format!("{STUDENTEN}/{{student}}/personalia");
    let (d, _) = read_part(&state, &reader, student, Part::Personalia, &endpoint).await?;
    d.personalia
        .as_ref()
        .map(|p| Json(PersonaliaView::from(p)))
        .ok_or_else(|| {
            Problem::new(ErrorCode::NotFound).detail("DUO has not given the personalia yet")
        })
}

/// `GET /api/v1/studenten/{student}/vooropleidingen`.
#[utoipa::path(
    get, path = "/api/v1/studenten/{student}/vooropleidingen", tag = "studenten",
    params(("student" = Uuid, Path, description = "The student's reference from /api/v1/studenten/zoeken")),
    responses(
        (status = 200, description = "The vooropleidingen (empty before DUO answered)", body = VooropleidingenView),
        (status = 403, description = "no_consent, not_permitted (a guest institution, samenwerkingsschool or bevoegd gezag), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student or no relation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_vooropleidingen(
    State(state): State<ApiState>,
    reader: Reader,
    StudentPath(student): StudentPath,
) -> Result<Json<VooropleidingenView>, Problem> {
    let endpoint = format!("{STUDENTEN}/{{student}}/vooropleidingen");
    let (d, _) = read_part(&state, &reader, student, Part::Vooropleidingen, &endpoint).await?;
    Ok(Json(VooropleidingenView {
        items: d.vooropleidingen.iter().map(Into::into).collect(),
    }))
}

/// `GET /api/v1/studenten/{student}/overstapdossier`.
#[utoipa::path(
    get, path = "/api/v1/studenten/{student}/overstapdossier", tag = "studenten",
    params(("student" = Uuid, Path, description = "The student's reference from /api/v1/studenten/zoeken")),
    responses(
        (status = 200, description = "The overstapdossiers received (summary and document hash)", body = OverstapdossiersView),
        (status = 403, description = "no_consent, not_permitted, certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student or no relation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_overstapdossier(
    State(state): State<ApiState>,
    reader: Reader,
    StudentPath(student): StudentPath,
) -> Result<Json<OverstapdossiersView>, Problem> {
    let endpoint = format!("{STUDENTEN}/{{student}}/overstapdossier");
    let (d, _) = read_part(&state, &reader, student, Part::Overstapdossier, &endpoint).await?;
    Ok(Json(OverstapdossiersView {
        items: d.overstapdossiers.iter().map(Into::into).collect(),
    }))
}

/// Whether the reader, allowed on `ground`, sees keuzedeel `k`: an institution those it enrols
/// or hosts (with consent: all; as samenwerkingsschool: those of its samenwerkingsverband), a
/// bevoegd gezag those of its institutions.
fn sees(state: &ApiState, reader: &Reader, ground: Ground, k: &Keuzedeel) -> bool {
    let reference = &state.reference;
    match reader {
        Reader::Institution(c) => {
            let own = k.instelling.instelling() == c.brin;
            let hosts = k.gastinstelling.as_ref().map(|g| g.instelling()) == Some(c.brin.clone());
            let verband = |b: &knooppunt_registry::ids::Brin| {
                reference
                    .institution(b)
                    .and_then(|i| i.samenwerkingsverband.clone())
            };
            let same_verband = ground == Ground::Samenwerkingsschool
                && verband(&c.brin).is_some()
                && verband(&k.instelling) == verband(&c.brin);
            own || hosts || ground == Ground::Consent || same_verband
        }
        Reader::BevoegdGezag(b) => reference
            .institution(&k.instelling)
            .is_some_and(|i| i.bevoegd_gezag == b.bestuur),
    }
}

fn keuzedelen_view(
    state: &ApiState,
    reader: &Reader,
    ground: Ground,
    d: &Dossier,
) -> StudentKeuzedelenView {
    StudentKeuzedelenView {
        items: d
            .keuzedelen
            .iter()
            .filter(|k| sees(state, reader, ground, k))
            .map(Into::into)
            .collect(),
    }
}

/// `GET /api/v1/studenten/{student}/keuzedelen`.
#[utoipa::path(
    get, path = "/api/v1/studenten/{student}/keuzedelen", tag = "studenten",
    params(("student" = Uuid, Path, description = "The student's reference from /api/v1/studenten/zoeken")),
    responses(
        (status = 200, description = "The keuzedelen you may see (a guest institution: those it hosts)", body = StudentKeuzedelenView),
        (status = 403, description = "no_consent, not_permitted, certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student or no relation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_student_keuzedelen(
    State(state): State<ApiState>,
    reader: Reader,
    StudentPath(student): StudentPath,
) -> Result<Json<StudentKeuzedelenView>, Problem> {
    let endpoint = format!("{STUDENTEN}/{{student}}/keuzedelen");
    let (d, ground) = read_part(&state, &reader, student, Part::Keuzedelen, &endpoint).await?;
    Ok(Json(keuzedelen_view(&state, &reader, ground, &d)))
}

/// The keuzedeel `(ook, code)` of the student as the caller sees it (its keuzedelen read,
/// decided and audited); 404 unless the caller enrols or hosts it.
async fn hosted_keuzedeel(
    state: &ApiState,
    caller: &Caller,
    student: Uuid,
    ook: Uuid,
    code: &KeuzedeelCode,
    endpoint: &str,
) -> Result<StudentKeuzedeelView, Problem> {
    let reader = Reader::Institution(caller.clone());
    let (d, _) = read_part(state, &reader, student, Part::Keuzedelen, endpoint).await?;
    d.keuzedelen
        .iter()
        .filter(|k| k.ook == OokId(ook) && &k.code == code)
        .find(|k| {
            k.instelling.instelling() == caller.brin
                || k.gastinstelling.as_ref().map(|g| g.instelling()) == Some(caller.brin.clone())
        })
        .map(Into::into)
        .ok_or_else(|| Problem::not_found("keuzedeel"))
}

/// `POST /api/v1/studenten/{student}/keuzedelen/{ook}/{code}/resultaat`: records (or
/// corrects) the result of a keuzedeel you host as guest institution (or enrol), with your own
/// credentials. The enrolling institution sees it in its feed.
#[utoipa::path(
    post, path = "/api/v1/studenten/{student}/keuzedelen/{ook}/{code}/resultaat", tag = "studenten",
    request_body = KeuzedeelResultaatBody,
    params(
        ("student" = Uuid, Path, description = "The student's reference from /api/v1/studenten/zoeken"),
        ("ook" = Uuid, Path, description = "The onderwijsovereenkomst the keuzedeel belongs to (`onderwijsovereenkomst` in the keuzedelen read)"),
        ("code" = String, Path, description = "The keuzedeel code, e.g. K0100"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Recorded; the body is the keuzedeel with its result", body = StudentKeuzedeelView),
        (status = 400, description = "malformed_json, idempotency_key_missing, idempotency_key_invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing_token, invalid_token, client_certificate_required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "not_permitted (also a bevoegd gezag client), certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such student, or no such keuzedeel you host or enrol", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "ook_not_running (never signed), request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field (uitslag, datum before the datum inschrijving or in the future, an unknown field), idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn record_hosted_keuzedeel_resultaat(
    State(state): State<ApiState>,
    caller: Caller,
    StudentKeuzedeelPath(student, ook, code): StudentKeuzedeelPath,
    key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let req: KeuzedeelResultaatBody = parse_json(&headers, &body)?;
    let endpoint = format!("{STUDENTEN}/{{student}}/keuzedelen/{{ook}}/{{code}}/resultaat");
    hosted_keuzedeel(&state, &caller, student, ook, &code, &endpoint).await?;
    let path = format!(
        "{STUDENTEN}/{student}/keuzedelen/{ook}/{}/resultaat",
        code.as_str()
    );
    let request = IdempotentRequest::post(&caller, &key, &path, &body);
    idempotent(
        &state,
        &request,
        || Ok(()),
        || async {
            let dossier = DossierKey(student);
            let meta = command_meta(dossier, &caller, &request, "resultaat", api_time());
            let command = Command::RecordKeuzedeelResultaat {
                ook: OokId(ook),
                code: code.clone(),
                uitslag: req.uitslag.into(),
                datum: req.datum,
            };
            let outcome = state
                .store
                .execute(meta, command, &state.reference)
                .await
                .map_err(|e| unavailable_store(&e))?;
            match outcome.result {
                // The same result again is answered like the first time.
                Ok(_) | Err(Rejection::Unchanged) => {}
                Err(r) => return Err(rejection_problem(&r)),
            }
            let view = hosted_keuzedeel(&state, &caller, student, ook, &code, &endpoint).await?;
            Ok(StoredResponse {
                status: 200,
                location: None,
                body: serde_json::to_value(&view).unwrap_or_default(),
            })
        },
    )
    .await
}
