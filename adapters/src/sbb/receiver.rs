//! Knooppunt's endpoint for SBB's withdrawals (*actualiseren erkenning*): SBB pushes a
//! `mutatieErkenning` (XML, `urn:nl:knooppunt:sbb:whitelabel:v1`) to [`MUTATIE_PATH`] on the
//! receiver's URL, and the receiver executes `WithdrawErkenning` as `Actor::Partner { partner:
//! Sbb }` on every dossier with a running BPV at the leerbedrijf
//! ([`Store::dossiers_with_running_bpv`]). The registry marks those BPVs — only those for the
//! mutation's `onderdeel` when it names one — (`ErkenningIngetrokken`, an event naming the
//! institution).
//!
//! It answers `200` only after the registry committed on every dossier (the command id is
//! derived from SBB's `berichtId` and the dossier, so a mutation pushed twice has one effect),
//! `503` when the store or the audit trail is unavailable (SBB pushes again), and a problem
//! naming the field for a message it cannot take (`400`, `415`, `422`). Every dossier reached is
//! audited on the message's chain (`msg:<berichtId>`, hop `received`) with its key and the
//! outcome; a mutation that reaches no running BPV is audited once, `no_running_bpv`.
//!
//! **Transport assumption** (`docs/partners/sbb.md`): plain HTTP on the configured address; in
//! production it sits behind the Digikoppeling gateway that terminates TLS and checks SBB's
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
use knooppunt_mappings::sbb::{self, Inkomend};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop};
use knooppunt_registry::domain::Rejection;
use knooppunt_registry::envelope::{Actor, CommandMeta};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::Store;
use serde_json::json;
use uuid::Uuid;

use crate::partners::{BuildError, Settings};
use crate::receive::{PushListener, unavailable};
use crate::sbb::classify::mapping_reason;
use crate::sbb::simulator::XML;
use crate::sim::{has_content_type, problem};

/// Where SBB pushes withdrawals (relative to the receiver's URL).
pub const MUTATIE_PATH: &str = "/sbb/whitelabel/v1/mutaties-erkenning";

/// Namespace of the command ids derived from SBB's `berichtId` and the dossier.
const MUTATIE_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_756e_7400_0000_0000_5bb0);

/// What the receiver needs: the registry store (the commands), reference data and the audit
/// trail.
#[derive(Clone)]
pub struct MutatieHandler {
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    audit: Arc<dyn AuditTrail>,
}

impl fmt::Debug for MutatieHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutatieHandler").finish_non_exhaustive()
    }
}

impl MutatieHandler {
    /// A handler recording withdrawals in `store`.
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

    /// The router with the one route, [`MUTATIE_PATH`].
    pub fn router(self) -> Router {
        Router::new()
            .route(MUTATIE_PATH, post(receive))
            .with_state(Arc::new(self))
    }

    /// Takes one pushed mutation: the HTTP answer SBB gets.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        if !has_content_type(headers, XML) {
            return problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected application/xml",
                None,
            );
        }
        let message = match sbb::parse(body) {
            Ok(m) => m,
            Err(e) => {
                let field = e.field().unwrap_or("body").to_owned();
                return problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    &mapping_reason(&e),
                    Some(&field),
                );
            }
        };
        let Inkomend::Mutatie(mutatie) = &message else {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_mutatie",
                "expected a mutatieErkenning",
                None,
            );
        };
        let command = sbb::to_command(&message);
        let bericht_id = mutatie.bericht.bericht_id;
        let entry = || {
            AuditEntry::for_message(bericht_id, Hop::Received)
                .partner(Partner::Sbb.as_str())
                .endpoint(MUTATIE_PATH)
        };
        let dossiers = match self
            .store
            .dossiers_with_running_bpv(&mutatie.leerbedrijf)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(bericht = %bericht_id, error = %e, "sbb mutatie: store unavailable");
                return unavailable();
            }
        };
        if dossiers.is_empty() {
            if self
                .audit
                .append(entry().status("no_running_bpv"))
                .await
                .is_err()
            {
                return unavailable();
            }
            return (
                StatusCode::OK,
                axum::Json(json!({ "verwerkt": "no_running_bpv", "dossiers": 0 })),
            )
                .into_response();
        }
        let mut marked = 0usize;
        for dossier in &dossiers {
            let mut meta = CommandMeta::new(
                *dossier,
                Actor::Partner {
                    partner: Partner::Sbb,
                },
                Utc::now(),
            );
            let mut name = bericht_id.as_bytes().to_vec();
            name.extend_from_slice(dossier.0.as_bytes());
            meta.id = Uuid::new_v5(&MUTATIE_NAMESPACE, &name);
            meta.correlation_id = Uuid::new_v5(&MUTATIE_NAMESPACE, bericht_id.as_bytes());
            meta.causation_id = meta.id;
            let outcome = match self
                .store
                .execute(meta, command.clone(), &self.reference)
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(bericht = %bericht_id, error = %e, "sbb mutatie: store unavailable");
                    return unavailable();
                }
            };
            let status = match &outcome.result {
                Ok(_) if outcome.replayed => "replayed",
                Ok(_) => "recorded",
                // Ended or marked between the lookup and the command: nothing left to mark.
                Err(Rejection::NoBpvAtLeerbedrijf) => "no_running_bpv",
                Err(_) => "refused",
            };
            if outcome.result.is_ok() {
                marked += 1;
            }
            let mut e = entry().subject(*dossier).status(status);
            if let Err(r) = &outcome.result {
                e = e.reason(r.code());
            }
            if self.audit.append(e).await.is_err() {
                return unavailable();
            }
        }
        (
            StatusCode::OK,
            axum::Json(json!({ "verwerkt": "recorded", "dossiers": marked })),
        )
            .into_response()
    }
}

async fn receive(
    State(handler): State<Arc<MutatieHandler>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handler.handle(&headers, &body).await
}

/// The receiver's HTTP listener (the receivers' kit, [`PushListener`]); the partner pushes to
/// [`MUTATIE_PATH`] on its URL.
pub type MutatieReceiver = PushListener;

impl MutatieHandler {
    /// Serves this handler where `settings` say ([`PushListener::spawn`]).
    pub async fn serve(self, settings: &Settings) -> Result<MutatieReceiver, BuildError> {
        PushListener::spawn(
            Partner::Sbb,
            "sbb-mutaties",
            self.router(),
            settings,
            MUTATIE_PATH,
        )
        .await
    }
}
