//! The sector reports on the operator API: the list, each report as JSON and as CSV
//! (`format=csv` or `Accept: text/csv`), small cells suppressed, 400 problems naming a bad
//! parameter, the role `reader` enough — and no BSN, name or dossier key in any answer, on the
//! in-memory stores and on PostgreSQL.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Duration, Utc};
use knooppunt_api::ApiMetrics;
use knooppunt_api::operator::{OperatorRegistry, OperatorState, Redelivery, Reports, Role, router};
use knooppunt_ops::report::{DeliveryReports, PgDeliveryReports};
use knooppunt_ops::{
    AuditEntry, AuditTrail, Discarded, Hop, MemoryAudit, MemoryDeliveryState, Metrics,
    ParkedMessage, PgAudit,
};
use knooppunt_registry::report::{DossierReports, PgDossierReports};
use knooppunt_registry::store::{MemoryStore, PgStore, PgStoreConfig, pg_pool};
use knooppunt_sample::{ReportFixture, reference_data, seed_report_students};
use knooppunt_testkit::{TestSchema, database_url};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{Answer, send};

const READER: &str = "report-reader-token";

struct NoRuntimes;

#[async_trait::async_trait]
impl Redelivery for NoRuntimes {
    fn consumers(&self) -> Vec<String> {
        Vec::new()
    }
    async fn republish(&self, _: &ParkedMessage) -> Result<(), String> {
        Err("none".into())
    }
    async fn release(&self, _: Discarded) -> Result<(), String> {
        Err("none".into())
    }
}

fn app(
    dossiers: Arc<dyn DossierReports>,
    deliveries: Arc<dyn DeliveryReports>,
    audit: Arc<dyn AuditTrail>,
) -> Router {
    let mut operators = OperatorRegistry::new();
    operators.insert_hashed(
        "rita",
        Role::Reader,
        knooppunt_api::operator::auth::token_sha256(READER),
    );
    let state = OperatorState::new(
        Arc::new(MemoryDeliveryState::new()),
        audit,
        Arc::new(Metrics::new()),
        Arc::new(ApiMetrics::new()),
        Arc::new(knooppunt_api::AlwaysReady),
        Arc::new(operators),
        Arc::new(NoRuntimes),
        CancellationToken::new(),
    )
    .with_reports(Reports::new(dossiers, deliveries));
    router(state)
}

async fn get(app: &Router, path: &str, accept: Option<&str>) -> Answer {
    let mut req = Request::get(path).header("authorization", format!("Bearer {READER}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

/// Deliveries at intergrip: 5 messages, 2 s after their change each, in September 2026.
fn deliveries() -> Vec<AuditEntry> {
    let base: DateTime<Utc> = "2026-09-02T10:00:00Z".parse().unwrap();
    (0..5)
        .map(|i| {
            let changed = base + Duration::minutes(i);
            let ms = changed.timestamp_millis();
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                u64::try_from(ms / 1000).unwrap(),
                0,
            ));
            AuditEntry::for_message(id, Hop::Delivered)
                .partner("intergrip")
                .at(changed + Duration::seconds(2))
        })
        .collect()
}

/// The checks every backend must pass; returns every answer's text.
async fn check_reports(app: &Router) -> String {
    let mut seen = String::new();

    let list = get(app, "/ops/v1/reports", None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let names: Vec<&str> = list.body["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "aanmeldingen",
            "va-timeliness",
            "bron",
            "bron-signalen",
            "parked"
        ]
    );
    assert_eq!(list.body["reports"][0]["counts_students"], json!(true));
    assert_eq!(
        list.body["reports"][0]["columns"][0]["name"],
        json!("institution")
    );
    seen.push_str(&list.text);

    // JSON: 25LX's 12 students shown with the secondary suppression, 30GT's 3 hidden.
    let a = get(
        app,
        "/ops/v1/reports/aanmeldingen?from=2027-01-01&to=2027-12-31",
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["report"], json!("aanmeldingen"));
    assert_eq!(
        (a.body["from"].clone(), a.body["to"].clone()),
        (json!("2027-01-01"), json!("2027-12-31"))
    );
    let rows = a.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["institution"], json!("25LX"));
    assert_eq!(rows[0]["aangemeld"], json!(6));
    assert_eq!(rows[0]["ontvangen"], Value::Null);
    assert_eq!(rows[0]["ingetrokken"], Value::Null);
    assert_eq!(rows[0]["total"], json!(12));
    assert_eq!(rows[0]["suppressed"], json!(true));
    assert_eq!(rows[1]["institution"], json!("30GT"));
    assert_eq!(rows[1]["ontvangen"], Value::Null);
    assert_eq!(rows[1]["total"], Value::Null);
    assert_eq!(rows[1]["aangemeld"], json!(0));
    seen.push_str(&a.text);

    // CSV, by parameter and by Accept: the same bytes.
    let csv = get(
        app,
        "/ops/v1/reports/aanmeldingen?from=2027-01-01&to=2027-12-31&format=csv",
        None,
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.content_type().starts_with("text/csv"),
        "{}",
        csv.content_type()
    );
    assert_eq!(
        csv.text,
        "institution,cohort,ontvangen,aangemeld,ook_aangeboden,leidt_niet_tot_inschrijving,\
         ingetrokken,ingeschreven,total\n\
         25LX,2027-2028,<5,6,0,0,<5,0,12\n\
         30GT,2027-2028,<5,0,0,0,0,0,<5\n"
    );
    let by_accept = get(
        app,
        "/ops/v1/reports/aanmeldingen?from=2027-01-01&to=2027-12-31",
        Some("text/csv"),
    )
    .await;
    assert_eq!(by_accept.text, csv.text);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("aanmeldingen_2027-01-01_2027-12-31.csv")
    );
    seen.push_str(&csv.text);

    let bron = get(
        app,
        "/ops/v1/reports/bron?from=2027-01-01&to=2027-12-31&format=csv",
        None,
    )
    .await;
    assert_eq!(bron.status, 200);
    assert_eq!(
        bron.text,
        "institution,geaccepteerd,geaccepteerd_met_signalen,afgekeurd,total,mutations\n\
         25LX,6,<5,<5,9,10\n"
    );
    seen.push_str(&bron.text);

    // Two students with W123, one with A456: both hidden; never the signal's description.
    let signals = get(
        app,
        "/ops/v1/reports/bron-signalen?from=2027-01-01&to=2027-12-31&format=csv",
        None,
    )
    .await;
    assert_eq!(signals.status, 200, "{}", signals.text);
    assert_eq!(
        signals.text,
        "institution,signal,students,mutations
25LX,A456,<5,<5
25LX,W123,<5,<5
"
    );
    assert!(!signals.text.contains("voorbeeldsignaal"));
    seen.push_str(&signals.text);

    let va = get(
        app,
        "/ops/v1/reports/va-timeliness?from=2026-09-01&to=2026-09-30",
        None,
    )
    .await;
    assert_eq!(va.status, 200, "{}", va.text);
    let intergrip = va.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partner"] == json!("intergrip"))
        .unwrap()
        .clone();
    assert_eq!(
        intergrip,
        json!({ "partner": "intergrip", "messages": 5, "p50_ms": 2000, "p95_ms": 2000,
                "suppressed": false })
    );
    seen.push_str(&va.text);
    let va_csv = get(
        app,
        "/ops/v1/reports/va-timeliness?from=2026-09-01&to=2026-09-30&format=csv",
        None,
    )
    .await;
    assert!(
        va_csv.text.contains("\nintergrip,5,2000,2000\n"),
        "{}",
        va_csv.text
    );
    assert!(va_csv.text.contains("\nvoroc,0,,\n"), "{}", va_csv.text);
    seen.push_str(&va_csv.text);

    for format in ["json", "csv"] {
        let p = get(
            app,
            &format!("/ops/v1/reports/parked?format={format}"),
            None,
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.text);
        seen.push_str(&p.text);
    }
    seen
}

fn assert_no_personal_data(seen: &str, fixture: &ReportFixture) {
    assert!(!seen.is_empty());
    for bsn in &fixture.bsns {
        assert!(!seen.contains(bsn.as_str()), "a BSN in a report answer");
    }
    for name in &fixture.names {
        assert!(!seen.contains(name.as_str()), "a name in a report answer");
    }
    for key in &fixture.dossiers {
        assert!(
            !seen.contains(&key.to_string()),
            "a dossier key in a report answer"
        );
    }
}

#[tokio::test]
async fn memory_reports_as_json_and_csv_without_personal_data() {
    let store = MemoryStore::new();
    let fixture = seed_report_students(&store, &reference_data(), 700)
        .await
        .unwrap();
    let audit = Arc::new(MemoryAudit::new());
    audit.append_many(deliveries()).await.unwrap();
    let app = app(Arc::new(store), audit.clone(), audit);
    let seen = check_reports(&app).await;
    assert_no_personal_data(&seen, &fixture);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reports_as_json_and_csv_without_personal_data() {
    let kit = TestSchema::create("api_reports").await.expect("schema");
    let schema = kit.name().to_owned();
    let store = PgStore::open(&PgStoreConfig {
        url: database_url(),
        schema: Some(schema.clone()),
        pool_size: 4,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    })
    .await
    .expect("registry store");
    let fixture = seed_report_students(&store, &reference_data(), 800)
        .await
        .unwrap();
    let pool = pg_pool(&database_url(), Some(&schema), 4).unwrap();
    knooppunt_ops::migrate(&pool).await.expect("ops migrations");
    let audit = Arc::new(PgAudit::new(pool.clone()));
    audit.append_many(deliveries()).await.unwrap();
    let app = app(
        Arc::new(PgDossierReports::new(pool.clone())),
        Arc::new(PgDeliveryReports::new(pool.clone())),
        audit,
    );
    let seen = check_reports(&app).await;
    assert_no_personal_data(&seen, &fixture);
    drop((app, store));
    pool.close();
    kit.drop_now().await.expect("drop schema");
}

#[tokio::test]
async fn bad_parameters_are_problems_naming_them() {
    let audit = Arc::new(MemoryAudit::new());
    let app = app(Arc::new(MemoryStore::new()), audit.clone(), audit);
    for (query, field) in [
        ("from=2027-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2027-02-01&to=2027-01-01", "to"),
        ("from=1999-01-01", "from"),
        ("format=xlsx", "format"),
        ("institution=25LX", "institution"),
        ("from=2027-01-01&from=2027-02-01", "from"),
    ] {
        let a = get(&app, &format!("/ops/v1/reports/aanmeldingen?{query}"), None).await;
        a.assert_problem(400, "invalid_query");
        assert_eq!(a.body["field"], json!(field), "{query}: {}", a.text);
    }
    get(&app, "/ops/v1/reports/students", None)
        .await
        .assert_problem(404, "not_found");
    let anonymous = send(
        &app,
        Request::get("/ops/v1/reports").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_node_without_reports_says_so() {
    let mut operators = OperatorRegistry::new();
    operators.insert_hashed(
        "rita",
        Role::Reader,
        knooppunt_api::operator::auth::token_sha256(READER),
    );
    let app = router(OperatorState::new(
        Arc::new(MemoryDeliveryState::new()),
        Arc::new(MemoryAudit::new()),
        Arc::new(Metrics::new()),
        Arc::new(ApiMetrics::new()),
        Arc::new(knooppunt_api::AlwaysReady),
        Arc::new(operators),
        Arc::new(NoRuntimes),
        CancellationToken::new(),
    ));
    get(&app, "/ops/v1/reports", None)
        .await
        .assert_problem(503, "unavailable");
}
