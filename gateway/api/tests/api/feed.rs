//! The feed: `FeedAdapter` projecting registry events (idempotently, per institution), the
//! `GET /feed` cursor and long-poll, and the webhook dispatcher (signature, retries, cursor).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;
use axum::http::StatusCode;
use knooppunt_adapters::{Adapter, Mode, Outcome};
use knooppunt_api::webhook::{
    DELIVERY_HEADER, SIGNATURE_HEADER, WebhookBatch, WebhookConfig, WebhookDispatcher,
    verify_signature,
};
use knooppunt_api::{ApiStore, FeedAdapter};
use knooppunt_registry::domain::{AanmeldStatus, AanmeldingId, Event};
use knooppunt_registry::envelope::{DossierKey, EventMeta, REGISTRY_SOURCE};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::store::{EventEnvelope, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Submits an aanmelding and moves it to `aangemeld`; returns its id and the dossier key.
async fn aanmelding_with_two_changes(t: &TestApi, tok: &str) -> (Uuid, DossierKey) {
    let brin = brin_a();
    let id = Uuid::new_v4();
    let a = submit(&t.app, tok, &brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = change_status(&t.app, tok, &brin, "k2", id, "aangemeld").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let person = PersonId::Bsn(BSN.parse().expect("bsn"));
    let key = t
        .store
        .find_dossier(&person)
        .await
        .expect("store")
        .expect("dossier");
    (id, key)
}

fn afgewezen(key: DossierKey, id: Uuid, sequence: u64) -> EventEnvelope {
    let data = Event::AanmeldingStatusAfgewezen {
        aanmelding: AanmeldingId(id),
        instelling: brin_a(),
        status: AanmeldStatus::Aangemeld,
        partner: knooppunt_registry::partner::Partner::Intergrip,
        reden: "status_onbekend".into(),
    };
    let event_id = Uuid::now_v7();
    EventEnvelope {
        meta: EventMeta {
            id: event_id,
            kind: data.type_name().to_owned(),
            time: chrono::Utc::now(),
            source: REGISTRY_SOURCE.into(),
            subject: key,
            institution: data.institution(),
            correlation_id: event_id,
            causation_id: event_id,
            sequence,
        },
        data,
    }
}

#[tokio::test]
async fn feed_adapter_projects_aanmelding_events_in_order_and_idempotently() {
    let t = test_api();
    let tok = token(&t.app, &brin_a()).await;
    let (id, key) = aanmelding_with_two_changes(&t, &tok).await;
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        t.state.reference.clone(),
    );
    assert_eq!(adapter.name(), "feed");
    assert_eq!(
        adapter.topics(),
        [
            "nl.knooppunt.aanmelding.#",
            "nl.knooppunt.onderwijsovereenkomst.#",
            "nl.knooppunt.praktijkovereenkomst.#",
            "nl.knooppunt.ondertekening.#",
            "nl.knooppunt.keuzedeel.#",
            "nl.knooppunt.examenresultaat.#",
            "nl.knooppunt.diploma.#",
            "nl.knooppunt.duo_terugkoppeling.#",
        ]
    );
    let mut history = t.store.history(key).await.expect("history");
    history.push(afgewezen(key, id, 4));
    let mut outcomes = Vec::new();
    // Every event delivered twice (at-least-once bus): one item each.
    for e in history.iter().chain(history.iter()) {
        outcomes.push(adapter.deliver(e, Mode::Live).await.label());
    }
    // dossier opened → skip; three aanmelding events → delivered.
    assert_eq!(
        outcomes[..4],
        ["skipped", "delivered", "delivered", "delivered"]
    );

    let feed = send(
        &t.app,
        authed("GET", "/api/v1/feed", &tok, &brin_a(), None, None),
    )
    .await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    let items = feed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{}", feed.text);
    let numbers: Vec<_> = items
        .iter()
        .map(|i| i["wijzigingsvolgnummer"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(items[0]["type"], "nl.knooppunt.aanmelding.ingediend.v1");
    assert_eq!(items[0]["status"], "ontvangen");
    assert_eq!(
        items[1]["type"],
        "nl.knooppunt.aanmelding.status_gewijzigd.v1"
    );
    assert_eq!(items[1]["status"], "aangemeld");
    assert_eq!(
        items[2]["type"],
        "nl.knooppunt.aanmelding.status_afgewezen.v1"
    );
    assert_eq!(items[2]["partner"], "intergrip");
    assert_eq!(items[2]["reden"], "status_onbekend");
    assert!(items.iter().all(|i| i["aanmelding_id"] == id.to_string()));
    assert_eq!(feed.body["volgende"], 3);
    assert!(!feed.text.contains(BSN));

    // The cursor: after 1 come 2 and 3; after 3 nothing, and volgende stays.
    let after = send(
        &t.app,
        authed(
            "GET",
            "/api/v1/feed?vanaf=1&limit=1",
            &tok,
            &brin_a(),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(after.body["items"][0]["wijzigingsvolgnummer"], 2);
    assert_eq!(after.body["volgende"], 2);
    let end = send(
        &t.app,
        authed("GET", "/api/v1/feed?vanaf=3", &tok, &brin_a(), None, None),
    )
    .await;
    assert_eq!(end.body["items"], serde_json::json!([]));
    assert_eq!(end.body["volgende"], 3);

    // Another institution's feed is its own (empty).
    let tok_b = token(&t.app, &brin_b()).await;
    let other = send(
        &t.app,
        authed("GET", "/api/v1/feed", &tok_b, &brin_b(), None, None),
    )
    .await;
    assert_eq!(other.body["items"], serde_json::json!([]));

    // Bad query values are 400 problems.
    for q in ["vanaf=abc", "limit=0", "wacht=31", "vanaf=-1"] {
        let a = send(
            &t.app,
            authed(
                "GET",
                &format!("/api/v1/feed?{q}"),
                &tok,
                &brin_a(),
                None,
                None,
            ),
        )
        .await;
        a.assert_problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn feed_adapter_skips_events_of_unknown_institutions() {
    let t = test_api();
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        t.state.reference.clone(),
    );
    let mut e = afgewezen(DossierKey::new(), Uuid::new_v4(), 1);
    if let Event::AanmeldingStatusAfgewezen { instelling, .. } = &mut e.data {
        *instelling = brin_unknown();
    }
    assert_eq!(adapter.deliver(&e, Mode::Live).await, Outcome::Skip);
}

#[tokio::test]
async fn feed_long_poll_returns_when_an_item_arrives() {
    let t = test_api_with(|s| s.limits.feed_poll_interval = Duration::from_millis(10));
    let tok = token(&t.app, &brin_a()).await;
    let req = authed("GET", "/api/v1/feed?wacht=30", &tok, &brin_a(), None, None);
    let app = t.app.clone();
    let waiting = tokio::spawn(async move { send(&app, req).await });
    let api_store = t.api_store.clone();
    let item = knooppunt_api::store::NewFeedItem {
        event_id: Uuid::new_v4(),
        kind: "nl.knooppunt.aanmelding.ingediend.v1".into(),
        tijd: chrono::Utc::now(),
        aanmelding_id: Some(Uuid::new_v4()),
        status: Some("ontvangen".into()),
        ..Default::default()
    };
    api_store.append_feed("25LX", &item).await.expect("append");
    let a = waiting.await.expect("join");
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body["items"][0]["aanmelding_id"],
        item.aanmelding_id.expect("aanmelding").to_string()
    );
}

#[tokio::test]
async fn a_client_has_at_most_its_long_polls_running_at_once() {
    let t = test_api_with(|s| {
        s.limits.feed_poll_interval = Duration::from_millis(10);
        s.long_polls = Arc::new(knooppunt_api::limiter::LongPolls::new(1));
    });
    let tok = token(&t.app, &brin_a()).await;
    let poll = |wacht: u64| {
        authed(
            "GET",
            &format!("/api/v1/feed?wacht={wacht}"),
            &tok,
            &brin_a(),
            None,
            None,
        )
    };
    let app = t.app.clone();
    let first = poll(30);
    let waiting = tokio::spawn(async move { send(&app, first).await });
    // The test runtime has one thread: the first poll takes its slot while this task sleeps.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "the first long-poll waits for an item"
    );
    let refused = send(&t.app, poll(1)).await;
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.headers["retry-after"], "1");
    // A poll without wacht is never limited, and another client has its own slots.
    assert_eq!(send(&t.app, poll(0)).await.status, StatusCode::OK);
    let other = token(&t.app, &brin_b()).await;
    let req = authed("GET", "/api/v1/feed?wacht=0", &other, &brin_b(), None, None);
    assert_eq!(send(&t.app, req).await.status, StatusCode::OK);
    // When the first returns, its slot is free again.
    let item = knooppunt_api::store::NewFeedItem {
        event_id: Uuid::new_v4(),
        kind: "nl.knooppunt.aanmelding.ingediend.v1".into(),
        tijd: chrono::Utc::now(),
        aanmelding_id: Some(Uuid::new_v4()),
        status: Some("ontvangen".into()),
        ..Default::default()
    };
    t.api_store
        .append_feed("25LX", &item)
        .await
        .expect("append");
    assert_eq!(waiting.await.expect("join").status, StatusCode::OK);
    assert_eq!(send(&t.app, poll(1)).await.status, StatusCode::OK);
}

#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<(bool, WebhookBatch, String)>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let sig = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let delivery = headers
        .get(DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let ok = verify_signature(
        "webhook-secret-123456",
        sig,
        &body,
        chrono::Utc::now().timestamp(),
        300,
    );
    let batch: WebhookBatch = serde_json::from_slice(&body).expect("batch json");
    r.calls.lock().expect("lock").push((ok, batch, delivery));
    let mut fail = r.fail_first.lock().expect("lock");
    if *fail > 0 {
        *fail -= 1;
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    }
}

#[tokio::test]
async fn webhooks_are_signed_retried_until_2xx_and_advance_the_cursor() {
    let t = test_api();
    let tok = token(&t.app, &brin_a()).await;
    let receiver = Receiver::default();
    *receiver.fail_first.lock().expect("lock") = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // Registration: https only, except to loopback.
    let bad = send(
        &t.app,
        authed(
            "PUT",
            "/api/v1/webhook",
            &tok,
            &brin_a(),
            None,
            Some(r#"{"url":"http://sis.example/hook","secret":"webhook-secret-123456"}"#),
        ),
    )
    .await;
    bad.assert_problem(422, "invalid_field");
    assert_eq!(bad.body["field"], "url");
    let short = send(
        &t.app,
        authed(
            "PUT",
            "/api/v1/webhook",
            &tok,
            &brin_a(),
            None,
            Some(r#"{"url":"https://sis.example/hook","secret":"short"}"#),
        ),
    )
    .await;
    assert_eq!(short.body["field"], "secret");
    let put = send(
        &t.app,
        authed(
            "PUT",
            "/api/v1/webhook",
            &tok,
            &brin_a(),
            None,
            Some(&format!(
                r#"{{"url":"http://{addr}/hook","secret":"webhook-secret-123456"}}"#
            )),
        ),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.body["cursor"], 0);
    let got = send(
        &t.app,
        authed("GET", "/api/v1/webhook", &tok, &brin_a(), None, None),
    )
    .await;
    assert_eq!(got.body["url"], format!("http://{addr}/hook"));
    assert!(got.body.get("secret").is_none(), "the secret is not shown");

    // Two feed items.
    let (_id, key) = aanmelding_with_two_changes(&t, &tok).await;
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        t.state.reference.clone(),
    );
    for e in t.store.history(key).await.expect("history") {
        adapter.deliver(&e, Mode::Live).await;
    }

    let dispatcher = WebhookDispatcher::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        WebhookConfig {
            poll_interval: Duration::from_millis(20),
            batch_size: 10,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retries: 5,
            request_timeout: Duration::from_secs(5),
            targets: knooppunt_api::webhook::WebhookTargets::default(),
            lease_ttl: Duration::from_secs(30),
        },
    )
    .expect("dispatcher");
    let cancel = CancellationToken::new();
    let run = tokio::spawn(dispatcher.run(cancel.clone()));
    // Wait (bounded) until the cursor moved.
    let mut cursor = 0;
    for _ in 0..500 {
        cursor = t
            .api_store
            .webhook("25LX")
            .await
            .expect("store")
            .map_or(0, |w| w.cursor);
        if cursor == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    run.await.expect("dispatcher ends");
    server.abort();
    assert_eq!(cursor, 2, "cursor advanced after the 2xx");

    let calls = receiver.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 3, "two failures, then success");
    assert!(
        calls.iter().all(|(ok, _, _)| *ok),
        "every signature verifies"
    );
    for (_, batch, _) in &calls {
        let numbers: Vec<_> = batch.items.iter().map(|i| i.wijzigingsvolgnummer).collect();
        assert_eq!(numbers, [1, 2]);
        assert_eq!(batch.volgende, 2);
    }
    let deliveries: std::collections::BTreeSet<_> =
        calls.iter().map(|(_, _, d)| d.clone()).collect();
    assert!(deliveries.iter().all(|d| Uuid::parse_str(d).is_ok()));

    // A tampered body or a wrong secret does not verify.
    let body = br#"{"items":[],"volgende":0}"#;
    let now = chrono::Utc::now().timestamp();
    let sig = knooppunt_api::webhook::sign("webhook-secret-123456", now, body);
    assert!(verify_signature(
        "webhook-secret-123456",
        &sig,
        body,
        now,
        300
    ));
    assert!(!verify_signature(
        "webhook-secret-123456",
        &sig,
        b"{}",
        now,
        300
    ));
    assert!(!verify_signature(
        "other-secret-1234567",
        &sig,
        body,
        now,
        300
    ));
    assert!(!verify_signature(
        "webhook-secret-123456",
        &sig,
        body,
        now + 600,
        300
    ));

    let del = send(
        &t.app,
        authed("DELETE", "/api/v1/webhook", &tok, &brin_a(), None, None),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = send(
        &t.app,
        authed("GET", "/api/v1/webhook", &tok, &brin_a(), None, None),
    )
    .await;
    gone.assert_problem(404, "not_found");
}

async fn always_fails() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

#[tokio::test]
async fn a_failing_receiver_does_not_hold_up_other_institutions() {
    let t = test_api();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/good", axum::routing::post(receive))
        .route("/bad", axum::routing::post(always_fails))
        .with_state(receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let s = t.api_store.clone();
    s.put_webhook(
        "25LX",
        &format!("http://{addr}/bad"),
        "webhook-secret-123456",
    )
    .await
    .expect("put");
    s.put_webhook(
        "27DV",
        &format!("http://{addr}/good"),
        "webhook-secret-123456",
    )
    .await
    .expect("put");
    for brin in ["25LX", "27DV"] {
        let item = knooppunt_api::store::NewFeedItem {
            event_id: Uuid::new_v4(),
            kind: "nl.knooppunt.aanmelding.ingediend.v1".into(),
            tijd: chrono::Utc::now(),
            aanmelding_id: Some(Uuid::new_v4()),
            status: Some("ontvangen".into()),
            ..Default::default()
        };
        s.append_feed(brin, &item).await.expect("append");
    }
    let dispatcher = WebhookDispatcher::new(
        s.clone() as Arc<dyn ApiStore>,
        WebhookConfig {
            poll_interval: Duration::from_millis(20),
            batch_size: 10,
            // The failing institution keeps retrying for a long time.
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            max_retries: 1000,
            request_timeout: Duration::from_secs(5),
            targets: knooppunt_api::webhook::WebhookTargets::default(),
            lease_ttl: Duration::from_secs(30),
        },
    )
    .expect("dispatcher");
    let cancel = CancellationToken::new();
    let run = tokio::spawn(dispatcher.run(cancel.clone()));
    let mut good = 0;
    for _ in 0..500 {
        good = s
            .webhook("27DV")
            .await
            .expect("store")
            .map_or(0, |w| w.cursor);
        if good == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    run.await.expect("dispatcher ends");
    server.abort();
    assert_eq!(good, 1, "the healthy receiver got its item");
    let bad = s
        .webhook("25LX")
        .await
        .expect("store")
        .map_or(-1, |w| w.cursor);
    assert_eq!(bad, 0, "the failing receiver's cursor did not move");
}

#[test]
fn webhook_urls_and_secrets_are_checked() {
    use knooppunt_api::webhook::{WebhookTargets, validate_webhook};
    let secret = "webhook-secret-123456";
    // The sandbox's targets: public hosts and loopback.
    let sandbox = WebhookTargets::default();
    for ok in [
        "https://sis.example.nl/hook",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/hook",
    ] {
        assert!(validate_webhook(ok, secret, &sandbox).is_ok(), "{ok}");
    }
    // Production's without an allowlist: no loopback either.
    let production = WebhookTargets::public_only();
    assert!(validate_webhook("https://sis.example.nl/hook", secret, &production).is_ok());
    for bad in [
        "http://127.0.0.1:9000/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
    ] {
        assert!(validate_webhook(bad, secret, &production).is_err(), "{bad}");
    }
    // An allowlisted internal host.
    let allow = WebhookTargets::allowing(["10.1.2.3"]);
    assert!(validate_webhook("https://10.1.2.3/hook", secret, &allow).is_ok());
    for bad in [
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://100.64.1.1/hook",
        "https://[fd00::1]/hook",
        "http://sis.example.nl/hook",
        "ftp://sis.example.nl/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/",
        "https://[fe80::1]/",
        "https://user:pw@sis.example.nl/",
        "not a url",
    ] {
        assert!(validate_webhook(bad, secret, &sandbox).is_err(), "{bad}");
    }
    assert!(validate_webhook("https://sis.example.nl/hook", "short", &sandbox).is_err());
}

#[tokio::test]
async fn a_webhook_host_that_resolves_inside_is_refused_at_registration() {
    // Production's targets: public hosts only. `localhost` resolves to loopback offline.
    let t = test_api_with(|s| {
        s.webhook_targets = knooppunt_api::webhook::WebhookTargets::public_only();
    });
    let tok = token(&t.app, &brin_a()).await;
    for url in ["https://localhost:8443/hook", "https://10.0.0.1/hook"] {
        let a = send(
            &t.app,
            authed(
                "PUT",
                "/api/v1/webhook",
                &tok,
                &brin_a(),
                None,
                Some(&format!(
                    r#"{{"url":"{url}","secret":"webhook-secret-123456"}}"#
                )),
            ),
        )
        .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], "url", "{url}");
    }
    assert!(t.api_store.webhooks().await.unwrap().is_empty());
}

fn envelope(key: DossierKey, data: Event) -> EventEnvelope {
    let event_id = Uuid::now_v7();
    EventEnvelope {
        meta: EventMeta {
            id: event_id,
            kind: data.type_name().to_owned(),
            time: chrono::Utc::now(),
            source: REGISTRY_SOURCE.into(),
            subject: key,
            institution: data.institution(),
            correlation_id: event_id,
            causation_id: event_id,
            sequence: 1,
        },
        data,
    }
}

#[test]
fn agreement_signing_and_sbb_events_become_feed_items_with_ids_and_statuses_only() {
    use knooppunt_api::feed::feed_item;
    use knooppunt_registry::domain::{
        BpvId, BpvOndertekenaar, Handtekening, Ondertekenwijze, OokId, SbbCheck, SigningStatus,
        SigningSubject, SigningTransaction,
    };
    let key = DossierKey::new();
    let (ook, bpv) = (OokId(Uuid::new_v4()), BpvId(Uuid::new_v4()));
    let date = chrono::NaiveDate::from_ymd_opt(2027, 9, 1).expect("date");
    let cases = [
        (
            Event::SbbCheckVastgelegd {
                bpv,
                instelling: brin_a(),
                uitkomst: SbbCheck::NietErkend {
                    reason: "geen_erkenning_voor_crebo".into(),
                },
            },
            (
                None,
                Some(bpv.0),
                Some("niet_erkend"),
                None,
                Some("sbb"),
                Some("geen_erkenning_voor_crebo"),
            ),
        ),
        (
            Event::ErkenningIngetrokken {
                bpv,
                instelling: brin_a(),
                leerbedrijf: "100000001".parse().expect("leerbedrijf"),
                datum: date,
            },
            (
                None,
                Some(bpv.0),
                Some("ingetrokken"),
                None,
                Some("sbb"),
                None,
            ),
        ),
        (
            Event::PraktijkovereenkomstGetekend {
                bpv,
                instelling: brin_a(),
                ondertekenaar: BpvOndertekenaar::Leerbedrijf,
                handtekening: Handtekening {
                    datum: date,
                    wijze: Ondertekenwijze::Papier,
                },
            },
            (None, Some(bpv.0), None, Some("leerbedrijf"), None, None),
        ),
        (
            Event::OndertekenstatusVastgelegd {
                transactie: SigningTransaction {
                    transactie: "tx-1".into(),
                    subject: SigningSubject::Ook(ook),
                    instelling: brin_a(),
                    status: SigningStatus::Rejected,
                    bijgewerkt_op: chrono::Utc::now(),
                },
            },
            (
                Some(ook.0),
                None,
                Some("rejected"),
                None,
                Some("signing"),
                None,
            ),
        ),
        (
            Event::OnderwijsovereenkomstVervallen {
                ook,
                instelling: brin_a(),
            },
            (Some(ook.0), None, Some("vervallen"), None, None, None),
        ),
    ];
    for (data, (ook_id, bpv_id, status, ondertekenaar, partner, reden)) in cases {
        let kind = data.type_name();
        let (brin, item) = feed_item(&envelope(key, data)).expect("a feed item");
        assert_eq!(brin, "25LX", "{kind}");
        assert_eq!(item.kind, kind);
        assert_eq!(
            (
                item.ook_id,
                item.bpv_id,
                item.status.as_deref(),
                item.ondertekenaar.as_deref(),
                item.partner.as_deref(),
                item.reden.as_deref(),
            ),
            (ook_id, bpv_id, status, ondertekenaar, partner, reden),
            "{kind}"
        );
        assert_eq!(item.aanmelding_id, None, "{kind}");
    }
}

/// Two nodes' dispatchers on one store: every item reaches the receiver once, and when the
/// node holding the lease stops, the other one carries on from the cursor.
async fn two_dispatchers_post_each_item_once(s: Arc<dyn ApiStore>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let brin = "40LE".to_owned();
    s.put_webhook(
        &brin,
        &format!("http://{addr}/hook"),
        "webhook-secret-123456",
    )
    .await
    .expect("put");
    let config = WebhookConfig {
        poll_interval: Duration::from_millis(10),
        batch_size: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retries: 5,
        request_timeout: Duration::from_secs(5),
        targets: knooppunt_api::webhook::WebhookTargets::default(),
        lease_ttl: Duration::from_millis(600),
    };
    let node = |cancel: &CancellationToken| {
        let d = WebhookDispatcher::new(s.clone(), config.clone()).expect("dispatcher");
        tokio::spawn(d.run(cancel.clone()))
    };
    let (cancel_a, cancel_b) = (CancellationToken::new(), CancellationToken::new());
    let a = node(&cancel_a);
    let b = node(&cancel_b);
    let append = |n: usize| {
        let s = s.clone();
        let brin = brin.clone();
        async move {
            for _ in 0..n {
                let item = knooppunt_api::store::NewFeedItem {
                    event_id: Uuid::new_v4(),
                    kind: "nl.knooppunt.aanmelding.ingediend.v1".into(),
                    tijd: chrono::Utc::now(),
                    aanmelding_id: Some(Uuid::new_v4()),
                    status: Some("ontvangen".into()),
                    ..Default::default()
                };
                s.append_feed(&brin, &item).await.expect("append");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }
    };
    let cursor_reaches = |to: i64| {
        let s = s.clone();
        let brin = brin.clone();
        async move {
            for _ in 0..1000 {
                let c = s
                    .webhook(&brin)
                    .await
                    .expect("store")
                    .map_or(0, |w| w.cursor);
                if c >= to {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            -1
        }
    };
    append(20).await;
    assert_eq!(cursor_reaches(20).await, 20, "both running: all delivered");
    // One node stops (gives its lease back if it held it); the other carries on.
    cancel_a.cancel();
    a.await.expect("a ends");
    append(10).await;
    assert_eq!(cursor_reaches(30).await, 30, "the other node took over");
    cancel_b.cancel();
    b.await.expect("b ends");
    server.abort();

    let calls = receiver.calls.lock().expect("lock").clone();
    let mut numbers: Vec<i64> = calls
        .iter()
        .inspect(|(ok, _, _)| assert!(*ok, "signed"))
        .flat_map(|(_, batch, _)| batch.items.iter().map(|i| i.wijzigingsvolgnummer))
        .collect();
    let posted = numbers.len();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        numbers,
        (1..=30).collect::<Vec<i64>>(),
        "every item arrived"
    );
    assert_eq!(posted, 30, "and none twice");
}

#[tokio::test]
async fn two_nodes_post_each_webhook_item_once_on_memory() {
    two_dispatchers_post_each_item_once(Arc::new(knooppunt_api::MemoryApiStore::new())).await;
}

#[tokio::test]
async fn two_nodes_post_each_webhook_item_once_on_postgres() -> anyhow::Result<()> {
    let schema = PgSchema::new().await?;
    two_dispatchers_post_each_item_once(Arc::new(knooppunt_api::PgApiStore::new(
        schema.pool.clone(),
    )))
    .await;
    schema.drop().await
}

/// DUO's answer on a delivered mutation reaches the institution's feed with the ids of the item
/// the mutation came from, the outcome and the signals' codes — never their descriptions or
/// parameters; an answer about an event the feed never showed still arrives, without ids.
#[tokio::test]
async fn duo_answers_appear_in_the_feed_with_the_ids_of_what_they_answer() {
    use knooppunt_registry::domain::{
        DuoTerugkoppeling, DuoUitkomst, Handtekening, Ondertekenwijze, OokId, OokOndertekenaar,
        Signaal, SignaalParameter,
    };
    let t = test_api();
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        Arc::new(knooppunt_sample::reference_data()),
    );
    let key = DossierKey::new();
    let ook = OokId(Uuid::new_v4());
    let signed = envelope(
        key,
        Event::OnderwijsovereenkomstGetekend {
            ook,
            instelling: brin_a(),
            ondertekenaar: OokOndertekenaar::Student,
            handtekening: Handtekening {
                datum: chrono::NaiveDate::from_ymd_opt(2027, 8, 20).expect("date"),
                wijze: Ondertekenwijze::Papier,
            },
        },
    );
    assert!(matches!(
        adapter.deliver(&signed, Mode::Live).await,
        Outcome::Delivered { .. }
    ));
    let answer = |mutatie: Uuid, uitkomst: DuoUitkomst| {
        envelope(
            key,
            Event::DuoTerugkoppelingOntvangen {
                terugkoppeling: DuoTerugkoppeling {
                    mutatie,
                    instelling: brin_a(),
                    uitkomst,
                    ontvangen_op: chrono::Utc::now(),
                },
            },
        )
    };
    let signaal = |code: &str| Signaal {
        code: code.into(),
        omschrijving: "Geheime omschrijving".into(),
        parameters: vec![SignaalParameter {
            naam: "Burgerservicenummer".into(),
            waarde: "999990019".into(),
        }],
    };
    for e in [
        answer(
            signed.meta.id,
            DuoUitkomst::Afgekeurd {
                signalen: vec![signaal("B1234"), signaal("B0042")],
            },
        ),
        answer(Uuid::new_v4(), DuoUitkomst::Geaccepteerd),
    ] {
        assert!(matches!(
            adapter.deliver(&e, Mode::Live).await,
            Outcome::Delivered { .. }
        ));
    }
    let items = t.api_store.feed("25LX", 0, 10).await.expect("feed");
    assert_eq!(items.len(), 3);
    let rejected = &items[1].item;
    assert_eq!(
        rejected.kind,
        "nl.knooppunt.duo_terugkoppeling.ontvangen.v1"
    );
    assert_eq!(
        (
            rejected.ook_id,
            rejected.partner.as_deref(),
            rejected.status.as_deref(),
            rejected.reden.as_deref(),
        ),
        (
            Some(ook.0),
            Some("duo"),
            Some("afgekeurd"),
            Some("B1234,B0042")
        )
    );
    let unknown = &items[2].item;
    assert_eq!(
        (
            unknown.ook_id,
            unknown.status.as_deref(),
            unknown.reden.as_deref()
        ),
        (None, Some("geaccepteerd"), None)
    );
    let text = serde_json::to_string(&items).expect("json");
    for secret in ["Geheime", "999990019", "Burgerservicenummer"] {
        assert!(
            !text.contains(secret),
            "{secret} leaked into the feed: {text}"
        );
    }
}
