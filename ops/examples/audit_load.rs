//! Load tool for the PostgreSQL audit trail: how many message journeys per second can be
//! recorded, hop by hop (`append`), one batch per journey (`append_many`), or hop by hop
//! through the group-committing [`knooppunt_ops::audit::BatchingAudit`] (`batching`).
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p knooppunt-ops --example audit_load -- [messages] [tasks] [hops]
//! ```
//! Works in a fresh schema and drops it at the end. Prints throughput; asserts nothing.
//! `LOAD_SYNC_COMMIT=off` runs with `synchronous_commit=off`, to see the share of fsync.

use std::sync::Arc;
use std::time::Instant;

use knooppunt_ops::audit::{BatchConfig, BatchingAudit};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop, PgAudit, verify_chain};
use knooppunt_registry::store::{pg_config, pg_connect, pool_from_config};
use uuid::Uuid;

const HOPS: [Hop; 8] = [
    Hop::Consumed,
    Hop::Attempt,
    Hop::Delivered,
    Hop::Answered,
    Hop::Published,
    Hop::Stored,
    Hop::Validated,
    Hop::Received,
];

fn journey(id: Uuid, hops: usize) -> Vec<AuditEntry> {
    HOPS.iter()
        .cycle()
        .take(hops)
        .map(|h| {
            AuditEntry::for_message(id, *h)
                .partner("bron")
                .status("200")
                .payload(id.as_bytes())
        })
        .collect()
}

async fn run(
    trail: Arc<dyn AuditTrail>,
    messages: usize,
    tasks: usize,
    hops: usize,
    batched: bool,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let trail = trail.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..messages / tasks {
                let entries = journey(Uuid::now_v7(), hops);
                if batched {
                    trail.append_many(entries).await?;
                } else {
                    for e in entries {
                        trail.append(e).await?;
                    }
                }
            }
            Ok::<_, knooppunt_ops::OpsError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map_or(Ok(4000), |a| a.parse())?;
    let tasks: usize = args.next().map_or(Ok(16), |a| a.parse())?;
    let hops: usize = args.next().map_or(Ok(6), |a| a.parse())?;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("ops_load_{}", Uuid::new_v4().simple());
    let admin = pg_connect(&pg_config(&url, None)?).await?;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let outcome = measure(&url, &schema, &admin, messages, tasks, hops).await;
    // Drop the schema also when the measurement failed.
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    outcome
}

async fn measure(
    url: &str,
    schema: &str,
    admin: &tokio_postgres::Client,
    messages: usize,
    tasks: usize,
    hops: usize,
) -> anyhow::Result<()> {
    let mut cfg = pg_config(url, Some(schema))?;
    // LOAD_SYNC_COMMIT=off shows how much of the time is the commit's fsync.
    let sync = std::env::var("LOAD_SYNC_COMMIT").unwrap_or_else(|_| "on".to_owned());
    let search_path = cfg.get_options().unwrap_or_default().to_owned();
    cfg.options(format!("{search_path} -c synchronous_commit={sync}"));
    let pool = pool_from_config(cfg, tasks.min(32))?;
    knooppunt_ops::migrate(&pool).await?;
    let pg: Arc<dyn AuditTrail> = Arc::new(PgAudit::new(pool.clone()));
    let grouped: Arc<dyn AuditTrail> =
        Arc::new(BatchingAudit::spawn(pg.clone(), BatchConfig::default()));
    let trail = pg.clone();

    for (mode, trail, batched) in [
        ("append", pg.clone(), false),
        ("append_many", pg.clone(), true),
        ("batching", grouped.clone(), false),
        ("batching+many", grouped, true),
    ] {
        let secs = run(trail, messages, tasks, hops, batched).await?;
        let done = (messages / tasks * tasks) as f64;
        println!(
            "{:<14} messages={} tasks={} hops={} secs={:.2} journeys/s={:.0} records/s={:.0}",
            mode,
            done,
            tasks,
            hops,
            secs,
            done / secs,
            done * hops as f64 / secs
        );
    }
    // spot check: one chain verifies
    let row = admin
        .query_one(
            &format!("SELECT chain FROM {schema}.ops_audit LIMIT 1"),
            &[],
        )
        .await?;
    let chain: String = row.get(0);
    verify_chain(&trail.chain(&chain).await?)?;
    pool.close();
    Ok(())
}
