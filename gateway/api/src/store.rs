//! What the API keeps itself: idempotency records, the aanmelding index (aanmelding id →
//! dossier, which the registry has no index for), the per-institution feed, webhook
//! subscriptions and their delivery cursors. One [`ApiStore`] trait, in memory
//! ([`MemoryApiStore`]) and on PostgreSQL ([`super::pg::PgApiStore`]); one behaviour suite runs
//! on both (`gateway/api/tests/api/store.rs`).
//!
//! No personal data is kept here: ids, codes and stored API responses (which never hold a BSN).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A failure of the API store (the caller answers 503).
#[derive(Debug, thiserror::Error)]
pub enum ApiStoreError {
    /// The database could not be reached or a statement failed.
    #[error("api store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("api store data corrupt: {0}")]
    Corrupt(String),
}

/// A stored response of an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// The id of one node's API instance: a random positive 31-bit number made with its
/// [`ApiState`](crate::ApiState). It holds the idempotency records of the requests the instance
/// is handling; a record held by an instance that is no longer live is free at once, so a key
/// whose request died with its node (`kill -9`) is not busy until the record is stale.
///
/// Liveness is the store's: on PostgreSQL a session advisory lock the instance holds on a
/// connection of its own (released by the server the moment the process dies), in memory the
/// instances not ended with [`ApiStore::end_instance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(i32);

impl InstanceId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random_range(1..=i32::MAX))
    }

    /// The id `n`, when it is positive (tests give fixed ids).
    pub const fn new(n: i32) -> Option<Self> {
        if n > 0 { Some(Self(n)) } else { None }
    }

    /// The number.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What [`ApiStore::begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// No record, a released one of the same request (an earlier attempt failed with a 5xx)
    /// or a stale unfinished one of the same request (its process died): the caller now holds
    /// it and must complete, release or abandon it.
    Started,
    /// The same key and request were answered before: send this again.
    Replay(StoredResponse),
    /// The same key was used with another request.
    Mismatch,
    /// The same key is being handled right now.
    InProgress,
}

/// One entry of the aanmelding index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedAanmelding {
    /// Position in the index (list cursor), increasing.
    pub seq: i64,
    /// The aanmelding id.
    pub aanmelding: Uuid,
    /// The institution (BRIN, instelling level).
    pub brin: String,
    /// The dossier it is in.
    pub dossier: Uuid,
}

/// A feed item before it has its number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFeedItem {
    /// The event id (idempotency).
    pub event_id: Uuid,
    /// The event type, e.g. `nl.knooppunt.aanmelding.status_gewijzigd.v1`.
    pub kind: String,
    /// When the event happened.
    pub tijd: DateTime<Utc>,
    /// The aanmelding, when the event is about one (always for aanmelding events).
    pub aanmelding_id: Option<Uuid>,
    /// The onderwijsovereenkomst, for its events (and a BPV's enrolment).
    pub ook_id: Option<Uuid>,
    /// The praktijkovereenkomst, for its events.
    pub bpv_id: Option<Uuid>,
    /// The status after the event (registry name).
    pub status: Option<String>,
    /// For a signature: who signed (`student`, `ouder`, `instelling`; `school`,
    /// `leerbedrijf`).
    pub ondertekenaar: Option<String>,
    /// For a partner's outcome: the partner (`intergrip`, `sbb`, `signing`, …).
    pub partner: Option<String>,
    /// A reason code: a partner's refusal, SBB's reason, the reden uitschrijving.
    pub reden: Option<String>,
    /// For a keuzedeel's items: its code.
    #[serde(default)]
    pub keuzedeel: Option<String>,
}

/// A feed item with its per-institution number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    /// Per-institution change number: 1, 2, 3, … without gaps.
    pub wijzigingsvolgnummer: i64,
    /// The item.
    #[serde(flatten)]
    pub item: NewFeedItem,
}

/// A webhook subscription.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The institution.
    pub brin: String,
    /// Where to POST.
    pub url: String,
    /// The shared signing secret.
    pub secret: String,
    /// The last wijzigingsvolgnummer delivered (2xx).
    pub cursor: i64,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("brin", &self.brin)
            .field("url", &self.url)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// One version of an institution's OOK template (`ook-sjablonen`). The content is the API's
/// JSON of the template (no personal data); versions are 1, 2, 3, … and never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSjabloon {
    /// Position in the institution's list (creation order of the template).
    pub seq: i64,
    /// The template id.
    pub sjabloon: Uuid,
    /// The institution (BRIN, instelling level).
    pub brin: String,
    /// This version.
    pub versie: i32,
    /// The latest version of the template.
    pub laatste_versie: i32,
    /// The content of this version.
    pub inhoud: serde_json::Value,
    /// When this version was made.
    pub aangemaakt_op: DateTime<Utc>,
}

/// What writing a template version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SjabloonWrite {
    /// Written (or written before by the same request: the same version again).
    Written(StoredSjabloon),
    /// A new template's id is taken (by this or another institution).
    Exists,
    /// A new version of a template that is not the institution's (or does not exist).
    NotFound,
}

/// One entry of the onderwijsovereenkomst index: the OOK id (chosen by the institution) →
/// its dossier, and the template version it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedOok {
    /// The OOK id.
    pub ook: Uuid,
    /// The institution (BRIN, instelling level).
    pub brin: String,
    /// The dossier it is in.
    pub dossier: Uuid,
    /// The aanmelding it follows from.
    pub aanmelding: Option<Uuid>,
    /// The template it was made from.
    pub sjabloon: Uuid,
    /// The template's version.
    pub versie: i32,
}

/// One entry of the praktijkovereenkomst index: the BPV id (chosen by the institution) → its
/// dossier and enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedBpv {
    /// The BPV id.
    pub bpv: Uuid,
    /// The institution (BRIN, instelling level).
    pub brin: String,
    /// The dossier it is in.
    pub dossier: Uuid,
    /// The onderwijsovereenkomst (enrolment) it belongs to.
    pub ook: Uuid,
}

/// The API's own persistence. Object safe: use it as `Arc<dyn ApiStore>`.
#[async_trait]
pub trait ApiStore: Send + Sync + fmt::Debug + 'static {
    /// Starts an idempotent request `(oin, key)` with the request's hash, held by `holder`. A
    /// record keeps the key bound to the hash it was first used with: another hash is
    /// [`IdempotencyBegin::Mismatch`] whatever state the record is in. A released record of the
    /// same hash, an unfinished one held by another instance that is no longer live (its process
    /// died), and an unfinished one older than `stale_after`, are taken over.
    async fn begin_idempotent(
        &self,
        oin: &str,
        key: &str,
        request_hash: &str,
        holder: InstanceId,
        stale_after: std::time::Duration,
    ) -> Result<IdempotencyBegin, ApiStoreError>;

    /// Deletes up to `limit` idempotency records created at least `older_than` ago, in any
    /// state; returns how many. A key whose record is gone is new again: the same body derives
    /// the same command ids (one effect), another body other ids.
    async fn purge_idempotency(
        &self,
        older_than: std::time::Duration,
        limit: usize,
    ) -> Result<u64, ApiStoreError>;

    /// Ends an instance (a graceful stop; tests use it for a process that died): the unfinished
    /// records it holds are free at once for every other instance.
    async fn end_instance(&self, instance: InstanceId) -> Result<(), ApiStoreError>;

    /// Stores the answer of a started request.
    async fn complete_idempotent(
        &self,
        oin: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), ApiStoreError>;

    /// Releases a started request that failed transiently (a 5xx): the record stays bound to
    /// its request hash, and the same request may start again at once.
    async fn release_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError>;

    /// Gives up a started request whose attempt executed nothing (its precheck refused). The
    /// record is forgotten — the key may then be used for another request — unless an earlier
    /// attempt of the same request may have executed something (it was released or taken
    /// over), in which case the record is released and stays bound to its hash.
    async fn abandon_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError>;

    /// Indexes an aanmelding. Idempotent: indexing the same id again keeps the first entry.
    async fn index_aanmelding(
        &self,
        aanmelding: Uuid,
        brin: &str,
        dossier: Uuid,
    ) -> Result<(), ApiStoreError>;

    /// The index entry of an aanmelding.
    async fn find_aanmelding(
        &self,
        aanmelding: Uuid,
    ) -> Result<Option<IndexedAanmelding>, ApiStoreError>;

    /// An institution's aanmeldingen after index position `after`, in index order.
    async fn list_aanmeldingen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexedAanmelding>, ApiStoreError>;

    /// Appends an item to an institution's feed with the next number; the same event id again
    /// returns the number it got the first time and appends nothing.
    async fn append_feed(&self, brin: &str, item: &NewFeedItem) -> Result<i64, ApiStoreError>;

    /// The feed item an event became, if it became one (a partner's later answer about that
    /// event is shown with the same ids).
    async fn feed_item_of_event(&self, event_id: Uuid) -> Result<Option<FeedItem>, ApiStoreError>;

    /// An institution's feed items with numbers above `after`, ascending.
    async fn feed(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedItem>, ApiStoreError>;

    /// Creates template `sjabloon` of `brin` with version 1 made by `request` (a derived id).
    /// The same request again returns the version it made; another request for a taken id is
    /// [`SjabloonWrite::Exists`].
    async fn create_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError>;

    /// Adds the next version to `brin`'s template `sjabloon`, made by `request`; the same
    /// request again returns the version it made. Another institution's template, or none:
    /// [`SjabloonWrite::NotFound`].
    async fn add_sjabloon_versie(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError>;

    /// Version `versie` (or the latest) of `brin`'s template `sjabloon`.
    async fn sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        versie: Option<i32>,
    ) -> Result<Option<StoredSjabloon>, ApiStoreError>;

    /// The latest version of each of `brin`'s templates after list position `after`, in
    /// creation order.
    async fn list_sjablonen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredSjabloon>, ApiStoreError>;

    /// Indexes an onderwijsovereenkomst. Idempotent: the same id again keeps the first entry.
    async fn index_ook(&self, entry: &IndexedOok) -> Result<(), ApiStoreError>;

    /// The index entry of an onderwijsovereenkomst.
    async fn find_ook(&self, ook: Uuid) -> Result<Option<IndexedOok>, ApiStoreError>;

    /// Indexes a praktijkovereenkomst. Idempotent: the same id again keeps the first entry.
    async fn index_bpv(&self, entry: &IndexedBpv) -> Result<(), ApiStoreError>;

    /// The index entry of a praktijkovereenkomst.
    async fn find_bpv(&self, bpv: Uuid) -> Result<Option<IndexedBpv>, ApiStoreError>;

    /// Registers or replaces the webhook of an institution. Replacing keeps the cursor; a new
    /// subscription starts at the current end of the feed.
    async fn put_webhook(
        &self,
        brin: &str,
        url: &str,
        secret: &str,
    ) -> Result<Webhook, ApiStoreError>;

    /// The webhook of an institution.
    async fn webhook(&self, brin: &str) -> Result<Option<Webhook>, ApiStoreError>;

    /// Removes the webhook of an institution; whether there was one.
    async fn delete_webhook(&self, brin: &str) -> Result<bool, ApiStoreError>;

    /// Every webhook.
    async fn webhooks(&self) -> Result<Vec<Webhook>, ApiStoreError>;

    /// Moves a webhook's cursor forward to `to` (never backwards).
    async fn advance_webhook(&self, brin: &str, to: i64) -> Result<(), ApiStoreError>;

    /// Takes or renews the delivery lease of an institution's webhook for `holder` (one node's
    /// dispatcher) until `ttl` from now. False while another holder's lease runs, or when the
    /// institution has no webhook. Only the holder delivers, so with several nodes on one
    /// store each batch is posted by one of them.
    async fn lease_webhook(
        &self,
        brin: &str,
        holder: Uuid,
        ttl: std::time::Duration,
    ) -> Result<bool, ApiStoreError>;

    /// Gives a lease back (a stopping node), so another node takes over at once.
    async fn release_webhook(&self, brin: &str, holder: Uuid) -> Result<(), ApiStoreError>;
}

#[derive(Debug, Clone)]
enum Idem {
    Running {
        hash: String,
        since: std::time::Instant,
        /// An earlier attempt of this request may have executed something.
        prior_attempt: bool,
        /// The instance handling it.
        holder: InstanceId,
    },
    /// An attempt failed transiently; the same request may start again.
    Released { hash: String },
    Done {
        hash: String,
        response: StoredResponse,
    },
}

#[derive(Debug, Default)]
struct Inner {
    idempotency: HashMap<(String, String), Idem>,
    idempotency_created: HashMap<(String, String), std::time::Instant>,
    ended: std::collections::HashSet<InstanceId>,
    index: BTreeMap<Uuid, IndexedAanmelding>,
    index_seq: i64,
    feeds: HashMap<String, Vec<FeedItem>>,
    feed_events: HashMap<Uuid, (String, i64)>,
    webhooks: BTreeMap<String, Webhook>,
    /// Webhook delivery leases: institution → (holder, until).
    webhook_leases: HashMap<String, (Uuid, std::time::Instant)>,
    /// Template id → (brin, list position, versions with the request that made each).
    sjablonen: HashMap<Uuid, MemSjabloon>,
    sjabloon_seq: i64,
    ooks: HashMap<Uuid, IndexedOok>,
    bpvs: HashMap<Uuid, IndexedBpv>,
}

mod agreements;
use agreements::MemSjabloon;

/// The in-memory [`ApiStore`] (sandbox and tests).
#[derive(Debug, Default)]
pub struct MemoryApiStore {
    inner: Mutex<Inner>,
}

impl MemoryApiStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ApiStore for MemoryApiStore {
    async fn begin_idempotent(
        &self,
        oin: &str,
        key: &str,
        request_hash: &str,
        holder: InstanceId,
        stale_after: std::time::Duration,
    ) -> Result<IdempotencyBegin, ApiStoreError> {
        let mut inner = self.lock();
        let dead = |h: &InstanceId| *h != holder && inner.ended.contains(h);
        let k = (oin.to_owned(), key.to_owned());
        let (outcome, prior_attempt) = match inner.idempotency.get(&k) {
            None => (IdempotencyBegin::Started, false),
            Some(Idem::Done { hash, response }) => {
                if hash == request_hash {
                    (IdempotencyBegin::Replay(response.clone()), false)
                } else {
                    (IdempotencyBegin::Mismatch, false)
                }
            }
            Some(Idem::Released { hash }) => {
                if hash == request_hash {
                    (IdempotencyBegin::Started, true)
                } else {
                    (IdempotencyBegin::Mismatch, false)
                }
            }
            Some(Idem::Running {
                hash,
                since,
                holder: running,
                ..
            }) => {
                if hash != request_hash {
                    (IdempotencyBegin::Mismatch, false)
                } else if dead(running) || since.elapsed() >= stale_after {
                    (IdempotencyBegin::Started, true)
                } else {
                    (IdempotencyBegin::InProgress, false)
                }
            }
        };
        if outcome == IdempotencyBegin::Started {
            inner
                .idempotency_created
                .entry(k.clone())
                .or_insert_with(std::time::Instant::now);
            inner.idempotency.insert(
                k,
                Idem::Running {
                    hash: request_hash.to_owned(),
                    since: std::time::Instant::now(),
                    prior_attempt,
                    holder,
                },
            );
        }
        Ok(outcome)
    }

    async fn complete_idempotent(
        &self,
        oin: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), ApiStoreError> {
        let mut inner = self.lock();
        let k = (oin.to_owned(), key.to_owned());
        if let Some(Idem::Running { hash, .. }) = inner.idempotency.get(&k).cloned() {
            inner.idempotency.insert(
                k,
                Idem::Done {
                    hash,
                    response: response.clone(),
                },
            );
        }
        Ok(())
    }

    async fn end_instance(&self, instance: InstanceId) -> Result<(), ApiStoreError> {
        self.lock().ended.insert(instance);
        Ok(())
    }

    async fn purge_idempotency(
        &self,
        older_than: std::time::Duration,
        limit: usize,
    ) -> Result<u64, ApiStoreError> {
        let mut inner = self.lock();
        let old: Vec<_> = inner
            .idempotency_created
            .iter()
            .filter(|(_, created)| created.elapsed() >= older_than)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in &old {
            inner.idempotency_created.remove(k);
            inner.idempotency.remove(k);
        }
        Ok(old.len() as u64)
    }

    async fn release_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError> {
        let mut inner = self.lock();
        let k = (oin.to_owned(), key.to_owned());
        if let Some(Idem::Running { hash, .. }) = inner.idempotency.get(&k).cloned() {
            inner.idempotency.insert(k, Idem::Released { hash });
        }
        Ok(())
    }

    async fn abandon_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError> {
        let mut inner = self.lock();
        let k = (oin.to_owned(), key.to_owned());
        match inner.idempotency.get(&k).cloned() {
            Some(Idem::Running {
                prior_attempt: false,
                ..
            }) => {
                inner.idempotency.remove(&k);
                inner.idempotency_created.remove(&k);
            }
            Some(Idem::Running { hash, .. }) => {
                inner.idempotency.insert(k, Idem::Released { hash });
            }
            _ => {}
        }
        Ok(())
    }

    async fn index_aanmelding(
        &self,
        aanmelding: Uuid,
        brin: &str,
        dossier: Uuid,
    ) -> Result<(), ApiStoreError> {
        let mut inner = self.lock();
        if inner.index.contains_key(&aanmelding) {
            return Ok(());
        }
        inner.index_seq += 1;
        let seq = inner.index_seq;
        inner.index.insert(
            aanmelding,
            IndexedAanmelding {
                seq,
                aanmelding,
                brin: brin.to_owned(),
                dossier,
            },
        );
        Ok(())
    }

    async fn find_aanmelding(
        &self,
        aanmelding: Uuid,
    ) -> Result<Option<IndexedAanmelding>, ApiStoreError> {
        Ok(self.lock().index.get(&aanmelding).cloned())
    }

    async fn list_aanmeldingen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexedAanmelding>, ApiStoreError> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .index
            .values()
            .filter(|e| e.brin == brin && e.seq > after)
            .cloned()
            .collect();
        out.sort_by_key(|e| e.seq);
        out.truncate(limit);
        Ok(out)
    }

    async fn append_feed(&self, brin: &str, item: &NewFeedItem) -> Result<i64, ApiStoreError> {
        let mut inner = self.lock();
        if let Some((_, n)) = inner.feed_events.get(&item.event_id) {
            return Ok(*n);
        }
        let feed = inner.feeds.entry(brin.to_owned()).or_default();
        let n = feed.len() as i64 + 1;
        feed.push(FeedItem {
            wijzigingsvolgnummer: n,
            item: item.clone(),
        });
        inner
            .feed_events
            .insert(item.event_id, (brin.to_owned(), n));
        Ok(n)
    }

    async fn feed_item_of_event(&self, event_id: Uuid) -> Result<Option<FeedItem>, ApiStoreError> {
        let inner = self.lock();
        Ok(inner.feed_events.get(&event_id).and_then(|(brin, n)| {
            let index = usize::try_from(*n).ok()?.checked_sub(1)?;
            inner.feeds.get(brin)?.get(index).cloned()
        }))
    }

    async fn feed(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedItem>, ApiStoreError> {
        let inner = self.lock();
        Ok(inner
            .feeds
            .get(brin)
            .map(|f| {
                f.iter()
                    .filter(|i| i.wijzigingsvolgnummer > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn create_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        self.mem_create_sjabloon(brin, sjabloon, request, inhoud)
    }

    async fn add_sjabloon_versie(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        self.mem_add_sjabloon_versie(brin, sjabloon, request, inhoud)
    }

    async fn sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        versie: Option<i32>,
    ) -> Result<Option<StoredSjabloon>, ApiStoreError> {
        Ok(self.mem_sjabloon(brin, sjabloon, versie))
    }

    async fn list_sjablonen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredSjabloon>, ApiStoreError> {
        Ok(self.mem_list_sjablonen(brin, after, limit))
    }

    async fn index_ook(&self, entry: &IndexedOok) -> Result<(), ApiStoreError> {
        self.lock()
            .ooks
            .entry(entry.ook)
            .or_insert_with(|| entry.clone());
        Ok(())
    }

    async fn find_ook(&self, ook: Uuid) -> Result<Option<IndexedOok>, ApiStoreError> {
        Ok(self.lock().ooks.get(&ook).cloned())
    }

    async fn index_bpv(&self, entry: &IndexedBpv) -> Result<(), ApiStoreError> {
        self.lock()
            .bpvs
            .entry(entry.bpv)
            .or_insert_with(|| entry.clone());
        Ok(())
    }

    async fn find_bpv(&self, bpv: Uuid) -> Result<Option<IndexedBpv>, ApiStoreError> {
        Ok(self.lock().bpvs.get(&bpv).cloned())
    }

    async fn put_webhook(
        &self,
        brin: &str,
        url: &str,
        secret: &str,
    ) -> Result<Webhook, ApiStoreError> {
        let mut inner = self.lock();
        let end = inner.feeds.get(brin).map_or(0, |f| f.len() as i64);
        let cursor = inner.webhooks.get(brin).map_or(end, |w| w.cursor);
        let hook = Webhook {
            brin: brin.to_owned(),
            url: url.to_owned(),
            secret: secret.to_owned(),
            cursor,
        };
        inner.webhooks.insert(brin.to_owned(), hook.clone());
        Ok(hook)
    }

    async fn webhook(&self, brin: &str) -> Result<Option<Webhook>, ApiStoreError> {
        Ok(self.lock().webhooks.get(brin).cloned())
    }

    async fn delete_webhook(&self, brin: &str) -> Result<bool, ApiStoreError> {
        Ok(self.lock().webhooks.remove(brin).is_some())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, ApiStoreError> {
        Ok(self.lock().webhooks.values().cloned().collect())
    }

    async fn advance_webhook(&self, brin: &str, to: i64) -> Result<(), ApiStoreError> {
        if let Some(w) = self.lock().webhooks.get_mut(brin) {
            w.cursor = w.cursor.max(to);
        }
        Ok(())
    }

    async fn lease_webhook(
        &self,
        brin: &str,
        holder: Uuid,
        ttl: std::time::Duration,
    ) -> Result<bool, ApiStoreError> {
        let mut inner = self.lock();
        if !inner.webhooks.contains_key(brin) {
            return Ok(false);
        }
        let now = std::time::Instant::now();
        let free = inner
            .webhook_leases
            .get(brin)
            .is_none_or(|(h, until)| *h == holder || *until < now);
        if free {
            inner
                .webhook_leases
                .insert(brin.to_owned(), (holder, now + ttl));
        }
        Ok(free)
    }

    async fn release_webhook(&self, brin: &str, holder: Uuid) -> Result<(), ApiStoreError> {
        let mut inner = self.lock();
        if inner
            .webhook_leases
            .get(brin)
            .is_some_and(|(h, _)| *h == holder)
        {
            inner.webhook_leases.remove(brin);
        }
        Ok(())
    }
}
