//! Knooppunt's endpoint for DUO's mutation notifications: DUO pushes a `Mutatiemelding` (XML,
//! `urn:knooppunt:duo:persoon:v1`) to the delivery address given when the person was subscribed
//! ([`MELDING_PATH`] on the receiver's URL), and the receiver records it in the dossier as
//! `Actor::Partner { partner: Duo }` (`RecordPersonalia` or `RecordVooropleiding`).
//!
//! It answers `200` only after the registry committed (or had committed: the command id is
//! derived from DUO's `MeldingId`, so a melding pushed twice has one effect), `503` when the
//! store or the audit trail is unavailable (DUO pushes again), and a problem naming the field for
//! a melding it cannot take (`400`, `415`, `422`; `404 persoon_onbekend` when Knooppunt holds
//! no dossier for the person). Every melding taken is audited on its own chain (`msg:<MeldingId>`,
//! hop `received`) with the dossier key and the outcome — never the person number.
//!
//! **Transport assumption** (`docs/partners/duo.md` §5): plain HTTP on the configured address;
//! in production it sits behind the Digikoppeling gateway that terminates TLS and checks DUO's
//! certificate. The sandbox binds it to loopback.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use knooppunt_mappings::duo::persoon;
use knooppunt_ops::{AuditEntry, AuditTrail, Hop};
use knooppunt_registry::domain::Rejection;
use knooppunt_registry::envelope::{Actor, CommandMeta};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::Store;
use serde_json::json;
use uuid::Uuid;

use crate::duo::classify::{PERSOON_ONBEKEND, mapping_reason};
use crate::duo::simulator::XML;
use crate::partners::{BuildError, Settings};
use crate::receive::{PushListener, unavailable};
use crate::sim::{has_content_type, problem};

/// Where DUO pushes mutation notifications (relative to the receiver's URL).
pub const MELDING_PATH: &str = "/duo/persoon/v1/mutatiemeldingen";

/// Namespace of the command ids derived from DUO's `MeldingId`.
const MELDING_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_756e_7400_0000_0000_d0d0);

/// What the receiver needs: the registry store (the commands), reference data and the audit
/// trail.
#[derive(Clone)]
pub struct MeldingHandler {
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    audit: Arc<dyn AuditTrail>,
}

impl fmt::Debug for MeldingHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeldingHandler").finish_non_exhaustive()
    }
}

impl MeldingHandler {
    /// A handler recording meldingen in `store`.
    pub fn new(
        store: Arc<dyn Store>,
        reference: Arc<ReferenceData>,
        audit: Arc<dyn AuditTrail>,
    ) -> Self {
        Self {
            store,
            reference,
            audit,
        }
    }

    /// The router with the one route, [`MELDING_PATH`].
    pub fn router(self) -> Router {
        Router::new()
            .route(MELDING_PATH, post(receive))
            .with_state(Arc::new(self))
    }

    /// Takes one pushed melding: the HTTP answer DUO gets.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        if !has_content_type(headers, XML) {
            return problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected application/xml",
                None,
            );
        }
        let melding = match persoon::parse_mutatiemelding(body) {
            Ok(m) => m,
            Err(e) => {
                let field = e.field().unwrap_or("body").to_owned();
                return problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    &format!("invalid melding at {field}"),
                    Some(&field),
                );
            }
        };
        let command = match persoon::melding_to_command(&melding) {
            Ok(c) => c,
            Err(e) => {
                let field = e.field().unwrap_or("body").to_owned();
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "untranslatable",
                    &mapping_reason(&e),
                    Some(&field),
                );
            }
        };
        let mut entry = AuditEntry::for_message(melding.melding_id, Hop::Received)
            .partner(Partner::Duo.as_str());
        entry.endpoint = Some(MELDING_PATH.to_owned());
        let dossier = match self.store.find_dossier(&melding.id).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                entry.status = Some("persoon_onbekend".to_owned());
                if self.audit.append(entry).await.is_err() {
                    return unavailable();
                }
                return problem(
                    StatusCode::NOT_FOUND,
                    PERSOON_ONBEKEND,
                    "Knooppunt holds no dossier for this person",
                    None,
                );
            }
            Err(e) => {
                tracing::warn!(melding = %melding.melding_id, error = %e, "duo melding: store unavailable");
                return unavailable();
            }
        };
        let mut meta = CommandMeta::new(
            dossier,
            Actor::Partner {
                partner: Partner::Duo,
            },
            Utc::now(),
        );
        meta.id = Uuid::new_v5(&MELDING_NAMESPACE, melding.melding_id.as_bytes());
        meta.correlation_id = meta.id;
        meta.causation_id = meta.id;
        let outcome = match self.store.execute(meta, command, &self.reference).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(melding = %melding.melding_id, error = %e, "duo melding: store unavailable");
                return unavailable();
            }
        };
        entry.subject = Some(dossier);
        let (status, answer) = match &outcome.result {
            Ok(_) if outcome.replayed => ("replayed", StatusCode::OK),
            Ok(_) => ("recorded", StatusCode::OK),
            // DUO told us what we know already: nothing to change, and nothing to push again.
            Err(Rejection::Unchanged) => ("unchanged", StatusCode::OK),
            Err(_) => ("refused", StatusCode::UNPROCESSABLE_ENTITY),
        };
        entry.status = Some(status.to_owned());
        if let Err(r) = &outcome.result {
            entry.reason = Some(r.code().to_owned());
        }
        if self.audit.append(entry).await.is_err() {
            return unavailable();
        }
        match &outcome.result {
            Err(r) if answer != StatusCode::OK => {
                problem(answer, r.code(), "the registry refused the melding", None)
            }
            _ => (answer, axum::Json(json!({ "verwerkt": status }))).into_response(),
        }
    }
}

async fn receive(
    State(handler): State<Arc<MeldingHandler>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handler.handle(&headers, &body).await
}

/// The receiver's HTTP listener (the receivers' kit, [`PushListener`]); the partner pushes to
/// [`MELDING_PATH`] on its URL.
pub type MeldingReceiver = PushListener;

impl MeldingHandler {
    /// Serves this handler where `settings` say ([`PushListener::spawn`]).
    pub async fn serve(self, settings: &Settings) -> Result<MeldingReceiver, BuildError> {
        PushListener::spawn(
            Partner::Duo,
            "duo-meldingen",
            self.router(),
            settings,
            MELDING_PATH,
        )
        .await
    }
}
