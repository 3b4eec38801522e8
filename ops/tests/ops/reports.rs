//! The delivery reports (`va-timeliness`, `parked`) from a known audit trail, on the in-memory
//! trail and on PostgreSQL: first deliveries only, times from the message's UUIDv7 moment,
//! nearest-rank percentiles over at least 5 messages, VA partners only, weeks from Monday, the
//! period respected — the same report from both.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use knooppunt_ops::report::{DeliveryReports, PgDeliveryReports};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop, MemoryAudit, PgAudit};
use knooppunt_registry::report::{Cell, Period};
use uuid::Uuid;

use crate::common::PgSchema;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A message id made at `at` (as the registry makes event ids).
fn event_id(at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis();
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(ms / 1000).unwrap(),
        u32::try_from(ms % 1000).unwrap() * 1_000_000,
    ))
}

fn hop(id: Uuid, hop: Hop, partner: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry::for_message(id, hop).partner(partner).at(at)
}

/// The trail: intergrip delivers 6 messages 1..6 s after their change (one of them delivered
/// twice, the second time much later), voroc 3 messages, duo (not a VA partner) 5; one
/// intergrip delivery falls outside September. Parked, replayed and discarded across two weeks.
fn trail() -> Vec<AuditEntry> {
    let base = t("2026-09-02T10:00:00Z");
    let mut out = Vec::new();
    for i in 0..6i64 {
        let changed = base + Duration::minutes(i);
        let id = event_id(changed);
        out.push(hop(id, Hop::Consumed, "intergrip", changed));
        out.push(hop(
            id,
            Hop::Delivered,
            "intergrip",
            changed + Duration::seconds(i + 1),
        ));
        if i == 0 {
            // A redelivery after a replay: the first delivery counts.
            out.push(hop(
                id,
                Hop::Delivered,
                "intergrip",
                changed + Duration::hours(3),
            ));
        }
    }
    for i in 0..3i64 {
        let changed = base + Duration::minutes(i);
        out.push(hop(
            event_id(changed),
            Hop::Delivered,
            "voroc",
            changed + Duration::seconds(2),
        ));
    }
    for i in 0..5i64 {
        let changed = base + Duration::minutes(i);
        out.push(hop(
            event_id(changed),
            Hop::Delivered,
            "duo",
            changed + Duration::seconds(30),
        ));
    }
    let october = t("2026-10-05T10:00:00Z");
    out.push(hop(
        event_id(october),
        Hop::Delivered,
        "intergrip",
        october + Duration::seconds(100),
    ));
    // Parked: 2 at intergrip in the week of Monday 31 August (one parked twice), 1 at voroc in
    // the week of 7 September; one of intergrip's replayed on Monday 7 September, the voroc one
    // discarded.
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    out.push(hop(a, Hop::Parked, "intergrip", t("2026-09-01T08:00:00Z")));
    out.push(hop(a, Hop::Parked, "intergrip", t("2026-09-03T08:00:00Z")));
    out.push(hop(b, Hop::Parked, "intergrip", t("2026-09-06T23:59:00Z")));
    out.push(hop(a, Hop::Replayed, "intergrip", t("2026-09-07T00:00:00Z")).actor("op"));
    out.push(hop(c, Hop::Parked, "voroc", t("2026-09-08T08:00:00Z")));
    out.push(hop(c, Hop::Discarded, "voroc", t("2026-09-09T08:00:00Z")).actor("op"));
    out
}

fn september() -> Period {
    Period::new(day("2026-09-01"), day("2026-09-30")).unwrap()
}

async fn reports_on_the_trail(reports: &dyn DeliveryReports) {
    let r = reports
        .va_timeliness(&september())
        .await
        .expect("timeliness");
    let row = |partner: &str| {
        r.rows
            .iter()
            .find(|row| row.first() == Some(&Cell::Code(partner.to_owned())))
            .unwrap_or_else(|| panic!("a row for {partner}"))
            .clone()
    };
    // 1..6 s: p50 is the 3rd value, p95 the 6th.
    assert_eq!(
        row("intergrip")[1..],
        [Cell::Number(6), Cell::Number(3000), Cell::Number(6000)]
    );
    assert_eq!(
        row("voroc")[1..],
        [Cell::Number(3), Cell::Suppressed, Cell::Suppressed],
        "fewer than 5 messages give no percentile"
    );
    assert_eq!(
        row("koppelpunt")[1..],
        [Cell::Number(0), Cell::Suppressed, Cell::Suppressed]
    );
    assert!(
        r.rows
            .iter()
            .all(|row| row.first() != Some(&Cell::Code("duo".into()))),
        "DUO is not a VA partner"
    );

    let p = reports.parked(&september()).await.expect("parked");
    let week = |s: &str| Cell::Date(day(s));
    let code = |s: &str| Cell::Code(s.to_owned());
    let n = Cell::Number;
    assert_eq!(
        p.rows,
        vec![
            vec![week("2026-08-31"), code("intergrip"), n(2), n(0), n(0)],
            vec![week("2026-09-07"), code("intergrip"), n(0), n(1), n(0)],
            vec![week("2026-09-07"), code("voroc"), n(1), n(0), n(1)],
        ]
    );
    let none = reports
        .parked(&Period::new(day("2026-10-01"), day("2026-10-31")).unwrap())
        .await
        .expect("parked");
    assert!(none.rows.is_empty());
}

#[tokio::test]
async fn memory_delivery_reports() {
    let audit = MemoryAudit::new();
    audit.append_many(trail()).await.expect("append");
    reports_on_the_trail(&audit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_delivery_reports() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    PgAudit::new(db.pool.clone()).append_many(trail()).await?;
    let reports = PgDeliveryReports::new(db.pool.clone());
    reports_on_the_trail(&reports).await;

    let memory = MemoryAudit::new();
    memory.append_many(trail()).await?;
    for period in [
        september(),
        Period::new(Period::EARLIEST, day("2030-01-01")).unwrap(),
    ] {
        assert_eq!(
            reports.va_timeliness(&period).await?,
            memory.va_timeliness(&period).await?
        );
        assert_eq!(
            reports.parked(&period).await?,
            memory.parked(&period).await?
        );
    }
    // The report's index exists (migration 5).
    let client = db.pool.get().await?;
    let found = client
        .query_opt(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'ops_audit_report_idx'",
            &[],
        )
        .await?;
    assert!(found.is_some());
    drop(client);
    db.drop().await
}
