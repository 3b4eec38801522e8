use std::time::Duration;

use chrono::Utc;
use knooppunt_registry::domain::{Event, Person};
use knooppunt_registry::envelope::{DossierKey, EventMeta};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::store::EventEnvelope;
use uuid::Uuid;

use super::*;

fn event(subject: DossierKey, sequence: u64) -> EventEnvelope {
    let id = Uuid::now_v7();
    EventEnvelope {
        meta: EventMeta {
            id,
            kind: "nl.knooppunt.dossier.geopend.v1".into(),
            time: Utc::now(),
            source: "/test".into(),
            subject,
            institution: None,
            correlation_id: id,
            causation_id: id,
            sequence,
        },
        data: Event::DossierOpened {
            person: Person {
                id: PersonId::parse_either("111222333").unwrap(),
            },
        },
    }
}

#[tokio::test]
async fn scripted_transient_failures_then_acceptance() {
    let partner = LoopbackPartner::new();
    let adapter = LoopbackAdapter::new("sim", partner.clone());
    let e = event(DossierKey::new(), 1);
    partner.fail_message(e.meta.id, 2, TransientClass::ServerError);
    for _ in 0..2 {
        let out = adapter.deliver(&e, Mode::Live).await;
        assert!(matches!(
            out,
            Outcome::Transient {
                class: TransientClass::ServerError,
                ..
            }
        ));
    }
    assert_eq!(adapter.deliver(&e, Mode::Live).await.label(), "delivered");
    assert_eq!(partner.attempts_for(e.meta.id), 3);
    assert_eq!(partner.accepted_count(e.meta.id), 1);
    assert_eq!(partner.received()[0].sequence, 1);
}

#[tokio::test]
async fn throttling_carries_retry_after_and_rejection_is_permanent() {
    let partner = LoopbackPartner::new();
    let adapter = LoopbackAdapter::new("sim", partner.clone());
    let a = event(DossierKey::new(), 1);
    partner.throttle_message(a.meta.id, 1, Duration::from_millis(7));
    match adapter.deliver(&a, Mode::Live).await {
        Outcome::Transient {
            retry_after,
            status,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_millis(7)));
            assert_eq!(status.as_deref(), Some("429"));
        }
        other => panic!("expected a 429, got {other:?}"),
    }
    let b = event(DossierKey::new(), 1);
    partner.reject_subject(b.meta.subject, "E042");
    for _ in 0..2 {
        match adapter.deliver(&b, Mode::Live).await {
            Outcome::Permanent { reason, class, .. } => {
                assert_eq!(reason, "E042");
                assert_eq!(class, PermanentClass::Rejected);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert!(partner.received().is_empty());
}

#[tokio::test]
async fn down_partner_and_shadow_mode_send_nothing() {
    let partner = LoopbackPartner::new();
    let adapter = LoopbackAdapter::new("sim", partner.clone()).with_answer(
        knooppunt_registry::partner::Partner::Duo,
        Arc::new(|_| None),
    );
    let e = event(DossierKey::new(), 1);
    partner.go_down();
    assert_eq!(adapter.deliver(&e, Mode::Live).await.label(), "transient");
    assert_eq!(adapter.deliver(&e, Mode::Shadow).await.label(), "delivered");
    partner.come_up();
    assert_eq!(partner.shadowed().len(), 1);
    assert!(partner.received().is_empty());
    assert_eq!(adapter.deliver(&e, Mode::Live).await.label(), "delivered");
    assert_eq!(adapter.deliver(&e, Mode::Live).await.label(), "delivered");
    assert_eq!(partner.duplicates(), 1);
}
