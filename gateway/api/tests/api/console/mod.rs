//! The operator web console (`/console/…`): a fixture with parked messages whose bodies hold a
//! BSN and a name, plain HTTP tests of the session cookie, CSRF and roles ([`forms`]), and the
//! journey in headless Chromium with axe-core on every page ([`browser`]), on the in-memory
//! stores and on PostgreSQL.

mod browser;
mod forms;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use chrono::Utc;
use knooppunt_api::ApiMetrics;
use knooppunt_api::operator::auth::token_sha256;
use knooppunt_api::operator::console::ConsoleSettings;
use knooppunt_api::operator::{OperatorRegistry, OperatorState, Redelivery, Role, router};
use knooppunt_ops::{
    AuditEntry, AuditTrail, DeliveryState, Discarded, HeldMessage, Hop, MemoryAudit,
    MemoryDeliveryState, Metrics, ParkedMessage, PgAudit, PgDeliveryState,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::PgSchema;

pub const READER: &str = "console-reader-token";
pub const OPERATOR: &str = "console-operator-token";
/// Personal data inside the parked bodies and a header outside the allowlist: never on a page.
pub const BODY_BSN: &str = "999990019";
pub const BODY_NAME: &str = "Noor Jansen";
pub const SECRET_HEADER: &str = "secret-header-value";
/// What no console page may contain.
pub const NEVER_SHOWN: [&str; 3] = [BODY_BSN, BODY_NAME, SECRET_HEADER];

/// A delivery runtime stand-in: a republished message is "delivered" (a `delivered` record in
/// its audit chain); a discard's released message is remembered.
pub struct FakeRuntimes {
    audit: Arc<dyn AuditTrail>,
    pub republished: Mutex<Vec<Uuid>>,
    pub released: Mutex<Vec<Uuid>>,
}

#[async_trait]
impl Redelivery for FakeRuntimes {
    fn consumers(&self) -> Vec<String> {
        vec!["feed".into(), "intergrip".into()]
    }

    async fn republish(&self, parked: &ParkedMessage) -> Result<(), String> {
        self.republished.lock().unwrap().push(parked.message_id);
        self.audit
            .append(
                AuditEntry::for_message(parked.message_id, Hop::Delivered)
                    .partner(parked.consumer.clone()),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn release(&self, discarded: Discarded) -> Result<(), String> {
        self.released
            .lock()
            .unwrap()
            .extend(discarded.released.iter().map(|m| m.message_id));
        Ok(())
    }
}

/// The operator app over some stores, with parked messages.
pub struct Fixture {
    pub app: Router,
    pub state: Arc<dyn DeliveryState>,
    pub audit: Arc<dyn AuditTrail>,
    pub runtimes: Arc<FakeRuntimes>,
    /// Three `retries_exhausted` (the first blocks dossier `dk-1`, with a message held behind).
    pub exhausted: Vec<Uuid>,
    /// One `undecodable`.
    pub undecodable: Uuid,
    /// The message held behind `exhausted[0]`.
    pub held: Uuid,
    schema: Option<PgSchema>,
}

impl Fixture {
    /// Over the in-memory delivery state and audit trail.
    pub async fn memory(settings: ConsoleSettings) -> Self {
        Self::over(
            Arc::new(MemoryDeliveryState::new()),
            Arc::new(MemoryAudit::new()),
            settings,
            None,
        )
        .await
    }

    /// Over PostgreSQL (a schema of its own, the ops migrations applied).
    pub async fn postgres(settings: ConsoleSettings) -> Self {
        let schema = PgSchema::new().await.expect("a PostgreSQL schema");
        knooppunt_ops::migrate(&schema.pool)
            .await
            .expect("the ops migrations");
        Self::over(
            Arc::new(PgDeliveryState::new(schema.pool.clone())),
            Arc::new(PgAudit::new(schema.pool.clone())),
            settings,
            Some(schema),
        )
        .await
    }

    async fn over(
        state: Arc<dyn DeliveryState>,
        audit: Arc<dyn AuditTrail>,
        settings: ConsoleSettings,
        schema: Option<PgSchema>,
    ) -> Self {
        let runtimes = Arc::new(FakeRuntimes {
            audit: audit.clone(),
            republished: Mutex::default(),
            released: Mutex::default(),
        });
        let mut operators = OperatorRegistry::new();
        operators.insert_hashed("rita", Role::Reader, token_sha256(READER));
        operators.insert_hashed("otto", Role::Operator, token_sha256(OPERATOR));
        let mut s = OperatorState::new(
            state.clone(),
            audit.clone(),
            Arc::new(Metrics::new()),
            Arc::new(ApiMetrics::new()),
            Arc::new(knooppunt_api::AlwaysReady),
            Arc::new(operators),
            runtimes.clone(),
            CancellationToken::new(),
        )
        .with_console(settings);
        s.limits.outcome_poll = Duration::from_millis(5);
        s.limits.outcome_wait = Duration::from_secs(10);
        s.limits.rate_per_second = 50.0;
        let mut f = Self {
            app: router(s),
            state,
            audit,
            runtimes,
            exhausted: Vec::new(),
            undecodable: Uuid::nil(),
            held: Uuid::now_v7(),
            schema,
        };
        for i in 0..3 {
            let subject = (i == 0).then_some("dk-1");
            let id = f.park("retries_exhausted", subject).await;
            f.exhausted.push(id);
        }
        f.undecodable = f.park("undecodable", None).await;
        let held = HeldMessage {
            message_id: f.held,
            headers: BTreeMap::new(),
            body: format!("{{\"bsn\":\"{BODY_BSN}\"}}").into_bytes(),
            held_at: Utc::now(),
        };
        assert!(f.state.hold("intergrip", "dk-1", held).await.unwrap());
        f
    }

    /// Parks a message for `intergrip` (a body with a BSN and a name), with its `parked` record.
    pub async fn park(&self, reason: &str, subject: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let mut headers = BTreeMap::new();
        headers.insert(
            "amqp-type".to_owned(),
            "nl.knooppunt.aanmelding.status_gewijzigd.v1".to_owned(),
        );
        headers.insert("ce-subject".to_owned(), SECRET_HEADER.to_owned());
        self.audit
            .append(
                AuditEntry::for_message(id, Hop::Parked)
                    .partner("intergrip")
                    .reason(reason.to_owned()),
            )
            .await
            .unwrap();
        self.state
            .park(ParkedMessage {
                consumer: "intergrip".into(),
                message_id: id,
                subject: subject.map(str::to_owned),
                partner: "intergrip".into(),
                reason: reason.into(),
                attempts: 9,
                first_failure: now,
                last_failure: now,
                last_error: "http_503".into(),
                headers,
                body: format!("{{\"bsn\":\"{BODY_BSN}\",\"naam\":\"{BODY_NAME}\"}}").into_bytes(),
            })
            .await
            .unwrap();
        if let Some(s) = subject {
            self.state.block("intergrip", s, id).await.unwrap();
        }
        id
    }

    /// The ids parked at `intergrip` now.
    pub async fn parked(&self) -> Vec<Uuid> {
        self.state
            .parked("intergrip")
            .await
            .unwrap()
            .iter()
            .map(|p| p.message_id)
            .collect()
    }

    /// Removes the PostgreSQL schema, if any.
    pub async fn finish(self) {
        if let Some(schema) = self.schema {
            schema.drop().await.expect("drop the schema");
        }
    }
}

/// Asserts that a page holds none of the fixture's personal data.
pub fn assert_no_personal_data(page: &str, what: &str) {
    for needle in NEVER_SHOWN {
        assert!(!page.contains(needle), "{what} shows {needle}");
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("the end of the value")].to_owned()
}
