//! The open API over HTTP (router driven with `oneshot`, mTLS simulated with the
//! `PeerIdentity` extension): auth, isolation, every robustness case, idempotency, status
//! changes, the OpenAPI document and the ops endpoints.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use knooppunt_api::handlers::IDEMPOTENT_REPLAYED;
use knooppunt_api::{ApiStore, Readiness};
use knooppunt_ops::audit::{AuditEntry, AuditTrail};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::store::Store;
use uuid::Uuid;

async fn nothing_stored(t: &TestApi) {
    for bsn in [BSN, BSN2] {
        let person = PersonId::Bsn(bsn.parse().expect("bsn"));
        assert_eq!(
            t.store.find_dossier(&person).await.expect("store"),
            None,
            "no dossier may have been opened"
        );
    }
    for brin in [brin_a(), brin_b(), brin_unknown()] {
        assert!(
            t.api_store
                .list_aanmeldingen(brin.as_str(), 0, 100)
                .await
                .expect("api store")
                .is_empty(),
            "nothing indexed"
        );
        assert!(
            t.api_store
                .feed(brin.as_str(), 0, 100)
                .await
                .expect("api store")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn token_is_issued_for_valid_credentials_over_mtls() {
    let t = test_api();
    let oin = brin_a().oin();
    let a = send(&t.app, token_request(oin.as_str(), SECRET, Some(&oin))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 300);
    let claims = t
        .state
        .tokens
        .verify(a.body["access_token"].as_str().expect("token"))
        .expect("valid token");
    assert_eq!(claims.sub, oin.as_str());
    assert_eq!(claims.brin, "25LX");

    // Form credentials work as well.
    let mut req = Request::post("/api/v1/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id={}&client_secret={SECRET}",
            oin.as_str()
        )))
        .expect("request");
    req.extensions_mut().insert(peer(&oin));
    assert_eq!(send(&t.app, req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_is_refused_per_rfc6749_and_without_the_right_certificate() {
    let t = test_api();
    let oin = brin_a().oin();
    let other = brin_b().oin();

    let a = send(
        &t.app,
        token_request(oin.as_str(), "wrong-secret", Some(&oin)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["error"], "invalid_client");
    assert!(a.headers.contains_key("www-authenticate"));

    let a = send(
        &t.app,
        token_request("00000001234567890000", SECRET, Some(&oin)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["error"], "invalid_client");

    for (body, error) in [
        ("grant_type=password", "unsupported_grant_type"),
        ("scope=x", "invalid_request"),
    ] {
        let mut req = token_request(oin.as_str(), SECRET, Some(&oin));
        *req.body_mut() = Body::from(body);
        let a = send(&t.app, req).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.body["error"], error, "{body}");
    }

    // No client certificate at all, and the certificate of another institution: the same
    // invalid_client as a wrong secret (tested in the auth module: byte for byte).
    for cert in [None, Some(&other)] {
        let a = send(&t.app, token_request(oin.as_str(), SECRET, cert)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
        assert_eq!(a.body["error"], "invalid_client");
    }
}

#[tokio::test]
async fn submit_get_and_list_an_aanmelding() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/aanmeldingen/{id}").as_str())
    );
    assert_eq!(a.body["status"], "ontvangen");
    assert_eq!(a.body["va_code"], "OT");
    assert!(!a.text.contains(BSN), "the BSN is never echoed");

    // The registry holds it: a dossier for the student, opened and the aanmelding submitted.
    let person = PersonId::Bsn(BSN.parse().expect("bsn"));
    let key = t
        .store
        .find_dossier(&person)
        .await
        .expect("store")
        .expect("dossier opened");
    let history = t.store.history(key).await.expect("history");
    let kinds: Vec<_> = history.iter().map(|e| e.meta.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "nl.knooppunt.dossier.geopend.v1",
            "nl.knooppunt.aanmelding.ingediend.v1"
        ]
    );

    let got = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{id}"),
            &tok,
            &brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["aanmelding_id"], id.to_string());
    assert_eq!(got.body["crebo"], "25998");

    // Every read is audited on the dossier's chain, ids only.
    let chain = t
        .audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .expect("audit");
    assert!(chain.len() >= 2, "reads audited: {chain:?}");
    assert!(
        chain
            .iter()
            .all(|r| r.entry.actor.as_deref() == Some("institution:25LX"))
    );
    assert!(!format!("{chain:?}").contains(BSN));

    // A second aanmelding for another student, then list in pages of one.
    let id2 = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k2", id2, BSN2).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let page = send(
        &t.app,
        authed(
            "GET",
            "/api/v1/aanmeldingen?limit=1",
            &tok,
            &brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["items"][0]["aanmelding_id"], id.to_string());
    let next = page.body["volgende"].as_i64().expect("cursor");
    let page2 = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen?limit=1&na={next}"),
            &tok,
            &brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(page2.body["items"][0]["aanmelding_id"], id2.to_string());
}

#[tokio::test]
async fn an_institution_sees_and_changes_only_its_own_aanmeldingen() {
    let t = test_api();
    let (a_brin, b_brin) = (brin_a(), brin_b());
    let tok_a = token(&t.app, &a_brin).await;
    let tok_b = token(&t.app, &b_brin).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &tok_a, &a_brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);

    let unknown = Uuid::new_v4();
    let other = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{id}"),
            &tok_b,
            &b_brin,
            None,
            None,
        ),
    )
    .await;
    let missing = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{unknown}"),
            &tok_b,
            &b_brin,
            None,
            None,
        ),
    )
    .await;
    other.assert_problem(404, "not_found");
    missing.assert_problem(404, "not_found");
    assert_eq!(
        other.body["detail"], missing.body["detail"],
        "no hint it exists"
    );

    let change = change_status(&t.app, &tok_b, &b_brin, "s1", id, "AM").await;
    change.assert_problem(404, "not_found");
    let list = send(
        &t.app,
        authed("GET", "/api/v1/aanmeldingen", &tok_b, &b_brin, None, None),
    )
    .await;
    assert_eq!(list.body["items"], serde_json::json!([]));

    // Still ontvangen.
    let got = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{id}"),
            &tok_a,
            &a_brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(got.body["status"], "ontvangen");
}

#[tokio::test]
async fn status_changes_follow_the_state_machine() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let uri = format!("/api/v1/aanmeldingen/{id}/status");
    let a = send(
        &t.app,
        authed(
            "POST",
            &uri,
            &tok,
            &brin,
            Some("s1"),
            Some(r#"{"status":"AM"}"#),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "aangemeld");
    let a = send(
        &t.app,
        authed(
            "POST",
            &uri,
            &tok,
            &brin,
            Some("s2"),
            Some(r#"{"status":"ingeschreven"}"#),
        ),
    )
    .await;
    a.assert_problem(409, "invalid_transition");
    let a = send(
        &t.app,
        authed(
            "POST",
            &uri,
            &tok,
            &brin,
            Some("s3"),
            Some(r#"{"status":"XX"}"#),
        ),
    )
    .await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "status");
    let a = send(
        &t.app,
        authed(
            "POST",
            &uri,
            &tok,
            &brin,
            Some("s4"),
            Some(r#"{"status":"ook_aangeboden"}"#),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["va_code"], "AO");
}

#[tokio::test]
async fn every_robustness_case_is_a_4xx_problem_and_stores_nothing() {
    let t = test_api_with(|s| s.limits.body_limit = 2048);
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
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
    let id = Uuid::new_v4();

    let a = send(&t.app, post("r1", r#"{"aanmelding_id": "#)).await;
    a.assert_problem(400, "malformed_json");

    let mut wrong_type: serde_json::Value =
        serde_json::from_str(&aanmelding_body(id, BSN)).expect("json");
    wrong_type["cohort"] = serde_json::json!(2027);
    let a = send(&t.app, post("r2", &wrong_type.to_string())).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "cohort");

    let mut unknown = wrong_type.clone();
    unknown["cohort"] = serde_json::json!("2027-2028");
    unknown["extra"] = serde_json::json!(true);
    let a = send(&t.app, post("r3", &unknown.to_string())).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "extra");

    let mut missing: serde_json::Value =
        serde_json::from_str(&aanmelding_body(id, BSN)).expect("json");
    missing.as_object_mut().expect("object").remove("opleiding");
    let a = send(&t.app, post("r3b", &missing.to_string())).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "opleiding");

    let mut nested: serde_json::Value =
        serde_json::from_str(&aanmelding_body(id, BSN)).expect("json");
    nested["student"]["bsn"] = serde_json::json!(123);
    let a = send(&t.app, post("r3c", &nested.to_string())).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "student.bsn");
    // (The instance is a random request id, which may contain the digits by chance.)
    let mut echoed = a.body.clone();
    echoed
        .as_object_mut()
        .expect("problem object")
        .remove("instance");
    assert!(
        !echoed.to_string().contains("123"),
        "the value is not echoed: {}",
        a.text
    );

    let a = send(&t.app, post("r4", &aanmelding_body(id, BAD_BSN))).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "student.bsn");
    assert_eq!(a.body["errors"][0]["reason"], "elfproef");
    assert!(!a.text.contains(BAD_BSN), "the BSN is never echoed");

    let mut opl: serde_json::Value = serde_json::from_str(&aanmelding_body(id, BSN)).expect("json");
    opl["opleiding"] = serde_json::json!(Uuid::new_v4());
    let a = send(&t.app, post("r5", &opl.to_string())).await;
    a.assert_problem(422, "unknown_opleiding");
    assert_eq!(a.body["field"], "opleiding");

    opl["opleiding"] = serde_json::json!(knooppunt_sample::TIMMERMAN);
    let a = send(&t.app, post("r6", &opl.to_string())).await;
    a.assert_problem(422, "opleiding_other_institution");

    let mut coh: serde_json::Value = serde_json::from_str(&aanmelding_body(id, BSN)).expect("json");
    coh["cohort"] = serde_json::json!("1999-2000");
    let a = send(&t.app, post("r7", &coh.to_string())).await;
    a.assert_problem(422, "unknown_cohort");

    // An institution that is not in the reference data.
    let unknown_brin = brin_unknown();
    let tok_u = token(&t.app, &unknown_brin).await;
    let a = submit(&t.app, &tok_u, &unknown_brin, "u1", id, BSN).await;
    a.assert_problem(422, "institution_not_participating");

    let big = format!(
        r#"{{"aanmelding_id":"{id}","student":{{"bsn":"{BSN}"}},"opleiding":"{}","cohort":"{}"}}"#,
        knooppunt_sample::SOFTWARE_DEVELOPER,
        "x".repeat(4096)
    );
    let a = send(&t.app, post("r8", &big)).await;
    a.assert_problem(413, "body_too_large");

    let mut no_token = post("r9", &aanmelding_body(id, BSN));
    no_token.headers_mut().remove("authorization");
    send(&t.app, no_token)
        .await
        .assert_problem(401, "missing_token");

    let bad = authed(
        "POST",
        "/api/v1/aanmeldingen",
        "abc.def",
        &brin,
        Some("r10"),
        Some(&aanmelding_body(id, BSN)),
    );
    send(&t.app, bad).await.assert_problem(401, "invalid_token");

    let forged = format!("{}x", &tok[..tok.len() - 1]);
    let bad = authed(
        "POST",
        "/api/v1/aanmeldingen",
        &forged,
        &brin,
        Some("r10b"),
        Some(&aanmelding_body(id, BSN)),
    );
    send(&t.app, bad).await.assert_problem(401, "invalid_token");

    let (expired, _) = t.state.tokens.issue_at(
        &brin.oin(),
        &brin,
        chrono::Utc::now() - chrono::Duration::seconds(3600),
    );
    let a = submit(&t.app, &expired, &brin, "r11", id, BSN).await;
    a.assert_problem(401, "invalid_token");
    assert!(a.body["detail"].as_str().unwrap_or("").contains("expired"));

    // The token of 25LX presented with the certificate of 27DV.
    let mut mismatch = post("r12", &aanmelding_body(id, BSN));
    mismatch.extensions_mut().insert(peer(&brin_b().oin()));
    send(&t.app, mismatch)
        .await
        .assert_problem(403, "certificate_oin_mismatch");
    let mut no_cert = post("r13", &aanmelding_body(id, BSN));
    no_cert
        .extensions_mut()
        .remove::<knooppunt_api::tls::PeerIdentity>();
    send(&t.app, no_cert)
        .await
        .assert_problem(401, "client_certificate_required");

    let no_key = authed(
        "POST",
        "/api/v1/aanmeldingen",
        &tok,
        &brin,
        None,
        Some(&aanmelding_body(id, BSN)),
    );
    let a = send(&t.app, no_key).await;
    a.assert_problem(400, "idempotency_key_missing");
    let long = "k".repeat(256);
    send(&t.app, post(&long, &aanmelding_body(id, BSN)))
        .await
        .assert_problem(400, "idempotency_key_invalid");

    let mut text = post("r14", &aanmelding_body(id, BSN));
    text.headers_mut()
        .insert("content-type", "text/plain".parse().expect("header"));
    send(&t.app, text)
        .await
        .assert_problem(415, "unsupported_media_type");

    nothing_stored(&t).await;

    // A request refused by validation is not recorded: its key may be used again once the
    // request is fixed.
    let a = send(&t.app, post("r5", &aanmelding_body(id, BSN))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

#[tokio::test]
async fn the_same_key_and_body_has_one_effect_and_the_same_answer() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let body = aanmelding_body(id, BSN);
    let first = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("same"),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.headers.contains_key(IDEMPOTENT_REPLAYED));
    let again = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("same"),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("location"), first.headers.get("location"));
    assert_eq!(
        again
            .headers
            .get(IDEMPOTENT_REPLAYED)
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let person = PersonId::Bsn(BSN.parse().expect("bsn"));
    let key = t
        .store
        .find_dossier(&person)
        .await
        .expect("store")
        .expect("dossier");
    assert_eq!(
        t.store.history(key).await.expect("history").len(),
        2,
        "one effect"
    );

    // Same key, different body.
    let other = aanmelding_body(Uuid::new_v4(), BSN);
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("same"),
            Some(&other),
        ),
    )
    .await;
    a.assert_problem(422, "idempotency_key_reused");
    assert_eq!(t.store.history(key).await.expect("history").len(), 2);

    // A new key for the same aanmelding id: the registry refuses the duplicate.
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("new"),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    // A refusal by the registry is recorded: the same request again gets the same problem.
    let replay = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("new"),
            Some(&body),
        ),
    )
    .await;
    replay.assert_problem(409, a.code());
    assert_eq!(
        replay
            .headers
            .get(IDEMPOTENT_REPLAYED)
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert!(replay.body["instance"].is_string());
    assert_ne!(
        replay.body["instance"], a.body["instance"],
        "instance names this request"
    );
    assert_eq!(t.store.history(key).await.expect("history").len(), 2);

    // A request with a key that is being handled right now.
    let oin = brin.oin();
    let busy_body = aanmelding_body(Uuid::new_v4(), BSN2);
    let hash = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"POST\n/api/v1/aanmeldingen\n");
        h.update(busy_body.as_bytes());
        hex::encode(h.finalize())
    };
    t.api_store
        .begin_idempotent(
            oin.as_str(),
            "busy",
            &hash,
            t.state.instance,
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("begin");
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("busy"),
            Some(&busy_body),
        ),
    )
    .await;
    a.assert_problem(409, "request_in_progress");
}

#[tokio::test]
async fn a_crash_between_registry_and_record_still_has_one_effect() {
    // The registry executed the commands of key "crash" but the API never wrote its record
    // (simulated: the record is abandoned). The retry derives the same command ids.
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let body = aanmelding_body(Uuid::new_v4(), BSN);
    let first = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("crash"),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    // Forget the record as if it had never been written.
    let fresh = std::sync::Arc::new(knooppunt_api::MemoryApiStore::new());
    let mut state = t.state.clone();
    state.api_store = fresh;
    let app = knooppunt_api::router(state);
    let again = send(
        &app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("crash"),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.body, first.body);
    let person = PersonId::Bsn(BSN.parse().expect("bsn"));
    let key: DossierKey = t
        .store
        .find_dossier(&person)
        .await
        .expect("store")
        .expect("dossier");
    assert_eq!(
        t.store.history(key).await.expect("history").len(),
        2,
        "one effect"
    );
}

#[tokio::test]
async fn openapi_lists_every_route_and_docs_are_served() {
    let t = test_api();
    let a = send(
        &t.app,
        Request::get("/openapi.json")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let paths = a.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/oauth2/token", "post"),
        ("/api/v1/aanmeldingen", "post"),
        ("/api/v1/aanmeldingen", "get"),
        ("/api/v1/aanmeldingen/{id}", "get"),
        ("/api/v1/aanmeldingen/{id}/status", "post"),
        ("/api/v1/feed", "get"),
        ("/api/v1/webhook", "put"),
        ("/api/v1/webhook", "get"),
        ("/api/v1/webhook", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path}"
        );
    }
    assert!(a.body["components"]["securitySchemes"]["bearer"].is_object());
    assert!(a.body["components"]["schemas"]["Problem"].is_object());
    let docs = send(
        &t.app,
        Request::get("/docs").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(
        docs.content_type().starts_with("text/html"),
        "{}",
        docs.content_type()
    );
    // Every operation of the document is on the page, and nothing comes from elsewhere.
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            let m = method.to_uppercase();
            if ["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&m.as_str()) {
                assert!(
                    docs.text
                        .contains(&format!("<span class=\"m\">{m}</span><code>{path}</code>")),
                    "{m} {path} missing from /docs"
                );
            }
        }
    }
    assert!(!docs.text.contains("<script"), "no script on /docs");
    assert!(!docs.text.contains("https://") && !docs.text.contains("http://"));
    let csp = docs
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}

#[derive(Debug)]
struct NotReady;

#[async_trait::async_trait]
impl Readiness for NotReady {
    async fn ready(&self) -> Result<(), String> {
        Err("database unreachable".into())
    }
}

#[derive(Debug)]
struct Panics;

#[async_trait::async_trait]
impl Readiness for Panics {
    async fn ready(&self) -> Result<(), String> {
        panic!("boom in readiness")
    }
}

#[tokio::test]
async fn ops_endpoints_unknown_routes_and_request_ids() {
    let t = test_api();
    let a = send(
        &t.app,
        Request::get("/healthz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = send(
        &t.app,
        Request::get("/readyz").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);

    let a = send(
        &t.app,
        Request::get("/nope")
            .header("x-request-id", "req-123")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    a.assert_problem(404, "not_found");
    assert_eq!(a.body["instance"], "req-123");
    assert_eq!(
        a.headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("req-123")
    );

    let a = send(
        &t.app,
        Request::delete("/healthz")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    a.assert_problem(405, "method_not_allowed");
    assert!(
        a.headers.contains_key("x-request-id"),
        "generated request id"
    );
    assert_eq!(
        a.body["instance"].as_str(),
        a.headers.get("x-request-id").and_then(|v| v.to_str().ok())
    );

    let m = send(
        &t.app,
        Request::get("/metrics").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.text.contains("knooppunt_api_requests_total"),
        "{}",
        m.text
    );
    assert!(m.text.trim_end().ends_with("# EOF"));
    assert_eq!(m.text.matches("# EOF").count(), 1);

    let nr = test_api_with(|s| s.readiness = std::sync::Arc::new(NotReady));
    let a = send(
        &nr.app,
        Request::get("/readyz").body(Body::empty()).expect("req"),
    )
    .await;
    a.assert_problem(503, "not_ready");

    let p = test_api_with(|s| s.readiness = std::sync::Arc::new(Panics));
    let a = send(
        &p.app,
        Request::get("/readyz").body(Body::empty()).expect("req"),
    )
    .await;
    a.assert_problem(500, "internal_error");
    assert!(!a.text.contains("boom"), "no internals: {}", a.text);
}

#[tokio::test]
async fn without_required_certificates_plain_tokens_suffice() {
    let t = test_api_with(|s| s.require_client_cert = false);
    let brin = brin_a();
    let oin = brin.oin();
    let a = send(&t.app, token_request(oin.as_str(), SECRET, None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let tok = a.body["access_token"].as_str().expect("token");
    let mut req = authed("GET", "/api/v1/aanmeldingen", tok, &brin, None, None);
    req.extensions_mut()
        .remove::<knooppunt_api::tls::PeerIdentity>();
    assert_eq!(send(&t.app, req).await.status, StatusCode::OK);
}

#[derive(Debug)]
struct Slow;

#[async_trait::async_trait]
impl Readiness for Slow {
    async fn ready(&self) -> Result<(), String> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_408_problem() {
    let t = test_api_with(|s| {
        s.readiness = std::sync::Arc::new(Slow);
        s.limits.request_timeout = std::time::Duration::from_millis(20);
    });
    let a = send(
        &t.app,
        Request::get("/readyz").body(Body::empty()).expect("req"),
    )
    .await;
    a.assert_problem(408, "request_timeout");
}

#[tokio::test]
async fn a_replay_gets_its_answer_even_after_the_aanmeldperiode_closed() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let body = aanmelding_body(Uuid::new_v4(), BSN);
    let post = || {
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("late"),
            Some(&body),
        )
    };
    let first = send(&t.app, post()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    // The aanmeldperiode of every cohort has closed (yesterday, as far as the node knows).
    let mut closed = (*t.state.reference).clone();
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    for o in closed.opleidingen.values_mut() {
        for c in &mut o.cohorts {
            c.begin_aanmeldperiode = yesterday - chrono::Days::new(30);
            c.einde_aanmeldperiode = yesterday;
        }
    }
    let mut state = t.state.clone();
    state.reference = std::sync::Arc::new(closed);
    let app = knooppunt_api::router(state);
    // The same request again: its stored answer, not a refusal of the check.
    let again = send(&app, post()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.body, first.body);
    assert_eq!(
        again
            .headers
            .get(IDEMPOTENT_REPLAYED)
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    // A new request is refused by the check, and the refusal is not recorded under its key.
    let other = Uuid::new_v4();
    let refused = send(
        &app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("new"),
            Some(&aanmelding_body(other, BSN2)),
        ),
    )
    .await;
    refused.assert_problem(422, "aanmeldperiode_gesloten");
    let reopened = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("new"),
            Some(&aanmelding_body(other, BSN2)),
        ),
    )
    .await;
    assert_eq!(reopened.status, StatusCode::CREATED, "{}", reopened.text);
}
