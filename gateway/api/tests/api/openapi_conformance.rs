//! The answers match the OpenAPI document: regression tests for what `scripts/schemathesis.sh`
//! found (statuses a caller can meet that the document did not list, query parameters
//! documented as path parameters) — each answer's status must be documented for its operation,
//! with the content type it is sent with.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use knooppunt_api::limiter::{Rate, TokenLimiter, TokenRateLimits};
use serde_json::Value;
use uuid::Uuid;

async fn openapi(t: &TestApi) -> Value {
    let a = send(
        &t.app,
        Request::get("/openapi.json")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    a.body
}

/// Asserts that `answer`'s status is documented for `method template` and that its content
/// type is one the document lists for that status.
fn assert_documented(doc: &Value, method: &str, template: &str, answer: &Answer) {
    let op = &doc["paths"][template][method];
    assert!(op.is_object(), "{method} {template} is not in the document");
    let status = answer.status.as_u16().to_string();
    let response = &op["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {template}: status {status} is not documented (documented: {:?}); answer {}",
        op["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect::<Vec<_>>()),
        answer.text
    );
    let ct = answer.content_type();
    let media = ct.split(';').next().unwrap_or("").trim();
    if let Some(content) = response["content"].as_object() {
        assert!(
            content.contains_key(media),
            "{method} {template} {status}: content type {media} not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        );
        if media == "application/problem+json" {
            for key in ["type", "title", "status", "code"] {
                assert!(answer.body.get(key).is_some(), "problem without {key}");
            }
        }
    }
}

fn raw(
    method: &str,
    uri: &str,
    token: &str,
    content_type: Option<&str>,
    key: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    let mut req = b.body(Body::from(body)).expect("request");
    req.extensions_mut().insert(peer(&brin_a().oin()));
    req
}

#[tokio::test]
async fn query_parameters_are_documented_as_optional_query_parameters_with_their_bounds() {
    let t = test_api();
    let doc = openapi(&t).await;
    for (path, names) in [
        ("/api/v1/aanmeldingen", vec!["na", "limit"]),
        ("/api/v1/feed", vec!["vanaf", "limit", "wacht"]),
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        for name in names {
            let p = params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path}: no parameter {name}"));
            assert_eq!(p["in"], "query", "{path} {name}: {p}");
            assert_ne!(p["required"], true, "{path} {name} is optional: {p}");
            if name == "limit" {
                assert_eq!(p["schema"]["minimum"], 1, "{p}");
                assert_eq!(p["schema"]["maximum"], 500, "{p}");
            }
            if name == "wacht" {
                assert_eq!(p["schema"]["maximum"], 30, "{p}");
            }
        }
    }
    let key = doc["paths"]["/api/v1/aanmeldingen/{id}/status"]["post"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .cloned()
        .expect("Idempotency-Key");
    assert_eq!(key["in"], "header");
    assert_eq!(key["required"], true);
    assert_eq!(key["schema"]["minLength"], 1);
    assert_eq!(key["schema"]["maxLength"], 255);
}

#[tokio::test]
async fn every_error_a_caller_can_cause_is_documented_for_its_operation() {
    let t = test_api_with(|s| s.limits.body_limit = 1024);
    let doc = openapi(&t).await;
    let other = token(&t.app, &brin_b()).await;
    let token = token(&t.app, &brin_a()).await;
    // 27DV's token, sent over 25LX's certificate (`raw` uses it): 403 certificate_oin_mismatch.
    let id = Uuid::new_v4();
    let status_path = format!("/api/v1/aanmeldingen/{id}/status");
    let status_tpl = "/api/v1/aanmeldingen/{id}/status";
    let cases: Vec<(&str, &str, Request<Body>, u16, &str)> = vec![
        // Found by schemathesis: PUT /webhook answered 415 and 400, documented were 200, 422.
        (
            "put",
            "/api/v1/webhook",
            raw("PUT", "/api/v1/webhook", &token, None, None, Vec::new()),
            415,
            "unsupported_media_type",
        ),
        (
            "put",
            "/api/v1/webhook",
            raw(
                "PUT",
                "/api/v1/webhook",
                &token,
                Some("application/json"),
                None,
                b"\0".to_vec(),
            ),
            400,
            "malformed_json",
        ),
        // Found by schemathesis: an empty Idempotency-Key on a status change (400).
        (
            "post",
            status_tpl,
            raw(
                "POST",
                &status_path,
                &token,
                Some("application/json"),
                Some(""),
                br#"{"status":"AM"}"#.to_vec(),
            ),
            400,
            "idempotency_key_invalid",
        ),
        (
            "post",
            status_tpl,
            raw(
                "POST",
                &status_path,
                &token,
                Some("application/json"),
                None,
                br#"{"status":"AM"}"#.to_vec(),
            ),
            400,
            "idempotency_key_missing",
        ),
        (
            "post",
            status_tpl,
            raw(
                "POST",
                &status_path,
                &token,
                Some("text/plain"),
                Some("k-415"),
                br#"{"status":"AM"}"#.to_vec(),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            "post",
            status_tpl,
            raw(
                "POST",
                &status_path,
                &token,
                Some("application/json"),
                Some("k-413"),
                vec![b' '; 4096],
            ),
            413,
            "body_too_large",
        ),
        (
            "post",
            status_tpl,
            raw(
                "POST",
                &status_path,
                &token,
                Some("application/json"),
                Some("k-400"),
                b"{".to_vec(),
            ),
            400,
            "malformed_json",
        ),
        // A bad query on the list (only the feed documented 400 before).
        (
            "get",
            "/api/v1/aanmeldingen",
            raw(
                "GET",
                "/api/v1/aanmeldingen?limit=0",
                &token,
                None,
                None,
                Vec::new(),
            ),
            400,
            "invalid_query",
        ),
        (
            "get",
            "/api/v1/aanmeldingen",
            raw(
                "GET",
                "/api/v1/aanmeldingen?limit=-1",
                &token,
                None,
                None,
                Vec::new(),
            ),
            400,
            "invalid_query",
        ),
        (
            "get",
            "/api/v1/feed",
            raw(
                "GET",
                "/api/v1/feed?wacht=31",
                &token,
                None,
                None,
                Vec::new(),
            ),
            400,
            "invalid_query",
        ),
        // Authentication on operations that documented no 401/403.
        (
            "get",
            "/api/v1/aanmeldingen",
            Request::get("/api/v1/aanmeldingen")
                .body(Body::empty())
                .expect("req"),
            401,
            "missing_token",
        ),
        (
            "get",
            "/api/v1/feed",
            raw(
                "GET",
                "/api/v1/feed",
                "forged.token",
                None,
                None,
                Vec::new(),
            ),
            401,
            "invalid_token",
        ),
        (
            "delete",
            "/api/v1/webhook",
            raw("DELETE", "/api/v1/webhook", &other, None, None, Vec::new()),
            403,
            "certificate_oin_mismatch",
        ),
        (
            "get",
            "/api/v1/aanmeldingen/{id}",
            raw(
                "GET",
                &format!("/api/v1/aanmeldingen/{id}"),
                &other,
                None,
                None,
                Vec::new(),
            ),
            403,
            "certificate_oin_mismatch",
        ),
    ];
    for (method, template, req, status, code) in cases {
        let a = send(&t.app, req).await;
        a.assert_problem(status, code);
        assert_documented(&doc, method, template, &a);
    }
}

#[tokio::test]
async fn token_endpoint_errors_match_their_documented_content_types() {
    let t = test_api();
    let doc = openapi(&t).await;
    let oin = brin_a().oin();
    // Every failed client authentication: the OAuth2 error form (application/json).
    for (secret, cert) in [
        (SECRET, None),
        ("wrong", Some(oin.clone())),
        (SECRET, Some(brin_b().oin())),
    ] {
        let a = send(&t.app, token_request(oin.as_str(), secret, cert.as_ref())).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
        assert_eq!(a.body["error"], "invalid_client");
        assert_documented(&doc, "post", "/api/v1/oauth2/token", &a);
    }
    // Rate limited: a 429 problem.
    let limited = test_api_with(|s| {
        s.token_limiter = std::sync::Arc::new(TokenLimiter::new(TokenRateLimits {
            per_client: Rate {
                per_second: 0.001,
                burst: 1,
            },
            ..TokenRateLimits::default()
        }));
    });
    send(
        &limited.app,
        token_request(oin.as_str(), SECRET, Some(&oin)),
    )
    .await;
    let a = send(
        &limited.app,
        token_request(oin.as_str(), SECRET, Some(&oin)),
    )
    .await;
    a.assert_problem(429, "rate_limited");
    assert_documented(&doc, "post", "/api/v1/oauth2/token", &a);
}

#[tokio::test]
async fn the_documented_request_examples_are_accepted_by_the_sandbox_data() {
    let t = test_api();
    let doc = openapi(&t).await;
    let token = token(&t.app, &brin_a()).await;
    let example = doc["components"]["schemas"]["SubmitAanmeldingBody"]["example"].clone();
    assert!(example.is_object(), "SubmitAanmeldingBody has an example");
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &token,
            &brin_a(),
            Some("example-1"),
            Some(&example.to_string()),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_documented(&doc, "post", "/api/v1/aanmeldingen", &a);
    let id = example["aanmelding_id"].as_str().expect("id");
    let status = doc["components"]["schemas"]["StatusBody"]["example"].to_string();
    let a = send(
        &t.app,
        authed(
            "POST",
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &token,
            &brin_a(),
            Some("example-2"),
            Some(&status),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["va_code"], "AM");
    assert_documented(&doc, "post", "/api/v1/aanmeldingen/{id}/status", &a);
}

#[tokio::test]
async fn request_schemas_state_the_constraints_the_handlers_check() {
    // schemathesis (positive_data_acceptance) sent schema-valid bodies the handlers refuse:
    // `{"status": ""}`, a 1-character webhook secret, a student with neither bsn nor
    // onderwijsnummer. The document now states those constraints.
    let t = test_api();
    let doc = openapi(&t).await;
    let schemas = &doc["components"]["schemas"];
    let values: Vec<&str> = schemas["StatusValue"]["enum"]
        .as_array()
        .expect("StatusValue enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for v in ["aangemeld", "ingetrokken", "AM", "IS"] {
        assert!(values.contains(&v), "{v} in {values:?}");
    }
    assert_eq!(
        schemas["StatusBody"]["properties"]["status"]["$ref"],
        "#/components/schemas/StatusValue"
    );
    let secret = &schemas["WebhookBody"]["properties"]["secret"];
    assert_eq!(secret["minLength"], 16, "{secret}");
    assert_eq!(secret["maxLength"], 256, "{secret}");
    assert_eq!(schemas["StudentBody"]["maxProperties"], 1);
    assert_eq!(schemas["StudentBody"]["minProperties"], 1);
    assert!(
        schemas["SubmitAanmeldingBody"]["properties"]["toeleverende_school"]["pattern"].is_string(),
        "a BRIN pattern"
    );
    assert_eq!(
        schemas["StudentBody"]["properties"]["bsn"]["pattern"],
        "^[0-9]{9}$"
    );
    // Every value the document allows is accepted by the handler.
    let token = token(&t.app, &brin_a()).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &token, &brin_a(), "submit", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    for (i, v) in values.iter().enumerate() {
        let a = send(
            &t.app,
            authed(
                "POST",
                &format!("/api/v1/aanmeldingen/{id}/status"),
                &token,
                &brin_a(),
                Some(&format!("status-{i}")),
                Some(&serde_json::json!({ "status": v }).to_string()),
            ),
        )
        .await;
        // Accepted as a status: a 200, or the state machine's refusal — never invalid_field.
        assert_ne!(a.code(), "invalid_field", "{v}: {}", a.text);
        assert_documented(&doc, "post", "/api/v1/aanmeldingen/{id}/status", &a);
    }
}
