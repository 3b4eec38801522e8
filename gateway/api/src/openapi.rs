//! The OpenAPI 3.1 document (utoipa), served at `/openapi.json` and browsable at `/docs`.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use super::handlers;
use super::problem::{FieldError, Problem};

/// Adds the bearer security scheme.
#[derive(Debug)]
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Token from POST /api/v1/oauth2/token (client credentials, client_id = OIN), over mTLS with the PKIoverheid certificate of the same OIN",
                    ))
                    .build(),
            ),
        );
    }
}

/// Documents the error answers every operation of a kind can give, so that each status a
/// caller can meet is in the document (found by `scripts/schemathesis.sh`: a 415 or 400 on
/// `PUT /webhook`, a 400 for an invalid `Idempotency-Key` on a status change were missing).
///
/// - every operation: 408 `request_timeout`, 500 `internal_error`;
/// - with a bearer token: 401 (`missing_token`, `invalid_token`, `client_certificate_required`),
///   403 `certificate_oin_mismatch`, 503 `unavailable`;
/// - with a request body: 413 `body_too_large`; a JSON body also 400 `malformed_json`,
///   415 `unsupported_media_type`, 422 `invalid_field`;
/// - with an `Idempotency-Key`: 400 (`idempotency_key_missing`, `idempotency_key_invalid`),
///   409 `request_in_progress`, 422 `idempotency_key_reused`;
/// - with query parameters: 400 `invalid_query`.
///
/// A status an operation documents itself is kept as it is.
///
/// It also sets `minProperties: 1` on `StudentBody` (see there).
#[derive(Debug)]
struct CommonResponses;

/// What one operation can answer besides its own responses.
fn common_responses(op: &Operation) -> Vec<(u16, &'static str)> {
    let mut out = vec![
        (
            408,
            "request_timeout: the request took longer than the limit; retry with the same Idempotency-Key",
        ),
        (500, "internal_error: a bug (nothing internal is shown)"),
    ];
    let params = op.parameters.as_deref().unwrap_or_default();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        out.push((
            401,
            "missing_token, invalid_token, client_certificate_required",
        ));
        out.push((403, "certificate_oin_mismatch"));
        out.push((
            503,
            "unavailable: a backing service is down; retry (with the same Idempotency-Key), see Retry-After",
        ));
    }
    if let Some(body) = &op.request_body {
        out.push((413, "body_too_large"));
        if body.content.contains_key("application/json") {
            out.push((400, "malformed_json"));
            out.push((415, "unsupported_media_type"));
            out.push((422, "invalid_field"));
        }
    }
    if params.iter().any(|p| {
        p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case("idempotency-key")
    }) {
        out.push((400, "idempotency_key_missing, idempotency_key_invalid"));
        out.push((409, "request_in_progress"));
        out.push((422, "idempotency_key_reused"));
    }
    if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
        out.push((400, "invalid_query"));
    }
    out
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            super::problem::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // A student names exactly one identifier (`maxProperties` comes from the derive;
        // utoipa-gen 5.5 turns `min_properties` into a second `maxProperties`).
        if let Some(RefOr::T(Schema::Object(student))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("StudentBody"))
        {
            student.min_properties = Some(1);
        }
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let mut add: Vec<(u16, Vec<&str>)> = Vec::new();
                for (status, what) in common_responses(op) {
                    match add.iter_mut().find(|(s, _)| *s == status) {
                        Some((_, whats)) => whats.push(what),
                        None => add.push((status, vec![what])),
                    }
                }
                for (status, whats) in add {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::T(problem_response(&whats.join("; "))));
                }
            }
        }
    }
}

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Knooppunt open API",
        description = "Aanmeldingen, VA status changes, OOK templates, onderwijs- and praktijkovereenkomsten, keuzedelen, exam results and diplomas, the student reads (personalia, vooropleidingen, overstapdossier, keuzedelen) as the access policy gives them, the per-institution feed and webhooks for the institutions' SIS. See docs/api.md.",
        version = "1"
    ),
    paths(
        handlers::token,
        handlers::submit_aanmelding,
        handlers::list_aanmeldingen,
        handlers::get_aanmelding,
        handlers::change_status,
        handlers::create_sjabloon,
        handlers::list_sjablonen,
        handlers::get_sjabloon,
        handlers::add_sjabloon_versie,
        handlers::create_ook,
        handlers::get_ook,
        handlers::offer_ook,
        handlers::sign_ook,
        handlers::terminate_ook,
        handlers::register_keuzedeel,
        handlers::record_keuzedeel_resultaat,
        handlers::record_examenresultaat,
        handlers::award_diploma,
        handlers::create_bpv,
        handlers::get_bpv,
        handlers::sign_bpv,
        handlers::end_bpv,
        handlers::lookup_student,
        handlers::get_personalia,
        handlers::get_vooropleidingen,
        handlers::get_overstapdossier,
        handlers::get_student_keuzedelen,
        handlers::record_hosted_keuzedeel_resultaat,
        handlers::feed,
        handlers::put_webhook,
        handlers::get_webhook,
        handlers::delete_webhook,
        handlers::healthz,
        handlers::readyz,
        handlers::metrics,
    ),
    components(schemas(
        Problem,
        FieldError,
        handlers::TokenRequest,
        handlers::TokenResponse,
        handlers::OAuthError,
        handlers::SubmitAanmeldingBody,
        handlers::StudentBody,
        handlers::ExterneReferentieBody,
        handlers::AanmeldingView,
        handlers::AanmeldingPage,
        handlers::StatusBody,
        handlers::StatusValue,
        handlers::Reikwijdte,
        handlers::IntensiteitValue,
        handlers::SjabloonInhoud,
        handlers::NewSjabloonBody,
        handlers::SjabloonView,
        handlers::SjabloonPage,
        handlers::SjabloonRef,
        handlers::NewOokBody,
        handlers::OfferBody,
        handlers::WijzeValue,
        handlers::OokSignerValue,
        handlers::OokSignBody,
        handlers::TerminateBody,
        handlers::HandtekeningView,
        handlers::OokHandtekeningenView,
        handlers::OndertekeningView,
        handlers::OokView,
        handlers::NewKeuzedeelBody,
        handlers::UitslagValue,
        handlers::KeuzedeelResultaatBody,
        handlers::SoortValue,
        handlers::VakValue,
        handlers::ExamenresultaatBody,
        handlers::DiplomaBody,
        handlers::KeuzedeelResultaatView,
        handlers::KeuzedeelView,
        handlers::ExamenresultaatView,
        handlers::DiplomaView,
        handlers::NewBpvBody,
        handlers::BpvSignerValue,
        handlers::BpvSignBody,
        handlers::EndBpvBody,
        handlers::SbbView,
        handlers::BpvHandtekeningenView,
        handlers::BpvView,
        handlers::StudentLookupBody,
        handlers::StudentLookupView,
        handlers::PersonaliaView,
        handlers::VooropleidingView,
        handlers::VooropleidingenView,
        handlers::OverstapdossierView,
        handlers::OverstapdossiersView,
        handlers::StudentKeuzedeelView,
        handlers::StudentKeuzedelenView,
        handlers::FeedItemView,
        handlers::FeedPage,
        handlers::WebhookBody,
        handlers::WebhookView,
        handlers::Health,
    )),
    modifiers(&BearerScheme, &CommonResponses),
    tags(
        (name = "auth", description = "OAuth2 client credentials over mTLS"),
        (name = "aanmeldingen", description = "Submit, read and change aanmeldingen"),
        (name = "onderwijsovereenkomsten", description = "OOK templates and onderwijsovereenkomsten (levels aanmelden and krd)"),
        (name = "praktijkovereenkomsten", description = "Praktijkovereenkomsten (BPVO) with SBB's recognition check (level krd)"),
        (name = "resultaten", description = "Keuzedelen (also at a guest institution) and their results, examenresultaten and the diploma of an onderwijsovereenkomst (level krd)"),
        (name = "studenten", description = "Student reads as the access policy gives them (consent, own student, guest institution, samenwerkingsschool, bevoegd gezag), each audited; a guest institution records its keuzedeel's result"),
        (name = "feed", description = "Changes per institution, by wijzigingsvolgnummer"),
        (name = "webhook", description = "Push of the feed"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
