//! Level `va` end to end: a whole Knooppunt (`serve::Node`) driven over its HTTP API with mutual
//! TLS, on the sandbox (in-memory store and bus) and on PostgreSQL + RabbitMQ. The partner
//! simulators record what reached them; the tests assert who got what, in which order, and
//! that a refusal comes back to the institution.
//!
//! On PostgreSQL + RabbitMQ nothing is seeded: a student's personalia (which the municipality
//! rule needs) come from the DUO simulator through the DUO persons adapter when the first
//! aanmelding opens the dossier, and DUO's mutation notifications are pushed to the node's
//! receiver.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use knooppunt_adapters::sim::SimFaults;
use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::config::{Config, StoreSettings};
use knooppunt_gateway::serve::Node;
use knooppunt_registry::domain::{AanmeldStatus, Personalia};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::{DIERVERZORGING, MEDIAVORMGEVER, SOFTWARE_DEVELOPER};
use knooppunt_tests::TestSchema;

use crate::support::{Backend, Harness, person_key_file, reference_file, start_node};
use serde_json::{Value, json};
use uuid::Uuid;

async fn start(backend: Backend) -> Harness {
    start_node("e2e", backend, |_| {}).await
}

async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Harness {
    start_node("e2e", backend, adjust).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_node_without_reference_data_does_not_start() {
    let schema = TestSchema::create("e2enoref").await.unwrap();
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    let dir = std::env::temp_dir().join(format!("kp-e2e-{}", Uuid::new_v4().simple()));
    config.store = StoreSettings::Postgres {
        url: knooppunt_tests::database_url(),
        max_connections: 10,
        schema: Some(schema.name().to_owned()),
        person_key_file: person_key_file(&dir),
    };
    let e = Node::start(config).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("reference.file"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_connection_budget_the_server_cannot_hold_does_not_start() {
    let schema = TestSchema::create("e2ebudget").await.unwrap();
    let dir = std::env::temp_dir().join(format!("kp-e2e-{}", Uuid::new_v4().simple()));
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    config.store = StoreSettings::Postgres {
        url: knooppunt_tests::database_url(),
        max_connections: 1000,
        schema: Some(schema.name().to_owned()),
        person_key_file: person_key_file(&dir),
    };
    config.reference.file = Some(reference_file(&dir));
    let e = Node::start(config).await.unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("store.max_connections") && text.contains("max_connections"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn cohort(node: &Node, opleiding: &Uuid) -> String {
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    node.reference
        .opleiding(opleiding)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone()
}

async fn submit(node: &Node, client: &ApiClient, bsn: &str, opleiding: Uuid, school: &str) -> Uuid {
    let id = Uuid::new_v4();
    let r = client
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{id}"),
            &json!({
                "aanmelding_id": id,
                "student": { "bsn": bsn },
                "opleiding": opleiding,
                "cohort": cohort(node, &opleiding),
                "toeleverende_school": school,
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    id
}

async fn change(
    client: &ApiClient,
    id: Uuid,
    status: &str,
) -> knooppunt_gateway::client::ApiResponse {
    client
        .post(
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &format!("status-{id}-{status}"),
            &json!({ "status": status }),
        )
        .await
        .unwrap()
}

/// Waits until every simulator has at least the expected number of messages (or 30 s), then
/// a little longer so that extra messages would show.
async fn settle(node: &Node, expected: &BTreeMap<Partner, usize>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let done = node
            .simulators
            .iter()
            .all(|(name, sim)| sim.received_count() >= expected.get(name).copied().unwrap_or(0));
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// (pgn digits, status) as a simulator received them, in order.
fn received(node: &Node, partner: Partner) -> Vec<(String, AanmeldStatus)> {
    node.simulators[&partner]
        .messages()
        .into_iter()
        .map(|m| {
            let status = knooppunt_mappings::va::status_from_code("status", &m.code).unwrap();
            (m.subject, status)
        })
        .collect()
}

fn of(list: &[(String, AanmeldStatus)], bsn: &str) -> Vec<AanmeldStatus> {
    list.iter()
        .filter(|(p, _)| p == bsn)
        .map(|(_, s)| *s)
        .collect()
}

async fn feed(client: &ApiClient, want: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = client.get("/api/v1/feed?vanaf=0").await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= want || tokio::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const NOOR: &str = "999990019"; // 16, Rotterdam, no startkwalificatie → municipality
const DAAN: &str = "999990032"; // 24 → not the municipality
const SEM: &str = "999990044"; // 17 with startkwalificatie → not the municipality
/// A valid BSN the DUO simulator does not know.
const ONBEKEND: &str = "123456782";

fn person(bsn: &str) -> PersonId {
    PersonId::Bsn(bsn.parse().unwrap())
}

/// Waits until the student's dossier holds DUO's personalia (or 30 s, then fails). The
/// municipality rule routes a status change with the personalia known when it is decided, so a
/// test that asserts that routing waits for them, as an institution's intake does in the chain
/// (`docs/partners/duo.md` §5).
async fn personalia_recorded(node: &Node, bsn: &str) -> Personalia {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(key) = node.store.find_dossier(&person(bsn)).await.unwrap()
            && let Some(p) = node
                .store
                .dossier(key)
                .await
                .unwrap()
                .and_then(|d| d.personalia)
        {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DUO's personalia never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The DUO simulator's lookups of `bsn`, by outcome code (`gevonden`, `onbekend`), once there
/// is at least one (or 30 s, then fails).
async fn duo_lookups(node: &Node, bsn: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let codes: Vec<String> = node.simulators[&Partner::Duo]
            .messages()
            .into_iter()
            .filter(|m| m.subject == bsn)
            .map(|m| m.code)
            .collect();
        if !codes.is_empty() {
            return codes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DUO was never asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn journey(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let zuidwaard = ApiClient::for_sandbox(node, "25LX").unwrap();
    let groenland = ApiClient::for_sandbox(node, "30GT").unwrap();

    // Noor applies at two institutions (Erasmus College → Intergrip), Daan at one (Het Amstel
    // Lyceum → Digidoor), Sem at one (Domstad Mavo → Voroc).
    let noor_k = submit(node, &kustland, NOOR, MEDIAVORMGEVER, "19XY").await;
    let noor_g = submit(node, &groenland, NOOR, DIERVERZORGING, "19XY").await;
    let daan = submit(node, &zuidwaard, DAAN, SOFTWARE_DEVELOPER, "20AB").await;
    let sem = submit(node, &groenland, SEM, DIERVERZORGING, "21CD").await;
    // The first aanmelding opened each dossier; DUO's answer records the personalia.
    for bsn in [NOOR, DAAN, SEM] {
        personalia_recorded(node, bsn).await;
        assert_eq!(
            duo_lookups(node, bsn).await,
            vec!["gevonden"],
            "one lookup of {bsn}"
        );
    }
    for (c, id, s) in [
        (&kustland, noor_k, "aangemeld"),
        (&groenland, noor_g, "aangemeld"),
        (&zuidwaard, daan, "aangemeld"),
        (&groenland, sem, "aangemeld"),
        (&kustland, noor_k, "ook_aangeboden"),
        (&groenland, noor_g, "leidt_niet_tot_inschrijving"),
        (&groenland, sem, "ingetrokken"),
        // ROC Kustland is at level `va`: it reports `ingeschreven` from its own SIS, where the
        // signed onderwijsovereenkomst is.
        (&kustland, noor_k, "ingeschreven"),
    ] {
        let r = change(c, id, s).await;
        assert_eq!(r.status, 200, "{s}: {}", r.body);
    }

    use AanmeldStatus::*;
    let expected: BTreeMap<Partner, usize> = [
        (Partner::Koppelpunt, 12),
        (Partner::Intergrip, 7),
        (Partner::Digidoor, 2),
        (Partner::Voroc, 3),
        (Partner::Gemeenten, 5),
    ]
    .into_iter()
    .collect();
    settle(node, &expected).await;

    let koppelpunt = received(node, Partner::Koppelpunt);
    assert_eq!(koppelpunt.len(), 12, "{koppelpunt:?}");
    // All six VA statuses went out.
    let sent: BTreeSet<AanmeldStatus> = koppelpunt.iter().map(|(_, s)| *s).collect();
    assert_eq!(sent, AanmeldStatus::ALL.into_iter().collect());
    let intergrip = received(node, Partner::Intergrip);
    // Only Noor's school is on Intergrip; her statuses arrive in the order they happened.
    assert_eq!(
        of(&intergrip, NOOR).len(),
        intergrip.len(),
        "Intergrip got another student's status"
    );
    assert_eq!(intergrip.len(), 7);
    let digidoor = received(node, Partner::Digidoor);
    assert_eq!(of(&digidoor, DAAN), vec![Ontvangen, Aangemeld]);
    assert_eq!(digidoor.len(), 2);
    let voroc = received(node, Partner::Voroc);
    assert_eq!(of(&voroc, SEM), vec![Ontvangen, Aangemeld, Ingetrokken]);
    assert_eq!(voroc.len(), 3);
    // The municipality hears of Noor's status changes only: not Daan (24), not Sem
    // (startkwalificatie), and not the submissions.
    let gemeenten = received(node, Partner::Gemeenten);
    assert_eq!(
        of(&gemeenten, NOOR),
        vec![
            Aangemeld,
            Aangemeld,
            OokAangeboden,
            LeidtNietTotInschrijving,
            Ingeschreven
        ]
    );
    assert_eq!(gemeenten.len(), 5);
    for (name, sim) in &node.simulators {
        assert_eq!(sim.duplicates(), 0, "{name} got a duplicate");
        if !name.is_va_recipient() {
            continue;
        }
        // Per student, the wijzigingsvolgnummer only increases (order kept).
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        for m in sim.messages() {
            let sequence = m.sequence.expect("a VA status has a wijzigingsvolgnummer");
            let prev = last.insert(m.subject, sequence);
            assert!(prev.is_none_or(|p| p < sequence), "{name}: out of order");
        }
    }

    // Each institution's feed holds its own aanmeldingen only.
    let items = feed(&kustland, 4).await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(
        items
            .iter()
            .all(|i| i["aanmelding_id"] == json!(noor_k.to_string()))
    );
    // Every event reached the partners through the relay, which counts what it published.
    let published = sample(&node.metrics.encode(), "knooppunt_relay_published_total");
    assert!(published.is_some_and(|n| n > 0.0), "{published:?}");
    h.stop().await;
}

/// The value of the sample line `name value` (no labels) in an OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The node's own health metrics: readiness (set by every check, `/readyz` or the node's own
/// probe), the unsent outbox rows it counted, and the expiry of the certificate it serves.
async fn node_health_metrics(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let client = ApiClient::for_sandbox(node, "28AB").unwrap();
    let ready = client.get("/readyz").await.unwrap();
    assert_eq!(ready.status, 200, "{}", ready.body);
    let text = node.metrics.encode();
    assert_eq!(sample(&text, "knooppunt_ready"), Some(1.0), "{text}");
    assert!(sample(&text, "knooppunt_outbox_unsent").is_some(), "{text}");
    // The sandbox certificate is valid for two years from the start of this year.
    let expiry = sample(&text, "knooppunt_tls_certificate_expiry_timestamp_seconds").unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        expiry > now && expiry < now + 3.0 * 366.0 * 86_400.0,
        "{expiry}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_node_health_metrics() {
    node_health_metrics(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_node_health_metrics() {
    node_health_metrics(Backend::Real).await;
}

async fn failing_regional_system(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    // Intergrip answers 503 to its next 6 requests, then times out twice: more than the
    // immediate retries, so tiers are used, and later statuses wait behind the first.
    node.simulators[&Partner::Intergrip].set_faults(SimFaults {
        fail_next: 6,
        timeout_next: 2,
        ..SimFaults::default()
    });
    let id = submit(node, &kustland, NOOR, MEDIAVORMGEVER, "19XY").await;
    for s in ["aangemeld", "ook_aangeboden"] {
        assert_eq!(change(&kustland, id, s).await.status, 200);
    }
    let expected: BTreeMap<Partner, usize> = [(Partner::Intergrip, 3), (Partner::Koppelpunt, 3)]
        .into_iter()
        .collect();
    settle(node, &expected).await;
    use AanmeldStatus::*;
    assert_eq!(
        of(&received(node, Partner::Intergrip), NOOR),
        vec![Ontvangen, Aangemeld, OokAangeboden],
        "Intergrip finally got everything, in order"
    );
    assert_eq!(node.simulators[&Partner::Intergrip].duplicates(), 0);
    h.stop().await;
}

async fn refusal_is_reported_back(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    // The koppelpunt refuses status LI (a business rule of the partner).
    node.simulators[&Partner::Koppelpunt].set_faults(SimFaults {
        reject_statuses: vec!["LI".to_owned()],
        ..SimFaults::default()
    });
    let id = submit(node, &kustland, DAAN, MEDIAVORMGEVER, "20AB").await;
    assert_eq!(
        change(&kustland, id, "leidt_niet_tot_inschrijving")
            .await
            .status,
        200
    );
    let items = feed(&kustland, 3).await;
    let refusal = items
        .iter()
        .find(|i| i["type"] == json!("nl.knooppunt.aanmelding.status_afgewezen.v1"))
        .unwrap_or_else(|| panic!("no refusal in the feed: {items:?}"));
    assert_eq!(refusal["aanmelding_id"], json!(id.to_string()));
    assert_eq!(refusal["partner"], json!("koppelpunt"));
    // Not retried: the koppelpunt saw the LI once, and accepted only the submission.
    assert_eq!(received(node, Partner::Koppelpunt).len(), 1);
    h.stop().await;
}

async fn institutions_are_isolated(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let zuidwaard = ApiClient::for_sandbox(node, "25LX").unwrap();
    let id = submit(node, &kustland, NOOR, MEDIAVORMGEVER, "19XY").await;
    let read = zuidwaard
        .get(&format!("/api/v1/aanmeldingen/{id}"))
        .await
        .unwrap();
    assert_eq!(read.status, 404, "{}", read.body);
    let write = change(&zuidwaard, id, "aangemeld").await;
    assert_eq!(write.status, 404, "{}", write.body);
    let list = zuidwaard.get("/api/v1/aanmeldingen").await.unwrap();
    assert_eq!(list.status, 200);
    assert!(!list.body.to_string().contains(&id.to_string()));
    // Its own institution still sees it, unchanged.
    let own = kustland
        .get(&format!("/api/v1/aanmeldingen/{id}"))
        .await
        .unwrap();
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["status"], json!("ontvangen"));
    h.stop().await;
}

/// DUO pushes a mutation notification to the node's receiver: the dossier changes once (a
/// second push of the same melding has no effect), and the municipality rule follows the new
/// data (a startkwalificatie: the municipality is no longer told).
async fn duo_melding_updates_the_dossier(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let id = submit(node, &kustland, NOOR, MEDIAVORMGEVER, "19XY").await;
    let before = personalia_recorded(node, NOOR).await;
    assert!(!before.startkwalificatie);
    let key = node
        .store
        .find_dossier(&person(NOOR))
        .await
        .unwrap()
        .unwrap();

    let melding = format!(
        r#"<Mutatiemelding xmlns="urn:knooppunt:duo:persoon:v1">
        <MeldingId>{}</MeldingId><DatumTijd>2027-06-30T10:00:00Z</DatumTijd>
        <Soort>PersoonsgegevensGewijzigd</Soort><Burgerservicenummer>{NOOR}</Burgerservicenummer>
        <Persoon><Burgerservicenummer>{NOOR}</Burgerservicenummer>
          <Geboortedatum>{}</Geboortedatum><Geslacht>V</Geslacht><Voornamen>Noor</Voornamen>
          <Geslachtsnaam>Jansen</Geslachtsnaam><Woongemeente>0599</Woongemeente>
          <Startkwalificatie>true</Startkwalificatie></Persoon></Mutatiemelding>"#,
        Uuid::new_v4(),
        before.geboortedatum.duo_format(),
    );
    let url = node.receivers[&Partner::Duo].url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let push = || async {
        http.post(&url)
            .header("content-type", "application/xml")
            .body(melding.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(push().await, 200);
    let events = node.store.history(key).await.unwrap().len();
    assert_eq!(push().await, 200, "a melding pushed again is answered 200");
    assert_eq!(
        node.store.history(key).await.unwrap().len(),
        events,
        "and has no second effect"
    );
    let after = node
        .store
        .dossier(key)
        .await
        .unwrap()
        .unwrap()
        .personalia
        .unwrap();
    assert!(after.startkwalificatie);

    // With a startkwalificatie the municipality is not told of her status changes.
    assert_eq!(change(&kustland, id, "aangemeld").await.status, 200);
    let expected: BTreeMap<Partner, usize> = [(Partner::Koppelpunt, 2)].into_iter().collect();
    settle(node, &expected).await;
    assert_eq!(received(node, Partner::Koppelpunt).len(), 2);
    assert!(received(node, Partner::Gemeenten).is_empty());

    // A melding about a person Knooppunt holds no dossier for is answered 404.
    let stranger = melding.replace(NOOR, ONBEKEND);
    let r = http
        .post(&url)
        .header("content-type", "application/xml")
        .body(stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    h.stop().await;
}

/// A person DUO does not know: the aanmelding goes through, DUO is asked once, and the
/// outcome is recorded once in the audit trail as a business outcome — no retries.
async fn unknown_person_is_recorded_once(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    submit(node, &kustland, ONBEKEND, MEDIAVORMGEVER, "19XY").await;
    let key = node
        .store
        .find_dossier(&person(ONBEKEND))
        .await
        .unwrap()
        .unwrap();
    let opened = node.store.history(key).await.unwrap()[0].meta.id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rejected = loop {
        let trail = node.audit.for_message(opened).await.unwrap();
        let rejected: Vec<_> = trail
            .into_iter()
            .filter(|r| r.entry.hop == knooppunt_ops::Hop::Rejected)
            .collect();
        if !rejected.is_empty() {
            break rejected;
        }
        assert!(tokio::time::Instant::now() < deadline, "no outcome for DUO");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].entry.partner.as_deref(), Some("duo"));
    assert!(
        rejected[0]
            .entry
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("persoon_onbekend")),
        "{:?}",
        rejected[0].entry.reason
    );
    assert_eq!(
        duo_lookups(node, ONBEKEND).await,
        vec!["onbekend"],
        "asked once"
    );
    let dossier = node.store.dossier(key).await.unwrap().unwrap();
    assert!(dossier.personalia.is_none());
    h.stop().await;
}

/// DUO down for a while (503s, then a hang past the timeout): the lookup goes through the
/// delivery runtime's retry tiers and the personalia arrive; nothing is lost or doubled.
async fn duo_down_for_a_while_loses_nothing(backend: Backend) {
    let h = start_with(backend, |config| {
        config.seed_students = Some(false);
        let duo = config.partners.entry(Partner::Duo).or_default();
        duo.faults = SimFaults {
            fail_next: 5,
            timeout_next: 1,
            ..SimFaults::default()
        };
        duo.timeout_ms = Some(1_000);
    })
    .await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    submit(node, &kustland, NOOR, MEDIAVORMGEVER, "19XY").await;
    let p = personalia_recorded(node, NOOR).await;
    assert_eq!(
        p.woongemeente.map(|g| g.to_string()),
        Some("0599".to_owned())
    );
    assert_eq!(duo_lookups(node, NOOR).await, vec!["gevonden"]);
    let duo = &node.simulators[&Partner::Duo];
    assert_eq!(duo.requests(), 7, "six faulted attempts, then the lookup");
    assert_eq!(duo.duplicates(), 0);
    // The runtime's tiers did the retrying.
    let key = node
        .store
        .find_dossier(&person(NOOR))
        .await
        .unwrap()
        .unwrap();
    let opened = node.store.history(key).await.unwrap()[0].meta.id;
    let trail = node.audit.for_message(opened).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|r| r.entry.hop == knooppunt_ops::Hop::Retried),
        "no retry tier used"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_duo_down_for_a_while_loses_nothing() {
    duo_down_for_a_while_loses_nothing(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_duo_down_for_a_while_loses_nothing() {
    duo_down_for_a_while_loses_nothing(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_duo_melding_updates_the_dossier() {
    duo_melding_updates_the_dossier(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_duo_melding_updates_the_dossier() {
    duo_melding_updates_the_dossier(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_unknown_person_is_recorded_once() {
    unknown_person_is_recorded_once(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_unknown_person_is_recorded_once() {
    unknown_person_is_recorded_once(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_va_journey() {
    journey(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_va_journey() {
    journey(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_failing_regional_system_gets_everything_in_order() {
    failing_regional_system(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_failing_regional_system_gets_everything_in_order() {
    failing_regional_system(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_refusal_is_reported_back() {
    refusal_is_reported_back(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_refusal_is_reported_back() {
    refusal_is_reported_back(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_institutions_are_isolated() {
    institutions_are_isolated(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_institutions_are_isolated() {
    institutions_are_isolated(Backend::Real).await;
}
