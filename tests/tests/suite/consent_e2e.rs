//! Consented reads end to end: a whole Knooppunt (`serve::Node`) driven over HTTPS with mutual
//! TLS, on the sandbox (in-memory store and bus) and on PostgreSQL + RabbitMQ. ROC Zuidwaard
//! (25LX) has an aanmelding of Noor; without consent her personalia are 403 `no_consent`, with
//! her consent for personalia they are 200 (and nothing else is), and withdrawn the next read
//! is 403 again; every read is in the audit trail. The sandbox's bevoegd gezag client gets a
//! token over mTLS with its own certificate and reads students only.
//!
//! The student's side (DigiD) is not built: consent is granted and withdrawn through the
//! registry's commands as the student (`Actor::Student`), as that side will.

use std::collections::BTreeSet;
use std::time::Duration;

use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::serve::Node;
use knooppunt_ops::audit::AuditEntry;
use knooppunt_registry::domain::Command;
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::policy::Part;
use knooppunt_sample::SOFTWARE_DEVELOPER;
use serde_json::json;
use uuid::Uuid;

use crate::support::{Backend, start_node};

const NOOR: &str = "999990019";

/// Waits (30 s at most) until DUO's personalia are in Noor's dossier; its key.
async fn personalia_recorded(node: &Node) -> DossierKey {
    let person = PersonId::Bsn(NOOR.parse().unwrap());
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
            return key;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DUO's personalia never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The student's command on their own dossier (what the DigiD side will send).
async fn as_student(node: &Node, key: DossierKey, command: Command) {
    let meta = CommandMeta::new(key, Actor::Student { dossier: key }, chrono::Utc::now());
    let outcome = node
        .store
        .execute(meta, command, &node.reference)
        .await
        .unwrap();
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

/// The sandbox client of the bevoegd gezag `bestuur`, over mTLS with its own certificate.
fn bestuur_client(node: &Node, bestuur: &str) -> ApiClient {
    let cred = node
        .bestuur_credentials
        .iter()
        .find(|c| c.bestuur == bestuur)
        .expect("a sandbox bestuur client");
    let pki = node.pki.as_ref().expect("sandbox PKI");
    let files = node
        .client_files(&cred.client_id)
        .expect("a certificate for the bestuur");
    let tls = knooppunt_api::pki::client_tls_config(
        &std::fs::read_to_string(&pki.ca_pem).unwrap(),
        &std::fs::read_to_string(&files.cert_pem).unwrap(),
        &std::fs::read_to_string(&files.key_pem).unwrap(),
    )
    .unwrap();
    ApiClient::new(
        &node.api_url,
        Some(tls),
        &cred.client_id,
        &cred.client_secret,
    )
    .unwrap()
}

async fn consent_read_withdraw(backend: Backend) {
    let h = start_node("consent", backend, |_| {}).await;
    let node = &h.node;
    let roc = ApiClient::for_sandbox(node, "25LX").unwrap();
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    let cohort = node
        .reference
        .opleiding(&SOFTWARE_DEVELOPER)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone();
    let aanmelding = Uuid::new_v4();
    let r = roc
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{aanmelding}"),
            &json!({
                "aanmelding_id": aanmelding,
                "student": { "bsn": NOOR },
                "opleiding": SOFTWARE_DEVELOPER,
                "cohort": cohort,
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let key = personalia_recorded(node).await;

    // The lookup (the BSN in the body) answers the student's reference; no part yet.
    let r = roc
        .post(
            "/api/v1/studenten/zoeken",
            "lookup-1",
            &json!({ "bsn": NOOR }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["student"], key.0.to_string());
    assert_eq!(r.body["delen"], json!([]));
    let personalia = format!("/api/v1/studenten/{}/personalia", key.0);
    let vooropleidingen = format!("/api/v1/studenten/{}/vooropleidingen", key.0);

    // No consent: 403.
    let r = roc.get(&personalia).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "no_consent");

    // Consent for personalia: 200 for them, and only them.
    as_student(
        node,
        key,
        Command::GrantConsent {
            instelling: "25LX".parse().unwrap(),
            scopes: BTreeSet::from([Part::Personalia]),
        },
    )
    .await;
    let r = roc.get(&personalia).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["voornamen"], "Noor");
    let r = roc.get(&vooropleidingen).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "no_consent");

    // Withdrawn: the next read is refused.
    as_student(
        node,
        key,
        Command::WithdrawConsent {
            instelling: "25LX".parse().unwrap(),
        },
    )
    .await;
    let r = roc.get(&personalia).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "no_consent");

    // Every read is in the audit trail: the three reads of personalia, denied, allowed on
    // consent, denied; ids only.
    let chain = node
        .audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .unwrap();
    let reads: Vec<(String, bool)> = chain
        .iter()
        .filter(|r| r.entry.endpoint.as_deref() == Some("/api/v1/studenten/{student}/personalia"))
        .map(|r| {
            (
                r.entry.reason.clone().unwrap_or_default(),
                r.entry.hop.as_str() == "read_denied",
            )
        })
        .collect();
    assert_eq!(
        reads,
        [
            ("not_for_this_relation".to_owned(), true),
            ("consent".to_owned(), false),
            ("not_for_this_relation".to_owned(), true),
        ]
    );
    assert!(!format!("{chain:?}").contains(NOOR));

    // The bevoegd gezag of 25LX: its own credentials and certificate; Noor is not enrolled, so
    // it has no relation with her; it reads students only.
    let banner = node.banner();
    let cred = &node.bestuur_credentials[0];
    assert!(
        banner.contains("bevoegd gezag 100B490 (of 25LX, 28AB; reads students only)")
            && banner.contains(&cred.client_id)
            && banner.contains("samenwerkingsverband SWV Rijnmond"),
        "{banner}"
    );
    let bestuur = bestuur_client(node, "100B490");
    let r = bestuur.get(&personalia).await.unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    let r = bestuur.get("/api/v1/aanmeldingen").await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "not_permitted");

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_consent_gives_a_read_and_a_withdrawal_takes_it_back() {
    consent_read_withdraw(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_consent_gives_a_read_and_a_withdrawal_takes_it_back() {
    consent_read_withdraw(Backend::Real).await;
}
