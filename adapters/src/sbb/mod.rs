//! SBB, *natrekken erkenning* and *actualiseren erkenning* (`docs/partners/sbb.md`).
//!
//! When a praktijkovereenkomst is registered
//! (`nl.knooppunt.praktijkovereenkomst.geregistreerd.v1`), the [`SbbAdapter`] asks SBB whether
//! the leerbedrijf is recognised for the crebo or keuzedeel on the BPV's start date — a
//! `natrekkenErkenningVerzoek` POSTed to [`NATREKKEN_PATH`], its `berichtId` the event id — and
//! answers with `RecordSbbCheck`, executed as `Actor::Partner { partner: Sbb }`. It classifies
//! SBB's answer ([`classify`]): `nietErkend` is a business outcome recorded once (the registry
//! then refuses the signatures with `leerbedrijf_not_erkend`), a 5xx, a 429 or a timeout is
//! retried by the delivery runtime's tiers. It never retries by itself.
//!
//! SBB pushes later withdrawals of a recognition to the [`MutatieReceiver`] (`receiver.rs`),
//! which marks the running BPVs at the leerbedrijf. The [`SbbSimulator`] plays SBB on loopback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::sbb::{self, Bericht, Verzoek};
use knooppunt_registry::domain::Event;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;

use crate::partners::{self, BuildError, Built, PartnerContext, PartnerPlugin, Settings};
use crate::{Adapter, Mode, Outcome, PermanentClass};

pub mod classify;
mod receiver;
pub mod sample;
pub mod simulator;

pub use receiver::{MUTATIE_PATH, MutatieHandler, MutatieReceiver};
pub use simulator::{Check, Erkenning, NATREKKEN_PATH, Pushed, SbbSimulator, SendError};

/// The topic pattern the adapter consumes: a praktijkovereenkomst was registered.
pub const TOPIC: &str = "nl.knooppunt.praktijkovereenkomst.geregistreerd.#";

/// Knooppunt's OIN as sender of SBB messages. **Assumption**: a placeholder from the test range
/// (`00000099`) until Knooppunt's own OIN is issued; SBB's real interface identifies the
/// sender by the certificate (`docs/partners/sbb.md`).
pub const KNOOPPUNT_OIN: &str = "00000099000000000001";

/// SBB's OIN as receiver. **Assumption**: a test-range placeholder, as [`KNOOPPUNT_OIN`].
pub const SBB_OIN: &str = "00000099000000000002";

/// The SBB adapter. See the module documentation.
pub struct SbbAdapter {
    base: String,
    client: reqwest::Client,
    timeout: Option<Duration>,
}

impl fmt::Debug for SbbAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbbAdapter")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SbbAdapter {
    /// An adapter asking SBB at `endpoint` (its base URL), sending with `client` (build it with
    /// a timeout).
    pub fn new(endpoint: String, client: reqwest::Client) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            timeout: None,
        }
    }

    /// The time limit of one request, overriding the client's.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn send(&self, url: &str, verzoek: &Verzoek, body: String) -> Outcome {
        let mut request = self.client.post(url);
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let sent = request
            .header(reqwest::header::CONTENT_TYPE, simulator::XML)
            .header("x-message-id", verzoek.bericht.bericht_id.to_string())
            .body(body)
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
            verzoek,
            url,
            status,
            retry_after.as_deref(),
            &body,
            Utc::now(),
        )
    }
}

/// The message header of a question about `event`: its `berichtId` is the event id and its
/// time the event's, so a resend after a crash is the same message.
fn bericht(event: &EventEnvelope) -> Bericht {
    Bericht {
        bericht_id: event.meta.id,
        verzender: KNOOPPUNT_OIN.parse().expect("a valid OIN"),
        ontvanger: SBB_OIN.parse().expect("a valid OIN"),
        tijdstip: event.meta.time,
    }
}

#[async_trait]
impl Adapter for SbbAdapter {
    fn name(&self) -> &str {
        Partner::Sbb.as_str()
    }

    fn answers_as(&self) -> Option<Partner> {
        Some(Partner::Sbb)
    }

    fn topics(&self) -> Vec<String> {
        vec![TOPIC.to_owned()]
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        if !matches!(event.data, Event::PraktijkovereenkomstGeregistreerd { .. }) {
            return Outcome::Skip;
        }
        let url = format!("{}{NATREKKEN_PATH}", self.base);
        let untranslatable = |e: &knooppunt_mappings::MappingError| Outcome::Permanent {
            class: PermanentClass::Untranslatable,
            reason: classify::mapping_reason(e),
            answer: None,
            status: None,
            endpoint: url.clone(),
        };
        let verzoek = match sbb::verzoek_for(&event.data, bericht(event)) {
            Ok(Some(v)) => v,
            Ok(None) => return Outcome::Skip,
            Err(e) => return untranslatable(&e),
        };
        let body = match sbb::write_verzoek(&verzoek) {
            Ok(b) => b,
            Err(e) => return untranslatable(&e),
        };
        match mode {
            // The question is written (so it is proven to translate), nothing is sent.
            Mode::Shadow => Outcome::Delivered {
                answer: None,
                status: "shadow".to_owned(),
                endpoint: url,
            },
            Mode::Live => self.send(&url, &verzoek, body).await,
        }
    }
}

/// SBB's entry in the partner list ([`partners::all`]): the [`MutatieReceiver`] SBB pushes
/// withdrawals to, its simulator on loopback when no endpoint is configured (told the
/// receiver's address), its HTTP client and one [`SbbAdapter`].
#[derive(Debug, Clone, Copy)]
pub struct SbbPlugin;

#[async_trait]
impl PartnerPlugin for SbbPlugin {
    fn partner(&self) -> Partner {
        Partner::Sbb
    }

    async fn build(&self, ctx: &PartnerContext, settings: &Settings) -> Result<Built, BuildError> {
        let handler =
            MutatieHandler::new(ctx.store.clone(), ctx.reference.clone(), ctx.audit.clone());
        let receiver = handler.serve(settings).await?;
        let subscriber = receiver.delivery_address();
        let (endpoint, simulator) =
            partners::endpoint_or_simulator(Partner::Sbb, settings, |addr, faults| async move {
                let sim = SbbSimulator::spawn(addr, faults).await?;
                sim.set_subscriber(subscriber);
                Ok::<_, std::io::Error>(sim)
            })
            .await?;
        let client = partners::http_client(Partner::Sbb, settings)?;
        Ok(Built {
            adapters: vec![Arc::new(SbbAdapter::new(endpoint, client))],
            simulator,
            receiver: Some(Box::new(receiver)),
        })
    }
}

#[cfg(test)]
mod tests {
    use knooppunt_registry::ids::Oin;

    use super::*;

    #[test]
    fn the_placeholder_oins_are_valid() {
        assert!(KNOOPPUNT_OIN.parse::<Oin>().is_ok());
        assert!(SBB_OIN.parse::<Oin>().is_ok());
    }
}
