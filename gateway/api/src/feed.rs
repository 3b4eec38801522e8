//! The per-institution feed: a projection of the aanmelding events onto numbered items
//! (`wijzigingsvolgnummer`, the pattern of CAMBO's `…/aanmelding/nieuw`), read with
//! `GET /api/v1/feed` and pushed by the webhook dispatcher.
//!
//! [`FeedAdapter`] is an ordinary [`Adapter`] on the delivery runtime (name `feed`, topics
//! `nl.knooppunt.aanmelding.#`), so it gets inbox idempotency and per-student ordering from
//! there; the append itself is idempotent by event id as well.

use std::sync::Arc;

use async_trait::async_trait;
use knooppunt_adapters::{Adapter, Mode, Outcome, TransientClass};
use knooppunt_registry::domain::Event;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::EventEnvelope;

use super::store::{ApiStore, NewFeedItem};

/// The adapter name.
pub const FEED_ADAPTER: &str = "feed";

/// The event type of a VA partner's refusal.
pub const STATUS_AFGEWEZEN: &str = "nl.knooppunt.aanmelding.status_afgewezen.v1";

/// The registry's name of an enum value (its serde form).
pub(crate) fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// The feed item of an event, with the institution it is for; `None` when the event is not an
/// aanmelding event.
pub fn feed_item(event: &EventEnvelope) -> Option<(String, NewFeedItem)> {
    let brin = event.data.institution()?.instelling();
    let base = |aanmelding: uuid::Uuid, status: Option<String>| NewFeedItem {
        event_id: event.meta.id,
        kind: event.meta.kind.clone(),
        tijd: event.meta.time,
        aanmelding_id: aanmelding,
        status,
        partner: None,
        reden: None,
    };
    let item = match &event.data {
        Event::AanmeldingIngediend { aanmelding } => {
            base(aanmelding.id.0, Some(serde_name(&aanmelding.status)))
        }
        Event::AanmeldingStatusGewijzigd {
            aanmelding, naar, ..
        } => base(aanmelding.0, Some(serde_name(naar))),
        Event::AanmeldingStatusAfgewezen {
            aanmelding,
            status,
            partner,
            reden,
            ..
        } => NewFeedItem {
            partner: Some(partner.as_str().to_owned()),
            reden: Some(reden.clone()),
            ..base(aanmelding.0, Some(serde_name(status)))
        },
        _ => return None,
    };
    Some((brin.as_str().to_owned(), item))
}

/// Projects aanmelding events onto the institutions' feeds.
#[derive(Debug, Clone)]
pub struct FeedAdapter {
    store: Arc<dyn ApiStore>,
    reference: Arc<ReferenceData>,
}

impl FeedAdapter {
    /// An adapter appending to `store`; only institutions in `reference` get a feed.
    pub fn new(store: Arc<dyn ApiStore>, reference: Arc<ReferenceData>) -> Self {
        Self { store, reference }
    }
}

#[async_trait]
impl Adapter for FeedAdapter {
    fn name(&self) -> &str {
        FEED_ADAPTER
    }

    fn answers_as(&self) -> Option<knooppunt_registry::partner::Partner> {
        None
    }

    fn topics(&self) -> Vec<String> {
        vec!["nl.knooppunt.aanmelding.#".to_owned()]
    }

    async fn deliver(&self, event: &EventEnvelope, _mode: Mode) -> Outcome {
        let Some((brin, item)) = feed_item(event) else {
            return Outcome::Skip;
        };
        let known = brin
            .parse()
            .ok()
            .is_some_and(|b| self.reference.institution(&b).is_some());
        if !known {
            return Outcome::Skip;
        }
        match self.store.append_feed(&brin, &item).await {
            Ok(n) => Outcome::Delivered {
                answer: None,
                status: format!("appended:{n}"),
                endpoint: format!("feed:{brin}"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "feed append failed");
                Outcome::Transient {
                    class: TransientClass::Unavailable,
                    retry_after: None,
                    status: None,
                    endpoint: format!("feed:{brin}"),
                    error: String::from("api store unavailable"),
                }
            }
        }
    }
}
