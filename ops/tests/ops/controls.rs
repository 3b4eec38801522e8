//! One behaviour suite for the runtime controls store (memory and PostgreSQL) under
//! `RuntimeControls`: a change is stored with its audit record (operator, role, reason), a
//! refused one leaves nothing behind, concurrent changes are all kept, and on PostgreSQL another
//! node's store sees them.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use knooppunt_ops::controls::PartnerOverrides;
use knooppunt_ops::{
    AuditTrail, ControlActor, ControlChange, ControlStore, Hop, MemoryAudit, MemoryControlStore,
    OpsError, PgAudit, PgControlStore, Rate, RuntimeControls, verify_chain,
};
use uuid::Uuid;

use crate::common::PgSchema;

fn otto(reason: &str) -> ControlActor {
    ControlActor {
        name: "otto".into(),
        role: "operator".into(),
        reason: reason.into(),
    }
}

fn window() -> ControlChange {
    let now = Utc::now();
    ControlChange::AddWindow {
        id: Uuid::now_v7(),
        start: now,
        end: now + TimeDelta::hours(1),
    }
}

async fn suite(store: Arc<dyn ControlStore>, audit: Arc<dyn AuditTrail>) -> anyhow::Result<()> {
    let controls = RuntimeControls::new(store.clone());
    assert!(controls.all().await?.is_empty());

    // A change is stored and audited.
    let add = window();
    let ControlChange::AddWindow { id, .. } = add else {
        unreachable!()
    };
    let o = controls
        .change("intergrip", &add, &otto("intergrip maintenance tonight"))
        .await?
        .expect("applied");
    assert_eq!(o.windows.len(), 1);
    assert_eq!(o.windows[0].added_by, "otto");
    let rate = Rate {
        per_second: 2.5,
        burst: 2,
    };
    controls
        .change(
            "intergrip",
            &ControlChange::SetRateLimit { rate },
            &otto("slow down"),
        )
        .await?
        .expect("applied");
    controls
        .change(
            "bron",
            &ControlChange::SetInstitutionShadow {
                brin: "25LX01".parse()?,
                on: true,
            },
            &otto("trial"),
        )
        .await?
        .expect("applied");
    let all = controls.all().await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all["intergrip"].rate_limit, Some(rate));
    assert_eq!(all["intergrip"].windows[0].id, id);
    assert_eq!(
        all["bron"].shadow_institutions.get(&"25LX".parse()?),
        Some(&true),
        "kept at instelling level"
    );
    let chain = audit.chain("control:intergrip").await?;
    assert_eq!(chain.len(), 2);
    verify_chain(&chain).map_err(|b| anyhow::anyhow!("{b}"))?;
    let first = &chain[0].entry;
    assert_eq!(first.hop, Hop::ControlChanged);
    assert_eq!(first.actor.as_deref(), Some("otto"));
    assert_eq!(first.status.as_deref(), Some("maintenance.add:operator"));
    assert_eq!(
        first.reason.as_deref(),
        Some("intergrip maintenance tonight")
    );
    assert_eq!(first.partner.as_deref(), Some("intergrip"));
    assert_eq!(
        chain[1].entry.status.as_deref(),
        Some("rate_limit.set:operator")
    );

    // Refused: a reason with a BSN, no reason, a bad value — nothing stored, nothing audited.
    for (change, who, field) in [
        (
            ControlChange::ClearRateLimit,
            otto("student 999990019 complained"),
            "reason",
        ),
        (ControlChange::ClearRateLimit, otto(" "), "reason"),
        (
            ControlChange::SetRateLimit {
                rate: Rate {
                    per_second: 0.0,
                    burst: 1,
                },
            },
            otto("x"),
            "per_second",
        ),
    ] {
        match controls.change("intergrip", &change, &who).await {
            Err(OpsError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => anyhow::bail!("{field}: {other:?}"),
        }
    }
    // An unknown window: nothing changes.
    assert!(
        controls
            .change(
                "intergrip",
                &ControlChange::RemoveWindow { id: Uuid::now_v7() },
                &otto("gone")
            )
            .await?
            .is_none()
    );
    assert_eq!(controls.all().await?["intergrip"].rate_limit, Some(rate));
    assert_eq!(audit.chain("control:intergrip").await?.len(), 2);

    // Concurrent changes to one partner: none is lost.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let controls = controls.clone();
        tasks.push(tokio::spawn(async move {
            controls.change("sbb", &window(), &otto("many")).await
        }));
    }
    for t in tasks {
        t.await??.expect("applied");
    }
    assert_eq!(controls.all().await?["sbb"].windows.len(), 8);
    assert_eq!(audit.chain("control:sbb").await?.len(), 8);

    // Clearing every override forgets the partner.
    for change in [
        ControlChange::RemoveWindow { id },
        ControlChange::ClearRateLimit,
    ] {
        controls
            .change("intergrip", &change, &otto("done"))
            .await?
            .expect("applied");
    }
    assert!(!controls.all().await?.contains_key("intergrip"));
    assert_eq!(audit.chain("control:intergrip").await?.len(), 4);
    Ok(())
}

#[tokio::test]
async fn memory_controls_are_stored_and_audited() -> anyhow::Result<()> {
    let audit = Arc::new(MemoryAudit::new());
    suite(Arc::new(MemoryControlStore::new(audit.clone())), audit).await
}

#[tokio::test]
async fn pg_controls_are_stored_audited_and_shared_between_nodes() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let result = async {
        let audit = Arc::new(PgAudit::new(db.pool.clone()));
        suite(Arc::new(PgControlStore::new(db.pool.clone())), audit).await?;
        // Another node's store on the same database sees what this one wrote.
        let other = PgControlStore::new(db.pool.clone());
        let all = other.all().await?;
        assert_eq!(all["sbb"].windows.len(), 8);
        assert_eq!(all["bron"].shadow, None);
        assert_ne!(all["bron"], PartnerOverrides::default());
        anyhow::Ok(())
    }
    .await;
    db.drop().await?;
    result
}
