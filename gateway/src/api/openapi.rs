//! The OpenAPI 3.1 document (utoipa), served at `/openapi.json` and browsable at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Knooppunt open API",
        description = "Aanmeldingen, VA status changes, the per-institution feed and webhooks for the institutions' SIS. See docs/api.md.",
        version = "1"
    ),
    paths(
        handlers::token,
        handlers::submit_aanmelding,
        handlers::list_aanmeldingen,
        handlers::get_aanmelding,
        handlers::change_status,
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
        handlers::FeedItemView,
        handlers::FeedPage,
        handlers::WebhookBody,
        handlers::WebhookView,
        handlers::Health,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "OAuth2 client credentials over mTLS"),
        (name = "aanmeldingen", description = "Submit, read and change aanmeldingen"),
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
