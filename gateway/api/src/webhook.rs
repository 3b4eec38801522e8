//! Webhooks: an institution registers `{url, secret}` and Knooppunt POSTs its feed to it.
//!
//! Each POST carries a batch `{"items": [...], "volgende": n}` (the items as `GET /feed` shows
//! them) and the headers
//!
//! - `Knooppunt-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
//! - `Knooppunt-Delivery: <uuid>` (new per attempt batch; the items' numbers are the dedup key).
//!
//! A receiver recomputes the HMAC over the raw body bytes, compares in constant time and
//! refuses a `t` more than 5 minutes from its clock ([`verify_signature`] does exactly this).
//! The dispatcher moves the institution's durable cursor only after a 2xx; otherwise it retries
//! with exponential backoff and jitter, each institution independently of the others.
//!
//! With several nodes on one store, every node runs a dispatcher, and an institution's webhook
//! is delivered by the one holding its lease ([`ApiStore::lease_webhook`], the database's clock,
//! [`WebhookConfig::lease_ttl`]). The holder renews it every third of the TTL (one write per
//! institution per third, busy or idle, not one per poll) and gives it back when it stops; a
//! node that dies loses it after the TTL, and another takes over from the durable cursor. A
//! batch is therefore posted by one node; only a lease lost in the middle of a POST (a node
//! paused past the TTL) can make a batch arrive twice, which the receiver recognises by the
//! items' numbers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::store::{ApiStore, ApiStoreError, FeedItem, Webhook};
pub use super::webhook_targets::WebhookTargets;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "knooppunt-signature";
/// The delivery id header.
pub const DELIVERY_HEADER: &str = "knooppunt-delivery";

/// Why a webhook URL or secret is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The field is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// `url` or `secret`.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Checks a webhook registration without DNS: an absolute URL of at most 2048 characters,
/// without credentials, that `targets` allows (`https`; a literal IP address must be public unless
/// allowlisted), and a secret of 16 to 256 characters. The handler then checks what the host
/// resolves to ([`WebhookTargets::check_resolved`]).
pub fn validate_webhook(
    url: &str,
    secret: &str,
    targets: &WebhookTargets,
) -> Result<reqwest::Url, WebhookError> {
    let bad = |field, reason| WebhookError::Invalid { field, reason };
    if url.len() > 2048 {
        return Err(bad("url", "longer than 2048 characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| bad("url", "not an absolute URL"))?;
    targets
        .check_url(&parsed)
        .map_err(|reason| bad("url", reason))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("url", "must not contain credentials"));
    }
    let n = secret.chars().count();
    if !(16..=256).contains(&n) {
        return Err(bad("secret", "must be 16 to 256 characters"));
    }
    Ok(parsed)
}

/// The `Knooppunt-Signature` value for `body` at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| fallback_mac());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

#[cold]
fn fallback_mac() -> Hmac<Sha256> {
    // HMAC accepts keys of any length; never reached.
    match <Hmac<Sha256> as Mac>::new_from_slice(b"") {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

/// Verifies a `Knooppunt-Signature` header over `body` at unix time `now`, allowing
/// `tolerance_secs` of clock difference. Constant-time comparison.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                if let Ok(bytes) = hex::decode(v) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let expected = mac(secret, t, body);
    v1.iter()
        .any(|sig| super::auth::constant_time_eq(sig, &expected))
}

/// Settings of the dispatcher.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How often to look for new subscriptions and new feed items.
    pub poll_interval: Duration,
    /// Items per POST.
    pub batch_size: usize,
    /// First retry delay.
    pub min_delay: Duration,
    /// Largest retry delay.
    pub max_delay: Duration,
    /// Retries of one batch before waiting for the next poll.
    pub max_retries: usize,
    /// Timeout of one POST.
    pub request_timeout: Duration,
    /// Where webhooks may point; checked again at every connection.
    pub targets: WebhookTargets,
    /// How long an institution's delivery lease lasts without renewal: after a node dies, the
    /// time before another node takes its webhooks over.
    pub lease_ttl: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch_size: 100,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retries: 8,
            request_timeout: Duration::from_secs(10),
            targets: WebhookTargets::default(),
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// The body of a webhook POST.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WebhookBatch {
    /// The items, in order.
    pub items: Vec<super::handlers::FeedItemView>,
    /// The number to continue after.
    pub volgende: i64,
}

/// Why one POST failed.
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("receiver answered {0}")]
    Status(u16),
    #[error("request failed: {0}")]
    Request(String),
    #[error("webhook URL refused: {0}")]
    Refused(&'static str),
}

/// Pushes each subscribed institution's feed to its webhook.
#[derive(Debug, Clone)]
pub struct WebhookDispatcher {
    store: Arc<dyn ApiStore>,
    http: reqwest::Client,
    config: WebhookConfig,
    /// This dispatcher's identity in the delivery leases.
    holder: Uuid,
}

impl WebhookDispatcher {
    /// A dispatcher reading subscriptions and feeds from `store`.
    pub fn new(store: Arc<dyn ApiStore>, config: WebhookConfig) -> Result<Self, reqwest::Error> {
        // reqwest picks the process-default rustls provider, or ring when none is installed.
        // No redirects, and every connection's addresses checked by the targets' resolver.
        let builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(config.targets.resolver());
        Ok(Self {
            store,
            http: builder.build()?,
            config,
            holder: Uuid::new_v4(),
        })
    }

    /// Runs until `cancel`: one worker per subscribed institution.
    pub async fn run(self, cancel: CancellationToken) {
        let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
        loop {
            match self.store.webhooks().await {
                Ok(hooks) => {
                    workers.retain(|_, h| !h.is_finished());
                    for hook in hooks {
                        if workers.contains_key(&hook.brin) {
                            continue;
                        }
                        let me = self.clone();
                        let brin = hook.brin.clone();
                        let cancel = cancel.child_token();
                        workers.insert(
                            brin.clone(),
                            tokio::spawn(async move { me.worker(brin, cancel).await }),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhook subscriptions unavailable"),
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        for (_, h) in workers {
            let _ = h.await;
        }
    }

    /// Delivers one institution's feed, while this dispatcher holds its lease, until its
    /// subscription is gone or `cancel` (which gives the lease back).
    async fn worker(&self, brin: String, cancel: CancellationToken) {
        // When this worker last took or renewed the lease: it is not asked again at every poll.
        let mut leased_at = None;
        loop {
            let delivered = tokio::select! {
                () = cancel.cancelled() => break,
                r = self.deliver_leased(&brin, &mut leased_at) => r,
            };
            match delivered {
                Ok(None) => return, // unsubscribed
                Ok(Some(n)) if n > 0 => continue,
                Ok(Some(_)) => {}
                Err(e) => {
                    tracing::warn!(brin = %brin, error = %e, "webhook delivery failed; will retry")
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        if let Err(e) = self.store.release_webhook(&brin, self.holder).await {
            tracing::debug!(brin = %brin, error = %e, "webhook lease not given back; it expires");
        }
    }

    /// [`Self::deliver_once`] under the institution's lease, renewed while the batch is under
    /// way; `Some(0)` when another node holds the lease. A lost renewal abandons the batch
    /// (its cursor is not moved; the next holder sends it).
    /// The lease is taken or renewed only when `leased_at` is unknown or a third of the TTL
    /// old, so an idle institution costs one write per third of the TTL, not one per poll.
    async fn deliver_leased(
        &self,
        brin: &str,
        leased_at: &mut Option<tokio::time::Instant>,
    ) -> Result<Option<usize>, ApiStoreError> {
        let ttl = self.config.lease_ttl;
        let fresh = leased_at.is_some_and(|at| at.elapsed() < ttl / 3);
        if !fresh {
            *leased_at = None;
            if !self.store.lease_webhook(brin, self.holder, ttl).await? {
                return Ok(self.store.webhook(brin).await?.map(|_| 0));
            }
            *leased_at = Some(tokio::time::Instant::now());
        }
        let renew = async {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match self.store.lease_webhook(brin, self.holder, ttl).await {
                    Ok(true) => {}
                    Ok(false) => return "lease taken over",
                    Err(_) => return "lease not renewed",
                }
            }
        };
        tokio::select! {
            r = self.deliver_once(brin) => r,
            why = renew => {
                *leased_at = None;
                tracing::warn!(brin = %brin, why, "webhook batch abandoned; the lease holder sends it");
                Ok(Some(0))
            }
        }
    }

    /// Sends the next batch of one institution (with retries); the number of items delivered,
    /// or `None` when the institution has no webhook (any more).
    pub async fn deliver_once(&self, brin: &str) -> Result<Option<usize>, ApiStoreError> {
        let Some(hook) = self.store.webhook(brin).await? else {
            return Ok(None);
        };
        let items = self
            .store
            .feed(brin, hook.cursor, self.config.batch_size)
            .await?;
        let Some(last) = items.last().map(|i| i.wijzigingsvolgnummer) else {
            return Ok(Some(0));
        };
        let n = items.len();
        let body = batch_body(&items, last);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.min_delay)
            .with_max_delay(self.config.max_delay)
            .with_max_times(self.config.max_retries)
            .with_jitter();
        let sent = (|| self.post(&hook, &body))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .notify(|e, after| {
                tracing::info!(brin = %hook.brin, error = %e, retry_in_ms = after.as_millis() as u64, "webhook retry");
            })
            .await;
        match sent {
            Ok(()) => {
                self.store.advance_webhook(brin, last).await?;
                Ok(Some(n))
            }
            Err(e) => {
                tracing::warn!(brin = %hook.brin, error = %e, "webhook batch not delivered; retried later");
                Ok(Some(0))
            }
        }
    }

    async fn post(&self, hook: &Webhook, body: &[u8]) -> Result<(), PostError> {
        // A literal address does not pass the resolver: checked here, at every delivery, as
        // the allowlist may have changed since the registration.
        let url = reqwest::Url::parse(&hook.url)
            .map_err(|_| PostError::Refused("not an absolute URL"))?;
        self.config
            .targets
            .check_url(&url)
            .map_err(PostError::Refused)?;
        let t = chrono::Utc::now().timestamp();
        let res = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&hook.secret, t, body))
            .header(DELIVERY_HEADER, Uuid::new_v4().to_string())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| PostError::Request(e.without_url().to_string()))?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(PostError::Status(status.as_u16()))
        }
    }
}

fn batch_body(items: &[FeedItem], last: i64) -> Vec<u8> {
    let batch = WebhookBatch {
        items: items
            .iter()
            .map(super::handlers::FeedItemView::from)
            .collect(),
        volgende: last,
    };
    serde_json::to_vec(&batch).unwrap_or_default()
}
