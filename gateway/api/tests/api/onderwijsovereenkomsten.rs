//! OOK templates and onderwijsovereenkomsten over the API (levels `aanmelden` and `krd`):
//! templates with versions, an OOK from a template as a draft and offered, paper signing (a
//! parent for a possible minor), termination, reads checked and audited; another institution's
//! ids answer 404, a `va` institution gets the level problem; and the robustness set of the VA
//! endpoints on every new POST, each a 4xx problem that stores nothing.

use std::sync::Arc;

use crate::support::*;
use axum::http::StatusCode;
use knooppunt_api::{ApiStore, ClientRegistry};
use knooppunt_ops::audit::{AuditEntry, AuditTrail};
use knooppunt_registry::domain::{AanmeldStatus, AanmeldingId, OokId, OokStatus};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::Brin;
use knooppunt_registry::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

/// ROC Kustland, level `va`.
pub(crate) fn kustland() -> Brin {
    "28AB".parse().expect("brin")
}

/// 25LX (krd), 27DV (aanmelden) and 28AB (va) as clients.
pub(crate) fn api() -> TestApi {
    test_api_with(|state| {
        let mut clients = ClientRegistry::new();
        for brin in [brin_a(), brin_b(), kustland()] {
            clients.insert(brin.oin(), brin.clone(), SECRET);
        }
        state.clients = Arc::new(clients);
    })
}

pub(crate) async fn post(
    t: &TestApi,
    tok: &str,
    brin: &Brin,
    path: &str,
    key: &str,
    body: &Value,
) -> Answer {
    send(
        &t.app,
        authed("POST", path, tok, brin, Some(key), Some(&body.to_string())),
    )
    .await
}

pub(crate) async fn get(t: &TestApi, tok: &str, brin: &Brin, path: &str) -> Answer {
    send(&t.app, authed("GET", path, tok, brin, None, None)).await
}

pub(crate) fn sjabloon_body(id: Uuid) -> Value {
    json!({
        "sjabloon_id": id,
        "naam": "OOK Software Developer voltijd",
        "reikwijdte": "opleiding",
        "opleiding": knooppunt_sample::SOFTWARE_DEVELOPER,
        "intensiteit": "VT",
        "duur_maanden": 36,
        "tekst": "Artikel 1. De instelling verzorgt de opleiding.\nArtikel 2. ...",
    })
}

/// A submitted and confirmed (`aangemeld`) aanmelding of 25LX, and a template; (aanmelding,
/// template).
pub(crate) async fn prepared(t: &TestApi, tok: &str) -> (Uuid, Uuid) {
    let brin = brin_a();
    let aanmelding = Uuid::new_v4();
    let a = submit(
        &t.app,
        tok,
        &brin,
        &format!("sub-{aanmelding}"),
        aanmelding,
        BSN,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = change_status(
        &t.app,
        tok,
        &brin,
        &format!("am-{aanmelding}"),
        aanmelding,
        "AM",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let sjabloon = Uuid::new_v4();
    let a = post(
        t,
        tok,
        &brin,
        "/api/v1/ook-sjablonen",
        &format!("sj-{sjabloon}"),
        &sjabloon_body(sjabloon),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    (aanmelding, sjabloon)
}

pub(crate) async fn dossier_of(t: &TestApi, aanmelding: Uuid) -> DossierKey {
    let e = t
        .api_store
        .find_aanmelding(aanmelding)
        .await
        .expect("index")
        .expect("indexed");
    DossierKey(e.dossier)
}

#[tokio::test]
async fn templates_are_created_versioned_listed_and_read_per_institution() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/ook-sjablonen",
        "t1",
        &sjabloon_body(id),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.headers["location"],
        format!("/api/v1/ook-sjablonen/{id}").as_str()
    );
    assert_eq!(
        (a.body["versie"].as_i64(), a.body["laatste_versie"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(a.body["duur_maanden"], 36);

    // The same request again: the stored answer, no second template.
    let again = post(
        &t,
        &tok,
        &brin,
        "/api/v1/ook-sjablonen",
        "t1",
        &sjabloon_body(id),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, a.body);
    // The same id under another key: taken.
    let taken = post(
        &t,
        &tok,
        &brin,
        "/api/v1/ook-sjablonen",
        "t2",
        &sjabloon_body(id),
    )
    .await;
    taken.assert_problem(409, "sjabloon_exists");

    // A new version: 2, with other content; version 1 stays as it was.
    let mut v2 = sjabloon_body(id);
    let v2 = {
        let o = v2.as_object_mut().expect("object");
        o.remove("sjabloon_id");
        o.insert("duur_maanden".into(), json!(24));
        o.insert("intensiteit".into(), json!("DT"));
        v2
    };
    let path = format!("/api/v1/ook-sjablonen/{id}/versies");
    let a = post(&t, &tok, &brin, &path, "t3", &v2).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["versie"], 2);
    assert_eq!(
        a.headers["location"],
        format!("/api/v1/ook-sjablonen/{id}?versie=2").as_str()
    );
    let latest = get(&t, &tok, &brin, &format!("/api/v1/ook-sjablonen/{id}")).await;
    assert_eq!(
        (
            latest.body["versie"].as_i64(),
            latest.body["intensiteit"].as_str()
        ),
        (Some(2), Some("DT"))
    );
    let first = get(
        &t,
        &tok,
        &brin,
        &format!("/api/v1/ook-sjablonen/{id}?versie=1"),
    )
    .await;
    assert_eq!(
        (
            first.body["versie"].as_i64(),
            first.body["laatste_versie"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(first.body["duur_maanden"], 36);
    get(
        &t,
        &tok,
        &brin,
        &format!("/api/v1/ook-sjablonen/{id}?versie=3"),
    )
    .await
    .assert_problem(404, "not_found");

    // Listed once, at its latest version; an institution-wide template too, in order.
    let second = Uuid::new_v4();
    let mut body = sjabloon_body(second);
    body["reikwijdte"] = json!("instelling");
    body.as_object_mut().expect("object").remove("opleiding");
    let a = post(&t, &tok, &brin, "/api/v1/ook-sjablonen", "t4", &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let page = get(&t, &tok, &brin, "/api/v1/ook-sjablonen?limit=1").await;
    assert_eq!(page.body["items"][0]["sjabloon_id"], id.to_string());
    assert_eq!(page.body["items"][0]["versie"], 2);
    let next = page.body["volgende"].as_i64().expect("volgende");
    let page = get(
        &t,
        &tok,
        &brin,
        &format!("/api/v1/ook-sjablonen?limit=1&na={next}"),
    )
    .await;
    assert_eq!(page.body["items"][0]["sjabloon_id"], second.to_string());

    // Another institution (27DV, level aanmelden) sees none of it and cannot add a version.
    let other = brin_b();
    let tok_b = token(&t.app, &other).await;
    get(&t, &tok_b, &other, &format!("/api/v1/ook-sjablonen/{id}"))
        .await
        .assert_problem(404, "not_found");
    post(&t, &tok_b, &other, &path, "b1", &v2)
        .await
        .assert_problem(404, "not_found");
    let list = get(&t, &tok_b, &other, "/api/v1/ook-sjablonen").await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn a_template_holds_no_personal_data_and_only_the_institutions_own_opleiding() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let cases: [(&str, Value, u16, &str, Option<&str>); 5] = [
        (
            "tekst",
            json!(format!("Student met BSN {BSN}")),
            422,
            "invalid_field",
            Some("tekst"),
        ),
        (
            "opleiding",
            json!(knooppunt_sample::TIMMERMAN),
            422,
            "opleiding_other_institution",
            Some("opleiding"),
        ),
        (
            "opleiding",
            json!(Uuid::new_v4()),
            422,
            "unknown_opleiding",
            Some("opleiding"),
        ),
        (
            "duur_maanden",
            json!(0),
            422,
            "invalid_field",
            Some("duur_maanden"),
        ),
        ("naam", json!("   "), 422, "invalid_field", Some("naam")),
    ];
    for (n, (field, value, status, code, blamed)) in cases.into_iter().enumerate() {
        let mut body = sjabloon_body(Uuid::new_v4());
        body[field] = value;
        let a = post(
            &t,
            &tok,
            &brin,
            "/api/v1/ook-sjablonen",
            &format!("p{n}"),
            &body,
        )
        .await;
        a.assert_problem(status, code);
        assert_eq!(a.body["field"].as_str(), blamed, "{}", a.text);
        assert!(!a.text.contains(BSN), "{}", a.text);
    }
    // Reikwijdte and opleiding must fit together.
    let mut body = sjabloon_body(Uuid::new_v4());
    body["reikwijdte"] = json!("individueel");
    let a = post(&t, &tok, &brin, "/api/v1/ook-sjablonen", "p9", &body).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "opleiding");
    let list = get(&t, &tok, &brin, "/api/v1/ook-sjablonen").await;
    assert_eq!(list.body["items"], json!([]), "nothing stored");
}

#[tokio::test]
async fn a_va_institution_gets_the_level_problem_on_every_agreement_endpoint() {
    let t = api();
    let brin = kustland();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let posts = [
        ("/api/v1/ook-sjablonen".to_owned(), sjabloon_body(id)),
        (
            "/api/v1/onderwijsovereenkomsten".to_owned(),
            json!({"ook_id": id, "aanmelding_id": id, "sjabloon": {"id": id}}),
        ),
        (
            format!("/api/v1/onderwijsovereenkomsten/{id}/aanbieding"),
            json!({}),
        ),
        (
            format!("/api/v1/onderwijsovereenkomsten/{id}/beeindiging"),
            json!({"datum": "2028-01-31"}),
        ),
    ];
    for (n, (path, body)) in posts.iter().enumerate() {
        let a = post(&t, &tok, &brin, path, &format!("va{n}"), body).await;
        a.assert_problem(403, "participation_level_too_low");
        let detail = a.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("level va") && detail.contains("aanmelden"),
            "{detail}"
        );
    }
    for path in [
        "/api/v1/ook-sjablonen".to_owned(),
        format!("/api/v1/onderwijsovereenkomsten/{id}"),
    ] {
        get(&t, &tok, &brin, &path)
            .await
            .assert_problem(403, "participation_level_too_low");
    }
}

#[tokio::test]
async fn an_ook_from_a_template_is_drafted_offered_signed_on_paper_and_ended() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (aanmelding, sjabloon) = prepared(&t, &tok).await;
    let key = dossier_of(&t, aanmelding).await;

    // A draft from the template: the opleiding's data and the cohort's start filled in.
    let ook = Uuid::new_v4();
    let body = json!({"ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "o1",
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        a.headers["location"],
        format!("/api/v1/onderwijsovereenkomsten/{ook}").as_str()
    );
    assert_eq!(a.body["status"], "concept");
    assert_eq!(a.body["sjabloon"], json!({"id": sjabloon, "versie": 1}));
    assert_eq!(a.body["crebo"], "25998");
    assert_eq!(a.body["niveau"], "MBO-4");
    assert_eq!(a.body["intensiteit"], "VT");
    assert_eq!(a.body["aanmelding_id"], aanmelding.to_string());
    let opl = t
        .state
        .reference
        .opleiding(&knooppunt_sample::SOFTWARE_DEVELOPER)
        .expect("opleiding");
    let start = opl.cohort("2027-2028").expect("cohort").startdatum;
    assert_eq!(a.body["begin"], start.to_string());
    let einde = start
        .checked_add_months(chrono::Months::new(36))
        .and_then(|d| d.pred_opt())
        .expect("date");
    assert_eq!(a.body["gepland_einde"], einde.to_string());
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(
        d.onderwijsovereenkomsten[&OokId(ook)].status,
        OokStatus::Concept
    );

    // Offered: the aanmelding becomes ook_aangeboden.
    let path = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    let a = send(
        &t.app,
        authed(
            "POST",
            &format!("{path}/aanbieding"),
            &tok,
            &brin,
            Some("o2"),
            None,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "aangeboden");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(
        d.aanmeldingen[&AanmeldingId(aanmelding)].status,
        AanmeldStatus::OokAangeboden
    );
    // Offering it again is a state conflict (a JSON `null` body counts as empty, as documented).
    post(
        &t,
        &tok,
        &brin,
        &format!("{path}/aanbieding"),
        "o3",
        &Value::Null,
    )
    .await
    .assert_problem(409, "invalid_transition");

    // On paper: the birth date is unknown, so the student may be a minor and a parent signs.
    let sign =
        |who: Value| json!({"wijze": "papier", "ondertekenaars": who, "datum": "2026-06-05"});
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "o4",
        &sign(json!(["student", "instelling"])),
    )
    .await;
    a.assert_problem(422, "parent_signature_required");
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "o5",
        &sign(json!(["student", "ouder"])),
    )
    .await;
    a.assert_problem(422, "signature_missing");
    let a = post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "o6",
        &sign(json!(["student", "ouder", "instelling"])),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "ondertekend");
    assert_eq!(a.body["ondertekend_op"], "2026-06-05");
    for who in ["student", "ouder", "instelling"] {
        assert_eq!(a.body["handtekeningen"][who]["wijze"], "papier", "{who}");
    }
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(
        d.aanmeldingen[&AanmeldingId(aanmelding)].status,
        AanmeldStatus::Ingeschreven,
        "a signed OOK enrols the student"
    );
    post(
        &t,
        &tok,
        &brin,
        &format!("{path}/ondertekening"),
        "o7",
        &sign(json!(["student"])),
    )
    .await
    .assert_problem(409, "invalid_transition");

    // Read back; the read is checked and audited (ids only).
    let a = get(&t, &tok, &brin, &path).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "ondertekend");
    let chain = t
        .audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .expect("audit");
    assert!(
        chain
            .iter()
            .any(|r| r.entry.status.as_deref() == Some("onderwijsovereenkomsten")),
        "{chain:?}"
    );
    assert!(!format!("{chain:?}").contains(BSN));

    // Ending a signed OOK needs a reden; then it is beeindigd.
    let end = format!("{path}/beeindiging");
    let a = post(&t, &tok, &brin, &end, "o8", &json!({"datum": "2028-01-31"})).await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], "reden");
    let a = post(
        &t,
        &tok,
        &brin,
        &end,
        "o9",
        &json!({"datum": "2028-01-31", "reden": "1x"}),
    )
    .await;
    a.assert_problem(422, "invalid_field");
    let a = post(
        &t,
        &tok,
        &brin,
        &end,
        "o10",
        &json!({"datum": "2028-01-31", "reden": "02"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "beeindigd");
    assert_eq!(a.body["reden_uitschrijving"], "02");
    assert_eq!(a.body["werkelijk_einde"], "2028-01-31");
}

#[tokio::test]
async fn an_ook_offered_at_once_and_an_unsigned_one_withdrawn() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (aanmelding, sjabloon) = prepared(&t, &tok).await;
    let ook = Uuid::new_v4();
    let body = json!({
        "ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon, "versie": 1},
        "aanbieden": true, "begin": "2027-09-01", "gepland_einde": "2030-08-31",
    });
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "x1",
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["status"], "aangeboden");
    assert_eq!(
        (a.body["begin"].as_str(), a.body["gepland_einde"].as_str()),
        (Some("2027-09-01"), Some("2030-08-31"))
    );

    // A second OOK for the same crebo while this one is active.
    let mut second = body.clone();
    second["ook_id"] = json!(Uuid::new_v4());
    post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "x2",
        &second,
    )
    .await
    .assert_problem(409, "active_ook_exists");
    // The same OOK id under another key is a conflict too (the registry refuses it).
    post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "x3",
        &body,
    )
    .await
    .assert_problem(409, "ook_exists");

    // Withdrawn before signing: vervallen (no reden needed).
    let end = format!("/api/v1/onderwijsovereenkomsten/{ook}/beeindiging");
    let a = post(&t, &tok, &brin, &end, "x4", &json!({"datum": "2027-01-01"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["status"], "vervallen");

    // A template version that does not exist, and an unknown template.
    let mut bad = body.clone();
    bad["ook_id"] = json!(Uuid::new_v4());
    bad["sjabloon"] = json!({"id": sjabloon, "versie": 7});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "x5",
        &bad,
    )
    .await;
    a.assert_problem(422, "unknown_sjabloon");
    assert_eq!(a.body["field"], "sjabloon.versie");
    bad["sjabloon"] = json!({"id": Uuid::new_v4()});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "x6",
        &bad,
    )
    .await;
    a.assert_problem(422, "unknown_sjabloon");
    assert_eq!(a.body["field"], "sjabloon.id");
}

#[tokio::test]
async fn another_institutions_aanmelding_template_and_ook_answer_404() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (aanmelding, sjabloon) = prepared(&t, &tok).await;
    let ook = Uuid::new_v4();
    let body = json!({"ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "y1",
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);

    let other = brin_b();
    let tok_b = token(&t.app, &other).await;
    let path = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    get(&t, &tok_b, &other, &path)
        .await
        .assert_problem(404, "not_found");
    for (n, (suffix, body)) in [
        ("/aanbieding", json!({})),
        (
            "/ondertekening",
            json!({"wijze": "papier", "ondertekenaars": ["student"], "datum": "2026-06-01"}),
        ),
        ("/beeindiging", json!({"datum": "2027-01-01"})),
    ]
    .into_iter()
    .enumerate()
    {
        post(
            &t,
            &tok_b,
            &other,
            &format!("{path}{suffix}"),
            &format!("b{n}"),
            &body,
        )
        .await
        .assert_problem(404, "not_found");
    }
    // 27DV naming 25LX's aanmelding (with a template of its own): 404 as well.
    let own = Uuid::new_v4();
    let mut tpl = sjabloon_body(own);
    tpl["reikwijdte"] = json!("instelling");
    tpl.as_object_mut().expect("object").remove("opleiding");
    let a = post(&t, &tok_b, &other, "/api/v1/ook-sjablonen", "b9", &tpl).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let body =
        json!({"ook_id": Uuid::new_v4(), "aanmelding_id": aanmelding, "sjabloon": {"id": own}});
    post(
        &t,
        &tok_b,
        &other,
        "/api/v1/onderwijsovereenkomsten",
        "b10",
        &body,
    )
    .await
    .assert_problem(404, "not_found");
    // A path id that is not a UUID is an id that does not exist.
    get(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten/not-a-uuid",
    )
    .await
    .assert_problem(404, "not_found");
}

/// The robustness set of the VA endpoints on every new POST: each answer a 4xx problem, and
/// nothing stored.
#[tokio::test]
async fn every_new_post_refuses_malformed_requests_and_stores_nothing() {
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let (aanmelding, sjabloon) = prepared(&t, &tok).await;
    let key = dossier_of(&t, aanmelding).await;
    // An offered OOK for the action endpoints.
    let ook = Uuid::new_v4();
    let body = json!({"ook_id": ook, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}});
    let a = post(
        &t,
        &tok,
        &brin,
        "/api/v1/onderwijsovereenkomsten",
        "r0",
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let fresh = Uuid::new_v4();
    let base = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    // (path, a valid body, a body with a wrong type and the field it names)
    let endpoints: [(String, Value, Value, &str); 5] = [
        (
            "/api/v1/ook-sjablonen".into(),
            sjabloon_body(fresh),
            json!({"sjabloon_id": fresh, "naam": 7, "reikwijdte": "instelling", "intensiteit": "VT", "duur_maanden": 12, "tekst": "x"}),
            "naam",
        ),
        (
            format!("/api/v1/ook-sjablonen/{sjabloon}/versies"),
            json!({"naam": "v2", "reikwijdte": "instelling", "intensiteit": "VT", "duur_maanden": 12, "tekst": "x"}),
            json!({"naam": "v2", "reikwijdte": "instelling", "intensiteit": "VT", "duur_maanden": "twaalf", "tekst": "x"}),
            "duur_maanden",
        ),
        (
            "/api/v1/onderwijsovereenkomsten".into(),
            json!({"ook_id": fresh, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}}),
            json!({"ook_id": fresh, "aanmelding_id": aanmelding, "sjabloon": {"id": sjabloon}, "aanbieden": "ja"}),
            "aanbieden",
        ),
        (
            format!("{base}/ondertekening"),
            json!({"wijze": "papier", "ondertekenaars": ["student", "ouder", "instelling"], "datum": "2026-06-01"}),
            json!({"wijze": "papier", "ondertekenaars": ["rector"], "datum": "2026-06-01"}),
            "ondertekenaars[0]",
        ),
        (
            format!("{base}/beeindiging"),
            json!({"datum": "2027-01-01"}),
            json!({"datum": "gisteren"}),
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
        let mut no_key = raw("", &valid.to_string());
        no_key.headers_mut().remove("idempotency-key");
        send(&t.app, no_key)
            .await
            .assert_problem(400, "idempotency_key_missing");
    }
    // Nothing of it was stored.
    let list = get(&t, &tok, &brin, "/api/v1/ook-sjablonen").await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["items"][0]["laatste_versie"], 1);
    assert!(t.api_store.find_ook(fresh).await.expect("index").is_none());
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert_eq!(d.onderwijsovereenkomsten.len(), 1);
    assert_eq!(
        d.onderwijsovereenkomsten[&OokId(ook)].status,
        OokStatus::Concept
    );

    // A replayed Idempotency-Key with another body: 422, and the first answer stands.
    let (path, valid, _, _) = &endpoints[0];
    let a = post(&t, &tok, &brin, path, "k-reuse", valid).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let mut other = valid.clone();
    other["naam"] = json!("another name");
    post(&t, &tok, &brin, path, "k-reuse", &other)
        .await
        .assert_problem(422, "idempotency_key_reused");
    let stored = get(&t, &tok, &brin, &format!("/api/v1/ook-sjablonen/{fresh}")).await;
    assert_eq!(stored.body["naam"], valid["naam"]);
    assert_eq!(stored.body["laatste_versie"], 1);
}
