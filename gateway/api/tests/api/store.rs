//! One behaviour suite for the `ApiStore`, run on `MemoryApiStore` and on `PgApiStore`.

use std::sync::Arc;
use std::time::Duration;

use crate::support::PgSchema;
use knooppunt_api::store::{IdempotencyBegin, InstanceId, NewFeedItem, StoredResponse};
use knooppunt_api::{ApiStore, MemoryApiStore, PgApiStore};
use uuid::Uuid;

/// The instance of the suite's requests.
const NODE: InstanceId = match InstanceId::new(1) {
    Some(id) => id,
    None => panic!("positive"),
};

fn item(event: Uuid, aanmelding: Uuid, status: &str) -> NewFeedItem {
    NewFeedItem {
        event_id: event,
        kind: "nl.knooppunt.aanmelding.status_gewijzigd.v1".into(),
        tijd: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time"),
        aanmelding_id: Some(aanmelding),
        status: Some(status.into()),
        ..NewFeedItem::default()
    }
}

async fn idempotency(s: &dyn ApiStore) {
    let long = Duration::from_secs(3600);
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h2", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Mismatch
    );
    // Keys are per client.
    assert_eq!(
        s.begin_idempotent("oin2", "k", "h2", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    let response = StoredResponse {
        status: 201,
        location: Some("/api/v1/aanmeldingen/x".into()),
        body: serde_json::json!({"a": 1}),
    };
    s.complete_idempotent("oin1", "k", &response)
        .await
        .expect("complete");
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Replay(response.clone())
    );
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h2", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Mismatch
    );
    // Abandoning a finished record does nothing.
    s.abandon_idempotent("oin1", "k").await.expect("abandon");
    assert_eq!(
        s.begin_idempotent("oin1", "k", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Replay(response)
    );
    // Abandoned: the key may be tried again.
    s.abandon_idempotent("oin2", "k").await.expect("abandon");
    assert_eq!(
        s.begin_idempotent("oin2", "k", "h2", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    // A stale unfinished record is taken over.
    assert_eq!(
        s.begin_idempotent("oin2", "k", "h2", NODE, Duration::ZERO)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
}

async fn idempotency_stays_bound(s: &dyn ApiStore) {
    let long = Duration::from_secs(3600);
    let begin = |key: &'static str, hash: &'static str| async move {
        s.begin_idempotent("oin3", key, hash, NODE, long)
            .await
            .expect("begin")
    };
    // Released after a 5xx: the same request starts again at once, another is refused.
    assert_eq!(begin("r", "h1").await, IdempotencyBegin::Started);
    s.release_idempotent("oin3", "r").await.expect("release");
    assert_eq!(begin("r", "h2").await, IdempotencyBegin::Mismatch);
    assert_eq!(begin("r", "h1").await, IdempotencyBegin::Started);
    assert_eq!(begin("r", "h1").await, IdempotencyBegin::InProgress);
    // A retry refused by its precheck does not free the key: an earlier attempt may have run.
    s.abandon_idempotent("oin3", "r").await.expect("abandon");
    assert_eq!(begin("r", "h2").await, IdempotencyBegin::Mismatch);
    assert_eq!(begin("r", "h1").await, IdempotencyBegin::Started);
    let response = StoredResponse {
        status: 200,
        location: None,
        body: serde_json::json!({"b": 2}),
    };
    s.complete_idempotent("oin3", "r", &response)
        .await
        .expect("complete");
    assert_eq!(begin("r", "h1").await, IdempotencyBegin::Replay(response));
    // Releasing a finished record does nothing.
    s.release_idempotent("oin3", "r").await.expect("release");
    assert_eq!(begin("r", "h2").await, IdempotencyBegin::Mismatch);

    // A first attempt refused by its precheck executed nothing: the key is free again.
    assert_eq!(begin("a", "h1").await, IdempotencyBegin::Started);
    s.abandon_idempotent("oin3", "a").await.expect("abandon");
    assert_eq!(begin("a", "h2").await, IdempotencyBegin::Started);
    // A stale record taken over may have run: a refusal of the takeover keeps the key bound.
    assert_eq!(
        s.begin_idempotent("oin3", "a", "h2", NODE, Duration::ZERO)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    s.abandon_idempotent("oin3", "a").await.expect("abandon");
    assert_eq!(begin("a", "h1").await, IdempotencyBegin::Mismatch);
    assert_eq!(begin("a", "h2").await, IdempotencyBegin::Started);
}

fn instance(n: i32) -> InstanceId {
    InstanceId::new(n).expect("positive")
}

async fn records_of_a_dead_instance_are_free_at_once(s: &dyn ApiStore) {
    let long = Duration::from_secs(3600);
    let (a, b) = (instance(1_000_001), instance(1_000_002));
    let begin = |holder: InstanceId, hash: &'static str| async move {
        s.begin_idempotent("oin4", "k", hash, holder, long)
            .await
            .expect("begin")
    };
    assert_eq!(begin(a, "h1").await, IdempotencyBegin::Started);
    // Held by a live instance: busy for every instance, itself included.
    assert_eq!(begin(b, "h1").await, IdempotencyBegin::InProgress);
    assert_eq!(begin(a, "h1").await, IdempotencyBegin::InProgress);
    s.end_instance(a).await.expect("end");
    // Its holder is gone: another body is still refused, the same request is free at once.
    assert_eq!(begin(b, "h2").await, IdempotencyBegin::Mismatch);
    assert_eq!(begin(b, "h1").await, IdempotencyBegin::Started);
    // Now held by the live instance b.
    assert_eq!(begin(b, "h1").await, IdempotencyBegin::InProgress);
    let c = instance(1_000_003);
    assert_eq!(begin(c, "h1").await, IdempotencyBegin::InProgress);
    // Taken over, so a refused retry keeps the key bound.
    s.abandon_idempotent("oin4", "k").await.expect("abandon");
    assert_eq!(begin(c, "h2").await, IdempotencyBegin::Mismatch);
}

async fn expired_records_are_purged(s: &dyn ApiStore) {
    let long = Duration::from_secs(3600);
    let response = StoredResponse {
        status: 201,
        location: None,
        body: serde_json::json!({"c": 3}),
    };
    assert_eq!(
        s.begin_idempotent("oin5", "done", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    s.complete_idempotent("oin5", "done", &response)
        .await
        .expect("complete");
    assert_eq!(
        s.begin_idempotent("oin5", "running", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Started
    );
    // Nothing is an hour old yet.
    assert_eq!(s.purge_idempotency(long, 1000).await.expect("purge"), 0);
    assert_eq!(
        s.begin_idempotent("oin5", "done", "h1", NODE, long)
            .await
            .expect("begin"),
        IdempotencyBegin::Replay(response)
    );
    // With a retention of zero every record has expired; one batch deletes at most its limit.
    assert_eq!(
        s.purge_idempotency(Duration::ZERO, 1).await.expect("purge"),
        1
    );
    let rest = knooppunt_api::housekeeping::purge_idempotency(s, Duration::ZERO)
        .await
        .expect("purge");
    assert!(rest >= 1, "{rest}");
    assert_eq!(
        s.purge_idempotency(Duration::ZERO, 1000)
            .await
            .expect("purge"),
        0
    );
    // A purged key is new again, whatever its body.
    for key in ["done", "running"] {
        assert_eq!(
            s.begin_idempotent("oin5", key, "h2", NODE, long)
                .await
                .expect("begin"),
            IdempotencyBegin::Started
        );
    }
}

async fn index(s: &dyn ApiStore) {
    let (a1, a2, a3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (d1, d2) = (Uuid::new_v4(), Uuid::new_v4());
    s.index_aanmelding(a1, "25LX", d1).await.expect("index");
    s.index_aanmelding(a2, "27DV", d2).await.expect("index");
    s.index_aanmelding(a3, "25LX", d2).await.expect("index");
    // Idempotent: the first entry stays.
    s.index_aanmelding(a1, "27DV", d2).await.expect("index");
    let e = s.find_aanmelding(a1).await.expect("find").expect("indexed");
    assert_eq!((e.brin.as_str(), e.dossier), ("25LX", d1));
    assert_eq!(s.find_aanmelding(Uuid::new_v4()).await.expect("find"), None);
    let list = s.list_aanmeldingen("25LX", 0, 10).await.expect("list");
    assert_eq!(
        list.iter().map(|e| e.aanmelding).collect::<Vec<_>>(),
        [a1, a3]
    );
    let page = s.list_aanmeldingen("25LX", 0, 1).await.expect("list");
    assert_eq!(page.len(), 1);
    let rest = s
        .list_aanmeldingen("25LX", page[0].seq, 10)
        .await
        .expect("list");
    assert_eq!(rest.iter().map(|e| e.aanmelding).collect::<Vec<_>>(), [a3]);
}

async fn feed(s: &dyn ApiStore) {
    let a = Uuid::new_v4();
    let (e1, e2, e3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        s.append_feed("25LX", &item(e1, a, "ontvangen"))
            .await
            .expect("append"),
        1
    );
    assert_eq!(
        s.append_feed("27DV", &item(e2, a, "ontvangen"))
            .await
            .expect("append"),
        1
    );
    assert_eq!(
        s.append_feed("25LX", &item(e3, a, "aangemeld"))
            .await
            .expect("append"),
        2
    );
    // The same event again: its number, nothing appended.
    assert_eq!(
        s.append_feed("25LX", &item(e1, a, "ontvangen"))
            .await
            .expect("append"),
        1
    );
    let all = s.feed("25LX", 0, 10).await.expect("feed");
    assert_eq!(
        all.iter()
            .map(|i| (i.wijzigingsvolgnummer, i.item.event_id))
            .collect::<Vec<_>>(),
        [(1, e1), (2, e3)]
    );
    assert_eq!(all[1].item, item(e3, a, "aangemeld"));
    let after = s.feed("25LX", 1, 10).await.expect("feed");
    assert_eq!(after.len(), 1);
    assert_eq!(s.feed("25LX", 0, 1).await.expect("feed").len(), 1);
    assert!(s.feed("25LX", 2, 10).await.expect("feed").is_empty());
    assert!(s.feed("28AB", 0, 10).await.expect("feed").is_empty());
}

async fn webhooks(s: &dyn ApiStore) {
    let a = Uuid::new_v4();
    s.append_feed("30GT", &item(Uuid::new_v4(), a, "ontvangen"))
        .await
        .expect("append");
    // A new subscription starts at the end of the feed.
    let w = s
        .put_webhook("30GT", "https://sis.example/hook", "secret-secret-123")
        .await
        .expect("put");
    assert_eq!(w.cursor, 1);
    assert_eq!(s.webhook("30GT").await.expect("get"), Some(w.clone()));
    s.advance_webhook("30GT", 5).await.expect("advance");
    s.advance_webhook("30GT", 3)
        .await
        .expect("advance never goes back");
    // Replacing keeps the cursor.
    let w2 = s
        .put_webhook("30GT", "https://sis.example/hook2", "another-secret-456")
        .await
        .expect("put");
    assert_eq!(
        (w2.cursor, w2.url.as_str()),
        (5, "https://sis.example/hook2")
    );
    let fresh = s
        .put_webhook("31XX", "https://other.example/", "secret-secret-789")
        .await
        .expect("put");
    assert_eq!(fresh.cursor, 0);
    assert_eq!(s.webhooks().await.expect("all").len(), 2);
    assert!(s.delete_webhook("30GT").await.expect("delete"));
    assert!(!s.delete_webhook("30GT").await.expect("delete"));
    assert_eq!(s.webhook("30GT").await.expect("get"), None);
}

/// One holder at a time: another waits while the lease runs, takes it once it has expired or
/// been given back; no lease without a webhook.
async fn webhook_leases(s: &dyn ApiStore) {
    use std::time::Duration;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let long = Duration::from_secs(60);
    assert!(
        !s.lease_webhook("32LE", a, long).await.expect("lease"),
        "no webhook"
    );
    s.put_webhook("32LE", "https://sis.example/hook", "secret-secret-123")
        .await
        .expect("put");
    assert!(s.lease_webhook("32LE", a, long).await.expect("lease"));
    assert!(s.lease_webhook("32LE", a, long).await.expect("renew"));
    assert!(!s.lease_webhook("32LE", b, long).await.expect("held"));
    // Another holder's release does nothing; the holder's frees it at once.
    s.release_webhook("32LE", b).await.expect("release");
    assert!(!s.lease_webhook("32LE", b, long).await.expect("still held"));
    s.release_webhook("32LE", a).await.expect("release");
    assert!(
        s.lease_webhook("32LE", b, Duration::from_millis(50))
            .await
            .expect("free")
    );
    // An expired lease is taken over.
    let mut taken = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if s.lease_webhook("32LE", a, long).await.expect("lease") {
            taken = true;
            break;
        }
    }
    assert!(taken, "an expired lease is taken over");
    assert!(
        !s.lease_webhook("32LE", b, long)
            .await
            .expect("held by a again")
    );
    assert!(s.delete_webhook("32LE").await.expect("delete"));
}

/// Templates: version 1 on create, the same request again is the same version, another
/// request for a taken id is `Exists` (also another institution's), versions count up, an
/// earlier version stays, another institution sees nothing; the OOK index keeps its first entry.
async fn sjablonen_and_ook_index(s: &dyn ApiStore) {
    use knooppunt_api::store::{IndexedOok, SjabloonWrite};
    let id = Uuid::new_v4();
    let (r1, r2, r3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let v1 = serde_json::json!({"naam": "een"});
    let v2 = serde_json::json!({"naam": "twee"});
    let written = |w: SjabloonWrite| match w {
        SjabloonWrite::Written(t) => t,
        other => panic!("not written: {other:?}"),
    };
    let first = written(
        s.create_sjabloon("25LX", id, r1, &v1)
            .await
            .expect("create"),
    );
    assert_eq!((first.versie, first.laatste_versie), (1, 1));
    let again = written(s.create_sjabloon("25LX", id, r1, &v1).await.expect("again"));
    assert_eq!(again.versie, 1);
    assert_eq!(
        s.create_sjabloon("25LX", id, r2, &v1).await.expect("taken"),
        SjabloonWrite::Exists
    );
    assert_eq!(
        s.create_sjabloon("27DV", id, r1, &v1).await.expect("taken"),
        SjabloonWrite::Exists
    );
    assert_eq!(
        s.add_sjabloon_versie("27DV", id, r3, &v2)
            .await
            .expect("other"),
        SjabloonWrite::NotFound
    );
    let second = written(
        s.add_sjabloon_versie("25LX", id, r3, &v2)
            .await
            .expect("v2"),
    );
    assert_eq!((second.versie, second.laatste_versie), (2, 2));
    let same = written(
        s.add_sjabloon_versie("25LX", id, r3, &v2)
            .await
            .expect("v2 again"),
    );
    assert_eq!(same.versie, 2, "the same request makes no third version");
    let latest = s
        .sjabloon("25LX", id, None)
        .await
        .expect("read")
        .expect("found");
    assert_eq!((latest.versie, latest.inhoud.clone()), (2, v2));
    let old = s
        .sjabloon("25LX", id, Some(1))
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        (old.versie, old.laatste_versie, old.inhoud.clone()),
        (1, 2, v1)
    );
    assert!(
        s.sjabloon("25LX", id, Some(3))
            .await
            .expect("read")
            .is_none()
    );
    assert!(s.sjabloon("27DV", id, None).await.expect("read").is_none());
    let other = Uuid::new_v4();
    written(
        s.create_sjabloon("25LX", other, Uuid::new_v4(), &serde_json::json!({}))
            .await
            .expect("create"),
    );
    let list = s.list_sjablonen("25LX", 0, 10).await.expect("list");
    let ids: Vec<(Uuid, i32)> = list.iter().map(|t| (t.sjabloon, t.versie)).collect();
    assert_eq!(ids, vec![(id, 2), (other, 1)]);
    let after = s
        .list_sjablonen("25LX", list[0].seq, 10)
        .await
        .expect("list");
    assert_eq!(after.len(), 1);
    assert!(
        s.list_sjablonen("27DV", 0, 10)
            .await
            .expect("list")
            .is_empty()
    );

    let entry = IndexedOok {
        ook: Uuid::new_v4(),
        brin: "25LX".into(),
        dossier: Uuid::new_v4(),
        aanmelding: Some(Uuid::new_v4()),
        sjabloon: id,
        versie: 2,
    };
    s.index_ook(&entry).await.expect("index");
    s.index_ook(&IndexedOok {
        versie: 1,
        ..entry.clone()
    })
    .await
    .expect("again");
    assert_eq!(s.find_ook(entry.ook).await.expect("find"), Some(entry));
    assert_eq!(s.find_ook(Uuid::new_v4()).await.expect("find"), None);
}

async fn suite(s: &dyn ApiStore) {
    sjablonen_and_ook_index(s).await;
    idempotency(s).await;
    idempotency_stays_bound(s).await;
    records_of_a_dead_instance_are_free_at_once(s).await;
    index(s).await;
    feed(s).await;
    webhooks(s).await;
    webhook_leases(s).await;
    expired_records_are_purged(s).await;
}

#[tokio::test]
async fn memory_api_store_behaviour() {
    suite(&MemoryApiStore::new()).await;
}

#[tokio::test]
async fn pg_api_store_behaviour() -> anyhow::Result<()> {
    let schema = PgSchema::new().await?;
    let store = PgApiStore::new(schema.pool.clone());
    suite(&store).await;
    schema.drop().await
}

#[tokio::test]
async fn pg_feed_numbers_stay_gapless_under_concurrent_appends() -> anyhow::Result<()> {
    let schema = PgSchema::new().await?;
    let store: Arc<dyn ApiStore> = Arc::new(PgApiStore::new(schema.pool.clone()));
    let a = Uuid::new_v4();
    let events: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    let mut tasks = Vec::new();
    // Every event appended twice, concurrently.
    for e in events.iter().chain(events.iter()) {
        let store = store.clone();
        let e = *e;
        tasks.push(tokio::spawn(async move {
            store.append_feed("25LX", &item(e, a, "ontvangen")).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let all = store.feed("25LX", 0, 100).await?;
    assert_eq!(
        all.iter()
            .map(|i| i.wijzigingsvolgnummer)
            .collect::<Vec<_>>(),
        (1..=20).collect::<Vec<i64>>()
    );
    schema.drop().await
}

#[tokio::test]
async fn pg_records_of_a_killed_node_are_free_at_once_and_a_live_nodes_are_not()
-> anyhow::Result<()> {
    // Two nodes on one database. Node a's process "dies": the server ends the session of its
    // liveness lock (pg_terminate_backend, as when its socket closes on kill -9), with no unlock.
    let schema = PgSchema::new().await?;
    let node_a = PgApiStore::new(schema.pool.clone());
    let node_b = PgApiStore::new(schema.pool.clone());
    let (a, b) = (instance(2_000_001), instance(2_000_002));
    let long = Duration::from_secs(3600);
    assert_eq!(
        node_a.begin_idempotent("oin", "k", "h", a, long).await?,
        IdempotencyBegin::Started
    );
    assert_eq!(
        node_b.begin_idempotent("oin", "k", "h", b, long).await?,
        IdempotencyBegin::InProgress,
        "node a is live"
    );
    let client = schema.pool.get().await?;
    let killed: bool = client
        .query_one(
            "SELECT coalesce(bool_and(pg_terminate_backend(pid, 10000)), false) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND objid::bigint = $1",
            &[&i64::from(a.get())],
        )
        .await?
        .try_get(0)?;
    assert!(killed, "node a's liveness session was found and ended");
    assert_eq!(
        node_b.begin_idempotent("oin", "k", "h", b, long).await?,
        IdempotencyBegin::Started,
        "free at once"
    );
    // Node a comes back as a new instance; node b is live, so its record is busy.
    let a2 = instance(2_000_003);
    assert_eq!(
        node_a.begin_idempotent("oin", "k", "h", a2, long).await?,
        IdempotencyBegin::InProgress
    );
    drop(client);
    drop((node_a, node_b));
    schema.drop().await
}
