//! Participation levels on the operator API (`operator::levels`) over one in-memory registry
//! shared with the institutions' API: the list and the history, who may change a level, each
//! refused precondition as a 409 naming it, a reason with a BSN refused before anything changes,
//! the audit record — and a change altering what the institution's API answers at once.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use knooppunt_api::ApiMetrics;
use knooppunt_api::operator::{OperatorRegistry, OperatorState, Redelivery, Role, router};
use knooppunt_ops::{AuditTrail, Discarded, MemoryDeliveryState, Metrics, ParkedMessage};
use knooppunt_registry::domain::institution::InstitutionCommand;
use knooppunt_registry::store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::onderwijsovereenkomsten::{api, get, kustland};
use crate::support::{Answer, TestApi, brin_b, send, token};

const READER: &str = "reader-token";
const OPERATOR: &str = "operator-token";

struct NoRuntimes;

#[async_trait::async_trait]
impl Redelivery for NoRuntimes {
    fn consumers(&self) -> Vec<String> {
        Vec::new()
    }
    async fn republish(&self, _: &ParkedMessage) -> Result<(), String> {
        Err("no runtimes".into())
    }
    async fn release(&self, _: Discarded) -> Result<(), String> {
        Err("no runtimes".into())
    }
}

/// The institutions' API (25LX krd, 27DV aanmelden, 28AB va) and an operator app on the same
/// registry; `levels = false`: an operator app without [`OperatorState::with_levels`].
fn setup(levels: bool) -> (TestApi, Router) {
    let t = api();
    let mut operators = OperatorRegistry::new();
    for (name, role, token) in [
        ("rita", Role::Reader, READER),
        ("otto", Role::Operator, OPERATOR),
    ] {
        operators.insert_hashed(
            name,
            role,
            knooppunt_api::operator::auth::token_sha256(token),
        );
    }
    let mut state = OperatorState::new(
        Arc::new(MemoryDeliveryState::new()),
        t.audit.clone(),
        Arc::new(Metrics::new()),
        Arc::new(ApiMetrics::new()),
        Arc::new(knooppunt_api::AlwaysReady),
        Arc::new(operators),
        Arc::new(NoRuntimes),
        CancellationToken::new(),
    );
    if levels {
        state = state.with_levels(t.store.clone(), t.state.reference.clone());
    }
    (t, router(state))
}

async fn call(app: &Router, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
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
    send(app, req).await
}

async fn set(app: &Router, token: &str, brin: &str, to: &str, reason: &str) -> Answer {
    call(
        app,
        "POST",
        &format!("/ops/v1/institutions/{brin}/level"),
        token,
        Some(json!({"to": to, "reason": reason})),
    )
    .await
}

#[tokio::test]
async fn the_list_shows_every_institution_with_its_effective_level() {
    let (_t, ops) = setup(true);
    let a = call(&ops, "GET", "/ops/v1/institutions", READER, None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let rows = a.body.as_array().expect("a list");
    let row = |brin: &str| {
        rows.iter()
            .find(|r| r["brin"] == brin)
            .unwrap_or_else(|| panic!("{brin} listed"))
            .clone()
    };
    assert_eq!(rows.len(), 4);
    assert_eq!(
        row("28AB"),
        json!({"brin": "28AB", "naam": "ROC Kustland", "level": "va", "reference_level": "va",
               "changes": 0, "ro_imported": false})
    );
    assert_eq!(row("25LX")["level"], "krd");

    set(
        &ops,
        OPERATOR,
        "28AB",
        "aanmelden",
        "start central aanmelding",
    )
    .await;
    let a = call(&ops, "GET", "/ops/v1/institutions", READER, None).await;
    let row = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["brin"] == "28AB")
        .unwrap()
        .clone();
    assert_eq!(row["level"], "aanmelden");
    assert_eq!(row["reference_level"], "va");
    assert_eq!(row["changes"], 1);
}

#[tokio::test]
async fn a_change_is_recorded_audited_and_reversible() {
    let (t, ops) = setup(true);
    let a = set(
        &ops,
        OPERATOR,
        "28AB",
        "aanmelden",
        "start central aanmelding",
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["level"], "aanmelden");
    let h = &a.body["history"][0];
    assert_eq!(h["sequence"], 1);
    assert_eq!(h["type"], "participation_changed");
    assert_eq!(h["from"], "va");
    assert_eq!(h["to"], "aanmelden");
    assert_eq!(h["operator"], "otto");
    assert_eq!(h["reason"], "start central aanmelding");
    assert!(h["at"].is_string());

    let back = set(&ops, OPERATOR, "28AB", "va", "postponed a year").await;
    assert_eq!(back.status, 200, "{}", back.text);
    let shown = call(&ops, "GET", "/ops/v1/institutions/28AB", READER, None).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.body["level"], "va");
    assert_eq!(shown.body["changes"], 2);
    let steps: Vec<(&str, &str)> = shown.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].as_str().unwrap(), h["to"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, vec![("va", "aanmelden"), ("aanmelden", "va")]);

    // Both changes on the institution's audit chain, with the operator and the reason.
    let chain = t.audit.chain("institution:28AB").await.unwrap();
    let audited: Vec<(Option<&str>, Option<&str>, Option<&str>)> = chain
        .iter()
        .map(|r| {
            (
                r.entry.actor.as_deref(),
                r.entry.status.as_deref(),
                r.entry.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        audited,
        vec![
            (
                Some("otto"),
                Some("participation:aanmelden"),
                Some("start central aanmelding")
            ),
            (
                Some("otto"),
                Some("participation:va"),
                Some("postponed a year")
            ),
        ]
    );
}

#[tokio::test]
async fn refused_preconditions_are_409_problems_naming_them_and_change_nothing() {
    let (t, ops) = setup(true);
    // 28AB is at `va`: not to `va` again, not two steps at once.
    set(&ops, OPERATOR, "28AB", "va", "again")
        .await
        .assert_problem(409, "already_at_level");
    let a = set(&ops, OPERATOR, "28AB", "krd", "straight to krd").await;
    a.assert_problem(409, "level_step_too_large");
    assert!(
        a.body["detail"].as_str().unwrap().contains("skips a level"),
        "{}",
        a.text
    );
    // 27DV is at `aanmelden`: `krd` needs its RO import.
    let a = set(&ops, OPERATOR, "27DV", "krd", "full registry").await;
    a.assert_problem(409, "ro_import_missing");
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap()
            .contains("knooppunt import ro"),
        "{}",
        a.text
    );
    // Once the import is recorded, it may.
    t.store
        .execute_institution(
            &brin_b(),
            chrono::Utc::now(),
            InstitutionCommand::RecordRoImport {
                persons: 3,
                commands_new: 9,
                rejected: 0,
            },
            &t.state.reference,
        )
        .await
        .unwrap()
        .unwrap();
    let a = set(&ops, OPERATOR, "27DV", "krd", "full registry").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["ro_imported"], true);
    assert_eq!(a.body["history"][0]["type"], "ro_imported");
    assert_eq!(a.body["history"][0]["persons"], 3);
    // Nothing was recorded for 28AB.
    let shown = call(&ops, "GET", "/ops/v1/institutions/28AB", READER, None).await;
    assert_eq!(shown.body["history"], json!([]));
    assert!(t.audit.chain("institution:28AB").await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_and_roles_are_problems_and_change_nothing() {
    let (t, ops) = setup(true);
    // A reader may look, not change.
    set(&ops, READER, "28AB", "aanmelden", "why not")
        .await
        .assert_problem(403, "role_not_permitted");
    // No token.
    let a = send(
        &ops,
        Request::builder()
            .uri("/ops/v1/institutions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text);
    // A reason with a BSN: refused, naming the field, never echoing it.
    let a = set(
        &ops,
        OPERATOR,
        "28AB",
        "aanmelden",
        "student 123456782 asked",
    )
    .await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "reason");
    assert!(!a.text.contains("123456782"), "{}", a.text);
    set(&ops, OPERATOR, "28AB", "aanmelden", "  ")
        .await
        .assert_problem(422, "invalid_field");
    // An unknown level, an unknown field, a bad or unknown BRIN.
    let a = call(
        &ops,
        "POST",
        "/ops/v1/institutions/28AB/level",
        OPERATOR,
        Some(json!({"to": "everything", "reason": "x"})),
    )
    .await;
    assert_eq!(a.status.as_u16() / 100, 4, "{}", a.text);
    let a = call(
        &ops,
        "POST",
        "/ops/v1/institutions/28AB/level",
        OPERATOR,
        Some(json!({"to": "aanmelden", "reason": "x", "extra": 1})),
    )
    .await;
    assert_eq!(a.status.as_u16() / 100, 4, "{}", a.text);
    let a = call(&ops, "GET", "/ops/v1/institutions/2", READER, None).await;
    a.assert_problem(400, "invalid_request");
    assert_eq!(a.body["field"], "brin");
    set(&ops, OPERATOR, "99ZZ", "aanmelden", "unknown")
        .await
        .assert_problem(404, "not_found");
    // Nothing changed.
    assert!(t.store.institution_history(None).await.unwrap().is_empty());
    assert!(t.audit.chain("institution:28AB").await.unwrap().is_empty());

    // A node that does not serve levels answers 404.
    let (_t, without) = setup(false);
    let a = call(&without, "GET", "/ops/v1/institutions", READER, None).await;
    a.assert_problem(404, "not_found");
}

/// What the institution may do follows the level at once: 27DV (aanmelden) reads its OOK
/// templates; moved down to `va` it gets 403 `participation_level_too_low`; moved back up it
/// reads them again.
#[tokio::test]
async fn a_change_alters_what_the_institution_may_do_at_once() {
    let (t, ops) = setup(true);
    let houtwerk = brin_b();
    let tok = token(&t.app, &houtwerk).await;
    let templates = "/api/v1/ook-sjablonen";
    let a = get(&t, &tok, &houtwerk, templates).await;
    assert_eq!(a.status, 200, "{}", a.text);

    assert_eq!(
        set(&ops, OPERATOR, "27DV", "va", "paused").await.status,
        200
    );
    let a = get(&t, &tok, &houtwerk, templates).await;
    a.assert_problem(403, "participation_level_too_low");
    assert!(
        a.body["detail"].as_str().unwrap().contains("level va"),
        "{}",
        a.text
    );

    assert_eq!(
        set(&ops, OPERATOR, "27DV", "aanmelden", "resumed")
            .await
            .status,
        200
    );
    assert_eq!(get(&t, &tok, &houtwerk, templates).await.status, 200);

    // And 28AB, at `va` in the reference data, may once moved up.
    let kust = kustland();
    let tok = token(&t.app, &kust).await;
    get(&t, &tok, &kust, templates)
        .await
        .assert_problem(403, "participation_level_too_low");
    assert_eq!(
        set(&ops, OPERATOR, "28AB", "aanmelden", "joins")
            .await
            .status,
        200
    );
    assert_eq!(get(&t, &tok, &kust, templates).await.status, 200);
}
