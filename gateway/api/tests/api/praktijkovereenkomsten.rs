//! Praktijkovereenkomsten (BPVO) over the API (level `krd`): registered within a signed OOK,
//! read with SBB's answer (recorded here as SBB's command, as the SBB adapter does), signed on
//! paper only once SBB recognised the leerbedrijf, ended; the level problem below `krd`,
//! another institution's ids 404, and the robustness set on every new POST.

use crate::onderwijsovereenkomsten::{api, dossier_of, get, post, prepared};
use crate::support::*;
use axum::http::StatusCode;
use chrono::NaiveDate;
use knooppunt_api::ApiStore;
use knooppunt_registry::domain::{BpvId, BpvStatus, Command};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

/// A signed (on paper) OOK of 25LX: (its id, its begin, the dossier).
async fn signed_ook(t: &TestApi, tok: &str) -> (Uuid, NaiveDate, DossierKey) {
    let brin = brin_a();
    let (aanmelding, sjabloon) = prepared(t, tok).await;
    let ook = Uuid::new_v4();
    let body = json!({"ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}, "aanbieden": true});
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
    let begin: NaiveDate = a.body["begin"]
        .as_str()
        .expect("begin")
        .parse()
        .expect("date");
    let sign = json!({"wijze": "papier", "ondertekenaars": ["student", "ouder", "instelling"], "datum": yesterday()});
    let a = post(
        t,
        tok,
        &brin,
        &format!("/api/v1/onderwijsovereenkomsten/{ook}/ondertekening"),
        &format!("sign-{ook}"),
        &sign,
    )
    .await;
    assert_eq!(a.body["status"], "ondertekend", "{}", a.text);
    (ook, begin, dossier_of(t, aanmelding).await)
}

fn yesterday() -> String {
    (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string()
}

fn bpv_body(bpv: Uuid, ook: Uuid, begin: NaiveDate, leerbedrijf: &str) -> Value {
    json!({
        "bpv_id": bpv,
        "ook_id": ook,
        "leerbedrijf": leerbedrijf,
        "begin": (begin + chrono::Days::new(150)).to_string(),
        "gepland_einde": (begin + chrono::Days::new(300)).to_string(),
        "omvang_uren": 640,
    })
}

/// SBB's answer, as the SBB adapter records it.
async fn sbb_answers(t: &TestApi, key: DossierKey, bpv: Uuid, erkend: bool) {
    let outcome = t
        .store
        .execute(
            CommandMeta::new(
                key,
                Actor::Partner {
                    partner: Partner::Sbb,
                },
                chrono::Utc::now(),
            ),
            Command::RecordSbbCheck {
                bpv: BpvId(bpv),
                erkend,
                reden: (!erkend).then(|| "geen_erkenning_voor_crebo".to_owned()),
                datum: chrono::Utc::now().date_naive(),
            },
            &t.state.reference,
        )
        .await
        .expect("store");
    outcome.result.expect("recorded");
}

#[tokio::test]
async fn a_bpvo_is_registered_checked_by_sbb_signed_on_paper_and_ended() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, begin, key) = signed_ook(&t, &tok).await;

    let bpv = Uuid::new_v4();
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "p1",
        &bpv_body(bpv, ook, begin, "100018965"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.headers["location"],
        format!("/api/v1/praktijkovereenkomsten/{bpv}").as_str()
    );
    assert_eq!(a.body["status"], "geregistreerd");
    assert_eq!(a.body["sbb"], json!({"status": "pending"}));
    assert_eq!(a.body["crebo"], "25998");
    assert_eq!(a.body["ook_id"], ook.to_string());

    // Before SBB's answer the BPVO cannot be signed.
    let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
    let sign = |who: Value| json!({"wijze": "papier", "ondertekenaars": who, "datum": yesterday()});
    post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "p2",
        &sign(json!(["student", "school", "leerbedrijf"])),
    )
    .await
    .assert_problem(409, "leerbedrijf_not_erkend");

    sbb_answers(&t, key, bpv, true).await;
    let a = get(&t, &tok, &brin, &path).await;
    assert_eq!(a.body["sbb"]["status"], "erkend", "{}", a.text);
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "p3",
        &sign(json!(["student", "school"])),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "geregistreerd");
    post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "p4",
        &sign(json!(["school"])),
    )
    .await
    .assert_problem(409, "already_signed");
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "p5",
        &sign(json!(["leerbedrijf"])),
    )
    .await;
    assert_eq!(a.body["status"], "ondertekend", "{}", a.text);
    for who in ["student", "school", "leerbedrijf"] {
        assert_eq!(a.body["handtekeningen"][who]["wijze"], "papier", "{who}");
    }

    let end = (begin + chrono::Days::new(200)).to_string();
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/beeindiging"),
        "p6",
        &json!({"datum": end}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["werkelijk_einde"].as_str()
        ),
        (Some("beeindigd"), Some(end.as_str()))
    );
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(
        d.praktijkovereenkomsten[&BpvId(bpv)].status,
        BpvStatus::Beeindigd
    );
}

#[tokio::test]
async fn sbb_not_recognising_the_leerbedrijf_keeps_the_bpvo_unsigned_and_says_why() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, begin, key) = signed_ook(&t, &tok).await;
    let bpv = Uuid::new_v4();
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "n1",
        &bpv_body(bpv, ook, begin, "100099990"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    sbb_answers(&t, key, bpv, false).await;
    let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
    let a = get(&t, &tok, &brin, &path).await;
    assert_eq!(
        a.body["sbb"],
        json!({"status": "niet_erkend", "reden": "geen_erkenning_voor_crebo"})
    );
    let sign = json!({"wijze": "papier", "ondertekenaars": ["student", "school", "leerbedrijf"], "datum": yesterday()});
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "n2",
        &sign,
    )
    .await;
    a.assert_problem(409, "leerbedrijf_not_erkend");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(
        d.praktijkovereenkomsten[&BpvId(bpv)].status,
        BpvStatus::Geregistreerd
    );
    assert!(
        d.praktijkovereenkomsten[&BpvId(bpv)]
            .handtekeningen
            .student
            .is_none()
    );
}

#[tokio::test]
async fn registration_refusals_level_and_other_institutions() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, begin, _) = signed_ook(&t, &tok).await;
    // An invalid leerbedrijf-ID, dates outside the enrolment, a keuzedeel not in it.
    let mut bad = bpv_body(Uuid::new_v4(), ook, begin, "012345678");
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "e1",
        &bad,
    )
    .await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "leerbedrijf");
    bad["leerbedrijf"] = json!("100018965");
    bad["begin"] = json!((begin - chrono::Days::new(10)).to_string());
    post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "e2",
        &bad,
    )
    .await
    .assert_problem(422, "bpv_outside_enrolment");
    let mut kd = bpv_body(Uuid::new_v4(), ook, begin, "100018965");
    kd["keuzedeel"] = json!("K0067");
    post(&t, &tok, &brin, "/api/v1/praktijkovereenkomsten", "e3", &kd)
        .await
        .assert_problem(422, "bpv_onderdeel_mismatch");
    // An OOK that is not signed: not running.
    let (aanmelding2, sjabloon2) = {
        // A second student with an offered, unsigned OOK.
        let id = Uuid::new_v4();
        let a = submit(&t.app, &tok, &brin, "e4", id, BSN2).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let a = change_status(&t.app, &tok, &brin, "e5", id, "AM").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let list = get(&t, &tok, &brin, "/api/v1/ook-sjablonen").await;
        (
            id,
            list.body["items"][0]["sjabloon_id"]
                .as_str()
                .expect("id")
                .parse::<Uuid>()
                .expect("uuid"),
        )
    };
    let ook2 = Uuid::new_v4();
    let body = json!({"ook_id": ook2, "aanmelding_id": aanmelding2, "sjabloon": {"id": sjabloon2}, "aanbieden": true});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "e6",
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "e7",
        &bpv_body(Uuid::new_v4(), ook2, begin, "100018965"),
    )
    .await
    .assert_problem(409, "ook_not_running");

    let bpv = Uuid::new_v4();
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "e8",
        &bpv_body(bpv, ook, begin, "100018965"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "e9",
        &bpv_body(bpv, ook, begin, "100018965"),
    )
    .await
    .assert_problem(409, "bpv_exists");

    // 27DV is at level `aanmelden`: BPVs need `krd`.
    let other = brin_b();
    let tok_b = token(&t.app, &other).await;
    let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
    let a = get(&t, &tok_b, &other, &path).await;
    a.assert_problem(403, "participation_level_too_low");
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("level krd"),
        "{}",
        a.text
    );
    post(
        &t,
        &tok_b,
        &other,
        "/api/v1/praktijkovereenkomsten",
        "b1",
        &bpv_body(Uuid::new_v4(), ook, begin, "100018965"),
    )
    .await
    .assert_problem(403, "participation_level_too_low");
    // 30GT is at level `krd` but it is not its BPV or OOK: 404.
    let groenland: knooppunt_registry::ids::Brin = "30GT".parse().expect("brin");
    let t2 = test_api_with(|s| {
        let mut clients = knooppunt_api::ClientRegistry::new();
        clients.insert(groenland.oin(), groenland.clone(), SECRET);
        clients.insert(brin_a().oin(), brin_a(), SECRET);
        s.clients = std::sync::Arc::new(clients);
        s.store = t.state.store.clone();
        s.api_store = t.state.api_store.clone();
    });
    let tok_g = token(&t2.app, &groenland).await;
    let g = |req| send(&t2.app, req);
    g(authed("GET", &path, &tok_g, &groenland, None, None))
        .await
        .assert_problem(404, "not_found");
    let body = json!({"wijze": "papier", "ondertekenaars": ["school"], "datum": yesterday()});
    g(authed(
        "POST",
        &format!("{path}/ondertekening"),
        &tok_g,
        &groenland,
        Some("g1"),
        Some(&body.to_string()),
    ))
    .await
    .assert_problem(404, "not_found");
    let body = bpv_body(Uuid::new_v4(), ook, begin, "100018965").to_string();
    g(authed(
        "POST",
        "/api/v1/praktijkovereenkomsten",
        &tok_g,
        &groenland,
        Some("g2"),
        Some(&body),
    ))
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn every_bpv_post_refuses_malformed_requests_and_stores_nothing() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (ook, begin, key) = signed_ook(&t, &tok).await;
    let bpv = Uuid::new_v4();
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/praktijkovereenkomsten",
        "r0",
        &bpv_body(bpv, ook, begin, "100018965"),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    sbb_answers(&t, key, bpv, true).await;
    let fresh = Uuid::new_v4();
    let base = format!("/api/v1/praktijkovereenkomsten/{bpv}");
    let mut wrong_hours = bpv_body(fresh, ook, begin, "100018965");
    wrong_hours["omvang_uren"] = json!("veel");
    let endpoints: [(String, Value, Value, &str); 3] = [
        (
            "/api/v1/praktijkovereenkomsten".into(),
            bpv_body(fresh, ook, begin, "100018965"),
            wrong_hours,
            "omvang_uren",
        ),
        (
            format!("{base}/ondertekening"),
            json!({"wijze": "papier", "ondertekenaars": ["student"], "datum": yesterday()}),
            json!({"wijze": "digitaal", "ondertekenaars": ["student"], "datum": yesterday()}),
            "wijze",
        ),
        (
            format!("{base}/beeindiging"),
            json!({"datum": (begin + chrono::Days::new(200)).to_string()}),
            json!({"datum": 20280101}),
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
    assert!(t.api_store.find_bpv(fresh).await.expect("index").is_none());
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(d.praktijkovereenkomsten.len(), 1);
    let b = &d.praktijkovereenkomsten[&BpvId(bpv)];
    assert_eq!(b.status, BpvStatus::Geregistreerd);
    assert!(b.handtekeningen.student.is_none() && b.werkelijk_einde.is_none());

    // A replayed Idempotency-Key with another body: 422, and the first answer stands.
    let (path, valid, _, _) = &endpoints[1];
    let a = post(&t, &tok, &brin, path, "k-reuse", valid).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let other = json!({"wijze": "papier", "ondertekenaars": ["school"], "datum": yesterday()});
    post(&t, &tok, &brin, path, "k-reuse", &other)
        .await
        .assert_problem(422, "idempotency_key_reused");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    let b = &d.praktijkovereenkomsten[&BpvId(bpv)];
    assert!(b.handtekeningen.student.is_some() && b.handtekeningen.school.is_none());
}
