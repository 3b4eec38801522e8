//! The six VA statuses over the API, for an institution at level `va` and above.

use std::sync::Arc;

use crate::support::*;
use axum::http::StatusCode;
use knooppunt_api::ClientRegistry;
use knooppunt_registry::ids::Brin;
use uuid::Uuid;

/// ROC Kustland, at level `va` in the sample reference data.
fn kustland() -> Brin {
    "28AB".parse().expect("brin")
}

/// A router whose clients are 25LX (level `krd`) and 28AB (level `va`).
fn api() -> TestApi {
    test_api_with(|state| {
        let mut clients = ClientRegistry::new();
        for brin in [brin_a(), kustland()] {
            clients.insert(brin.oin(), brin.clone(), SECRET);
        }
        state.clients = Arc::new(clients);
    })
}

async fn submit_at_kustland(t: &TestApi, tok: &str, id: Uuid, bsn: &str) {
    let body = serde_json::json!({
        "aanmelding_id": id,
        "student": {"bsn": bsn},
        "opleiding": knooppunt_sample::MEDIAVORMGEVER,
        "cohort": "2027-2028",
    })
    .to_string();
    let a = send(
        &t.app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            tok,
            &kustland(),
            Some(&format!("submit-{id}")),
            Some(&body),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.body["status"], "ontvangen", "{}", a.text);
}

async fn status_of(t: &TestApi, tok: &str, brin: &Brin, id: Uuid) -> String {
    let a = send(
        &t.app,
        authed(
            "GET",
            &format!("/api/v1/aanmeldingen/{id}"),
            tok,
            brin,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_va_institution_reports_all_six_statuses_including_ingeschreven() {
    let t = api();
    let brin = kustland();
    let tok = token(&t.app, &brin).await;
    // (student, the statuses reported after `ontvangen`, by VA code or registry name)
    let walks: [(&str, &[&str], &str); 3] = [
        ("999990019", &["AM", "AO", "ingeschreven"], "ingeschreven"),
        (
            "999990032",
            &["aangemeld", "LI"],
            "leidt_niet_tot_inschrijving",
        ),
        ("999990044", &["IT"], "ingetrokken"),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (bsn, steps, last) in walks {
        let id = Uuid::new_v4();
        submit_at_kustland(&t, &tok, id, bsn).await;
        seen.insert(status_of(&t, &tok, &brin, id).await);
        for (n, status) in steps.iter().enumerate() {
            let a = change_status(&t.app, &tok, &brin, &format!("{id}-{n}"), id, status).await;
            assert_eq!(a.status, StatusCode::OK, "{status}: {}", a.text);
            seen.insert(status_of(&t, &tok, &brin, id).await);
        }
        assert_eq!(status_of(&t, &tok, &brin, id).await, last);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "aangemeld",
            "ingeschreven",
            "ingetrokken",
            "leidt_niet_tot_inschrijving",
            "ontvangen",
            "ook_aangeboden"
        ]
    );
}

#[tokio::test]
async fn from_level_aanmelden_up_ingeschreven_needs_a_signed_ook_in_knooppunt() {
    // 25LX is at level `krd`: its OOKs live in Knooppunt.
    let t = api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    for (key, status) in [("s1", "AM"), ("s2", "AO")] {
        let a = change_status(&t.app, &tok, &brin, key, id, status).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    let a = change_status(&t.app, &tok, &brin, "s3", id, "IS").await;
    a.assert_problem(422, "no_signed_ook_at_institution");
    assert_eq!(status_of(&t, &tok, &brin, id).await, "ook_aangeboden");
}
