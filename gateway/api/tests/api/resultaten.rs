//! Results of an onderwijsovereenkomst over the API (level `krd`): keuzedelen (also at a guest
//! institution) with their results, generic and institutional exam results, the diploma that
//! ends the agreement; all shown in the OOK's read (checked and audited) and projected onto
//! the feed (codes, no grades). The level problem, 404 for another institution's or an
//! unknown OOK or keuzedeel, `ook_not_running` for an unsigned one, and the robustness set on
//! every new POST.

use std::sync::Arc;

use crate::onderwijsovereenkomsten::{api, dossier_of, get, post, prepared};
use crate::support::*;
use axum::http::StatusCode;
use chrono::{Days, NaiveDate, Utc};
use knooppunt_adapters::{Adapter, Mode};
use knooppunt_api::{ApiStore, FeedAdapter};
use knooppunt_ops::audit::{AuditEntry, AuditTrail};
use knooppunt_registry::domain::{OokId, OokStatus};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::Brin;
use knooppunt_registry::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

fn days_ago(n: u64) -> NaiveDate {
    Utc::now().date_naive() - Days::new(n)
}

/// An OOK of 25LX that began 300 days ago, offered and (`signed`) signed on paper: (its id,
/// the dossier).
pub(crate) async fn ook_of_25lx(t: &TestApi, tok: &str, signed: bool) -> (Uuid, DossierKey) {
    let brin = brin_a();
    let (aanmelding, sjabloon) = prepared(t, tok).await;
    let ook = Uuid::new_v4();
    let body = json!({
        "ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon},
        "aanbieden": true, "begin": days_ago(300), "gepland_einde": days_ago(300) + Days::new(1000),
    });
    let a = post(
        t,
        tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        &format!("ook-{ook}"),
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    if signed {
        let sign = json!({"wijze": "papier", "ondertekenaars": ["student", "ouder", "instelling"], "datum": days_ago(250)});
        let path = format!("/api/v1/onderwijsovereenkomsten/{ook}/ondertekening");
        let a = post(t, tok, &brin, &path, &format!("sign-{ook}"), &sign).await;
        assert_eq!(a.body["status"], "ondertekend", "{}", a.text);
    }
    (ook, dossier_of(t, aanmelding).await)
}

#[tokio::test]
async fn keuzedelen_results_exams_and_the_diploma_are_recorded_read_and_in_the_feed() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, key) = ook_of_25lx(&t, &tok, true).await;
    let base = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    let kd = format!("{base}/keuzedelen");

    // A keuzedeel of its own, and one at a guest institution (27DV).
    let a = post(&t, &tok, &brin, &kd, "k1", &json!({"code": "K0067"})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.headers["location"], base.as_str());
    assert_eq!(a.body["keuzedelen"], json!([{"code": "K0067"}]));
    let a = post(
        &t,
        &tok,
        &brin,
        &kd,
        "k2",
        &json!({"code": "k0100", "gastinstelling": "27DV"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.body["keuzedelen"][1],
        json!({"code": "K0100", "gastinstelling": "27DV"})
    );
    // The same again under another key: 409; the same request replayed: the first answer.
    post(&t, &tok, &brin, &kd, "k3", &json!({"code": "K0067"}))
        .await
        .assert_problem(409, "keuzedeel_exists");
    let a = post(&t, &tok, &brin, &kd, "k1", &json!({"code": "K0067"})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["keuzedelen"], json!([{"code": "K0067"}]));
    // The guest institution must be another one taking part.
    for (n, g) in ["25LX", "99ZZ", "25-X"].iter().enumerate() {
        let a = post(
            &t,
            &tok,
            &brin,
            &kd,
            &format!("kg{n}"),
            &json!({"code": "K0200", "gastinstelling": g}),
        )
        .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], "gastinstelling", "{}", a.text);
    }
    let a = post(&t, &tok, &brin, &kd, "kc", &json!({"code": "X12"})).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "code");

    // Its result; a result for a keuzedeel not in the agreement is 404; no future date.
    let res = format!("{kd}/K0067/resultaat");
    let a = post(
        &t,
        &tok,
        &brin,
        &res,
        "r1",
        &json!({"uitslag": "behaald", "datum": days_ago(3)}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body["keuzedelen"][0]["resultaat"],
        json!({"uitslag": "behaald", "datum": days_ago(3), "vastgelegd_door": "25LX"})
    );
    // The same result again under another key is no change, and answered as it stands.
    let a = post(
        &t,
        &tok,
        &brin,
        &res,
        "r1b",
        &json!({"uitslag": "behaald", "datum": days_ago(3)}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    post(
        &t,
        &tok,
        &brin,
        &format!("{kd}/K0999/resultaat"),
        "r2",
        &json!({"uitslag": "behaald", "datum": days_ago(3)}),
    )
    .await
    .assert_problem(404, "not_found");
    post(
        &t,
        &tok,
        &brin,
        &format!("{kd}/nope/resultaat"),
        "r3",
        &json!({"uitslag": "behaald", "datum": days_ago(3)}),
    )
    .await
    .assert_problem(404, "not_found");
    let tomorrow = Utc::now().date_naive() + Days::new(1);
    let a = post(
        &t,
        &tok,
        &brin,
        &res,
        "r4",
        &json!({"uitslag": "niet_behaald", "datum": tomorrow}),
    )
    .await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "datum");

    // Exam results: a generic one, an institutional one; the same exam again replaces it.
    let ex = format!("{base}/examenresultaten");
    let a = post(
        &t,
        &tok,
        &brin,
        &ex,
        "e1",
        &json!({"soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "datum": days_ago(10)}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = post(
        &t,
        &tok,
        &brin,
        &ex,
        "e2",
        &json!({"soort": "instelling", "onderdeel": "PVB-1", "cijfer": 8, "datum": days_ago(9)}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = post(&t, &tok, &brin, &ex, "e3", &json!({"soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "cijfer_ce": 6.8, "datum": days_ago(5)})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body["examenresultaten"],
        json!([
            {"soort": "instelling", "onderdeel": "PVB-1", "cijfer": 8.0, "datum": days_ago(9)},
            {"soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "cijfer_ce": 6.8, "datum": days_ago(5)},
        ])
    );
    // Each field of the wrong soort, a missing one, a grade that is not 1.0–10.0 in tenths.
    let bad = [
        (
            json!({"soort": "generiek", "vak": "rekenen", "cijfer": 7, "datum": days_ago(1)}),
            "cijfer",
        ),
        (
            json!({"soort": "generiek", "cijfer_ie": 7, "datum": days_ago(1)}),
            "vak",
        ),
        (
            json!({"soort": "generiek", "vak": "rekenen", "datum": days_ago(1)}),
            "cijfer_ie",
        ),
        (
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": 7.55, "datum": days_ago(1)}),
            "cijfer_ie",
        ),
        (
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ce": 11, "datum": days_ago(1)}),
            "cijfer_ce",
        ),
        (
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ce": 0.5, "datum": days_ago(1)}),
            "cijfer_ce",
        ),
        (
            json!({"soort": "instelling", "onderdeel": "PVB-2", "datum": days_ago(1)}),
            "cijfer",
        ),
        (
            json!({"soort": "instelling", "onderdeel": "", "cijfer": 6, "datum": days_ago(1)}),
            "onderdeel",
        ),
        (
            json!({"soort": "instelling", "onderdeel": "x".repeat(21), "cijfer": 6, "datum": days_ago(1)}),
            "onderdeel",
        ),
        (
            json!({"soort": "instelling", "vak": "engels", "onderdeel": "PVB-2", "cijfer": 6, "datum": days_ago(1)}),
            "vak",
        ),
        (
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": 6, "datum": days_ago(301)}),
            "datum",
        ),
    ];
    for (n, (body, field)) in bad.iter().enumerate() {
        let a = post(&t, &tok, &brin, &ex, &format!("eb{n}"), body).await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], *field, "{body}: {}", a.text);
    }

    // The diploma ends the agreement (reden 01, geslaagd).
    let dip = format!("{base}/diploma");
    let a = post(&t, &tok, &brin, &dip, "d1", &json!({"datum": days_ago(1)})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "beeindigd");
    assert_eq!(a.body["reden_uitschrijving"], "01");
    assert_eq!(a.body["werkelijk_einde"], days_ago(1).to_string());
    assert_eq!(
        a.body["diploma"],
        json!({"crebo": "25998", "datum": days_ago(1)})
    );
    // Replayed: the same answer; another request: the agreement is no longer running.
    let again = post(&t, &tok, &brin, &dip, "d1", &json!({"datum": days_ago(1)})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body, a.body);
    post(&t, &tok, &brin, &dip, "d2", &json!({"datum": days_ago(1)}))
        .await
        .assert_problem(409, "ook_not_running");
    post(&t, &tok, &brin, &kd, "k9", &json!({"code": "K0300"}))
        .await
        .assert_problem(409, "ook_not_running");
    post(
        &t,
        &tok,
        &brin,
        &ex,
        "e9",
        &json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": 6, "datum": days_ago(1)}),
    )
    .await
    .assert_problem(409, "ook_not_running");
    // A keuzedeel result may still follow the end.
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{kd}/K0100/resultaat"),
        "r5",
        &json!({"uitslag": "niet_behaald", "datum": days_ago(1)}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body["keuzedelen"][1]["resultaat"]["uitslag"],
        "niet_behaald"
    );

    // The read shows it all; every part asked is decided and audited.
    let a = get(&t, &tok, &brin, &base).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["keuzedelen"].as_array().map(Vec::len), Some(2));
    assert_eq!(a.body["examenresultaten"].as_array().map(Vec::len), Some(2));
    assert_eq!(a.body["diploma"]["crebo"], "25998");
    let chain = t
        .audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .expect("audit");
    for part in ["keuzedelen", "examenresultaten", "diplomas"] {
        assert!(
            chain.iter().any(|r| r.entry.status.as_deref() == Some(part)
                && r.entry.reason.as_deref() == Some("own_student")),
            "{part}: {chain:?}"
        );
    }
    assert!(!format!("{chain:?}").contains(BSN));

    // The feed: codes and statuses, no grades.
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        t.state.reference.clone(),
    );
    for e in t.store.history(key).await.expect("history") {
        adapter.deliver(&e, Mode::Live).await;
    }
    let feed = get(&t, &tok, &brin, "/api/v1/feed?limit=100").await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    let items: Vec<&Value> = feed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["ook_id"] == ook.to_string())
        .collect();
    let of = |kind: &str| -> Vec<&Value> {
        items
            .iter()
            .copied()
            .filter(|i| i["type"] == kind)
            .collect()
    };
    let reg = of("nl.knooppunt.keuzedeel.geregistreerd.v1");
    assert_eq!(reg.len(), 2, "{}", feed.text);
    assert_eq!(reg[0]["keuzedeel"], "K0067");
    assert_eq!(reg[1]["keuzedeel"], "K0100");
    let res = of("nl.knooppunt.keuzedeel.resultaat_vastgelegd.v1");
    assert_eq!(
        res.iter()
            .map(|i| (i["keuzedeel"].clone(), i["status"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("K0067"), json!("behaald")),
            (json!("K0100"), json!("niet_behaald"))
        ]
    );
    assert_eq!(of("nl.knooppunt.examenresultaat.vastgelegd.v1").len(), 3);
    let d = of("nl.knooppunt.diploma.uitgereikt.v1");
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0]["status"].clone(), d[0]["reden"].clone()),
        (json!("beeindigd"), json!("01"))
    );
    let text = feed.text.to_lowercase();
    for grade in ["7.5", "6.8", "cijfer", "pvb-1"] {
        assert!(
            !text.contains(grade),
            "no grades or exam codes in the feed: {grade}"
        );
    }
}

#[tokio::test]
async fn level_unsigned_and_foreign_agreements_are_refused() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, key) = ook_of_25lx(&t, &tok, false).await;
    let base = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    let bodies = [
        ("keuzedelen", json!({"code": "K0067"})),
        (
            "examenresultaten",
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": 6, "datum": days_ago(1)}),
        ),
        ("diploma", json!({"datum": days_ago(1)})),
    ];
    // Offered, not signed: not running.
    for (n, (path, body)) in bodies.iter().enumerate() {
        post(
            &t,
            &tok,
            &brin,
            &format!("{base}/{path}"),
            &format!("u{n}"),
            body,
        )
        .await
        .assert_problem(409, "ook_not_running");
    }
    post(
        &t,
        &tok,
        &brin,
        &format!("{base}/keuzedelen/K0067/resultaat"),
        "u9",
        &json!({"uitslag": "behaald", "datum": days_ago(1)}),
    )
    .await
    .assert_problem(409, "ook_not_running");
    // Unknown or malformed ids: 404.
    for (n, id) in [Uuid::new_v4().to_string(), "not-a-uuid".into()]
        .iter()
        .enumerate()
    {
        post(
            &t,
            &tok,
            &brin,
            &format!("/api/v1/onderwijsovereenkomsten/{id}/diploma"),
            &format!("x{n}"),
            &json!({"datum": days_ago(1)}),
        )
        .await
        .assert_problem(404, "not_found");
    }
    // 27DV (aanmelden) and 28AB (va): the level problem, naming krd.
    for other in [brin_b(), crate::onderwijsovereenkomsten::kustland()] {
        let tok_o = token(&t.app, &other).await;
        for (n, (path, body)) in bodies.iter().enumerate() {
            let a = post(
                &t,
                &tok_o,
                &other,
                &format!("{base}/{path}"),
                &format!("l{n}"),
                body,
            )
            .await;
            a.assert_problem(403, "participation_level_too_low");
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("level krd"),
                "{}",
                a.text
            );
        }
    }
    // 30GT is at level krd, but it is not its agreement: 404, and nothing is recorded.
    let groenland: Brin = "30GT".parse().expect("brin");
    let t2 = test_api_with(|s| {
        let mut clients = knooppunt_api::ClientRegistry::new();
        clients.insert(groenland.oin(), groenland.clone(), SECRET);
        s.clients = Arc::new(clients);
        s.store = t.state.store.clone();
        s.api_store = t.state.api_store.clone();
    });
    let tok_g = token(&t2.app, &groenland).await;
    for (n, (path, body)) in bodies.iter().enumerate() {
        send(
            &t2.app,
            authed(
                "POST",
                &format!("{base}/{path}"),
                &tok_g,
                &groenland,
                Some(&format!("g{n}")),
                Some(&body.to_string()),
            ),
        )
        .await
        .assert_problem(404, "not_found");
    }
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert!(d.keuzedelen.is_empty() && d.examenresultaten.is_empty() && d.diplomas.is_empty());
    assert_eq!(
        d.onderwijsovereenkomsten[&OokId(ook)].status,
        OokStatus::Aangeboden
    );
    // An unsigned agreement's read does not ask for its results (nothing denied to audit).
    let a = get(&t, &tok, &brin, &base).await;
    assert_eq!(a.body["keuzedelen"], json!([]), "{}", a.text);
    let chain = t
        .audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .expect("audit");
    assert!(
        !chain
            .iter()
            .any(|r| r.entry.status.as_deref() == Some("keuzedelen")),
        "{chain:?}"
    );
}

#[tokio::test]
async fn every_results_post_refuses_malformed_requests_and_stores_nothing() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, key) = ook_of_25lx(&t, &tok, true).await;
    let base = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{base}/keuzedelen"),
        "k0",
        &json!({"code": "K0067"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let endpoints: [(String, Value, Value, &str); 4] = [
        (
            format!("{base}/keuzedelen"),
            json!({"code": "K0068"}),
            json!({"code": 68}),
            "code",
        ),
        (
            format!("{base}/keuzedelen/K0067/resultaat"),
            json!({"uitslag": "behaald", "datum": days_ago(1)}),
            json!({"uitslag": "ja", "datum": days_ago(1)}),
            "uitslag",
        ),
        (
            format!("{base}/examenresultaten"),
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": 6, "datum": days_ago(1)}),
            json!({"soort": "generiek", "vak": "rekenen", "cijfer_ie": "zes", "datum": days_ago(1)}),
            "cijfer_ie",
        ),
        (
            format!("{base}/diploma"),
            json!({"datum": days_ago(1)}),
            json!({"datum": 20270101}),
            "datum",
        ),
    ];
    for (n, (path, valid, wrong, field)) in endpoints.iter().enumerate() {
        let raw = |key: &str, body: &str| {
            let mut r = authed("POST", path, &tok, &brin, Some(key), None);
            r.headers_mut()
                .insert("content-type", "application/json".parse().expect("header"));
            *r.body_mut() = axum::body::Body::from(body.to_owned());
            r
        };
        send(&t.app, raw(&format!("m{n}"), "{]"))
            .await
            .assert_problem(400, "malformed_json");
        let a = post(&t, &tok, &brin, path, &format!("w{n}"), wrong).await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], *field, "{path}: {}", a.text);
        let mut unknown = valid.clone();
        unknown["extra"] = json!(1);
        let a = post(&t, &tok, &brin, path, &format!("u{n}"), &unknown).await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], "extra", "{path}: {}", a.text);
        let mut big = valid.clone();
        big["extra"] = json!("x".repeat(70 * 1024));
        send(&t.app, raw(&format!("b{n}"), &big.to_string()))
            .await
            .assert_problem(413, "body_too_large");
        let mut no_key = raw("", &valid.to_string());
        no_key.headers_mut().remove("idempotency-key");
        send(&t.app, no_key)
            .await
            .assert_problem(400, "idempotency_key_missing");
        let mut no_token = raw(&format!("t{n}"), &valid.to_string());
        no_token.headers_mut().remove("authorization");
        send(&t.app, no_token)
            .await
            .assert_problem(401, "missing_token");
        let mut wrong_cert = raw(&format!("c{n}"), &valid.to_string());
        wrong_cert.extensions_mut().insert(peer(&brin_b().oin()));
        send(&t.app, wrong_cert)
            .await
            .assert_problem(403, "certificate_oin_mismatch");
    }
    // Nothing stored.
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(d.keuzedelen.len(), 1);
    assert!(d.keuzedelen[0].resultaat.is_none());
    assert!(d.examenresultaten.is_empty() && d.diplomas.is_empty());
    assert_eq!(
        d.onderwijsovereenkomsten[&OokId(ook)].status,
        OokStatus::Ondertekend
    );

    // A replayed Idempotency-Key with another body: 422, and the first answer stands.
    let (path, valid, _, _) = &endpoints[1];
    let a = post(&t, &tok, &brin, path, "k-reuse", valid).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    post(
        &t,
        &tok,
        &brin,
        path,
        "k-reuse",
        &json!({"uitslag": "niet_behaald", "datum": days_ago(1)}),
    )
    .await
    .assert_problem(422, "idempotency_key_reused");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    let r = d.keuzedelen[0].resultaat.as_ref().expect("result");
    assert_eq!(serde_json::to_value(r.uitslag).expect("json"), "behaald");
}
