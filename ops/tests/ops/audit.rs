//! One behaviour suite for `AuditTrail`, run on the in-memory trail and on PostgreSQL.

use std::sync::Arc;

use crate::common::PgSchema;
use knooppunt_ops::audit::{BatchConfig, BatchingAudit, BrokenReason, GENESIS_HASH};
use knooppunt_ops::{
    AuditEntry, AuditRecord, AuditTrail, Hop, MemoryAudit, OpsError, PgAudit, payload_hash,
    verify_chain, verify_stored_chain,
};
use knooppunt_registry::envelope::DossierKey;
use uuid::Uuid;

async fn append_keeps_chain_order_and_links(trail: Arc<dyn AuditTrail>) -> anyhow::Result<()> {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let subject = DossierKey::new();
    let hops = [
        Hop::Consumed,
        Hop::Attempt,
        Hop::Retried,
        Hop::Attempt,
        Hop::Delivered,
    ];
    for (i, hop) in hops.iter().enumerate() {
        let mut e = AuditEntry::for_message(a, *hop)
            .subject(subject)
            .partner("bron");
        if *hop == Hop::Attempt {
            e = e
                .endpoint("https://bron.example/api/v1/inschrijving")
                .status(if i == 1 { "503" } else { "200" })
                .duration(std::time::Duration::from_millis(42))
                .payload(b"<xml>body</xml>")
                .attempt(u32::try_from(i).unwrap_or(0));
        }
        let rec = trail.append(e).await?;
        assert_eq!(rec.seq, i as u64 + 1);
        // interleave another message's chain
        trail.append(AuditEntry::for_message(b, *hop)).await?;
    }
    let chain = trail.chain(&AuditEntry::message_chain(a)).await?;
    assert_eq!(chain.len(), hops.len());
    assert_eq!(chain.iter().map(|r| r.entry.hop).collect::<Vec<_>>(), hops);
    assert_eq!(
        chain.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(chain[0].prev_hash, GENESIS_HASH);
    for w in chain.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    assert_eq!(chain[1].entry.status.as_deref(), Some("503"));
    assert_eq!(chain[1].entry.duration_ms, Some(42));
    assert_eq!(
        chain[1].entry.payload_hash.as_deref(),
        Some(payload_hash(b"<xml>body</xml>").as_str())
    );
    assert_eq!(chain[1].entry.subject, Some(subject));
    verify_chain(&chain)?;
    verify_stored_chain(&*trail, &AuditEntry::message_chain(a)).await??;
    verify_stored_chain(&*trail, &AuditEntry::message_chain(b)).await??;
    assert_eq!(
        trail
            .head(&AuditEntry::message_chain(a))
            .await?
            .map(|h| h.seq),
        Some(5)
    );
    assert_eq!(trail.head("msg:unknown").await?, None);

    let by_message = trail.for_message(a).await?;
    assert_eq!(by_message, chain);
    assert!(trail.chain("msg:unknown").await?.is_empty());
    Ok(())
}

async fn append_many_is_one_batch_over_several_chains(
    trail: Arc<dyn AuditTrail>,
) -> anyhow::Result<()> {
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    trail
        .append(AuditEntry::for_message(a, Hop::Received))
        .await?;
    trail
        .append_many(vec![
            AuditEntry::for_message(a, Hop::Validated),
            AuditEntry::for_message(b, Hop::Received),
            AuditEntry::for_message(a, Hop::Stored),
            AuditEntry::for_message(b, Hop::Validated),
            AuditEntry::for_message(a, Hop::Published),
        ])
        .await?;
    trail.append_many(Vec::new()).await?;
    let ca = trail.chain(&AuditEntry::message_chain(a)).await?;
    assert_eq!(
        ca.iter().map(|r| r.entry.hop).collect::<Vec<_>>(),
        [Hop::Received, Hop::Validated, Hop::Stored, Hop::Published]
    );
    verify_chain(&ca)?;
    let cb = trail.chain(&AuditEntry::message_chain(b)).await?;
    assert_eq!(cb.len(), 2);
    verify_chain(&cb)?;

    // All or nothing: one invalid entry stores none of the batch.
    let err = trail
        .append_many(vec![
            AuditEntry::for_message(a, Hop::Consumed),
            AuditEntry::for_message(a, Hop::Attempt).endpoint("https://x.example/p?bsn=1"),
        ])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        OpsError::Invalid {
            field: "endpoint",
            ..
        }
    ));
    assert_eq!(trail.chain(&AuditEntry::message_chain(a)).await?.len(), 4);
    Ok(())
}

async fn reads_and_operator_actions_are_recorded_without_personal_data(
    trail: Arc<dyn AuditTrail>,
) -> anyhow::Result<()> {
    let subject = DossierKey::new();
    trail
        .append(AuditEntry::for_read(
            subject,
            "oin:00000001234567890000",
            "ook",
            "consent",
            false,
        ))
        .await?;
    trail
        .append(AuditEntry::for_read(
            subject,
            "brin:25LP",
            "bpv",
            "no_relation",
            true,
        ))
        .await?;
    let reads = trail.chain(&AuditEntry::dossier_chain(subject)).await?;
    assert_eq!(
        reads.iter().map(|r| r.entry.hop).collect::<Vec<_>>(),
        [Hop::Read, Hop::ReadDenied]
    );
    verify_chain(&reads)?;

    // A BSN-shaped number or a name is refused, and nothing is stored.
    let err = trail
        .append(AuditEntry::for_read(
            subject,
            "111222333",
            "ook",
            "consent",
            false,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Invalid { field: "actor", .. }));
    let err = trail
        .append(
            AuditEntry::for_message(Uuid::new_v4(), Hop::Discarded)
                .actor("Jan de Vries")
                .reason("duplicate"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Invalid { field: "actor", .. }));
    assert_eq!(
        trail
            .chain(&AuditEntry::dossier_chain(subject))
            .await?
            .len(),
        2
    );
    Ok(())
}

async fn concurrent_appends_keep_one_chain_valid(trail: Arc<dyn AuditTrail>) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let trail = trail.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u32 {
                trail
                    .append(AuditEntry::for_message(id, Hop::Attempt).attempt(t * 100 + i))
                    .await?;
                // batches that overlap in chains, in different orders, must not deadlock
                let (x, y) = if t % 2 == 0 { (id, other) } else { (other, id) };
                trail
                    .append_many(vec![
                        AuditEntry::for_message(x, Hop::Retried),
                        AuditEntry::for_message(y, Hop::Retried),
                    ])
                    .await?;
            }
            Ok::<_, OpsError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let chain = trail.chain(&AuditEntry::message_chain(id)).await?;
    assert_eq!(chain.len(), 8 * 10 * 2);
    verify_chain(&chain)?;
    let chain = trail.chain(&AuditEntry::message_chain(other)).await?;
    assert_eq!(chain.len(), 8 * 10);
    verify_chain(&chain)?;
    Ok(())
}

/// Verification reports the first broken link for each kind of break (pure function).
fn verify_finds_the_first_broken_link(chain: &[AuditRecord]) {
    assert!(chain.len() >= 4);
    // content changed
    let mut c = chain.to_vec();
    c[2].entry.status = Some("200".to_owned());
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(
        (err.index, err.reason.clone()),
        (2, BrokenReason::HashMismatch)
    );
    // record removed
    let mut c = chain.to_vec();
    c.remove(1);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(
        err.reason,
        BrokenReason::SequenceGap {
            expected: 2,
            found: 3
        }
    );
    // record replaced by a consistent forgery: its own hash is right, the link is not
    let mut c = chain.to_vec();
    c[1].prev_hash = "f".repeat(64);
    c[1].hash = knooppunt_ops::audit::record_hash(c[1].seq, &c[1].entry, &c[1].prev_hash);
    let err = verify_chain(&c).unwrap_err();
    assert_eq!(
        (err.index, err.reason.clone()),
        (1, BrokenReason::PrevHashMismatch)
    );
    // two breaks: the first is reported
    let mut c = chain.to_vec();
    c[3].entry.partner = Some("x".to_owned());
    c[1].entry.partner = Some("x".to_owned());
    assert_eq!(verify_chain(&c).unwrap_err().index, 1);
    // a record of another chain
    let mut c = chain.to_vec();
    c[2].entry.chain = "msg:other".to_owned();
    assert_eq!(
        verify_chain(&c).unwrap_err().reason,
        BrokenReason::ChainMismatch
    );
}

async fn four_attempts(trail: &dyn AuditTrail, id: Uuid) -> anyhow::Result<Vec<AuditRecord>> {
    for i in 1..=4 {
        trail
            .append(
                AuditEntry::for_message(id, Hop::Attempt)
                    .partner("bron")
                    .status("503")
                    .attempt(i),
            )
            .await?;
    }
    Ok(trail.chain(&AuditEntry::message_chain(id)).await?)
}

async fn batched_callers_get_their_own_records_and_errors(
    trail: Arc<dyn AuditTrail>,
) -> anyhow::Result<()> {
    let id = Uuid::new_v4();
    let mut tasks = Vec::new();
    for t in 0..32u32 {
        let trail = trail.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = AuditEntry::for_message(id, Hop::Attempt).attempt(t);
            if t % 8 == 7 {
                e = e.reason("student 111222333");
            }
            (t, trail.append(e).await)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (t, res) = task.await?;
        if t % 8 == 7 {
            assert!(matches!(
                res,
                Err(OpsError::Invalid {
                    field: "reason",
                    ..
                })
            ));
        } else {
            let rec = res?;
            assert_eq!(rec.entry.attempt, Some(t));
            ok += 1;
        }
    }
    let chain = trail.chain(&AuditEntry::message_chain(id)).await?;
    assert_eq!(chain.len(), ok);
    verify_chain(&chain)?;
    Ok(())
}

fn batching(inner: Arc<dyn AuditTrail>) -> Arc<dyn AuditTrail> {
    Arc::new(BatchingAudit::spawn(
        inner,
        BatchConfig {
            max_entries: 16,
            writers: 2,
            queue: 64,
        },
    ))
}

// ---- memory ----

#[tokio::test]
async fn memory_append_keeps_chain_order_and_links() -> anyhow::Result<()> {
    append_keeps_chain_order_and_links(Arc::new(MemoryAudit::new())).await
}

#[tokio::test]
async fn memory_append_many_is_one_batch_over_several_chains() -> anyhow::Result<()> {
    append_many_is_one_batch_over_several_chains(Arc::new(MemoryAudit::new())).await
}

#[tokio::test]
async fn memory_reads_and_operator_actions_without_personal_data() -> anyhow::Result<()> {
    reads_and_operator_actions_are_recorded_without_personal_data(Arc::new(MemoryAudit::new()))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_concurrent_appends_keep_one_chain_valid() -> anyhow::Result<()> {
    concurrent_appends_keep_one_chain_valid(Arc::new(MemoryAudit::new())).await
}

#[tokio::test]
async fn memory_tampered_record_is_found() -> anyhow::Result<()> {
    let trail = MemoryAudit::new();
    let id = Uuid::new_v4();
    let chain = four_attempts(&trail, id).await?;
    verify_chain(&chain)?;
    verify_finds_the_first_broken_link(&chain);
    // removing the last record is invisible to the chain alone, not against its head
    let name = AuditEntry::message_chain(id);
    trail.truncate(&name, 1);
    verify_chain(&trail.chain(&name).await?)?;
    let err = verify_stored_chain(&trail, &name).await?.unwrap_err();
    assert_eq!(
        (err.index, err.seq, err.reason),
        (3, 4, BrokenReason::TruncatedTail)
    );
    trail.tamper(&AuditEntry::message_chain(id), 2, |r| {
        r.entry.status = Some("200".to_owned());
    });
    let err = verify_chain(&trail.chain(&AuditEntry::message_chain(id)).await?).unwrap_err();
    assert_eq!(
        (err.index, err.seq, err.reason),
        (2, 3, BrokenReason::HashMismatch)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_batching_suite() -> anyhow::Result<()> {
    append_keeps_chain_order_and_links(batching(Arc::new(MemoryAudit::new()))).await?;
    append_many_is_one_batch_over_several_chains(batching(Arc::new(MemoryAudit::new()))).await?;
    concurrent_appends_keep_one_chain_valid(batching(Arc::new(MemoryAudit::new()))).await?;
    batched_callers_get_their_own_records_and_errors(batching(Arc::new(MemoryAudit::new()))).await
}

// ---- PostgreSQL ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_batching_suite() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let pg = || -> Arc<dyn AuditTrail> { Arc::new(PgAudit::new(db.pool.clone())) };
    append_keeps_chain_order_and_links(batching(pg())).await?;
    append_many_is_one_batch_over_several_chains(batching(pg())).await?;
    concurrent_appends_keep_one_chain_valid(batching(pg())).await?;
    batched_callers_get_their_own_records_and_errors(batching(pg())).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_append_keeps_chain_order_and_links() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    append_keeps_chain_order_and_links(Arc::new(PgAudit::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_append_many_is_one_batch_over_several_chains() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    append_many_is_one_batch_over_several_chains(Arc::new(PgAudit::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_reads_and_operator_actions_without_personal_data() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    reads_and_operator_actions_are_recorded_without_personal_data(Arc::new(PgAudit::new(
        db.pool.clone(),
    )))
    .await?;
    db.drop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_concurrent_appends_keep_one_chain_valid() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    concurrent_appends_keep_one_chain_valid(Arc::new(PgAudit::new(db.pool.clone()))).await?;
    db.drop().await
}

#[tokio::test]
async fn pg_tampered_record_is_found_and_the_trigger_refuses_changes() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let trail = PgAudit::new(db.pool.clone());
    let id = Uuid::new_v4();
    let chain = four_attempts(&trail, id).await?;
    verify_chain(&chain)?;
    verify_finds_the_first_broken_link(&chain);

    // The trail is append-only: UPDATE, DELETE and TRUNCATE are refused.
    for sql in [
        "UPDATE ops_audit SET status = '200'",
        "DELETE FROM ops_audit",
        "TRUNCATE ops_audit",
    ] {
        let err = db.exec(sql).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("append-only")
                || format!("{err:?}").contains("append-only"),
            "{sql}: {err:?}"
        );
    }
    assert_eq!(trail.chain(&AuditEntry::message_chain(id)).await?.len(), 4);

    // An attacker with table rights disables the trigger. Deleting the last record leaves a
    // chain that verifies on its own; its head shows the truncation.
    let name = AuditEntry::message_chain(id);
    db.exec(&format!(
        "ALTER TABLE ops_audit DISABLE TRIGGER ops_audit_no_change;
         DELETE FROM ops_audit WHERE chain = '{name}' AND seq = 4;"
    ))
    .await?;
    verify_chain(&trail.chain(&name).await?)?;
    let err = verify_stored_chain(&trail, &name).await?.unwrap_err();
    assert_eq!(
        (err.index, err.seq, err.reason),
        (3, 4, BrokenReason::TruncatedTail)
    );

    // ... or edits a record: the hash no longer matches.
    db.exec(&format!(
        "UPDATE ops_audit SET status = '200' WHERE chain = '{name}' AND seq = 3;"
    ))
    .await?;
    let err = verify_chain(&trail.chain(&name).await?).unwrap_err();
    assert_eq!(
        (err.index, err.seq, err.reason),
        (2, 3, BrokenReason::HashMismatch)
    );

    // ... or deletes one: a sequence gap at the index where it was.
    db.exec(&format!(
        "DELETE FROM ops_audit WHERE chain = 'msg:{id}' AND seq = 2;"
    ))
    .await?;
    let err = verify_chain(&trail.chain(&AuditEntry::message_chain(id)).await?).unwrap_err();
    assert_eq!(
        (err.index, err.reason),
        (
            1,
            BrokenReason::SequenceGap {
                expected: 2,
                found: 3
            }
        )
    );
    db.drop().await
}

#[tokio::test]
async fn pg_migrate_is_idempotent_and_serialised() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let (a, b) = tokio::join!(
        knooppunt_ops::migrate(&db.pool),
        knooppunt_ops::migrate(&db.pool)
    );
    a?;
    b?;
    knooppunt_ops::migrate(&db.pool).await?;
    let n: i64 = db
        .pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM ops_schema_migrations", &[])
        .await?
        .get(0);
    assert_eq!(n, knooppunt_ops::MIGRATIONS.len() as i64);
    db.drop().await
}

/// A trail whose writes always fail, as a database outage would.
struct Failing;

#[async_trait::async_trait]
impl AuditTrail for Failing {
    async fn append(&self, _: AuditEntry) -> Result<AuditRecord, OpsError> {
        Err(OpsError::Batch("down".to_owned()))
    }
    async fn append_many(&self, _: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        Err(OpsError::Batch("down".to_owned()))
    }
    async fn chain(&self, _: &str) -> Result<Vec<AuditRecord>, OpsError> {
        Ok(Vec::new())
    }
    async fn for_message(&self, _: Uuid) -> Result<Vec<AuditRecord>, OpsError> {
        Ok(Vec::new())
    }
    async fn head(&self, _: &str) -> Result<Option<knooppunt_ops::ChainHead>, OpsError> {
        Ok(None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_reports_a_failed_write_to_every_caller_as_transient() -> anyhow::Result<()> {
    let trail = batching(Arc::new(Failing));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let trail = trail.clone();
        tasks.push(tokio::spawn(async move {
            trail
                .append(AuditEntry::for_message(Uuid::new_v4(), Hop::Consumed))
                .await
        }));
    }
    for t in tasks {
        let err = t.await?.unwrap_err();
        assert!(matches!(err, OpsError::Batch(_)));
        assert!(err.is_transient());
    }
    Ok(())
}
