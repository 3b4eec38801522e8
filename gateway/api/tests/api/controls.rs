//! Runtime controls through the operator API, over in-memory stores and fake gates
//! ([`FakeGates`]): the view says what is in force and where it comes from; every change is
//! applied to the gates and audited with the operator's name, role and reason; readers get 403;
//! bad input is a problem naming the field and changes nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeDelta, Utc};
use knooppunt_api::ApiMetrics;
use knooppunt_api::operator::{
    ControlTargets, OperatorRegistry, OperatorState, Redelivery, Role, router,
};
use knooppunt_ops::controls::{ConfiguredControls, PartnerOverrides};
use knooppunt_ops::{
    AuditTrail, Discarded, Hop, MemoryAudit, MemoryControlStore, MemoryDeliveryState, Metrics,
    ParkedMessage, Rate, RuntimeControls,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Answer, send};

const READER: &str = "reader-token";
const OPERATOR: &str = "operator-token";
const ADMIN: &str = "admin-token";

/// Gates that remember what was applied; `intergrip` is configured with a rate limit and one
/// shadowed institution.
#[derive(Default)]
struct FakeGates {
    applied: Mutex<Vec<(String, PartnerOverrides)>>,
}

#[async_trait]
impl ControlTargets for FakeGates {
    fn configured(&self) -> BTreeMap<String, ConfiguredControls> {
        BTreeMap::from([
            ("bron".to_owned(), ConfiguredControls::default()),
            (
                "intergrip".to_owned(),
                ConfiguredControls {
                    rate_limit: Some(Rate {
                        per_second: 10.0,
                        burst: 2,
                    }),
                    shadow_institutions: ["25LX".parse().unwrap()].into(),
                    ..ConfiguredControls::default()
                },
            ),
        ])
    }

    async fn apply(&self, partner: &str, overrides: &PartnerOverrides) {
        self.applied
            .lock()
            .unwrap()
            .push((partner.to_owned(), overrides.clone()));
    }
}

struct NoRuntimes;

#[async_trait]
impl Redelivery for NoRuntimes {
    fn consumers(&self) -> Vec<String> {
        vec!["bron".into(), "intergrip".into()]
    }
    async fn republish(&self, _: &ParkedMessage) -> Result<(), String> {
        Err("not in this test".into())
    }
    async fn release(&self, _: Discarded) -> Result<(), String> {
        Err("not in this test".into())
    }
}

struct Ops {
    app: Router,
    audit: Arc<MemoryAudit>,
    gates: Arc<FakeGates>,
}

fn ops() -> Ops {
    let audit = Arc::new(MemoryAudit::new());
    let gates = Arc::new(FakeGates::default());
    let mut operators = OperatorRegistry::new();
    for (name, role, token) in [
        ("rita", Role::Reader, READER),
        ("otto", Role::Operator, OPERATOR),
        ("ada", Role::Admin, ADMIN),
    ] {
        operators.insert_hashed(
            name,
            role,
            knooppunt_api::operator::auth::token_sha256(token),
        );
    }
    let state = OperatorState::new(
        Arc::new(MemoryDeliveryState::new()),
        audit.clone(),
        Arc::new(Metrics::new()),
        Arc::new(ApiMetrics::new()),
        Arc::new(knooppunt_api::AlwaysReady),
        Arc::new(operators),
        Arc::new(NoRuntimes),
        CancellationToken::new(),
    )
    .with_controls(
        RuntimeControls::new(Arc::new(MemoryControlStore::new(audit.clone()))),
        gates.clone(),
    );
    Ops {
        app: router(state),
        audit,
        gates,
    }
}

impl Ops {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        send(&self.app, req).await
    }

    async fn intergrip(&self) -> Value {
        let a = self
            .call("GET", "/ops/v1/controls/intergrip", READER, None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.body
    }

    async fn audited(&self) -> Vec<(String, String, String)> {
        self.audit
            .chain("control:intergrip")
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.entry.hop, Hop::ControlChanged);
                (
                    r.entry.actor.unwrap_or_default(),
                    r.entry.status.unwrap_or_default(),
                    r.entry.reason.unwrap_or_default(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn the_view_says_what_is_in_force_and_where_it_comes_from() {
    let ops = ops();
    let a = ops.call("GET", "/ops/v1/controls", READER, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let partners: Vec<&str> = a.body["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partner"].as_str().unwrap())
        .collect();
    assert_eq!(partners, ["bron", "intergrip"]);
    let i = ops.intergrip().await;
    assert_eq!(i["rate_limit"], json!({ "per_second": 10.0, "burst": 2 }));
    assert_eq!(i["rate_limit_source"], json!("configuration"));
    assert_eq!(
        i["shadow_institutions"],
        json!([{ "brin": "25LX", "source": "configuration" }])
    );
    assert_eq!(i["shadow"], json!(false));
    assert_eq!(i["in_maintenance"], json!(false));
    let a = ops
        .call("GET", "/ops/v1/controls/nobody", READER, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    assert_eq!(a.body["errors"][0]["field"], json!("partner"));
}

#[tokio::test]
async fn changes_are_applied_and_audited_with_name_role_and_reason() {
    let ops = ops();
    let end = Utc::now() + TimeDelta::hours(1);
    let a = ops
        .call(
            "POST",
            "/ops/v1/controls/intergrip/maintenance",
            OPERATOR,
            Some(json!({ "end": end, "reason": "planned upgrade" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let window = a.body["window_id"].as_str().unwrap().to_owned();
    assert_eq!(a.body["in_maintenance"], json!(true));
    assert_eq!(a.body["maintenance"][0]["added_by"], json!("otto"));

    for (method, path, body) in [
        (
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit",
            json!({ "per_second": 0.5, "reason": "partner asked" }),
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow/institutions/28ab01",
            json!({ "on": true, "reason": "pilot" }),
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow/institutions/25LX",
            json!({ "on": false, "reason": "pilot over" }),
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow",
            json!({ "on": true, "reason": "dry run" }),
        ),
    ] {
        let a = ops.call(method, path, ADMIN, Some(body)).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
    }
    let i = ops.intergrip().await;
    assert_eq!(i["rate_limit"], json!({ "per_second": 0.5, "burst": 1 }));
    assert_eq!(i["rate_limit_source"], json!("operator"));
    assert_eq!(
        i["shadow_institutions"],
        json!([{ "brin": "28AB", "source": "operator" }])
    );
    assert_eq!(i["live_institutions"], json!(["25LX"]));
    assert_eq!(
        (i["shadow"].clone(), i["shadow_source"].clone()),
        (json!(true), json!("operator"))
    );

    // Back to the configuration.
    for path in [
        format!("/ops/v1/controls/intergrip/maintenance/{window}"),
        "/ops/v1/controls/intergrip/rate-limit".to_owned(),
        "/ops/v1/controls/intergrip/shadow".to_owned(),
        "/ops/v1/controls/intergrip/shadow/institutions/28AB".to_owned(),
        "/ops/v1/controls/intergrip/shadow/institutions/25LX".to_owned(),
    ] {
        let a = ops
            .call("DELETE", &path, OPERATOR, Some(json!({ "reason": "done" })))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
    }
    let i = ops.intergrip().await;
    assert_eq!(i["maintenance"], json!([]));
    assert_eq!(i["rate_limit_source"], json!("configuration"));
    assert_eq!(i["shadow_source"], json!("configuration"));
    assert_eq!(i["live_institutions"], json!([]));

    // Every change reached the gates, the last one with nothing overridden.
    let applied = ops.gates.applied.lock().unwrap().clone();
    assert_eq!(applied.len(), 10);
    assert!(applied.iter().all(|(p, _)| p == "intergrip"));
    assert!(applied.last().unwrap().1.is_empty());

    let audited = ops.audited().await;
    assert_eq!(audited.len(), 10);
    assert_eq!(
        audited[0],
        (
            "otto".to_owned(),
            "maintenance.add:operator".to_owned(),
            "planned upgrade".to_owned()
        )
    );
    assert_eq!(
        audited[1],
        (
            "ada".to_owned(),
            "rate_limit.set:admin".to_owned(),
            "partner asked".to_owned()
        )
    );
    assert_eq!(audited[5].1, "maintenance.remove:operator");
}

#[tokio::test]
async fn readers_and_bad_input_change_nothing() {
    let ops = ops();
    let end = Utc::now() + TimeDelta::hours(1);
    let a = ops
        .call(
            "POST",
            "/ops/v1/controls/intergrip/maintenance",
            READER,
            Some(json!({ "end": end, "reason": "x" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "role_not_permitted");
    let a = ops
        .call(
            "DELETE",
            "/ops/v1/controls/intergrip/rate-limit",
            READER,
            Some(json!({ "reason": "x" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let start = Utc::now() + TimeDelta::hours(3);
    let cases: Vec<(&str, String, Value, StatusCode, &str)> = vec![
        (
            "POST",
            "/ops/v1/controls/intergrip/maintenance".into(),
            json!({ "start": start, "end": start - TimeDelta::minutes(1), "reason": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "end",
        ),
        (
            "POST",
            "/ops/v1/controls/intergrip/maintenance".into(),
            json!({ "end": Utc::now() - TimeDelta::minutes(1), "reason": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "end",
        ),
        (
            "POST",
            "/ops/v1/controls/nobody/maintenance".into(),
            json!({ "end": end, "reason": "x" }),
            StatusCode::NOT_FOUND,
            "partner",
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit".into(),
            json!({ "per_second": -1, "reason": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "per_second",
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit".into(),
            json!({ "per_second": 1, "burst": 0, "reason": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "burst",
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow".into(),
            json!({ "on": true, "reason": "BSN 999990019 asked" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow".into(),
            json!({ "on": true, "reason": "  " }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow/institutions/XX".into(),
            json!({ "on": true, "reason": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "brin",
        ),
        (
            "DELETE",
            "/ops/v1/controls/intergrip/maintenance/not-a-uuid".into(),
            json!({ "reason": "x" }),
            StatusCode::BAD_REQUEST,
            "window_id",
        ),
    ];
    for (method, path, body, status, field) in cases {
        let a = ops.call(method, &path, OPERATOR, Some(body)).await;
        assert_eq!(a.status, status, "{path}: {}", a.text);
        assert_eq!(
            a.body["errors"][0]["field"],
            json!(field),
            "{path}: {}",
            a.text
        );
        assert!(!a.text.contains("999990019"), "the value is never echoed");
    }
    let a = ops
        .call(
            "PUT",
            "/ops/v1/controls/intergrip/shadow",
            OPERATOR,
            Some(json!({ "on": "yes", "reason": "x" })),
        )
        .await;
    assert!(a.status.is_client_error(), "{}", a.text);
    let a = ops
        .call(
            "DELETE",
            &format!(
                "/ops/v1/controls/intergrip/maintenance/{}",
                uuid::Uuid::now_v7()
            ),
            OPERATOR,
            Some(json!({ "reason": "x" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);

    assert!(ops.audited().await.is_empty(), "nothing audited");
    assert!(
        ops.gates.applied.lock().unwrap().is_empty(),
        "nothing applied"
    );
    assert_eq!(
        ops.intergrip().await["rate_limit_source"],
        json!("configuration")
    );
}
