//! The extractors every handler shares: `IdempotencyKey` (the header of a POST) and
//! `AanmeldingPath` (the `{id}` of an aanmelding), with the problems they refuse with.

use crate::support::*;
use axum::http::{HeaderMap, HeaderValue};
use knooppunt_api::handlers::{IDEMPOTENCY_KEY, IdempotencyKey};
use uuid::Uuid;

fn key(value: Option<&[u8]>) -> Result<IdempotencyKey, knooppunt_api::Problem> {
    let mut headers = HeaderMap::new();
    if let Some(v) = value {
        headers.insert(
            IDEMPOTENCY_KEY,
            HeaderValue::from_bytes(v).expect("header value"),
        );
    }
    IdempotencyKey::from_headers(&headers)
}

#[test]
fn idempotency_key_accepts_1_to_255_visible_ascii_and_names_the_header_otherwise() {
    for ok in [
        &b"k"[..],
        b"2f0c6c8e-0d1e-4a57-9a57-1b2c3d4e5f60",
        &[b'~'; 255],
    ] {
        let k = key(Some(ok)).expect("valid key");
        assert_eq!(k.as_str().as_bytes(), ok);
    }
    let missing = key(None).expect_err("missing");
    assert_eq!(
        (missing.status, missing.code.as_str()),
        (400, "idempotency_key_missing")
    );
    assert_eq!(missing.field.as_deref(), Some("Idempotency-Key"));
    let long = [b'k'; 256];
    for bad in [
        &b""[..],
        &long,
        b"with space",
        b"tab\tkey",
        "sl\u{e9}utel".as_bytes(),
    ] {
        let p = key(Some(bad)).expect_err("invalid");
        assert_eq!(
            (p.status, p.code.as_str()),
            (400, "idempotency_key_invalid")
        );
        assert_eq!(p.field.as_deref(), Some("Idempotency-Key"));
        let text = serde_json::to_string(&p).expect("json");
        if bad.len() > 3 {
            let sent = String::from_utf8_lossy(bad);
            assert!(!text.contains(sent.as_ref()), "echoes the key: {text}");
        }
    }
}

#[test]
fn the_derived_ids_depend_on_the_caller_key_request_and_step() {
    use knooppunt_api::handlers::IdempotentRequest;
    let a = key(Some(b"same")).expect("key");
    let b = key(Some(b"other")).expect("key");
    let caller = |brin: knooppunt_registry::ids::Brin| knooppunt_api::Caller {
        oin: brin.oin(),
        brin,
    };
    let (c1, c2) = (caller(brin_a()), caller(brin_b()));
    let r = |c: &knooppunt_api::Caller, k, body: &[u8]| {
        IdempotentRequest::post(c, k, "/api/v1/aanmeldingen", body)
    };
    let base = r(&c1, &a, b"{}").derived_id("submit");
    assert_eq!(base, r(&c1, &a, b"{}").derived_id("submit"));
    assert_ne!(base, r(&c1, &a, b"{}").derived_id("open"));
    assert_ne!(base, r(&c2, &a, b"{}").derived_id("submit"));
    assert_ne!(base, r(&c1, &b, b"{}").derived_id("submit"));
    // Another body under the same key: other ids.
    assert_ne!(base, r(&c1, &a, b"{ }").derived_id("submit"));
    assert_ne!(
        base,
        IdempotentRequest::post(&c1, &a, "/api/v1/other", b"{}").derived_id("submit")
    );
    let req = r(&c1, &a, b"{}");
    assert_eq!(
        base,
        knooppunt_api::handlers::derived_id(c1.oin.as_str(), "same", req.request_hash(), "submit")
    );
}

#[tokio::test]
async fn an_aanmelding_id_that_is_not_a_uuid_is_not_found_before_anything_else() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let a = send(
        &t.app,
        authed(
            "GET",
            "/api/v1/aanmeldingen/not-a-uuid",
            &tok,
            &brin,
            None,
            None,
        ),
    )
    .await;
    a.assert_problem(404, "not_found");
    let missing = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{}", Uuid::new_v4()),
            &tok,
            &brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(a.body["detail"], missing.body["detail"]);
    // A status change: the id is judged before the missing key and the body.
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen/not-a-uuid/status",
            &tok,
            &brin,
            None,
            Some("{"),
        ),
    )
    .await;
    a.assert_problem(404, "not_found");
    assert!(!a.text.contains("not-a-uuid"), "{}", a.text);
}
