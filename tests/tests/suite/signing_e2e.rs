//! The signing provider end to end: a whole Knooppunt (`serve::Node`) with its signing adapter,
//! postback receiver, poller and simulator, on the sandbox (in-memory store and bus) and on
//! PostgreSQL + RabbitMQ. The tests drive the registry's commands directly (the same through the
//! institution API is in `krd_e2e`) (as the student, DUO and the institution), and sign or reject
//! in the simulator over HTTP, as a person in the sandbox would.
//!
//! An OOK offered at ROC Zuidwaard (level `krd`) becomes a transaction with the right signers;
//! the signers sign; the postbacks sign the OOK and the aanmelding becomes `ingeschreven`. A
//! rejected and an expired transaction are recorded and leave the OOK offered. The provider down
//! for a while: nothing is lost, signing completes later. Lost postbacks: the poll catches them.

use std::time::Duration;

use crate::support::{Backend, Harness, start_node};
use chrono::Utc;
use knooppunt_adapters::sim::SimFaults;
use knooppunt_registry::domain::{
    AanmeldStatus, AanmeldingId, Command, Dossier, Geboortedatum, Geslacht, Intensiteit,
    OokDetails, OokId, OokStatus, Person, Personalia, SigningStatus,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::{Leertraject, Niveau};
use knooppunt_sample::SOFTWARE_DEVELOPER;
use serde_json::{Value, json};
use uuid::Uuid;

/// A node whose signing poller asks after `poll_after_ms` without news, the simulator with
/// `faults`.
async fn start(backend: Backend, poll_after_ms: u64, faults: SimFaults) -> Harness {
    start_node("sign", backend, |config| {
        let signing = config.partners.get_mut(&Partner::Signing).unwrap();
        signing.poll_after_ms = Some(poll_after_ms);
        signing.faults = faults;
    })
    .await
}

/// A valid BSN no one else in the run uses (and the DUO simulator does not know).
fn fresh_bsn() -> String {
    loop {
        let n = Uuid::new_v4().as_u128();
        let digits: Vec<u32> = format!("{:08}", n % 100_000_000)
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        let sum: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let last = sum % 11;
        if last < 10 && digits[0] != 0 {
            let s: String = digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
            return format!("{s}{last}");
        }
    }
}

/// A student with an aanmelding at ROC Zuidwaard (`krd`) that the institution confirmed, and
/// the OOK it then offers; `born` decides whether a parent must sign.
struct Student {
    key: DossierKey,
    aanmelding: AanmeldingId,
    ook: OokId,
}

impl Harness {
    async fn exec(&self, key: DossierKey, actor: Actor, command: Command) {
        let outcome = self
            .node
            .store
            .execute(
                CommandMeta::new(key, actor, Utc::now()),
                command,
                &self.node.reference,
            )
            .await
            .unwrap();
        outcome.result.expect("accepted");
    }

    async fn offered(&self, born: i32) -> Student {
        let key = DossierKey::new();
        let bsn = fresh_bsn();
        let student = Actor::Student { dossier: key };
        let roc = Actor::Institution {
            brin: "25LX".parse().unwrap(),
        };
        self.exec(
            key,
            student.clone(),
            Command::OpenDossier {
                person: Person {
                    id: PersonId::Bsn(bsn.parse().unwrap()),
                },
            },
        )
        .await;
        self.exec(
            key,
            Actor::Partner {
                partner: Partner::Duo,
            },
            Command::RecordPersonalia {
                personalia: Personalia {
                    voornamen: "Test".to_owned(),
                    voorvoegsels: None,
                    achternaam: "Ondertekening".to_owned(),
                    geboortedatum: Geboortedatum::from_date(
                        chrono::NaiveDate::from_ymd_opt(born, 5, 15).unwrap(),
                    ),
                    geslacht: Geslacht::V,
                    woongemeente: Some("0599".parse().unwrap()),
                    startkwalificatie: false,
                },
            },
        )
        .await;
        let aanmelding = AanmeldingId(Uuid::new_v4());
        self.exec(
            key,
            student,
            Command::SubmitAanmelding {
                aanmelding,
                instelling: "25LX".parse().unwrap(),
                opleiding: SOFTWARE_DEVELOPER,
                cohort: "2027-2028".to_owned(),
                toeleverende_school: Some("19XY".parse().unwrap()),
                externe_referentie: None,
            },
        )
        .await;
        self.exec(
            key,
            roc.clone(),
            Command::ChangeAanmeldingStatus {
                aanmelding,
                status: AanmeldStatus::Aangemeld,
            },
        )
        .await;
        let ook = OokId(Uuid::new_v4());
        self.exec(
            key,
            roc,
            Command::OfferOnderwijsovereenkomst {
                ook,
                instelling: "25LX".parse().unwrap(),
                details: OokDetails {
                    aanmelding: Some(aanmelding),
                    opleiding: Some(SOFTWARE_DEVELOPER),
                    crebo: "25998".parse().unwrap(),
                    niveau: Niveau::Mbo4,
                    leertraject: Leertraject::Bol,
                    intensiteit: Intensiteit::VT,
                    begin: chrono::NaiveDate::from_ymd_opt(2027, 8, 30).unwrap(),
                    gepland_einde: chrono::NaiveDate::from_ymd_opt(2030, 7, 31).unwrap(),
                },
            },
        )
        .await;
        Student {
            key,
            aanmelding,
            ook,
        }
    }

    fn sim_url(&self) -> String {
        self.node.simulators[&Partner::Signing].url()
    }

    /// The simulator's transaction for the OOK, once created (or 30 s): its id and signers.
    async fn transaction(&self, ook: OokId) -> (String, Vec<String>) {
        let reference = format!("ook:{}", ook.0);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let list: Value = self
                .http
                .get(format!("{}/_sim/transactions", self.sim_url()))
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
                .find(|t| t["Reference"] == reference.as_str())
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
                "no transaction for the OOK"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn act(&self, tx: &str, action: &str, signer: Option<&str>) -> Value {
        let mut r = self.http.post(format!(
            "{}/_sim/transactions/{tx}/{action}",
            self.sim_url()
        ));
        if let Some(s) = signer {
            r = r.json(&json!({ "signer": s }));
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    }

    /// Waits (30 s at most) until the dossier satisfies `done`; returns it.
    async fn until(&self, key: DossierKey, what: &str, done: impl Fn(&Dossier) -> bool) -> Dossier {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.node.store.dossier(key).await.unwrap().unwrap();
            if done(&d) {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn status_of(d: &Dossier, tx: &str) -> Option<SigningStatus> {
    d.ondertekening.get(tx).map(|t| t.status)
}

/// One poll after 15 minutes: only the postbacks can sign in time.
const NO_POLL: u64 = 900_000;

async fn signed_through_the_provider(backend: Backend) {
    let h = start(backend, NO_POLL, SimFaults::default()).await;
    for (born, signers) in [
        (2011, vec!["student", "ouder", "instelling"]),
        (1990, vec!["student", "instelling"]),
    ] {
        let s = h.offered(born).await;
        let (tx, got) = h.transaction(s.ook).await;
        assert_eq!(got, signers, "born {born}");
        h.until(s.key, "transaction recorded", |d| {
            status_of(d, &tx) == Some(SigningStatus::WaitingForSigner)
        })
        .await;
        for signer in &signers {
            let answer = h.act(&tx, "sign", Some(signer)).await;
            assert_eq!(answer["postback"], 200, "{answer}");
        }
        let d = h
            .until(s.key, "OOK signed", |d| {
                d.onderwijsovereenkomsten[&s.ook].status == OokStatus::Ondertekend
            })
            .await;
        assert_eq!(
            d.aanmeldingen[&s.aanmelding].status,
            AanmeldStatus::Ingeschreven
        );
        assert_eq!(status_of(&d, &tx), Some(SigningStatus::Signed));
    }
    h.stop().await;
}

async fn rejected_and_expired(backend: Backend) {
    let h = start(backend, NO_POLL, SimFaults::default()).await;
    for (action, signer, want) in [
        ("reject", Some("ouder"), SigningStatus::Rejected),
        ("expire", None, SigningStatus::Expired),
    ] {
        let s = h.offered(2011).await;
        let (tx, _) = h.transaction(s.ook).await;
        h.until(s.key, "transaction recorded", |d| {
            status_of(d, &tx).is_some()
        })
        .await;
        h.act(&tx, "sign", Some("student")).await;
        let answer = h.act(&tx, action, signer).await;
        assert_eq!(answer["postback"], 200, "{answer}");
        let d = h
            .until(s.key, action, |d| status_of(d, &tx) == Some(want))
            .await;
        // The OOK stays offered: the institution can still sign it on paper.
        assert_eq!(
            d.onderwijsovereenkomsten[&s.ook].status,
            OokStatus::Aangeboden
        );
        assert_eq!(
            d.aanmeldingen[&s.aanmelding].status,
            AanmeldStatus::OokAangeboden
        );
    }
    h.stop().await;
}

async fn provider_down_for_a_while(backend: Backend) {
    // Down for the first eight requests: the delivery runtime retries through its tiers.
    let h = start(
        backend,
        NO_POLL,
        SimFaults {
            fail_next: 8,
            ..SimFaults::default()
        },
    )
    .await;
    let s = h.offered(2011).await;
    let (tx, signers) = h.transaction(s.ook).await;
    assert!(h.node.simulators[&Partner::Signing].requests() > 8);
    for signer in &signers {
        h.act(&tx, "sign", Some(signer)).await;
    }
    let d = h
        .until(s.key, "OOK signed", |d| {
            d.onderwijsovereenkomsten[&s.ook].status == OokStatus::Ondertekend
        })
        .await;
    assert_eq!(
        d.aanmeldingen[&s.aanmelding].status,
        AanmeldStatus::Ingeschreven
    );
    assert_eq!(h.node.simulators[&Partner::Signing].received_count(), 1);
    h.stop().await;
}

async fn lost_postbacks_caught_by_the_poll(backend: Backend) {
    // Every postback is lost; the poller asks 100 ms after the last news.
    let h = start(
        backend,
        100,
        SimFaults {
            drop_pushes_next: 100,
            ..SimFaults::default()
        },
    )
    .await;
    let s = h.offered(2011).await;
    let (tx, signers) = h.transaction(s.ook).await;
    for signer in &signers {
        let answer = h.act(&tx, "sign", Some(signer)).await;
        assert_eq!(answer["postback"], Value::Null, "lost");
    }
    let d = h
        .until(s.key, "OOK signed by polling", |d| {
            d.onderwijsovereenkomsten[&s.ook].status == OokStatus::Ondertekend
                && status_of(d, &tx) == Some(SigningStatus::Signed)
        })
        .await;
    assert_eq!(
        d.aanmeldingen[&s.aanmelding].status,
        AanmeldStatus::Ingeschreven
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_an_ook_is_signed_through_the_provider() {
    signed_through_the_provider(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_an_ook_is_signed_through_the_provider() {
    signed_through_the_provider(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_rejected_and_expired_transactions() {
    rejected_and_expired(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rejected_and_expired_transactions() {
    rejected_and_expired(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_the_provider_down_for_a_while_loses_nothing() {
    provider_down_for_a_while(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_the_provider_down_for_a_while_loses_nothing() {
    provider_down_for_a_while(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_lost_postbacks_are_caught_by_the_poll() {
    lost_postbacks_caught_by_the_poll(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_lost_postbacks_are_caught_by_the_poll() {
    lost_postbacks_caught_by_the_poll(Backend::Real).await;
}
