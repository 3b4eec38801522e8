//! Idempotency keys bound to their request (issue 14): a key retried with another body after a
//! 5xx, or after its record was lost, never replays a registry command of the first body.
//!
//! The old fault: after a 5xx the record was dropped while the command ids were derived from
//! OIN + key alone, so the same key with another student's BSN replayed the first request's
//! dossier opening and put the second student's aanmelding into the first student's dossier.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;
use async_trait::async_trait;
use axum::http::StatusCode;
use knooppunt_api::ApiStore;
use knooppunt_api::handlers::IDEMPOTENT_REPLAYED;
use knooppunt_registry::domain::{AanmeldingId, Command, Dossier};
use knooppunt_registry::envelope::{CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{CommandOutcome, EventEnvelope, OutboxLease, Store, StoreError};
use uuid::Uuid;

/// A registry store whose next `SubmitAanmelding` fails as unavailable (after the dossier was
/// opened: the 5xx of the old fault); everything else goes to the inner store.
#[derive(Debug)]
struct FailNextSubmit {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
}

impl FailNextSubmit {
    fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            armed: AtomicBool::new(true),
        }
    }
}

#[async_trait]
impl Store for FailNextSubmit {
    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        if matches!(command, Command::SubmitAanmelding { .. })
            && self.armed.swap(false, Ordering::SeqCst)
        {
            return Err(StoreError::Unavailable("injected".into()));
        }
        self.inner.execute(meta, command, reference).await
    }
    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError> {
        self.inner.dossier(key).await
    }
    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError> {
        self.inner.history(key).await
    }
    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError> {
        self.inner.find_dossier(person).await
    }
    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError> {
        self.inner.save_reference(reference).await
    }
    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        self.inner.load_reference().await
    }
    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError> {
        self.inner.lease_outbox(max_partitions).await
    }
    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.inner.outbox_backlog().await
    }
}

fn flaky_api() -> TestApi {
    test_api_with(|s| s.store = Arc::new(FailNextSubmit::new(s.store.clone())))
}

async fn dossier_of(t: &TestApi, bsn: &str) -> Option<DossierKey> {
    let person = PersonId::Bsn(bsn.parse().expect("bsn"));
    t.store.find_dossier(&person).await.expect("store")
}

async fn aanmeldingen_in(t: &TestApi, dossier: DossierKey) -> Vec<Uuid> {
    let d = t
        .store
        .dossier(dossier)
        .await
        .expect("store")
        .expect("dossier");
    d.aanmeldingen.keys().map(|AanmeldingId(id)| *id).collect()
}

#[tokio::test]
async fn a_key_reused_for_another_student_after_a_5xx_is_refused_and_touches_no_dossier() {
    let t = flaky_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());

    // The first attempt opens the student's dossier, then the submit fails: 503.
    let a = submit(&t.app, &tok, &brin, "K", first, BSN).await;
    a.assert_problem(503, "unavailable");
    let dossier = dossier_of(&t, BSN)
        .await
        .expect("the first attempt opened it");

    // The same key with another student's body: refused, whatever the first attempt did.
    let a = submit(&t.app, &tok, &brin, "K", second, BSN2).await;
    a.assert_problem(422, "idempotency_key_reused");
    assert!(
        aanmeldingen_in(&t, dossier).await.is_empty(),
        "nothing reached the first student's dossier"
    );
    assert_eq!(
        dossier_of(&t, BSN2).await,
        None,
        "nothing opened for the second"
    );

    // The same body again is retried at once (no 409) and has one effect.
    let a = submit(&t.app, &tok, &brin, "K", first, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert!(!a.headers.contains_key(IDEMPOTENT_REPLAYED));
    assert_eq!(aanmeldingen_in(&t, dossier).await, [first]);
    assert_eq!(t.store.history(dossier).await.expect("history").len(), 2);
    // …and is then recorded: a replay, and still 422 for the other body.
    let a = submit(&t.app, &tok, &brin, "K", first, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.headers
            .get(IDEMPOTENT_REPLAYED)
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    submit(&t.app, &tok, &brin, "K", second, BSN2)
        .await
        .assert_problem(422, "idempotency_key_reused");

    // The second student under a key of its own: its own dossier.
    let a = submit(&t.app, &tok, &brin, "K2", second, BSN2).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let other = dossier_of(&t, BSN2).await.expect("opened");
    assert_ne!(other, dossier);
    assert_eq!(aanmeldingen_in(&t, other).await, [second]);
    assert_eq!(aanmeldingen_in(&t, dossier).await, [first]);
}

#[tokio::test]
async fn without_its_record_a_key_with_another_body_derives_other_command_ids() {
    // Defence in depth: the record of "K" is lost (a fresh API store), so the API cannot see
    // that the key was used. The registry ids derive from the body too, so nothing of the first
    // attempt is replayed into the second student's request.
    let t = flaky_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    submit(&t.app, &tok, &brin, "K", first, BSN)
        .await
        .assert_problem(503, "unavailable");
    let dossier = dossier_of(&t, BSN).await.expect("opened");

    let mut state = t.state.clone();
    state.api_store = Arc::new(knooppunt_api::MemoryApiStore::new());
    let app = knooppunt_api::router(state);
    let a = submit(&app, &tok, &brin, "K", second, BSN2).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let other = dossier_of(&t, BSN2).await.expect("its own dossier");
    assert_ne!(
        other, dossier,
        "the second student got a dossier of its own"
    );
    assert_eq!(aanmeldingen_in(&t, other).await, [second]);
    assert!(aanmeldingen_in(&t, dossier).await.is_empty());
}

#[tokio::test]
async fn a_refused_first_attempt_frees_its_key_a_failed_one_binds_it() {
    // A precheck refusal of a first attempt executed nothing: the key may carry the corrected
    // request. A 5xx binds the key to its request.
    let t = flaky_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let unknown = serde_json::json!({
        "aanmelding_id": Uuid::new_v4(),
        "student": {"bsn": BSN},
        "opleiding": Uuid::new_v4(),
        "cohort": "2027-2028",
    })
    .to_string();
    let post = |key: &str, body: &str| {
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some(key),
            Some(body),
        )
    };
    send(&t.app, post("fix", &unknown))
        .await
        .assert_problem(422, "unknown_opleiding");
    let id = Uuid::new_v4();
    let a = send(&t.app, post("fix", &aanmelding_body(id, BSN))).await;
    // The injected failure hits this first submit: a 5xx, so the key is now bound.
    a.assert_problem(503, "unavailable");
    send(&t.app, post("fix", &unknown))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let a = send(&t.app, post("fix", &aanmelding_body(id, BSN))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

#[tokio::test]
async fn a_retry_after_the_node_died_is_handled_at_once_not_busy() {
    // The old node began the request and died (its instance ended); the restarted node is a
    // new instance on the same store. Its retry is handled at once instead of 409 for 60 s.
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let body = aanmelding_body(id, BSN);
    let request = knooppunt_api::handlers::IdempotentRequest::post(
        &knooppunt_api::Caller {
            oin: brin.oin(),
            brin: brin.clone(),
        },
        &knooppunt_api::handlers::IdempotencyKey::from_headers(&{
            let mut h = axum::http::HeaderMap::new();
            h.insert("idempotency-key", "died".parse().expect("header"));
            h
        })
        .expect("key"),
        "/api/v1/aanmeldingen",
        body.as_bytes(),
    );
    let old = t.state.instance;
    t.api_store
        .begin_idempotent(
            brin.oin().as_str(),
            "died",
            request.request_hash(),
            old,
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("begin");
    // While the old instance lives, another node sees the key busy.
    let mut restarted = t.state.clone();
    restarted.instance = knooppunt_api::store::InstanceId::random();
    let app = knooppunt_api::router(restarted);
    submit(&app, &tok, &brin, "died", id, BSN)
        .await
        .assert_problem(409, "request_in_progress");
    t.api_store.end_instance(old).await.expect("end");
    let a = submit(&app, &tok, &brin, "died", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    // Another body under the key is still refused.
    submit(&app, &tok, &brin, "died", Uuid::new_v4(), BSN2)
        .await
        .assert_problem(422, "idempotency_key_reused");
}

#[tokio::test]
async fn after_its_record_expired_a_key_is_new_and_its_body_still_has_one_effect() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let a = submit(&t.app, &tok, &brin, "old", first, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let purged = knooppunt_api::housekeeping::purge_idempotency(
        t.api_store.as_ref(),
        std::time::Duration::ZERO,
    )
    .await
    .expect("purge");
    assert_eq!(purged, 1);
    // The same body again: handled again (not a replay) with the same command ids, one effect.
    let again = submit(&t.app, &tok, &brin, "old", first, BSN).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert!(!again.headers.contains_key(IDEMPOTENT_REPLAYED));
    assert_eq!(again.body, a.body);
    let dossier = dossier_of(&t, BSN).await.expect("dossier");
    assert_eq!(t.store.history(dossier).await.expect("history").len(), 2);
    // That bound the key again; once this record expired too, another body under the key is a
    // new request of its own.
    submit(&t.app, &tok, &brin, "old", second, BSN2)
        .await
        .assert_problem(422, "idempotency_key_reused");
    knooppunt_api::housekeeping::purge_idempotency(t.api_store.as_ref(), std::time::Duration::ZERO)
        .await
        .expect("purge");
    let a = submit(&t.app, &tok, &brin, "old", second, BSN2).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let other = dossier_of(&t, BSN2).await.expect("its own dossier");
    assert_ne!(other, dossier);
    assert_eq!(aanmeldingen_in(&t, dossier).await, [first]);
}
