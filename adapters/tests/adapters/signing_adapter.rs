//! The signing adapter, its postback receiver and its poller against the signing simulator, on
//! the in-memory store: an offered OOK becomes a transaction with the right signers, the
//! signers sign in the simulator, its postbacks sign the OOK (and the aanmelding becomes
//! `ingeschreven`); rejected, expired and cancelled transactions; the paper fallback; postback
//! authentication and bad input; one effect per fact; a lost postback caught by the poll; the
//! provider down; a BPVO; shadow mode.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{local, on_loopback};
use chrono::Utc;
use knooppunt_adapters::partners::{Receiver, Secret};
use knooppunt_adapters::signing::{
    POSTBACK_PATH, Pending, Poller, PostbackHandler, PostbackReceiver, SIGNATURE_HEADER,
    SigningAdapter, SigningSimulator, signature,
};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::{Adapter, Mode, Outcome};
use knooppunt_mappings::signing::reference;
use knooppunt_ops::MemoryAudit;
use knooppunt_registry::domain::{
    AanmeldStatus, BpvStatus, Command, Dossier, Event, Ondertekenwijze, OokOndertekenaar,
    OokStatus, SigningStatus, SigningSubject,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{EventEnvelope, MemoryStore, Store};
use knooppunt_sample::{self as demo, AANMELDING, BPV, OOK};
use serde_json::{Value, json};
use uuid::Uuid;

const SECRET: &str = "a-shared-secret-for-the-tests";

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// A registry with the demo journey run up to a step, the simulator, the receiver (its poller
/// driven by the test) and the adapter.
struct World {
    store: Arc<MemoryStore>,
    reference: Arc<ReferenceData>,
    key: DossierKey,
    /// The events of the last step run.
    events: Vec<EventEnvelope>,
    sim: SigningSimulator,
    receiver: PostbackReceiver,
    handler: PostbackHandler,
    adapter: SigningAdapter,
    http: reqwest::Client,
}

impl World {
    /// Runs the demo journey through the step whose title contains `title`.
    async fn until(title: &str, faults: SimFaults) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reference = Arc::new(demo::reference_data());
        let key = DossierKey::new();
        let mut events = Vec::new();
        for step in demo::journey(key) {
            let outcome = store
                .execute(step.meta.clone(), step.command.clone(), &reference)
                .await
                .expect("store");
            events = outcome
                .result
                .unwrap_or_else(|r| panic!("{}: {r}", step.title));
            if step.title.contains(title) {
                break;
            }
        }
        let sim = SigningSimulator::spawn_with_secret(local(), faults, Secret::new(SECRET))
            .await
            .expect("sim");
        let pending = Pending::default();
        let handler = PostbackHandler::new(
            store.clone(),
            reference.clone(),
            Arc::new(MemoryAudit::new()),
            Secret::new(SECRET),
            pending.clone(),
        );
        let receiver = PostbackReceiver::spawn(handler.clone(), None, &on_loopback())
            .await
            .expect("receiver");
        let adapter = SigningAdapter::new(
            sim.url(),
            client(Duration::from_millis(500)),
            &receiver.base_url(),
            pending,
        );
        Self {
            store,
            reference,
            key,
            events,
            sim,
            receiver,
            handler,
            adapter,
            http: client(Duration::from_secs(10)),
        }
    }

    fn event(&self, kind: &str) -> EventEnvelope {
        self.events
            .iter()
            .find(|e| e.meta.kind.contains(kind))
            .unwrap_or_else(|| panic!("no {kind} event"))
            .clone()
    }

    async fn dossier(&self) -> Dossier {
        self.store.dossier(self.key).await.unwrap().unwrap()
    }

    /// Executes an adapter's answer as the signing partner, caused by the event (as the
    /// delivery runtime does).
    async fn answer(&self, event: &EventEnvelope, command: Command) {
        let meta = CommandMeta::caused_by(
            &event.meta,
            Actor::Partner {
                partner: Partner::Signing,
            },
            Utc::now(),
        );
        let outcome = self
            .store
            .execute(meta, command, &self.reference)
            .await
            .expect("store");
        outcome.result.expect("accepted");
    }

    /// Delivers `kind`'s event, executes the answer, and returns the transaction id.
    async fn create(&self, kind: &str) -> String {
        let event = self.event(kind);
        let outcome = self.adapter.deliver(&event, Mode::Live).await;
        let Outcome::Delivered {
            answer: Some(answer),
            ..
        } = outcome
        else {
            panic!("not delivered: {outcome:?}");
        };
        let Command::RecordSigningStatus {
            transactie, status, ..
        } = &answer
        else {
            panic!("answer {answer:?}");
        };
        assert_eq!(*status, SigningStatus::WaitingForSigner);
        let transactie = transactie.clone();
        self.answer(&event, answer).await;
        transactie
    }

    /// A signer-side action in the simulator; returns its answer.
    async fn act(&self, transactie: &str, action: &str, signer: Option<&str>) -> (u16, Value) {
        let url = format!("{}/_sim/transactions/{transactie}/{action}", self.sim.url());
        let mut request = self.http.post(url);
        if let Some(s) = signer {
            request = request.json(&json!({ "signer": s }));
        }
        let r = request.send().await.expect("sim");
        (r.status().as_u16(), r.json().await.expect("json"))
    }

    async fn sign(&self, transactie: &str, signer: &str) {
        let (status, body) = self.act(transactie, "sign", Some(signer)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// POSTs `body` to the receiver for `dossier`, signed with `secret` (or not at all).
    async fn post_back(&self, dossier: &str, body: &str, secret: Option<&str>) -> (u16, Value) {
        let url = format!("{}/{dossier}", self.receiver.url());
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(secret) = secret {
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret.as_bytes(), body.as_bytes()),
            );
        }
        let r = request.send().await.expect("receiver");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

const OFFERED: &str = "onderwijsovereenkomst.aangeboden";
const SBB: &str = "sbb_gecontroleerd";
const OFFER_STEP: &str = "offers the onderwijsovereenkomst";

#[tokio::test]
async fn an_offered_ook_is_signed_through_the_provider_and_the_aanmelding_becomes_ingeschreven() {
    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let tx = w.create(OFFERED).await;
    // The demo student is 16: student, parent (with iDIN) and institution sign.
    assert_eq!(w.sim.signers_of(&tx), ["student", "ouder", "instelling"]);
    assert_eq!(
        w.sim.messages()[0].subject,
        reference(&SigningSubject::Ook(OOK))
    );
    let d = w.dossier().await;
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::WaitingForSigner);

    w.sign(&tx, "student").await;
    let d = w.dossier().await;
    let ook = &d.onderwijsovereenkomsten[&OOK];
    assert_eq!(ook.status, OokStatus::Aangeboden);
    assert_eq!(
        ook.handtekeningen
            .get(OokOndertekenaar::Student)
            .map(|h| &h.wijze),
        Some(&Ondertekenwijze::Digitaal {
            transactie: tx.clone()
        })
    );
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::InProgress);

    w.sign(&tx, "ouder").await;
    w.sign(&tx, "instelling").await;
    let d = w.dossier().await;
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
    assert_eq!(
        d.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::Ingeschreven
    );
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Signed);
    assert_eq!(w.sim.postbacks(), [200, 200, 200]);
    assert!(
        w.handler.pending().is_empty(),
        "a final transaction is not polled"
    );
}

#[tokio::test]
async fn a_rejected_transaction_leaves_the_ook_offered_and_paper_signing_open() {
    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let tx = w.create(OFFERED).await;
    w.sign(&tx, "student").await;
    let (status, _) = w.act(&tx, "reject", Some("ouder")).await;
    assert_eq!(status, 200);
    let d = w.dossier().await;
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Rejected);
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Aangeboden
    );
    // Nothing more can happen in the simulator's transaction.
    let (status, _) = w.act(&tx, "sign", Some("instelling")).await;
    assert_eq!(status, 409);
    // The paper fallback: the institution records the remaining signatures.
    let meta = CommandMeta::new(
        w.key,
        Actor::Institution {
            brin: "25LX".parse().unwrap(),
        },
        Utc::now(),
    );
    let paper = Command::SignOnderwijsovereenkomst {
        ook: OOK,
        ondertekenaars: [OokOndertekenaar::Ouder, OokOndertekenaar::Instelling].into(),
        wijze: Ondertekenwijze::Papier,
        datum: knooppunt_registry::domain::time::local_date(Utc::now()),
    };
    let outcome = w.store.execute(meta, paper, &w.reference).await.unwrap();
    outcome
        .result
        .expect("the paper signatures complete the digital one");
    let d = w.dossier().await;
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
    assert_eq!(
        d.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::Ingeschreven
    );
}

#[tokio::test]
async fn expired_and_cancelled_transactions_are_recorded_and_final() {
    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let tx = w.create(OFFERED).await;
    assert_eq!(w.act(&tx, "expire", None).await.0, 200);
    let d = w.dossier().await;
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Expired);
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Aangeboden
    );
    assert!(w.handler.pending().is_empty());

    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let tx = w.create(OFFERED).await;
    let r = w
        .http
        .delete(format!("{}/api/transaction/{tx}", w.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d = w.dossier().await;
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Cancelled);
}

fn status_body(tx: &str, status: u16, signed: &[&str]) -> String {
    let signers: Vec<Value> = signed
        .iter()
        .map(|s| json!({"Id": s, "SignedDateTime": "2026-01-05T10:00:00Z"}))
        .collect();
    json!({
        "Id": tx,
        "Status": status,
        "Reference": reference(&SigningSubject::Ook(OOK)),
        "Signers": signers,
    })
    .to_string()
}

#[tokio::test]
async fn postbacks_are_authenticated_and_bad_input_names_the_field() {
    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let tx = w.create(OFFERED).await;
    let key = w.key.to_string();
    let body = status_body(&tx, 20, &["student"]);
    let before = w.store.history(w.key).await.unwrap().len();

    let (status, problem) = w.post_back(&key, &body, None).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (401, Some(SIGNATURE_HEADER))
    );
    let (status, _) = w.post_back(&key, &body, Some("another-secret")).await;
    assert_eq!(status, 401);
    let (status, problem) = w.post_back(&key, "{", Some(SECRET)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (status, problem) = w
        .post_back(&key, &status_body(&tx, 99, &[]), Some(SECRET))
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("Status")));
    let (status, problem) = w.post_back("not-a-key", &body, Some(SECRET)).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("dossier")));
    let unknown = body.replace(&OOK.0.to_string(), &Uuid::from_u128(99).to_string());
    let (status, problem) = w.post_back(&key, &unknown, Some(SECRET)).await;
    assert_eq!(
        (status, problem["code"].as_str(), problem["field"].as_str()),
        (422, Some("unknown_ook"), Some("Reference"))
    );
    let other = status_body(&tx, 20, &["rector"]);
    let (status, problem) = w.post_back(&key, &other, Some(SECRET)).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("Signers[0].Id"))
    );
    let r = w
        .http
        .post(format!("{}/{key}", w.receiver.url()))
        .header("content-type", "text/plain")
        .header(
            SIGNATURE_HEADER,
            signature(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // Nothing was recorded by any of them.
    assert_eq!(w.store.history(w.key).await.unwrap().len(), before);

    // The right signature: recorded; the same postback again: one effect.
    let (status, first) = w.post_back(&key, &body, Some(SECRET)).await;
    assert_eq!(
        (status, first["vastgelegd"].as_u64()),
        (200, Some(2)),
        "{first}"
    );
    let after = w.store.history(w.key).await.unwrap().len();
    let (status, again) = w.post_back(&key, &body, Some(SECRET)).await;
    assert_eq!(
        (status, again["herhaald"].as_u64()),
        (200, Some(2)),
        "{again}"
    );
    assert_eq!(w.store.history(w.key).await.unwrap().len(), after);
    assert!(w.receiver.url().ends_with(POSTBACK_PATH));
}

#[tokio::test]
async fn a_lost_postback_is_caught_by_the_poll() {
    let w = World::until(
        OFFER_STEP,
        SimFaults {
            drop_pushes_next: 3,
            ..SimFaults::default()
        },
    )
    .await;
    let tx = w.create(OFFERED).await;
    for signer in ["student", "ouder", "instelling"] {
        w.sign(&tx, signer).await;
    }
    assert_eq!(w.sim.dropped_postbacks(), 3);
    assert_eq!(w.sim.status_of(&tx), Some(30));
    let d = w.dossier().await;
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Aangeboden
    );
    assert_eq!(w.handler.pending().len(), 1);

    let poller = Poller::new(
        w.sim.url(),
        client(Duration::from_secs(5)),
        w.handler.clone(),
        Duration::ZERO,
    );
    let round = poller.poll_once().await;
    assert_eq!((round.asked, round.applied, round.failed), (1, 1, 0));
    let d = w.dossier().await;
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
    assert_eq!(
        d.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::Ingeschreven
    );
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Signed);
    // Final: nothing left to ask about.
    assert_eq!(poller.poll_once().await.asked, 0);
}

#[tokio::test]
async fn a_provider_that_is_down_is_transient_and_nothing_is_lost() {
    let w = World::until(
        OFFER_STEP,
        SimFaults {
            fail_next: 1,
            timeout_next: 1,
            too_many_next: 1,
            ..SimFaults::default()
        },
    )
    .await;
    let event = w.event(OFFERED);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        match w.adapter.deliver(&event, Mode::Live).await {
            Outcome::Transient { class, .. } => kinds.push(class.as_str()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(kinds, ["timeout", "rate_limited", "server_error"]);
    assert_eq!(w.sim.received_count(), 0);
    // The runtime's next attempt: created once, even when the same event is sent again.
    let tx = w.create(OFFERED).await;
    let again = w.adapter.deliver(&event, Mode::Live).await;
    assert!(matches!(again, Outcome::Delivered { .. }), "{again:?}");
    assert_eq!((w.sim.received_count(), w.sim.duplicates()), (1, 1));

    // The provider is down while the poll asks: asked again next round.
    w.sim.set_faults(SimFaults {
        drop_pushes_next: 3,
        ..SimFaults::default()
    });
    for signer in ["student", "ouder", "instelling"] {
        w.sign(&tx, signer).await;
    }
    w.sim.set_faults(SimFaults {
        fail_next: 1,
        ..SimFaults::default()
    });
    let poller = Poller::new(
        w.sim.url(),
        client(Duration::from_secs(5)),
        w.handler.clone(),
        Duration::ZERO,
    );
    let round = poller.poll_once().await;
    assert_eq!((round.asked, round.failed), (1, 1));
    let round = poller.poll_once().await;
    assert_eq!((round.asked, round.applied), (1, 1));
    let d = w.dossier().await;
    assert_eq!(
        d.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
}

#[tokio::test]
async fn a_bpvo_recognised_by_sbb_is_signed_by_student_school_and_leerbedrijf() {
    let w = World::until("SBB: the leerbedrijf is recognised", SimFaults::default()).await;
    let tx = w.create(SBB).await;
    assert_eq!(w.sim.signers_of(&tx), ["student", "school", "leerbedrijf"]);
    for signer in ["student", "school", "leerbedrijf"] {
        w.sign(&tx, signer).await;
    }
    let d = w.dossier().await;
    assert_eq!(
        d.praktijkovereenkomsten[&BPV].status,
        BpvStatus::Ondertekend
    );
    assert_eq!(d.ondertekening[&tx].status, SigningStatus::Signed);
}

#[tokio::test]
async fn other_events_are_skipped_and_shadow_mode_sends_nothing() {
    let w = World::until(OFFER_STEP, SimFaults::default()).await;
    let status_event = w
        .events
        .iter()
        .find(|e| !matches!(e.data, Event::OnderwijsovereenkomstAangeboden { .. }))
        .expect("the aanmelding's status event")
        .clone();
    assert_eq!(
        w.adapter.deliver(&status_event, Mode::Live).await,
        Outcome::Skip
    );
    let shadow = w.adapter.deliver(&w.event(OFFERED), Mode::Shadow).await;
    assert!(
        matches!(&shadow, Outcome::Delivered { answer: None, status, .. } if status == "shadow"),
        "{shadow:?}"
    );
    assert_eq!(w.sim.requests(), 0);
    assert_eq!(w.adapter.topics().len(), 2);
    assert_eq!(w.adapter.answers_as(), Some(Partner::Signing));
}
