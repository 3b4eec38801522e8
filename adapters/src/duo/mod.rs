//! DUO, the persons service (`docs/partners/duo.md` §5): the first step of the DUO exchange.
//!
//! When a dossier is opened (`nl.knooppunt.dossier.geopend.v1`: a first aanmelding, a DigiD
//! login, an import), the [`DuoAdapter`] asks DUO for the person's personalia and vooropleidingen
//! by BSN or onderwijsnummer — an `Opvraging` POSTed to [`OPVRAGING_PATH`], which also
//! subscribes Knooppunt to the person's mutation notifications — and answers with one registry
//! command, `RecordPersoonEnVooropleidingen`, executed as `Actor::Partner { partner: Duo }`. It
//! classifies DUO's answer ([`classify`]): an unknown person is a business outcome recorded once,
//! a 5xx or a timeout is retried by the delivery runtime's tiers. It never retries by itself.
//!
//! DUO pushes later mutation notifications to the [`MeldingReceiver`] (`receiver.rs`), which
//! records them in the dossier. The [`BronAdapter`] (`bron/`) delivers a `krd` institution's
//! enrolments, BPV's, diplomas and uitschrijvingen to BRON and records DUO's answer per
//! mutation. The [`DuoSimulator`] plays both DUO services on loopback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::duo::persoon::{self, Opvraging};
use knooppunt_registry::domain::Event;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;

use crate::partners::{self, BuildError, Built, PartnerContext, PartnerPlugin, Settings};
use crate::{Adapter, Mode, Outcome};

pub mod bron;
pub mod classify;
mod receiver;
pub mod sample;
pub mod simulator;

pub use bron::BronAdapter;
pub use receiver::{MELDING_PATH, MeldingHandler, MeldingReceiver};
pub use simulator::{DuoSimulator, Lookup, OPVRAGING_PATH, SendError};

/// The topic pattern the persons adapter consumes: a dossier was opened.
pub const TOPIC: &str = "nl.knooppunt.dossier.geopend.#";

/// The persons adapter. See the module documentation.
pub struct DuoAdapter {
    base: String,
    client: reqwest::Client,
    delivery_address: Option<String>,
    timeout: Option<Duration>,
}

impl fmt::Debug for DuoAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuoAdapter")
            .field("base", &self.base)
            .field("delivery_address", &self.delivery_address)
            .finish_non_exhaustive()
    }
}

impl DuoAdapter {
    /// An adapter asking DUO at `endpoint` (its base URL), sending with `client` (build it with
    /// a timeout). Without [`DuoAdapter::with_delivery_address`] it subscribes to nothing.
    pub fn new(endpoint: String, client: reqwest::Client) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            delivery_address: None,
            timeout: None,
        }
    }

    /// Subscribes every person looked up to DUO's mutation notifications, pushed to `address`.
    pub fn with_delivery_address(mut self, address: String) -> Self {
        self.delivery_address = Some(address);
        self
    }

    /// The time limit of one request, overriding the client's.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn send(&self, url: &str, opvraging: &Opvraging, event: &EventEnvelope) -> Outcome {
        let mut request = self.client.post(url);
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let sent = request
            .header(reqwest::header::CONTENT_TYPE, simulator::XML)
            .header("x-message-id", event.meta.id.to_string())
            .header("x-correlation-id", event.meta.correlation_id.to_string())
            .body(persoon::write_opvraging(opvraging))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return classify::classify_error(url, &e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return classify::classify_error(url, &e),
        };
        classify::classify_response(
            &opvraging.id,
            url,
            status,
            retry_after.as_deref(),
            &body,
            Utc::now(),
        )
    }
}

#[async_trait]
impl Adapter for DuoAdapter {
    fn name(&self) -> &str {
        Partner::Duo.as_str()
    }

    fn answers_as(&self) -> Option<Partner> {
        Some(Partner::Duo)
    }

    fn topics(&self) -> Vec<String> {
        vec![TOPIC.to_owned()]
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        let Event::DossierOpened { person } = &event.data else {
            return Outcome::Skip;
        };
        let opvraging = Opvraging {
            id: person.id.clone(),
            aflever_adres: self.delivery_address.clone(),
        };
        // The person number travels in the body, never in the URL: the URL is audited.
        let url = format!("{}{OPVRAGING_PATH}", self.base);
        match mode {
            // The request is written (so it is proven to translate), nothing is sent.
            Mode::Shadow => {
                let _ = persoon::write_opvraging(&opvraging);
                Outcome::Delivered {
                    answer: None,
                    status: "shadow".to_owned(),
                    endpoint: url,
                }
            }
            Mode::Live => self.send(&url, &opvraging, event).await,
        }
    }
}

/// DUO's entry in the partner list ([`partners::all`]): its simulator on loopback when no
/// endpoint is configured, its HTTP client, the [`MeldingReceiver`] DUO pushes to, one
/// [`DuoAdapter`] subscribing every person it looks up to that receiver, and the
/// [`BronAdapter`] delivering to BRON (its own runtime and queue, `knooppunt.duo_bron`, with
/// `[partners.duo]`'s delivery settings).
#[derive(Debug, Clone, Copy)]
pub struct DuoPlugin;

#[async_trait]
impl PartnerPlugin for DuoPlugin {
    fn partner(&self) -> Partner {
        Partner::Duo
    }

    async fn build(&self, ctx: &PartnerContext, settings: &Settings) -> Result<Built, BuildError> {
        let (endpoint, simulator) =
            partners::endpoint_or_simulator(Partner::Duo, settings, DuoSimulator::spawn).await?;
        let client = partners::http_client(Partner::Duo, settings)?;
        let handler =
            MeldingHandler::new(ctx.store.clone(), ctx.reference.clone(), ctx.audit.clone());
        let receiver = handler.serve(settings).await?;
        let bron = BronAdapter::new(
            &endpoint,
            client.clone(),
            bron::BronReader::new(ctx.store.clone(), ctx.reference.clone(), ctx.audit.clone()),
            ctx.reference.clone(),
            Some(ctx.metrics.clone()),
        );
        let adapter =
            DuoAdapter::new(endpoint, client).with_delivery_address(receiver.delivery_address());
        Ok(Built {
            adapters: vec![Arc::new(adapter), Arc::new(bron)],
            simulator,
            receiver: Some(Box::new(receiver)),
        })
    }
}
