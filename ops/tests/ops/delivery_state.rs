//! One behaviour suite for `DeliveryState` (memory and PostgreSQL), and `FailedMessages` on top.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::PgSchema;
use chrono::{Duration, SubsecRound, Utc};
use knooppunt_ops::{
    AuditEntry, AuditTrail, BatchingDeliveryState, DeliveryState, FailedMessages, HeldMessage, Hop,
    MemoryAudit, MemoryDeliveryState, OperatorAction, OpsError, ParkedMessage, PgAudit,
    PgDeliveryState, StateBatchConfig, verify_chain,
};
use knooppunt_registry::envelope::DossierKey;
use uuid::Uuid;

fn held(id: Uuid, n: u8) -> HeldMessage {
    HeldMessage {
        message_id: id,
        headers: BTreeMap::from([("type".to_owned(), "nl.knooppunt.test".to_owned())]),
        body: vec![n; 3],
        held_at: Utc::now().trunc_subsecs(6),
    }
}

fn parked(consumer: &str, subject: Option<String>, minutes_ago: i64) -> ParkedMessage {
    let now = Utc::now().trunc_subsecs(6);
    ParkedMessage {
        consumer: consumer.to_owned(),
        message_id: Uuid::new_v4(),
        subject,
        partner: "bron".to_owned(),
        reason: "retries_exhausted".to_owned(),
        attempts: 7,
        first_failure: now - Duration::minutes(minutes_ago + 30),
        last_failure: now - Duration::minutes(minutes_ago),
        last_error: "http_503".to_owned(),
        headers: BTreeMap::from([("subject".to_owned(), "x".to_owned())]),
        body: b"<bericht/>".to_vec(),
    }
}

async fn inbox_dedupes(state: Arc<dyn DeliveryState>) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    assert!(!state.seen("bron", id).await?);
    assert!(state.mark_done("bron", id, "delivered").await?);
    assert!(state.seen("bron", id).await?);
    assert!(!state.mark_done("bron", id, "rejected").await?);
    // per consumer
    assert!(!state.seen("intergrip", id).await?);
    assert!(state.mark_done("intergrip", id, "delivered").await?);

    // under concurrency exactly one caller wins
    let id = Uuid::new_v4();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            state.mark_done("bron", id, "delivered").await
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        if t.await?? {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
    Ok(())
}

async fn holds_release_in_arrival_order(state: Arc<dyn DeliveryState>) -> anyhow::Result<()> {
    let subject = DossierKey::new().to_string();
    let (a, b, c, d) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    assert_eq!(state.blocker("bron", &subject).await?, None);
    // not blocked: nothing is held, the caller delivers now
    assert!(!state.hold("bron", &subject, held(b, 1)).await?);

    state.block("bron", &subject, a).await?;
    state.block("bron", &subject, d).await?; // first blocker stays
    assert_eq!(state.blocker("bron", &subject).await?, Some(a));
    assert_eq!(state.blocker("duo", &subject).await?, None);
    assert!(state.hold("bron", &subject, held(b, 1)).await?);
    assert!(state.hold("bron", &subject, held(c, 2)).await?);
    assert!(state.hold("bron", &subject, held(c, 2)).await?); // duplicate keeps one copy
    assert!(state.hold("bron", &subject, held(d, 3)).await?);

    let waiting = state.waiting("bron").await?;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].subject, subject);
    assert_eq!(waiting[0].blocker, a);
    assert_eq!(waiting[0].held, 3);
    assert!(waiting[0].oldest_held_at.is_some());
    assert!(state.waiting("duo").await?.is_empty());

    let released = state.unblock_and_take_held("bron", &subject).await?;
    assert_eq!(
        released.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        [b, c, d]
    );
    assert_eq!(released[1], held(c, 2).with_time(released[1].held_at));
    assert_eq!(state.blocker("bron", &subject).await?, None);
    assert!(state.waiting("bron").await?.is_empty());
    assert!(
        state
            .unblock_and_take_held("bron", &subject)
            .await?
            .is_empty()
    );

    // a blocked subject with nothing held yet is visible too
    state.block("bron", &subject, b).await?;
    let waiting = state.waiting("bron").await?;
    assert_eq!((waiting[0].blocker, waiting[0].held), (b, 0));
    Ok(())
}

/// Promotion hands the subject to the oldest held message in one step; the others stay held;
/// no state in between lacks a copy; a stale call changes nothing.
async fn promotion_keeps_every_held_message(state: Arc<dyn DeliveryState>) -> anyhow::Result<()> {
    let subject = DossierKey::new().to_string();
    let (a, b, c, d) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    // not blocked at all: nothing to promote
    assert_eq!(state.promote_next_held("bron", &subject, a).await?, None);

    state.block("bron", &subject, a).await?;
    for (m, n) in [(b, 1), (c, 2), (d, 3)] {
        assert!(state.hold("bron", &subject, held(m, n)).await?);
    }
    // only the blocker itself may promote
    assert_eq!(state.promote_next_held("bron", &subject, b).await?, None);
    assert_eq!(state.blocker("bron", &subject).await?, Some(a));

    let next = state.promote_next_held("bron", &subject, a).await?;
    assert_eq!(next.map(|m| (m.message_id, m.body)), Some((b, vec![1; 3])));
    assert_eq!(state.blocker("bron", &subject).await?, Some(b));
    let w = state.waiting("bron").await?;
    assert_eq!(
        (w[0].blocker, w[0].held),
        (b, 2),
        "the promoted copy does not wait"
    );
    // a late message waits behind the promoted one
    assert!(state.hold("bron", &subject, held(a, 9)).await?);
    // the same promotion again (a redelivered copy of a finished message) changes nothing
    assert_eq!(state.promote_next_held("bron", &subject, a).await?, None);

    let next = state.promote_next_held("bron", &subject, b).await?;
    assert_eq!(next.map(|m| m.message_id), Some(c));
    let next = state.promote_next_held("bron", &subject, c).await?;
    assert_eq!(next.map(|m| m.message_id), Some(d));
    assert_eq!(state.waiting("bron").await?[0].held, 1);
    let next = state.promote_next_held("bron", &subject, d).await?;
    assert_eq!(next.map(|m| m.message_id), Some(a));
    assert_eq!(state.promote_next_held("bron", &subject, a).await?, None);
    assert_eq!(state.blocker("bron", &subject).await?, None);
    assert!(state.waiting("bron").await?.is_empty());
    // nothing is left behind: an unblock finds no copies
    assert!(
        state
            .unblock_and_take_held("bron", &subject)
            .await?
            .is_empty()
    );

    // an unblock after a promotion does not hand out the blocker's own copy
    state.block("bron", &subject, a).await?;
    assert!(state.hold("bron", &subject, held(b, 1)).await?);
    assert!(state.hold("bron", &subject, held(c, 2)).await?);
    assert_eq!(
        state
            .promote_next_held("bron", &subject, a)
            .await?
            .map(|m| m.message_id),
        Some(b)
    );
    let rest = state.unblock_and_take_held("bron", &subject).await?;
    assert_eq!(rest.iter().map(|m| m.message_id).collect::<Vec<_>>(), [c]);
    Ok(())
}

trait WithTime {
    fn with_time(self, t: chrono::DateTime<Utc>) -> Self;
}
impl WithTime for HeldMessage {
    fn with_time(mut self, t: chrono::DateTime<Utc>) -> Self {
        self.held_at = t;
        self
    }
}

async fn park_list_take(state: Arc<dyn DeliveryState>) -> anyhow::Result<()> {
    let newer = parked("bron", Some(DossierKey::new().to_string()), 1);
    let older = parked("bron", None, 10);
    let elsewhere = parked("duo", None, 5);
    state.park(newer.clone()).await?;
    state.park(older.clone()).await?;
    state.park(elsewhere.clone()).await?;
    assert_eq!(
        state.parked("bron").await?,
        vec![older.clone(), newer.clone()]
    );
    assert_eq!(state.parked("duo").await?, vec![elsewhere.clone()]);

    // parking the same message again replaces it
    let mut again = older.clone();
    again.attempts = 9;
    again.last_error = "timeout".to_owned();
    state.park(again.clone()).await?;
    assert_eq!(
        state.parked("bron").await?,
        vec![again.clone(), newer.clone()]
    );

    assert_eq!(
        state.take_parked("bron", again.message_id).await?,
        Some(again.clone())
    );
    assert_eq!(state.take_parked("bron", again.message_id).await?, None);
    assert_eq!(state.take_parked("bron", elsewhere.message_id).await?, None);
    assert_eq!(state.parked("bron").await?, vec![newer]);
    Ok(())
}

async fn operators_replay_and_discard_with_audit(
    state: Arc<dyn DeliveryState>,
    audit: Arc<dyn AuditTrail>,
) -> anyhow::Result<()> {
    let svc = FailedMessages::new(state.clone(), audit.clone());
    let subject = DossierKey::new();
    let first = parked("bron", Some(subject.to_string()), 3);
    let second = parked("bron", None, 2);
    state.park(first.clone()).await?;
    state.park(second.clone()).await?;
    state
        .block("bron", &subject.to_string(), first.message_id)
        .await?;
    let later = Uuid::new_v4();
    assert!(
        state
            .hold("bron", &subject.to_string(), held(later, 9))
            .await?
    );
    assert_eq!(svc.list("bron").await?.len(), 2);

    // refusals change nothing
    let err = svc
        .replay("bron", second.message_id, &OperatorAction::new("", "fixed"))
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Invalid { field: "actor", .. }));
    let err = svc
        .discard(
            "bron",
            first.message_id,
            &OperatorAction::new("j.devries", "bsn 111222333 wrong"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        OpsError::Invalid {
            field: "reason",
            ..
        }
    ));
    assert_eq!(svc.list("bron").await?.len(), 2);

    // replay returns the message for re-publishing and records who and why
    let who = OperatorAction::new("j.devries", "partner fixed their endpoint (INC-1234)");
    let replayed = svc.replay("bron", second.message_id, &who).await?;
    assert_eq!(replayed, Some(second.clone()));
    assert_eq!(svc.replay("bron", second.message_id, &who).await?, None);
    let trail = audit
        .chain(&AuditEntry::message_chain(second.message_id))
        .await?;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].entry.hop, Hop::Replayed);
    assert_eq!(trail[0].entry.actor.as_deref(), Some("j.devries"));
    assert_eq!(trail[0].entry.reason.as_deref(), Some(who.reason.as_str()));
    assert_eq!(trail[0].entry.message_id, Some(second.message_id));

    // discard releases what waited behind it, marks it done, records who and why
    let who = OperatorAction::new("a.bakker", "duplicate of an accepted message");
    let discarded = svc
        .discard("bron", first.message_id, &who)
        .await?
        .ok_or_else(|| anyhow::anyhow!("message was parked"))?;
    assert_eq!(discarded.message, first);
    assert_eq!(
        discarded
            .released
            .iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>(),
        [later]
    );
    // the released message now blocks the subject until its own delivery finishes
    assert_eq!(
        state.blocker("bron", &subject.to_string()).await?,
        Some(later)
    );
    assert!(state.seen("bron", first.message_id).await?);
    let trail = audit
        .chain(&AuditEntry::message_chain(first.message_id))
        .await?;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].entry.hop, Hop::Discarded);
    assert_eq!(trail[0].entry.actor.as_deref(), Some("a.bakker"));
    assert_eq!(trail[0].entry.subject, Some(subject));
    verify_chain(&trail)?;
    assert!(svc.list("bron").await?.is_empty());
    assert!(svc.discard("bron", first.message_id, &who).await?.is_none());

    // two operators act on the same message at once: exactly one of them gets it
    let third = parked("bron", None, 1);
    state.park(third.clone()).await?;
    let (s1, s2) = (svc.clone(), svc.clone());
    let w1 = OperatorAction::new("op.one", "retry after fix");
    let w2 = OperatorAction::new("op.two", "duplicate");
    let (r1, r2) = tokio::join!(
        s1.replay("bron", third.message_id, &w1),
        s2.discard("bron", third.message_id, &w2)
    );
    assert_eq!(usize::from(r1?.is_some()) + usize::from(r2?.is_some()), 1);
    assert_eq!(
        audit
            .chain(&AuditEntry::message_chain(third.message_id))
            .await?
            .len(),
        1
    );
    Ok(())
}

/// Many concurrent lookups and inbox writes (through a batching wrapper: several batches),
/// including one message id marked by many callers and pairs twice in one `*_many` call.
async fn batched_calls_answer_each_caller(state: Arc<dyn DeliveryState>) -> anyhow::Result<()> {
    let subject = DossierKey::new().to_string();
    let blocker = Uuid::new_v4();
    state.block("bron", &subject, blocker).await?;
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let twice = Uuid::new_v4();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().copied().enumerate() {
        let (state, subject) = (state.clone(), subject.clone());
        tasks.push(tokio::spawn(async move {
            let blocked = if i % 2 == 0 {
                state.blocker("bron", &subject).await?
            } else {
                state
                    .blocker("bron", &DossierKey::new().to_string())
                    .await?
            };
            let before = state.seen("bron", id).await?;
            let first = state.mark_done("bron", id, "delivered").await?;
            let after = state.seen("bron", id).await?;
            anyhow::Ok((i, blocked, before, first, after))
        }));
    }
    for _ in 0..8 {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let first = state.mark_done("duo", twice, "delivered").await?;
            anyhow::Ok((usize::MAX, None, false, first, true))
        }));
    }
    let mut twice_firsts = 0;
    for t in tasks {
        let (i, blocked, before, first, after) = t.await??;
        if i == usize::MAX {
            twice_firsts += usize::from(first);
            continue;
        }
        assert_eq!(blocked, (i % 2 == 0).then_some(blocker));
        assert!(!before && first && after);
    }
    assert_eq!(twice_firsts, 1);

    let fresh = Uuid::new_v4();
    let many = state
        .mark_done_many(vec![
            ("bron".to_owned(), fresh, "delivered".to_owned()),
            ("bron".to_owned(), fresh, "rejected".to_owned()),
            ("bron".to_owned(), ids[0], "delivered".to_owned()),
            ("duo".to_owned(), fresh, "delivered".to_owned()),
        ])
        .await?;
    assert_eq!(many, [true, false, false, true]);
    let seen = state
        .seen_many(vec![
            ("bron".to_owned(), fresh),
            ("intergrip".to_owned(), fresh),
            ("bron".to_owned(), Uuid::new_v4()),
            ("bron".to_owned(), fresh),
        ])
        .await?;
    assert_eq!(seen, [true, false, false, true]);
    let blockers = state
        .blockers(vec![
            ("duo".to_owned(), subject.clone()),
            ("bron".to_owned(), subject.clone()),
        ])
        .await?;
    assert_eq!(blockers, [None, Some(blocker)]);
    Ok(())
}

fn batching(inner: Arc<dyn DeliveryState>) -> Arc<dyn DeliveryState> {
    Arc::new(BatchingDeliveryState::spawn(
        inner,
        StateBatchConfig {
            max_batch: 8,
            workers: 2,
        },
    ))
}

// ---- batching wrapper ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_batched_calls_answer_each_caller() -> anyhow::Result<()> {
    let inner = Arc::new(MemoryDeliveryState::new());
    batched_calls_answer_each_caller(inner.clone()).await?;
    batched_calls_answer_each_caller(batching(Arc::new(MemoryDeliveryState::new()))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_batching_suite() -> anyhow::Result<()> {
    inbox_dedupes(batching(Arc::new(MemoryDeliveryState::new()))).await?;
    holds_release_in_arrival_order(batching(Arc::new(MemoryDeliveryState::new()))).await?;
    promotion_keeps_every_held_message(batching(Arc::new(MemoryDeliveryState::new()))).await?;
    park_list_take(batching(Arc::new(MemoryDeliveryState::new()))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_batched_calls_answer_each_caller() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    batched_calls_answer_each_caller(Arc::new(PgDeliveryState::new(db.pool.clone()))).await?;
    batched_calls_answer_each_caller(batching(Arc::new(PgDeliveryState::new(db.pool.clone()))))
        .await?;
    db.drop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_batching_suite() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    inbox_dedupes(batching(Arc::new(PgDeliveryState::new(db.pool.clone())))).await?;
    holds_release_in_arrival_order(batching(Arc::new(PgDeliveryState::new(db.pool.clone()))))
        .await?;
    park_list_take(batching(Arc::new(PgDeliveryState::new(db.pool.clone())))).await?;
    db.drop().await
}

// ---- memory ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_inbox_dedupes() -> anyhow::Result<()> {
    inbox_dedupes(Arc::new(MemoryDeliveryState::new())).await
}

#[tokio::test]
async fn memory_holds_release_in_arrival_order() -> anyhow::Result<()> {
    holds_release_in_arrival_order(Arc::new(MemoryDeliveryState::new())).await
}

#[tokio::test]
async fn memory_promotion_keeps_every_held_message() -> anyhow::Result<()> {
    promotion_keeps_every_held_message(Arc::new(MemoryDeliveryState::new())).await
}

#[tokio::test]
async fn memory_park_list_take() -> anyhow::Result<()> {
    park_list_take(Arc::new(MemoryDeliveryState::new())).await
}

#[tokio::test]
async fn memory_operators_replay_and_discard_with_audit() -> anyhow::Result<()> {
    operators_replay_and_discard_with_audit(
        Arc::new(MemoryDeliveryState::new()),
        Arc::new(MemoryAudit::new()),
    )
    .await
}

// ---- PostgreSQL ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_inbox_dedupes() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    inbox_dedupes(Arc::new(PgDeliveryState::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_holds_release_in_arrival_order() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    holds_release_in_arrival_order(Arc::new(PgDeliveryState::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_promotion_keeps_every_held_message() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    promotion_keeps_every_held_message(Arc::new(PgDeliveryState::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_hold_and_promote_race_loses_no_message() -> anyhow::Result<()> {
    // Whatever the interleaving, a message is either held behind the promoted blocker or
    // refused (the caller delivers it) — never stored behind a vanished blocker.
    let db = PgSchema::new().await?;
    let state: Arc<dyn DeliveryState> = Arc::new(PgDeliveryState::new(db.pool.clone()));
    for round in 0..20 {
        let subject = format!("s{round}");
        let first = Uuid::new_v4();
        state.block("bron", &subject, first).await?;
        if round % 2 == 0 {
            assert!(
                state
                    .hold("bron", &subject, held(Uuid::new_v4(), 1))
                    .await?
            );
        }
        let msg = Uuid::new_v4();
        let (s1, s2) = (state.clone(), state.clone());
        let (sub1, sub2) = (subject.clone(), subject.clone());
        let holder = tokio::spawn(async move { s1.hold("bron", &sub1, held(msg, 2)).await });
        let promoter =
            tokio::spawn(async move { s2.promote_next_held("bron", &sub2, first).await });
        let was_held = holder.await??;
        let mut blocker = promoter.await??.map(|m| m.message_id);
        let mut seen = false;
        while let Some(b) = blocker {
            seen |= b == msg;
            blocker = state
                .promote_next_held("bron", &subject, b)
                .await?
                .map(|m| m.message_id);
        }
        assert!(
            was_held == seen,
            "round {round}: held {was_held}, promoted {seen}"
        );
        assert_eq!(state.blocker("bron", &subject).await?, None);
    }
    db.drop().await
}

#[tokio::test]
async fn pg_park_list_take() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    park_list_take(Arc::new(PgDeliveryState::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_operators_replay_and_discard_with_audit() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    operators_replay_and_discard_with_audit(
        Arc::new(PgDeliveryState::new(db.pool.clone())),
        Arc::new(PgAudit::new(db.pool.clone())),
    )
    .await?;
    db.drop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_hold_and_unblock_race_loses_no_message() -> anyhow::Result<()> {
    // Whatever the interleaving, a message is either held (and returned by the unblock) or
    // refused (and delivered by the caller) — never stored behind a vanished blocker.
    let db = PgSchema::new().await?;
    let state: Arc<dyn DeliveryState> = Arc::new(PgDeliveryState::new(db.pool.clone()));
    for round in 0..20 {
        let subject = format!("s{round}");
        state.block("bron", &subject, Uuid::new_v4()).await?;
        let msg = Uuid::new_v4();
        let (s1, s2) = (state.clone(), state.clone());
        let (sub1, sub2) = (subject.clone(), subject.clone());
        let holder = tokio::spawn(async move { s1.hold("bron", &sub1, held(msg, 1)).await });
        let unblocker = tokio::spawn(async move { s2.unblock_and_take_held("bron", &sub2).await });
        let was_held = holder.await??;
        let mut released = unblocker.await??;
        released.extend(state.unblock_and_take_held("bron", &subject).await?);
        let returned = released.iter().any(|m| m.message_id == msg);
        assert!(
            was_held == returned,
            "round {round}: held {was_held}, returned {returned}"
        );
    }
    db.drop().await
}

// ---- audit records and inbox marks in one transaction ----

fn hops(id: Uuid) -> Vec<AuditEntry> {
    [Hop::Consumed, Hop::Attempt, Hop::Delivered]
        .into_iter()
        .map(|h| AuditEntry::for_message(id, h).partner("bron"))
        .collect()
}

async fn finish_writes_audit_and_inbox_together(
    state: Arc<dyn DeliveryState>,
    audit: Arc<dyn AuditTrail>,
) -> anyhow::Result<()> {
    assert!(state.writes_audit());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut entries = hops(a);
    entries.extend(hops(b));
    let marked = state
        .finish_many(
            vec![
                ("bron".into(), a, "delivered".into()),
                ("bron".into(), b, "delivered".into()),
                ("bron".into(), a, "delivered".into()),
            ],
            entries,
        )
        .await?;
    assert_eq!(marked, [true, true, false]);
    for id in [a, b] {
        assert!(state.seen("bron", id).await?);
        let chain = audit.chain(&AuditEntry::message_chain(id)).await?;
        assert_eq!(
            chain.iter().map(|r| r.entry.hop).collect::<Vec<_>>(),
            [Hop::Consumed, Hop::Attempt, Hop::Delivered]
        );
        verify_chain(&chain)?;
    }
    // a redelivered copy: its hops are recorded, the inbox keeps the first outcome
    assert!(!state.finish("bron", a, "delivered", hops(a)).await?);
    let chain = audit.chain(&AuditEntry::message_chain(a)).await?;
    assert_eq!(chain.len(), 6);
    verify_chain(&chain)?;

    // all or nothing: a refused entry leaves no mark and no record
    let c = Uuid::new_v4();
    let mut bad = hops(c);
    bad[1].reason = Some("bsn 111222333".into());
    assert!(matches!(
        state.finish("bron", c, "delivered", bad).await,
        Err(OpsError::Invalid { .. })
    ));
    assert!(!state.seen("bron", c).await?);
    assert!(audit.chain(&AuditEntry::message_chain(c)).await?.is_empty());

    // concurrent callers each get their own answer
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let mut tasks = Vec::new();
    for id in ids.iter().copied().chain(ids.iter().take(5).copied()) {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            state.finish("bron", id, "delivered", hops(id)).await
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        if t.await?? {
            firsts += 1;
        }
    }
    assert_eq!(firsts, ids.len());
    for id in &ids {
        assert!(state.seen("bron", *id).await?);
        verify_chain(&audit.chain(&AuditEntry::message_chain(*id)).await?)?;
    }
    Ok(())
}

#[tokio::test]
async fn memory_state_does_not_write_audit() -> anyhow::Result<()> {
    let state = MemoryDeliveryState::new();
    assert!(!state.writes_audit());
    let id = Uuid::new_v4();
    assert!(matches!(
        state.finish("bron", id, "delivered", hops(id)).await,
        Err(OpsError::Invalid {
            field: "finish_many",
            ..
        })
    ));
    assert!(!state.seen("bron", id).await?);
    let batched = batching(Arc::new(MemoryDeliveryState::new()));
    assert!(!batched.writes_audit());
    assert!(
        batched
            .finish("bron", id, "delivered", hops(id))
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_finish_writes_audit_and_inbox_together() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let audit: Arc<dyn AuditTrail> = Arc::new(PgAudit::new(db.pool.clone()));
    finish_writes_audit_and_inbox_together(
        Arc::new(PgDeliveryState::new(db.pool.clone()).with_audit()),
        audit.clone(),
    )
    .await?;
    finish_writes_audit_and_inbox_together(
        batching(Arc::new(PgDeliveryState::new(db.pool.clone()).with_audit())),
        audit,
    )
    .await?;
    db.drop().await
}
