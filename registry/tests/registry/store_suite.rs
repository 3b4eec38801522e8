//! One behaviour suite for every [`Store`] implementation: each check below runs against the
//! in-memory store and against PostgreSQL (a fresh schema per test, from `DATABASE_URL`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use knooppunt_registry::domain::{Command, Person, Rejection};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey, REGISTRY_SOURCE};
use knooppunt_registry::ids::{LeerbedrijfId, PersonId};
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::bench::{follow_up, synthetic_person};
use knooppunt_registry::store::{
    BatchingConfig, BatchingStore, CommandOutcome, EventEnvelope, OUTBOX_PARTITIONS, OutboxLease,
    OutboxRow, Store, outbox_partition,
};
use knooppunt_registry::store::{PgStore, PgStoreConfig, migrations};
use knooppunt_testkit::{TestSchema, database_url};
use uuid::Uuid;

type Shared = Arc<dyn Store>;

fn person(n: u64) -> PersonId {
    synthetic_person(n)
}

fn open(n: u64) -> Command {
    Command::OpenDossier {
        person: Person { id: person(n) },
    }
}

fn meta(key: DossierKey) -> CommandMeta {
    let time = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
    CommandMeta::new(key, Actor::System, time)
}

fn events(outcome: &CommandOutcome) -> &[EventEnvelope] {
    match &outcome.result {
        Ok(events) => events,
        Err(rejection) => panic!("unexpected rejection: {rejection}"),
    }
}

async fn exec(store: &Shared, meta: &CommandMeta, command: &Command) -> CommandOutcome {
    store
        .execute(meta.clone(), command.clone(), &ReferenceData::default())
        .await
        .expect("execute")
}

/// Opens `count` dossiers (persons `first..first+count`) and returns their keys in order.
async fn open_many(store: &Shared, first: u64, count: u64) -> Vec<DossierKey> {
    let mut keys = Vec::new();
    for n in first..first + count {
        let key = DossierKey::new();
        let outcome = exec(store, &meta(key), &open(n)).await;
        assert_eq!(events(&outcome).len(), 1);
        keys.push(key);
    }
    keys
}

/// A lease on all partitions. A dropped lease's partitions come free when the server has seen
/// its connection close, which may take a moment: try a bounded number of times.
async fn lease_all(store: &Shared) -> Box<dyn OutboxLease> {
    for _ in 0..200 {
        let lease = store.lease_outbox(OUTBOX_PARTITIONS).await.expect("lease");
        if lease.partitions().len() as u32 == OUTBOX_PARTITIONS {
            return lease;
        }
        lease.release().await.expect("release");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the outbox partitions never came free");
}

/// Drains every unsent row through one lease on all partitions.
async fn drain(store: &Shared) -> Vec<OutboxRow> {
    let lease = lease_all(store).await;
    let rows = lease.claim(10_000).await.expect("claim");
    let positions: Vec<i64> = rows.iter().map(|r| r.position).collect();
    lease.mark_sent(&positions).await.expect("mark");
    lease.release().await.expect("release");
    rows
}

async fn execute_and_replay(store: Shared) {
    let key = DossierKey::new();
    let m = meta(key);
    let first = exec(&store, &m, &open(1)).await;
    assert!(!first.replayed);
    assert_eq!(first.command_id, m.id);
    assert_eq!(first.dossier, key);
    let evs = events(&first);
    assert_eq!(evs.len(), 1);
    let e = &evs[0].meta;
    assert_eq!(e.kind, "nl.knooppunt.dossier.geopend.v1");
    assert_eq!(e.source, REGISTRY_SOURCE);
    assert_eq!(e.subject, key);
    assert_eq!(e.time, m.time);
    assert_eq!(e.correlation_id, m.correlation_id);
    assert_eq!(e.causation_id, m.id);
    assert_eq!(e.sequence, 1);
    assert_eq!(e.id.get_version_num(), 7);

    let again = exec(&store, &m, &open(1)).await;
    assert!(again.replayed);
    assert_eq!(again.result, first.result);
    assert_eq!(again.command_id, first.command_id);

    assert_eq!(store.history(key).await.unwrap(), evs.to_vec());
    let dossier = store.dossier(key).await.unwrap().expect("dossier exists");
    assert_eq!(dossier.sequence, 1);
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
    assert_eq!(store.dossier(DossierKey::new()).await.unwrap(), None);
}

async fn concurrent_same_id(store: Shared) {
    let key = DossierKey::new();
    let m = meta(key);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, m) = (Arc::clone(&store), m.clone());
            tokio::spawn(async move { exec(&store, &m, &open(2)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task"));
    }
    assert_eq!(outcomes.iter().filter(|o| !o.replayed).count(), 1);
    let first = &outcomes[0].result;
    assert!(outcomes.iter().all(|o| &o.result == first));
    assert_eq!(events(&outcomes[0]).len(), 1);
    assert_eq!(store.history(key).await.unwrap().len(), 1);
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
}

async fn concurrent_commands_on_one_dossier(store: Shared) {
    let key = DossierKey::new();
    // Different command ids, all deciding on the same (empty) state: exactly one may win; the
    // others must be re-decided on the new state.
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { exec(&store, &meta(key), &open(100 + i)).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        let outcome = t.await.expect("task");
        assert!(!outcome.replayed);
        match outcome.result {
            Ok(evs) => {
                won += 1;
                assert_eq!(evs.len(), 1);
                assert_eq!(evs[0].meta.sequence, 1);
            }
            Err(rejection) => assert_eq!(rejection, Rejection::DossierAlreadyOpen),
        }
    }
    assert_eq!(won, 1);
    let history = store.history(key).await.unwrap();
    let sequences: Vec<u64> = history.iter().map(|e| e.meta.sequence).collect();
    assert_eq!(sequences, (1..=history.len() as u64).collect::<Vec<_>>());
    assert_eq!(store.dossier(key).await.unwrap().unwrap().sequence, 1);
}

fn record(i: u64) -> Command {
    follow_up(i).expect("the domain knows record_personalia")
}

async fn concurrent_updates_leave_no_gaps(store: Shared) {
    let key = DossierKey::new();
    exec(&store, &meta(key), &open(60)).await;
    // Six commands on one dossier at once: each loses at most five races, is re-decided on
    // fresh state and succeeds; the sequence has no gaps and no duplicates.
    let metas: Vec<CommandMeta> = (0..6).map(|_| meta(key)).collect();
    let tasks: Vec<_> = metas
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (store, m) = (Arc::clone(&store), m.clone());
            tokio::spawn(async move { exec(&store, &m, &record(i as u64)).await })
        })
        .collect();
    let mut sequences = Vec::new();
    for t in tasks {
        let outcome = t.await.expect("task");
        sequences.extend(events(&outcome).iter().map(|e| e.meta.sequence));
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (2..=7).collect::<Vec<u64>>());
    let history = store.history(key).await.unwrap();
    let in_order: Vec<u64> = history.iter().map(|e| e.meta.sequence).collect();
    assert_eq!(in_order, (1..=7).collect::<Vec<u64>>());
    assert_eq!(store.dossier(key).await.unwrap().unwrap().sequence, 7);
    // Replays change nothing.
    for (i, m) in metas.iter().enumerate() {
        assert!(exec(&store, m, &record(i as u64)).await.replayed);
    }
    assert_eq!(store.history(key).await.unwrap(), history);
    // The outbox holds the dossier's events in sequence order.
    let rows: Vec<u64> = drain(&store)
        .await
        .into_iter()
        .filter(|r| r.event.meta.subject == key)
        .map(|r| r.event.meta.sequence)
        .collect();
    assert_eq!(rows, (1..=7).collect::<Vec<u64>>());
}

/// Two instances on one database: each one's view of a dossier may be stale; commands must
/// still be decided on the current state.
async fn two_instances(a: Shared, b: Shared) {
    let key = DossierKey::new();
    exec(&a, &meta(key), &open(70)).await;
    let on_a = meta(key);
    assert_eq!(
        events(&exec(&a, &on_a, &record(1)).await)[0].meta.sequence,
        2
    );
    assert_eq!(
        events(&exec(&b, &meta(key), &record(2)).await)[0]
            .meta
            .sequence,
        3
    );
    assert_eq!(
        events(&exec(&a, &meta(key), &record(3)).await)[0]
            .meta
            .sequence,
        4
    );
    assert_eq!(
        events(&exec(&b, &meta(key), &record(4)).await)[0]
            .meta
            .sequence,
        5
    );
    let history = a.history(key).await.unwrap();
    let sequences: Vec<u64> = history.iter().map(|e| e.meta.sequence).collect();
    assert_eq!(sequences, (1..=5).collect::<Vec<u64>>());
    assert_eq!(b.dossier(key).await.unwrap(), a.dossier(key).await.unwrap());
    // A command handled by one instance is a replay on the other.
    let replay = exec(&b, &on_a, &record(1)).await;
    assert!(replay.replayed);
    assert_eq!(replay.result.unwrap(), vec![history[1].clone()]);
    // The person index is shared.
    let dup = exec(&b, &meta(DossierKey::new()), &open(70)).await;
    assert_eq!(dup.result, Err(Rejection::DossierAlreadyOpen));
}

#[tokio::test]
async fn memory_two_instances() {
    let store = knooppunt_registry::store::MemoryStore::new();
    two_instances(Arc::new(store.clone()), Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances() {
    let db = TestDb::create().await;
    let second = PgStore::open(&db.config).await.expect("second instance");
    two_instances(db.store(), Arc::new(second)).await;
    db.drop_schema().await;
}

/// Personal data lives only in the JSON of the dossier state and the events: the person index,
/// the command log and the outbox hold ids and fingerprints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_bsn_out_of_index_columns() {
    let db = TestDb::create().await;
    let store = db.store();
    let key = DossierKey::new();
    exec(&store, &meta(key), &open(80)).await;
    exec(&store, &meta(DossierKey::new()), &open(80)).await; // refused: stored rejection
    let digits = person(80).digits().to_owned();
    let leaks: i64 = db
        .admin
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {s}.commands c WHERE row_to_json(c)::text LIKE $1)
                      + (SELECT count(*) FROM {s}.outbox o WHERE row_to_json(o)::text LIKE $1)
                      + (SELECT count(*) FROM {s}.dossiers d
                         WHERE concat(d.key, d.person_fingerprint, d.version) LIKE $1)",
                s = db.schema
            ),
            &[&format!("%{digits}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaks, 0);
    // The JSON does hold it (the check above would catch a leak).
    let in_state: i64 = db
        .admin
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.dossiers WHERE state::text LIKE $1",
                db.schema
            ),
            &[&format!("%{digits}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_state, 1);
    drop(store);
    db.drop_schema().await;
}

async fn rejection_changes_nothing_and_replays(store: Shared) {
    let key = DossierKey::new();
    exec(&store, &meta(key), &open(3)).await;
    let before = store.dossier(key).await.unwrap();
    let history_before = store.history(key).await.unwrap();
    let backlog_before = store.outbox_backlog().await.unwrap();

    // Same dossier opened again.
    let m = meta(key);
    let rejected = exec(&store, &m, &open(4)).await;
    assert_eq!(rejected.result, Err(Rejection::DossierAlreadyOpen));
    assert!(!rejected.replayed);
    let replay = exec(&store, &m, &open(4)).await;
    assert!(replay.replayed);
    assert_eq!(replay.result, rejected.result);

    // Same person, another dossier key: refused, nothing created.
    let other = DossierKey::new();
    let dup = exec(&store, &meta(other), &open(3)).await;
    assert_eq!(dup.result, Err(Rejection::DossierAlreadyOpen));
    assert_eq!(store.dossier(other).await.unwrap(), None);
    assert_eq!(store.find_dossier(&person(3)).await.unwrap(), Some(key));
    assert_eq!(store.find_dossier(&person(4)).await.unwrap(), None);

    assert_eq!(store.dossier(key).await.unwrap(), before);
    assert_eq!(store.history(key).await.unwrap(), history_before);
    assert_eq!(store.outbox_backlog().await.unwrap(), backlog_before);
}

async fn history_is_ordered_and_per_dossier(store: Shared) {
    let keys = open_many(&store, 10, 3).await;
    for key in &keys {
        let history = store.history(*key).await.unwrap();
        let sequences: Vec<u64> = history.iter().map(|e| e.meta.sequence).collect();
        assert_eq!(sequences, vec![1]);
        assert!(history.iter().all(|e| e.meta.subject == *key));
    }
    assert!(store.history(DossierKey::new()).await.unwrap().is_empty());
}

async fn find_dossier_by_person(store: Shared) {
    assert_eq!(store.find_dossier(&person(20)).await.unwrap(), None);
    let keys = open_many(&store, 20, 2).await;
    assert_eq!(
        store.find_dossier(&person(20)).await.unwrap(),
        Some(keys[0])
    );
    assert_eq!(
        store.find_dossier(&person(21)).await.unwrap(),
        Some(keys[1])
    );
}

async fn outbox_claims_in_order(store: Shared) {
    let keys = open_many(&store, 30, 5).await;
    assert_eq!(store.outbox_backlog().await.unwrap(), 5);
    let lease = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert_eq!(lease.partitions().len() as u32, OUTBOX_PARTITIONS);
    let first = lease.claim(3).await.unwrap();
    let rest = lease.claim(10).await.unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(rest.len(), 2);
    // Claimed rows are not handed out twice by the same lease.
    assert!(lease.claim(10).await.unwrap().is_empty());
    let all: Vec<OutboxRow> = first.into_iter().chain(rest).collect();
    let positions: Vec<i64> = all.iter().map(|r| r.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let subjects: Vec<DossierKey> = all.iter().map(|r| r.event.meta.subject).collect();
    assert_eq!(subjects, keys);
    for row in &all {
        assert_eq!(row.partition, outbox_partition(row.event.meta.subject));
        let history = store.history(row.event.meta.subject).await.unwrap();
        assert_eq!(history, vec![row.event.clone()]);
    }
    lease.mark_sent(&positions[..2]).await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 3);
    lease.mark_sent(&positions).await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    lease.release().await.unwrap();
    // Sent rows never come back.
    assert!(drain(&store).await.is_empty());
}

async fn unmarked_rows_are_reclaimed_after_release(store: Shared) {
    open_many(&store, 40, 4).await;
    let lease = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    let claimed = lease.claim(3).await.unwrap();
    assert_eq!(claimed.len(), 3);
    lease.mark_sent(&[claimed[0].position]).await.unwrap();
    // While the lease is held, nobody else can take its partitions.
    let blocked = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert!(blocked.partitions().is_empty());
    assert!(blocked.claim(10).await.unwrap().is_empty());
    blocked.release().await.unwrap();
    drop(lease); // dropping releases too

    let again = drain(&store).await;
    let positions: Vec<i64> = again.iter().map(|r| r.position).collect();
    assert_eq!(positions.len(), 3);
    assert_eq!(&positions[..2], &[claimed[1].position, claimed[2].position]);
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

/// Each lease takes at most its fair share of the live leases, counting those that hold
/// nothing: a lease alone takes all partitions; a second one gets none while they are held, but
/// is counted, so the first, taken again, takes half and the second, taken again, the rest.
async fn leases_spread_over_the_relays(store: Shared) {
    let all = OUTBOX_PARTITIONS as usize;
    let a = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert_eq!(a.partitions().len(), all, "alone: everything");
    let b = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert!(b.partitions().is_empty(), "all held by a");
    a.release().await.unwrap();
    let a = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert_eq!(a.partitions().len(), all / 2, "two leases: half each");
    b.release().await.unwrap();
    let b = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert_eq!(b.partitions().len(), all / 2, "the other half");
    let pa: BTreeSet<u32> = a.partitions().iter().copied().collect();
    let pb: BTreeSet<u32> = b.partitions().iter().copied().collect();
    assert!(pa.is_disjoint(&pb));
    // A lease asking for fewer takes fewer; one that ends is no longer counted.
    let c = store.lease_outbox(2).await.unwrap();
    assert!(c.partitions().is_empty(), "nothing free");
    b.release().await.unwrap();
    c.release().await.unwrap();
    let c = store.lease_outbox(2).await.unwrap();
    assert_eq!(c.partitions().len(), 2);
    a.release().await.unwrap();
    c.release().await.unwrap();
    let alone = store.lease_outbox(OUTBOX_PARTITIONS).await.unwrap();
    assert_eq!(
        alone.partitions().len(),
        all,
        "released leases are not counted"
    );
    alone.release().await.unwrap();
}

async fn two_relays_keep_dossier_order(store: Shared) {
    let keys = open_many(&store, 50, 24).await;
    let half = OUTBOX_PARTITIONS / 2;
    let a = store.lease_outbox(half).await.unwrap();
    let b = store.lease_outbox(half).await.unwrap();
    let pa: BTreeSet<u32> = a.partitions().iter().copied().collect();
    let pb: BTreeSet<u32> = b.partitions().iter().copied().collect();
    assert_eq!(pa.len() as u32, half);
    assert_eq!(pb.len() as u32, half);
    assert!(pa.is_disjoint(&pb));

    let published: Arc<Mutex<Vec<(u32, OutboxRow)>>> = Arc::default();
    let relay = |id: u32, lease: Box<dyn OutboxLease>| {
        let published = Arc::clone(&published);
        tokio::spawn(async move {
            loop {
                let rows = lease.claim(3).await.expect("claim");
                if rows.is_empty() {
                    break;
                }
                let positions: Vec<i64> = rows.iter().map(|r| r.position).collect();
                published
                    .lock()
                    .unwrap()
                    .extend(rows.into_iter().map(|r| (id, r)));
                tokio::task::yield_now().await;
                lease.mark_sent(&positions).await.expect("mark");
            }
            lease.release().await.expect("release");
        })
    };
    let (ta, tb) = (relay(0, a), relay(1, b));
    ta.await.unwrap();
    tb.await.unwrap();

    let published = published.lock().unwrap().clone();
    assert_eq!(published.len(), keys.len());
    let mut per_dossier: HashMap<DossierKey, Vec<(u32, u64)>> = HashMap::new();
    for (relay, row) in &published {
        let owner = if pa.contains(&row.partition) { 0 } else { 1 };
        assert_eq!(
            *relay, owner,
            "a relay published a row of a partition it does not hold"
        );
        per_dossier
            .entry(row.event.meta.subject)
            .or_default()
            .push((*relay, row.event.meta.sequence));
    }
    for (key, seen) in per_dossier {
        let relays: BTreeSet<u32> = seen.iter().map(|s| s.0).collect();
        assert_eq!(relays.len(), 1, "dossier {key} published by two relays");
        let sequences: Vec<u64> = seen.iter().map(|s| s.1).collect();
        assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>());
    }
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

async fn reference_data_round_trip(store: Shared) {
    assert_eq!(store.load_reference().await.unwrap(), None);
    let sample = knooppunt_sample::reference_data();
    assert_ne!(sample, ReferenceData::default());
    store.save_reference(&sample).await.unwrap();
    assert_eq!(store.load_reference().await.unwrap(), Some(sample));
    // A new snapshot replaces the old one.
    let empty = ReferenceData::default();
    store.save_reference(&empty).await.unwrap();
    assert_eq!(store.load_reference().await.unwrap(), Some(empty));
}

/// `execute_batch` answers like `execute` one by one: several commands on one dossier in
/// order, a rejection, a person opened twice, a command id twice and one handled before.
async fn batch_matches_execute(store: Shared) {
    let old = DossierKey::new();
    let old_meta = meta(old);
    let before = exec(&store, &old_meta, &open(200)).await;
    let (a, b) = (DossierKey::new(), DossierKey::new());
    let open_a = meta(a);
    let batch = vec![
        (open_a.clone(), open(201)),
        (meta(a), record(1)),
        (meta(a), record(2)),
        (meta(b), open(201)),   // person already opened in this batch: refused
        (meta(old), open(202)), // dossier exists: refused
        (meta(old), record(3)),
    ];
    let outcomes: Vec<CommandOutcome> = store
        .execute_batch(batch.clone(), &ReferenceData::default())
        .await
        .expect("batch")
        .into_iter()
        .map(|o| o.expect("outcome"))
        .collect();
    assert_eq!(outcomes.len(), batch.len());
    for ((m, _), o) in batch.iter().zip(&outcomes) {
        assert_eq!(o.command_id, m.id);
        assert_eq!(o.dossier, m.dossier);
        assert!(!o.replayed);
    }
    let seqs =
        |o: &CommandOutcome| -> Vec<u64> { events(o).iter().map(|e| e.meta.sequence).collect() };
    assert_eq!(seqs(&outcomes[0]), vec![1]);
    assert_eq!(seqs(&outcomes[1]), vec![2]);
    assert_eq!(seqs(&outcomes[2]), vec![3]);
    assert_eq!(outcomes[3].result, Err(Rejection::DossierAlreadyOpen));
    assert_eq!(outcomes[4].result, Err(Rejection::DossierAlreadyOpen));
    assert_eq!(seqs(&outcomes[5]), vec![2]);
    assert_eq!(store.find_dossier(&person(201)).await.unwrap(), Some(a));
    assert_eq!(store.dossier(b).await.unwrap(), None);
    let history: Vec<u64> = store
        .history(a)
        .await
        .unwrap()
        .iter()
        .map(|e| e.meta.sequence)
        .collect();
    assert_eq!(history, vec![1, 2, 3]);
    assert_eq!(store.dossier(a).await.unwrap().unwrap().sequence, 3);

    // Replays inside a batch: handled before, and the same id twice in one batch.
    let fresh = DossierKey::new();
    let fresh_meta = meta(fresh);
    let again = store
        .execute_batch(
            vec![
                (old_meta.clone(), open(200)),
                (open_a.clone(), open(201)),
                (fresh_meta.clone(), open(203)),
                (fresh_meta.clone(), open(203)),
            ],
            &ReferenceData::default(),
        )
        .await
        .expect("batch")
        .into_iter()
        .map(|o| o.expect("outcome"))
        .collect::<Vec<_>>();
    assert!(again[0].replayed);
    assert_eq!(again[0].result, before.result);
    assert!(again[1].replayed);
    assert_eq!(again[1].result, outcomes[0].result);
    assert!(!again[2].replayed);
    assert!(again[3].replayed);
    assert_eq!(again[3].result, again[2].result);
    assert_eq!(store.history(fresh).await.unwrap().len(), 1);
    // Every event once in the outbox, each dossier's in sequence order.
    let rows = drain(&store).await;
    assert_eq!(rows.len(), 6);
    let mut per_dossier: HashMap<DossierKey, Vec<u64>> = HashMap::new();
    for row in &rows {
        assert_eq!(row.partition, outbox_partition(row.event.meta.subject));
        per_dossier
            .entry(row.event.meta.subject)
            .or_default()
            .push(row.event.meta.sequence);
    }
    assert_eq!(per_dossier[&a], vec![1, 2, 3]);
    assert_eq!(per_dossier[&old], vec![1, 2]);
    assert!(
        store
            .execute_batch(Vec::new(), &ReferenceData::default())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Many concurrent `execute` calls: new dossiers, several commands on one dossier, and
/// duplicate command ids. Every command takes effect exactly once; sequences have no gaps.
async fn many_concurrent_executes(store: Shared) {
    let shared = DossierKey::new();
    exec(&store, &meta(shared), &open(300)).await;
    let dup = meta(shared);
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let key = DossierKey::new();
            (1, exec(&store, &meta(key), &open(301 + i)).await)
        }));
    }
    for i in 0..10u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            (2, exec(&store, &meta(shared), &record(i)).await)
        }));
    }
    for _ in 0..6 {
        let (store, dup) = (Arc::clone(&store), dup.clone());
        tasks.push(tokio::spawn(async move {
            (3, exec(&store, &dup, &record(99)).await)
        }));
    }
    let mut dup_outcomes = Vec::new();
    let mut shared_sequences = Vec::new();
    for t in tasks {
        let (kind, outcome) = t.await.expect("task");
        match kind {
            1 => assert_eq!(events(&outcome).len(), 1),
            2 => shared_sequences.extend(events(&outcome).iter().map(|e| e.meta.sequence)),
            _ => dup_outcomes.push(outcome),
        }
    }
    assert_eq!(dup_outcomes.iter().filter(|o| !o.replayed).count(), 1);
    assert!(
        dup_outcomes
            .iter()
            .all(|o| o.result == dup_outcomes[0].result)
    );
    shared_sequences.extend(events(&dup_outcomes[0]).iter().map(|e| e.meta.sequence));
    shared_sequences.sort_unstable();
    assert_eq!(shared_sequences, (2..=12).collect::<Vec<u64>>());
    let history: Vec<u64> = store
        .history(shared)
        .await
        .unwrap()
        .iter()
        .map(|e| e.meta.sequence)
        .collect();
    assert_eq!(history, (1..=12).collect::<Vec<u64>>());
    assert_eq!(store.outbox_backlog().await.unwrap(), 41 + 11);
}

/// Partition assignment is stable and in range (pure function, same for both stores).
#[test]
fn partitions_are_stable() {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for _ in 0..1000 {
        let key = DossierKey(Uuid::new_v4());
        let p = outbox_partition(key);
        assert!(p < OUTBOX_PARTITIONS);
        assert_eq!(p, outbox_partition(key));
        *counts.entry(p).or_default() += 1;
    }
    assert!(counts.len() > (OUTBOX_PARTITIONS / 2) as usize);
}

/// A fresh, migrated schema (the test kit's) in the database at `DATABASE_URL`; tests fail
/// when it is missing.
struct TestDb {
    admin: tokio_postgres::Client,
    schema: String,
    kit: TestSchema,
    config: PgStoreConfig,
    store: Option<Arc<PgStore>>,
}

impl TestDb {
    async fn create() -> Self {
        let admin = knooppunt_testkit::pg_client()
            .await
            .expect("PostgreSQL at DATABASE_URL is required for these tests");
        let kit = TestSchema::create("store").await.expect("create schema");
        let schema = kit.name().to_owned();
        let config = PgStoreConfig {
            url: database_url(),
            schema: Some(schema.clone()),
            pool_size: 8,
            person_key: knooppunt_registry::pseudonym::PersonKey::random(),
        };
        let store = PgStore::open(&config).await.expect("open and migrate");
        // Migrating again (a second instance starting) applies nothing.
        assert!(store.migrate().await.expect("migrate again").is_empty());
        Self {
            admin,
            schema,
            kit,
            config,
            store: Some(Arc::new(store)),
        }
    }

    fn store(&self) -> Shared {
        let store: Arc<PgStore> = Arc::clone(self.store.as_ref().expect("store"));
        store
    }

    /// The store behind a [`BatchingStore`] (small batches, so tests see several).
    fn batching(&self) -> Shared {
        let store: Arc<PgStore> = Arc::clone(self.store.as_ref().expect("store"));
        Arc::new(BatchingStore::new(store, test_batching()))
    }

    async fn drop_schema(mut self) {
        self.store = None;
        self.kit.drop_now().await.expect("drop schema");
    }
}

/// Several instances starting at once: the migration lock lets exactly one apply each file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_once() {
    let db = TestDb::create().await;
    // A second schema, migrated by four stores at the same time.
    let second = TestSchema::create("store").await.unwrap();
    let config = PgStoreConfig {
        url: database_url(),
        schema: Some(second.name().to_owned()),
        pool_size: 2,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    };
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move {
                let store = PgStore::connect(&config).unwrap();
                store.migrate().await.unwrap()
            })
        })
        .collect();
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap());
    }
    let expected: Vec<i32> = migrations::ALL.iter().map(|m| m.version).collect();
    assert_eq!(applied, expected);
    second.drop_now().await.unwrap();
    db.drop_schema().await;
}

fn test_batching() -> BatchingConfig {
    BatchingConfig {
        max_batch: 16,
        workers: 2,
    }
}

/// The sample journey up to and including the registration of its BPV (at leerbedrijf
/// 100018965), on the dossier `key`.
async fn journey_until_bpv_registered(store: &Shared, key: DossierKey) {
    let reference = knooppunt_sample::reference_data();
    for step in knooppunt_sample::journey(key) {
        let registers = matches!(step.command, Command::RegisterPraktijkovereenkomst { .. });
        let outcome = store
            .execute(step.meta, step.command, &reference)
            .await
            .expect("execute");
        assert!(
            outcome.result.is_ok(),
            "{}: {:?}",
            step.title,
            outcome.result
        );
        if registers {
            return;
        }
    }
    panic!("the journey registers a BPV");
}

async fn dossiers_with_running_bpv_at_a_leerbedrijf(store: Shared) {
    let leerbedrijf: LeerbedrijfId = "100018965".parse().unwrap();
    let other: LeerbedrijfId = "100000001".parse().unwrap();
    open_many(&store, 30, 2).await;
    assert!(
        store
            .dossiers_with_running_bpv(&leerbedrijf)
            .await
            .unwrap()
            .is_empty()
    );
    let key = DossierKey::new();
    journey_until_bpv_registered(&store, key).await;
    assert_eq!(
        store.dossiers_with_running_bpv(&leerbedrijf).await.unwrap(),
        vec![key]
    );
    assert!(
        store
            .dossiers_with_running_bpv(&other)
            .await
            .unwrap()
            .is_empty()
    );
    // Once the recognition is withdrawn there, the BPV is no longer one to mark.
    let withdraw = Command::WithdrawErkenning {
        leerbedrijf: leerbedrijf.clone(),
        datum: chrono::NaiveDate::from_ymd_opt(2028, 8, 25).unwrap(),
        onderdeel: None,
    };
    let time = Utc.with_ymd_and_hms(2028, 8, 25, 9, 0, 0).unwrap();
    let sbb = Actor::Partner {
        partner: knooppunt_registry::partner::Partner::Sbb,
    };
    let outcome = store
        .execute(
            CommandMeta::new(key, sbb, time),
            withdraw,
            &knooppunt_sample::reference_data(),
        )
        .await
        .unwrap();
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert!(
        store
            .dossiers_with_running_bpv(&leerbedrijf)
            .await
            .unwrap()
            .is_empty()
    );
}

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        mod memory {
            use super::*;
            use knooppunt_registry::store::MemoryStore;
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(Arc::new(MemoryStore::new())).await;
                }
            )*
        }

        mod batching_memory {
            use super::*;
            use knooppunt_registry::store::MemoryStore;
            $(
                #[tokio::test]
                async fn $check() {
                    let inner = Arc::new(MemoryStore::new());
                    super::$check(Arc::new(BatchingStore::new(inner, test_batching()))).await;
                }
            )*
        }

        mod batching_postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let db = TestDb::create().await;
                    super::$check(db.batching()).await;
                    db.drop_schema().await;
                }
            )*
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let db = TestDb::create().await;
                    super::$check(db.store()).await;
                    db.drop_schema().await;
                }
            )*
        }
    };
}

suite!(
    execute_and_replay,
    concurrent_same_id,
    concurrent_commands_on_one_dossier,
    concurrent_updates_leave_no_gaps,
    rejection_changes_nothing_and_replays,
    history_is_ordered_and_per_dossier,
    find_dossier_by_person,
    outbox_claims_in_order,
    unmarked_rows_are_reclaimed_after_release,
    two_relays_keep_dossier_order,
    leases_spread_over_the_relays,
    reference_data_round_trip,
    batch_matches_execute,
    many_concurrent_executes,
    dossiers_with_running_bpv_at_a_leerbedrijf,
);
