//! Levels `aanmelden` and `krd` end to end over the institution API: a whole Knooppunt
//! (`serve::Node`) driven over HTTPS with mutual TLS as ROC Zuidwaard (25LX, level `krd`), on
//! the sandbox (in-memory store and bus) and on PostgreSQL + RabbitMQ. The signing simulator is
//! signed in over its test endpoint, as a person in the sandbox would.
//!
//! Memo steps b–c for a minor and an adult: aanmelding → OOK from a template, offered → the
//! signing provider's transaction with a parent for the minor → signed → `ingeschreven` reaches
//! the VO school's regional system (Intergrip for Erasmus College), and the institution's feed
//! tells each step with ids and statuses only. Memo step e for the adult: a BPVO at a
//! leerbedrijf SBB recognises is checked and signed on paper; one SBB does not recognise cannot
//! be signed, and the feed says why. Memo steps d and f for the minor: a keuzedeel at a guest
//! institution with its result, an exam result and the diploma, which ends the OOK; the feed
//! tells each, and BRON delivers the diploma and the uitschrijving to the DUO simulator.

use std::time::Duration;

use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::serve::Node;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::SOFTWARE_DEVELOPER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Backend, Harness, start_node};

const NOOR: &str = "999990019"; // 16: a parent signs too
const DAAN: &str = "999990032"; // 24

fn cohort(node: &Node) -> String {
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    node.reference
        .opleiding(&SOFTWARE_DEVELOPER)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone()
}

/// Waits (30 s at most) until `check` holds for a fresh answer of `GET path`; returns it.
async fn until(
    client: &ApiClient,
    path: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.get(path).await.unwrap();
        if r.status == 200 && check(&r.body) {
            return r.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {what} (last: {} {})",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until DUO's personalia are in the dossier: whether a parent signs is decided from the
/// birth date when the OOK is offered, as an institution's intake waits for DUO.
async fn personalia_recorded(node: &Node, bsn: &str) {
    let person = PersonId::Bsn(bsn.parse().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(key) = node.store.find_dossier(&person).await.unwrap()
            && node
                .store
                .dossier(key)
                .await
                .unwrap()
                .is_some_and(|d| d.personalia.is_some())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DUO's personalia never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The signing simulator's transaction for `reference` (`ook:<id>`), once created: id and
/// signers.
async fn transaction(h: &Harness, reference: &str) -> (String, Vec<String>) {
    let url = h.node.simulators[&Partner::Signing].url();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = h
            .http
            .get(format!("{url}/_sim/transactions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(t) = list["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["Reference"] == reference)
        {
            let signers = t["Signers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Id"].as_str().unwrap().to_owned())
                .collect();
            return (t["Id"].as_str().unwrap().to_owned(), signers);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no signing transaction for {reference}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign(h: &Harness, tx: &str, signer: &str) {
    let url = h.node.simulators[&Partner::Signing].url();
    let r = h
        .http
        .post(format!("{url}/_sim/transactions/{tx}/sign"))
        .json(&json!({ "signer": signer }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The statuses Intergrip received for `bsn`, in order.
fn intergrip(node: &Node, bsn: &str) -> Vec<AanmeldStatus> {
    node.simulators[&Partner::Intergrip]
        .messages()
        .into_iter()
        .filter(|m| m.subject == bsn)
        .map(|m| knooppunt_mappings::va::status_from_code("status", &m.code).unwrap())
        .collect()
}

async fn ook_signed_through_the_provider(backend: Backend) {
    let h = start_node("krd", backend, |_| {}).await;
    let node = &h.node;
    let roc = ApiClient::for_sandbox(node, "25LX").unwrap();

    // The institution's template for the opleiding.
    let sjabloon = Uuid::new_v4();
    let r = roc
        .post(
            "/api/v1/ook-sjablonen",
            &format!("sjabloon-{sjabloon}"),
            &json!({
                "sjabloon_id": sjabloon,
                "naam": "OOK Software Developer voltijd",
                "reikwijdte": "opleiding",
                "opleiding": SOFTWARE_DEVELOPER,
                "intensiteit": "VT",
                "duur_maanden": 36,
                "tekst": "Artikel 1. De instelling verzorgt de opleiding.",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);

    for (bsn, signers) in [
        (NOOR, vec!["student", "ouder", "instelling"]),
        (DAAN, vec!["student", "instelling"]),
    ] {
        // Aanmelding from Erasmus College (Intergrip), confirmed.
        let aanmelding = Uuid::new_v4();
        let r = roc
            .post(
                "/api/v1/aanmeldingen",
                &format!("submit-{aanmelding}"),
                &json!({
                    "aanmelding_id": aanmelding,
                    "student": { "bsn": bsn },
                    "opleiding": SOFTWARE_DEVELOPER,
                    "cohort": cohort(node),
                    "toeleverende_school": "19XY",
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        personalia_recorded(node, bsn).await;
        let r = roc
            .post(
                &format!("/api/v1/aanmeldingen/{aanmelding}/status"),
                &format!("am-{aanmelding}"),
                &json!({ "status": "AM" }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);

        // The OOK from the template, offered at once.
        let ook = Uuid::new_v4();
        let r = roc
            .post(
                "/api/v1/onderwijsovereenkomsten",
                &format!("ook-{ook}"),
                &ook_body(ook, aanmelding, sjabloon, bsn),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "aangeboden");
        assert_eq!(r.body["sjabloon"], json!({ "id": sjabloon, "versie": 1 }));

        // The signing provider's transaction: a parent for the minor.
        let (tx, got) = transaction(&h, &format!("ook:{ook}")).await;
        assert_eq!(got, signers, "{bsn}");
        let path = format!("/api/v1/onderwijsovereenkomsten/{ook}");
        until(&roc, &path, "transaction known", |b| {
            b["ondertekening"][0]["transactie"] == tx.as_str()
        })
        .await;
        for signer in &signers {
            sign(&h, &tx, signer).await;
        }
        let view = until(&roc, &path, "OOK signed", |b| b["status"] == "ondertekend").await;
        for signer in &signers {
            assert_eq!(
                view["handtekeningen"][signer]["wijze"], "digitaal",
                "{signer}"
            );
        }
        assert_eq!(view["ondertekening"][0]["status"], "signed");
        until(
            &roc,
            &format!("/api/v1/aanmeldingen/{aanmelding}"),
            "ingeschreven",
            |b| b["status"] == "ingeschreven",
        )
        .await;

        // `ingeschreven` reaches the VO school's regional system.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !intergrip(node, bsn).contains(&AanmeldStatus::Ingeschreven) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "Intergrip never heard of ingeschreven: {:?}",
                intergrip(node, bsn)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        use AanmeldStatus::*;
        assert_eq!(
            intergrip(node, bsn),
            vec![Ontvangen, Aangemeld, OokAangeboden, Ingeschreven],
            "{bsn}"
        );

        // The feed told the institution each step: ids and statuses only.
        let feed = until(&roc, "/api/v1/feed?vanaf=0&limit=500", "feed", |b| {
            let items = b["items"].as_array().unwrap();
            let has = |status: &str| {
                items
                    .iter()
                    .any(|i| i["ook_id"] == ook.to_string() && i["status"] == status)
            };
            has("ondertekend") && has("signed")
        })
        .await;
        let of_ook: Vec<(String, Value, Value)> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["ook_id"] == ook.to_string())
            .map(|i| {
                (
                    i["type"].as_str().unwrap().to_owned(),
                    i["status"].clone(),
                    i["ondertekenaar"].clone(),
                )
            })
            .collect();
        let kinds: Vec<&str> = of_ook.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(kinds[0], "nl.knooppunt.onderwijsovereenkomst.aangeboden.v1");
        assert!(
            of_ook.iter().any(
                |(k, s, _)| k == "nl.knooppunt.ondertekening.status_vastgelegd.v1" && s == "signed"
            ),
            "{of_ook:?}"
        );
        let getekend: Vec<&Value> = of_ook
            .iter()
            .filter(|(k, _, _)| k == "nl.knooppunt.onderwijsovereenkomst.getekend.v1")
            .map(|(_, _, w)| w)
            .collect();
        assert_eq!(getekend.len(), signers.len(), "{of_ook:?}");
        let text = feed.to_string();
        assert!(!text.contains(bsn), "no BSN in the feed");
        if bsn == DAAN {
            bpvs_checked_by_sbb(&roc, ook, &view).await;
        } else {
            results_and_diploma(&h, &roc, ook).await;
        }
    }
    h.stop().await;
}

/// The OOK's body. Noor's enrolment began 300 days ago (her results and diploma are dated
/// within it, up to today); Daan's begins with the cohort.
fn ook_body(ook: Uuid, aanmelding: Uuid, sjabloon: Uuid, bsn: &str) -> Value {
    let mut body = json!({
        "ook_id": ook,
        "aanmelding_id": aanmelding,
        "sjabloon": { "id": sjabloon },
        "aanbieden": true,
    });
    if bsn == NOOR {
        let begin = today() - chrono::Days::new(300);
        body["begin"] = json!(begin);
        body["gepland_einde"] = json!(begin + chrono::Days::new(1000));
    }
    body
}

fn today() -> chrono::NaiveDate {
    knooppunt_registry::domain::time::local_date(chrono::Utc::now())
}

/// Memo steps d and f on Noor's enrolment `ook`: a keuzedeel at a guest institution (27DV)
/// with its result, an exam result, the diploma → the OOK ends (reden 01); the feed tells each
/// (codes, no grades), and BRON delivers the diploma and the uitschrijving to DUO.
async fn results_and_diploma(h: &Harness, roc: &ApiClient, ook: Uuid) {
    let base = format!("/api/v1/onderwijsovereenkomsten/{ook}");
    let yesterday = today() - chrono::Days::new(1);
    let steps = [
        (
            "keuzedelen",
            json!({ "code": "K0067", "gastinstelling": "27DV" }),
            201,
        ),
        (
            "keuzedelen/K0067/resultaat",
            json!({ "uitslag": "behaald", "datum": yesterday }),
            200,
        ),
        (
            "examenresultaten",
            json!({ "soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "datum": yesterday }),
            200,
        ),
        ("diploma", json!({ "datum": yesterday }), 200),
    ];
    let mut last = Value::Null;
    for (path, body, status) in steps {
        let r = roc
            .post(&format!("{base}/{path}"), &format!("{path}-{ook}"), &body)
            .await
            .unwrap();
        assert_eq!(r.status, status, "{path}: {}", r.body);
        last = r.body;
    }
    assert_eq!(last["status"], "beeindigd", "{last}");
    assert_eq!(last["reden_uitschrijving"], "01");
    assert_eq!(
        last["diploma"],
        json!({ "crebo": "25998", "datum": yesterday })
    );
    assert_eq!(
        last["keuzedelen"],
        json!([{
            "code": "K0067",
            "gastinstelling": "27DV",
            "resultaat": { "uitslag": "behaald", "datum": yesterday, "vastgelegd_door": "25LX" },
        }])
    );
    assert_eq!(last["examenresultaten"][0]["cijfer_ie"], 7.5);

    // The feed tells each, with codes only.
    let feed = until(
        roc,
        "/api/v1/feed?vanaf=0&limit=500",
        "diploma in the feed",
        |b| {
            b["items"].as_array().unwrap().iter().any(|i| {
                i["ook_id"] == ook.to_string() && i["type"] == "nl.knooppunt.diploma.uitgereikt.v1"
            })
        },
    )
    .await;
    let results: Vec<(String, Value, Value)> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["ook_id"] == ook.to_string())
        .filter(|i| {
            let k = i["type"].as_str().unwrap();
            k.starts_with("nl.knooppunt.keuzedeel.")
                || k.starts_with("nl.knooppunt.examenresultaat.")
                || k.starts_with("nl.knooppunt.diploma.")
        })
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["status"].clone(),
                i["keuzedeel"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            "keuzedeel.geregistreerd",
            json!("geregistreerd"),
            json!("K0067"),
        ),
        (
            "keuzedeel.resultaat_vastgelegd",
            json!("behaald"),
            json!("K0067"),
        ),
        ("examenresultaat.vastgelegd", Value::Null, Value::Null),
        ("diploma.uitgereikt", json!("beeindigd"), Value::Null),
    ]
    .map(|(k, s, c)| (format!("nl.knooppunt.{k}.v1"), s, c));
    assert_eq!(results, expected);
    // No grades in the feed: no item has a grade field or the grade as a value (a substring
    // check would also match a timestamp such as `…:57.5…`).
    for item in feed["items"].as_array().unwrap() {
        for (field, value) in item.as_object().unwrap() {
            assert!(
                !field.contains("cijfer"),
                "a grade field in the feed: {field}"
            );
            assert_ne!(value, &json!(7.5), "a grade in the feed ({field})");
            assert_ne!(value, &json!("7.5"), "a grade in the feed ({field})");
        }
    }

    // BRON: DUO received Noor's inschrijving, then her diploma and the uitschrijving.
    let sim = &h.node.simulators[&Partner::Duo];
    let codes = || -> Vec<String> {
        sim.messages()
            .into_iter()
            .filter(|m| m.subject == NOOR && m.code.contains(':'))
            .map(|m| m.code)
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while codes().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "DUO never received the diploma: {:?}",
            codes()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        codes(),
        ["T:Inschrijving", "T:Diploma", "T:Uitschrijving"],
        "BRON mutations for Noor"
    );
}

/// Memo step e on the enrolment `ook`: a BPVO at a leerbedrijf SBB recognises for the crebo is
/// checked and signed; one at a leerbedrijf SBB does not know cannot be signed, and the feed
/// says why.
async fn bpvs_checked_by_sbb(roc: &ApiClient, ook: Uuid, view: &Value) {
    let begin: chrono::NaiveDate = view["begin"].as_str().unwrap().parse().unwrap();
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let mut seen = Vec::new();
    for (leerbedrijf, erkend) in [("100018965", true), ("100099990", false)] {
        let bpv = Uuid::new_v4();
        let r = roc
            .post(
                "/api/v1/praktijkovereenkomsten",
                &format!("bpv-{bpv}"),
                &json!({
                    "bpv_id": bpv,
                    "ook_id": ook,
                    "leerbedrijf": leerbedrijf,
                    "begin": (begin + chrono::Days::new(150)).to_string(),
                    "gepland_einde": (begin + chrono::Days::new(300)).to_string(),
                    "omvang_uren": 640,
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let path = format!("/api/v1/praktijkovereenkomsten/{bpv}");
        let checked = until(roc, &path, "SBB's answer", |b| {
            b["sbb"]["status"] != "pending"
        })
        .await;
        let sign = roc
            .post(
                &format!("{path}/ondertekening"),
                &format!("sign-{bpv}"),
                &json!({
                    "wijze": "papier",
                    "ondertekenaars": ["student", "school", "leerbedrijf"],
                    "datum": yesterday,
                }),
            )
            .await
            .unwrap();
        if erkend {
            assert_eq!(checked["sbb"]["status"], "erkend", "{checked}");
            assert_eq!(sign.status, 200, "{}", sign.body);
            assert_eq!(sign.body["status"], "ondertekend");
        } else {
            assert_eq!(checked["sbb"]["status"], "niet_erkend", "{checked}");
            assert_eq!(sign.status, 409, "{}", sign.body);
            assert_eq!(sign.code(), Some("leerbedrijf_not_erkend"));
            assert_eq!(
                roc.get(&path).await.unwrap().body["status"],
                "geregistreerd"
            );
        }
        seen.push((bpv, erkend));
    }
    // The feed: SBB's answer for each, with its reason for the one it does not recognise.
    let feed = until(
        roc,
        "/api/v1/feed?vanaf=0&limit=500",
        "SBB in the feed",
        |b| {
            seen.iter().all(|(bpv, _)| {
                b["items"].as_array().unwrap().iter().any(|i| {
                    i["bpv_id"] == bpv.to_string()
                        && i["type"] == "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1"
                })
            })
        },
    )
    .await;
    for (bpv, erkend) in seen {
        let item = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["bpv_id"] == bpv.to_string()
                    && i["type"] == "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1"
            })
            .unwrap();
        assert_eq!(item["partner"], "sbb");
        if erkend {
            assert_eq!(item["status"], "erkend", "{item}");
        } else {
            assert_eq!(item["status"], "niet_erkend", "{item}");
            assert!(
                item["reden"].as_str().is_some_and(|r| !r.is_empty()),
                "{item}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_an_ook_from_a_template_is_signed_and_enrols() {
    ook_signed_through_the_provider(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_an_ook_from_a_template_is_signed_and_enrols() {
    ook_signed_through_the_provider(Backend::Real).await;
}
