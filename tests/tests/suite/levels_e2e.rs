//! Participation levels end to end, on the sandbox and on PostgreSQL + RabbitMQ: ROC Kustland
//! (28AB, `va` in the reference data) is refused an OOK template with 403
//! `participation_level_too_low`; an operator moves it to `aanmelden` through the operator API
//! and the same call succeeds; moved back, it is refused again. A reader may not change a level;
//! a skipped level and `krd` without the RO import are refused; the history shows both changes
//! with the operator and the reason.

use std::time::Duration;

use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::operator::Role;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Backend, start_node};

fn template(id: Uuid) -> Value {
    json!({
        "sjabloon_id": id,
        "naam": "OOK Mediavormgever voltijd",
        "reikwijdte": "opleiding",
        "opleiding": MEDIAVORMGEVER,
        "intensiteit": "VT",
        "duur_maanden": 36,
        "tekst": "Artikel 1. De instelling verzorgt de opleiding.",
    })
}

async fn ops(
    http: &reqwest::Client,
    node: &knooppunt_gateway::serve::Node,
    role: Role,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = node
        .operator_credentials
        .iter()
        .find(|c| c.role == role)
        .expect("a sandbox token per role")
        .token
        .clone();
    let url = format!("{}{path}", node.operator_url);
    let req = match method {
        "POST" => http.post(url).json(&body.unwrap_or(Value::Null)),
        _ => http.get(url),
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn set_level(
    http: &reqwest::Client,
    node: &knooppunt_gateway::serve::Node,
    role: Role,
    to: &str,
    reason: &str,
) -> (u16, Value) {
    ops(
        http,
        node,
        role,
        "POST",
        "/ops/v1/institutions/28AB/level",
        Some(json!({ "to": to, "reason": reason })),
    )
    .await
}

async fn level_changes_what_an_institution_may_do(backend: Backend) {
    let h = start_node("levels", backend, |_| {}).await;
    let node = &h.node;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let first = Uuid::new_v4();

    // At `va`: no OOK templates.
    let r = kustland
        .post("/api/v1/ook-sjablonen", "tpl-1", &template(first))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], json!("participation_level_too_low"));

    // A reader may not move it; two steps at once and `krd` without the import are refused.
    let (status, body) = set_level(&http, node, Role::Reader, "aanmelden", "go").await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("role_not_permitted"))
    );
    let (status, body) = set_level(&http, node, Role::Operator, "krd", "all at once").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("level_step_too_large"))
    );

    // Up to `aanmelden`: the same template call succeeds.
    let (status, body) = set_level(&http, node, Role::Operator, "aanmelden", "joins in 2027").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["level"], json!("aanmelden"));
    let r = kustland
        .post("/api/v1/ook-sjablonen", "tpl-2", &template(first))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let (status, body) = set_level(&http, node, Role::Operator, "krd", "full registry").await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("ro_import_missing"))
    );

    // Back to `va`: refused again, reading and writing.
    let (status, body) = set_level(&http, node, Role::Operator, "va", "postponed").await;
    assert_eq!(status, 200, "{body}");
    let r = kustland
        .post("/api/v1/ook-sjablonen", "tpl-3", &template(Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], json!("participation_level_too_low"));
    let r = kustland.get("/api/v1/ook-sjablonen").await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);

    // The record: both changes, with the operator and the reason; the list agrees.
    let (status, detail) = ops(
        &http,
        node,
        Role::Reader,
        "GET",
        "/ops/v1/institutions/28AB",
        None,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    let steps: Vec<(Value, Value, Value, Value)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].clone(),
                e["to"].clone(),
                e["operator"].clone(),
                e["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                json!("va"),
                json!("aanmelden"),
                json!("sandbox-operator"),
                json!("joins in 2027")
            ),
            (
                json!("aanmelden"),
                json!("va"),
                json!("sandbox-operator"),
                json!("postponed")
            ),
        ]
    );
    let (_, list) = ops(
        &http,
        node,
        Role::Reader,
        "GET",
        "/ops/v1/institutions",
        None,
    )
    .await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["brin"] == json!("28AB"))
        .cloned()
        .expect("28AB listed");
    assert_eq!(
        (row["level"].clone(), row["changes"].clone()),
        (json!("va"), json!(2))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_a_level_change_is_recorded_reversible_and_changes_what_an_institution_may_do() {
    level_changes_what_an_institution_may_do(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_a_level_change_is_recorded_reversible_and_changes_what_an_institution_may_do() {
    level_changes_what_an_institution_may_do(Backend::Real).await;
}
