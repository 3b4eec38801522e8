//! The student reads (`/api/v1/studenten`) and the guest institution's result: each read is
//! decided by `policy::decide` and audited; consent gives exactly its parts and a withdrawal
//! takes effect at once; a guest institution sees only its part and records the result of the
//! keuzedeel it hosts (the home institution sees it in its feed); a samenwerkingsschool and a
//! bevoegd gezag read what the policy gives them with their own credentials; and the
//! robustness set on every new endpoint, each a 4xx problem that stores nothing.
//!
//! The student's side (DigiD) is not built, so consent is granted and withdrawn here through
//! the registry's commands as the student (`Actor::Student`), and DUO's personalia and the
//! sending school's overstapdossier are recorded through the registry as well.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::onderwijsovereenkomsten::{get, post, prepared};
use crate::resultaten::ook_of_25lx;
use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Days, NaiveDate, Utc};
use knooppunt_adapters::{Adapter, Mode};
use knooppunt_api::{ApiStore, ClientRegistry, FeedAdapter};
use knooppunt_ops::audit::{AuditEntry, AuditRecord, AuditTrail};
use knooppunt_registry::domain::{
    Command, ContentHash, Geboortedatum, Geslacht, OverstapSamenvatting, Personalia, Vooropleiding,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::{Brin, Oin, OnderwijsbestuurCode};
use knooppunt_registry::policy::Part;
use knooppunt_registry::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

/// AOC Groenland (krd), in the samenwerkingsverband of 25LX.
fn groenland() -> Brin {
    "30GT".parse().expect("brin")
}

/// ROC Kustland (va), no relation with the students here.
fn kustland() -> Brin {
    "28AB".parse().expect("brin")
}

/// The bevoegd gezag of 25LX (and 28AB).
fn bestuur_a() -> OnderwijsbestuurCode {
    "100B490".parse().expect("bestuur")
}

/// The bevoegd gezag of 27DV.
fn bestuur_b() -> OnderwijsbestuurCode {
    "100B491".parse().expect("bestuur")
}

fn bestuur_oin(b: &OnderwijsbestuurCode) -> Oin {
    ClientRegistry::sandbox_bestuur_oin(b).expect("oin")
}

/// Clients for 25LX, 27DV (guest), 30GT (samenwerkingsschool), 28AB, and the besturen
/// 100B490 and 100B491.
fn api() -> TestApi {
    test_api_with(|state| {
        let mut clients = ClientRegistry::new();
        for brin in [brin_a(), brin_b(), groenland(), kustland()] {
            clients.insert(brin.oin(), brin.clone(), SECRET);
        }
        for b in [bestuur_a(), bestuur_b()] {
            clients.insert_bestuur(bestuur_oin(&b), b, SECRET);
        }
        state.clients = Arc::new(clients);
    })
}

/// A request as the client `oin` (its token and certificate).
fn as_oin(
    method: &str,
    uri: &str,
    tok: &str,
    oin: &Oin,
    key: Option<&str>,
    body: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {tok}"));
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let mut req = b
        .body(body.map_or_else(Body::empty, |s| Body::from(s.to_owned())))
        .expect("request");
    req.extensions_mut().insert(peer(oin));
    req
}

async fn token_of(t: &TestApi, oin: &Oin) -> String {
    let a = send(&t.app, token_request(oin.as_str(), SECRET, Some(oin))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["access_token"].as_str().expect("token").to_owned()
}

/// A reader: its OIN and token.
struct Who {
    oin: Oin,
    tok: String,
}

impl Who {
    async fn institution(t: &TestApi, brin: &Brin) -> Self {
        Self::of(t, brin.oin()).await
    }

    async fn of(t: &TestApi, oin: Oin) -> Self {
        let tok = token_of(t, &oin).await;
        Self { oin, tok }
    }

    async fn lookup(&self, t: &TestApi, body: &Value) -> Answer {
        let body = body.to_string();
        send(
            &t.app,
            as_oin(
                "POST",
                "/api/v1/studenten/zoeken",
                &self.tok,
                &self.oin,
                None,
                Some(&body),
            ),
        )
        .await
    }

    /// The lookup of [`BSN`]: the student's reference and `delen`, or the answer.
    async fn find(&self, t: &TestApi) -> Result<(Uuid, Vec<String>), Answer> {
        let a = self.lookup(t, &json!({"bsn": BSN})).await;
        if a.status != StatusCode::OK {
            return Err(a);
        }
        let id = a.body["student"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("student");
        let delen = a.body["delen"]
            .as_array()
            .expect("delen")
            .iter()
            .map(|d| d.as_str().expect("part").to_owned())
            .collect();
        Ok((id, delen))
    }

    async fn read(&self, t: &TestApi, student: Uuid, part: &str) -> Answer {
        let uri = format!("/api/v1/studenten/{student}/{part}");
        send(
            &t.app,
            as_oin("GET", &uri, &self.tok, &self.oin, None, None),
        )
        .await
    }
}

/// Executes `command` on `key` as `actor` and expects it accepted.
async fn exec(t: &TestApi, key: DossierKey, actor: Actor, command: Command) {
    let meta = CommandMeta::new(key, actor, Utc::now());
    let outcome = t
        .store
        .execute(meta, command, &t.state.reference)
        .await
        .expect("store");
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

/// DUO's personalia and one vooropleiding for the student.
async fn duo_answered(t: &TestApi, key: DossierKey) {
    let personalia = Personalia {
        voornamen: "Sanne".into(),
        voorvoegsels: Some("van der".into()),
        achternaam: "Berg".into(),
        geboortedatum: Geboortedatum::new(2005, Some(4), Some(12)).expect("date"),
        geslacht: Geslacht::V,
        woongemeente: Some("0599".parse().expect("gemeente")),
        startkwalificatie: false,
    };
    exec(
        t,
        key,
        Actor::System,
        Command::RecordPersonalia { personalia },
    )
    .await;
    let vooropleiding = Vooropleiding {
        instelling: Some("19XY".parse().expect("brin")),
        opleiding: "VMBO-GL".into(),
        omschrijving: "vmbo gemengde leerweg".into(),
        vanaf: NaiveDate::from_ymd_opt(2021, 8, 1),
        tot_en_met: NaiveDate::from_ymd_opt(2025, 7, 31),
        diploma_behaald: true,
        datum_uitslag: NaiveDate::from_ymd_opt(2025, 7, 1),
    };
    exec(
        t,
        key,
        Actor::System,
        Command::RecordVooropleiding { vooropleiding },
    )
    .await;
}

async fn grant(t: &TestApi, key: DossierKey, brin: &Brin, scopes: &[Part]) {
    let scopes: BTreeSet<Part> = scopes.iter().copied().collect();
    let command = Command::GrantConsent {
        instelling: brin.clone(),
        scopes,
    };
    exec(t, key, Actor::Student { dossier: key }, command).await;
}

async fn withdraw(t: &TestApi, key: DossierKey, brin: &Brin) {
    let command = Command::WithdrawConsent {
        instelling: brin.clone(),
    };
    exec(t, key, Actor::Student { dossier: key }, command).await;
}

async fn reads_of(t: &TestApi, key: DossierKey) -> Vec<AuditRecord> {
    t.audit
        .chain(&AuditEntry::dossier_chain(key))
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| {
            r.entry
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("/api/v1/studenten"))
        })
        .collect()
}

/// `(actor, part, ground or reason, denied)` of each audited student read.
fn summary(records: &[AuditRecord]) -> Vec<(String, String, String, bool)> {
    records
        .iter()
        .map(|r| {
            (
                r.entry.actor.clone().unwrap_or_default(),
                r.entry.status.clone().unwrap_or_default(),
                r.entry.reason.clone().unwrap_or_default(),
                r.entry.hop.as_str() == "read_denied",
            )
        })
        .collect()
}

#[tokio::test]
async fn consent_gives_exactly_its_parts_and_a_withdrawal_refuses_the_next_read() {
    let t = api();
    let zuidwaard = Who::institution(&t, &brin_a()).await;
    // An aanmelding at 25LX; DUO answered.
    let aanmelding = Uuid::new_v4();
    let a = submit(&t.app, &zuidwaard.tok, &brin_a(), "s1", aanmelding, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let (student, delen) = zuidwaard.find(&t).await.expect("found");
    let key = DossierKey(student);
    assert!(delen.is_empty(), "no consent yet: {delen:?}");
    duo_answered(&t, key).await;

    // Without consent: 403 no_consent for each part, naming it.
    for part in [
        "personalia",
        "vooropleidingen",
        "overstapdossier",
        "keuzedelen",
    ] {
        let a = zuidwaard.read(&t, student, part).await;
        a.assert_problem(403, "no_consent");
        assert!(
            a.body["detail"].as_str().unwrap_or("").contains(part),
            "{}",
            a.text
        );
    }

    // Consent for personalia and the overstapdossier; the sending school's dossier arrives.
    grant(
        &t,
        key,
        &brin_a(),
        &[Part::Personalia, Part::Overstapdossier],
    )
    .await;
    exec(
        &t,
        key,
        Actor::System,
        Command::AttachOverstapdossier {
            school: "19XY".parse().expect("brin"),
            samenvatting: OverstapSamenvatting {
                soort_overstap: "VOMBO".into(),
                gegevensset: "2019.1".into(),
                blokken: ["overigvombo".to_owned()].into(),
            },
            content_hash: ContentHash::of(b"<dossier/>"),
        },
    )
    .await;
    let (_, delen) = zuidwaard.find(&t).await.expect("found");
    assert_eq!(delen, ["personalia", "overstapdossier"]);
    let a = zuidwaard.read(&t, student, "personalia").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"voornamen": "Sanne", "voorvoegsels": "van der", "achternaam": "Berg",
               "geboortedatum": "2005-04-12", "geslacht": "V", "woongemeente": "0599"})
    );
    let a = zuidwaard.read(&t, student, "overstapdossier").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.body["items"][0]["school"], "19XY");
    assert_eq!(a.body["items"][0]["soort_overstap"], "VOMBO");
    assert_eq!(
        a.body["items"][0]["content_hash"],
        ContentHash::of(b"<dossier/>").as_str()
    );
    // Nothing beyond the consent.
    for part in ["vooropleidingen", "keuzedelen"] {
        zuidwaard
            .read(&t, student, part)
            .await
            .assert_problem(403, "no_consent");
    }

    // Another scope replaces the first: vooropleidingen only.
    grant(&t, key, &brin_a(), &[Part::Vooropleidingen]).await;
    let a = zuidwaard.read(&t, student, "vooropleidingen").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body["items"],
        json!([{"instelling": "19XY", "opleiding": "VMBO-GL", "omschrijving": "vmbo gemengde leerweg",
                "vanaf": "2021-08-01", "tot_en_met": "2025-07-31", "diploma_behaald": true,
                "datum_uitslag": "2025-07-01"}])
    );
    zuidwaard
        .read(&t, student, "personalia")
        .await
        .assert_problem(403, "no_consent");

    // Withdrawn: the very next read is refused.
    withdraw(&t, key, &brin_a()).await;
    zuidwaard
        .read(&t, student, "vooropleidingen")
        .await
        .assert_problem(403, "no_consent");
    let (_, delen) = zuidwaard
        .find(&t)
        .await
        .expect("still related by the aanmelding");
    assert!(delen.is_empty(), "{delen:?}");

    // An institution without any relation: the student does not exist for it.
    let stranger = Who::institution(&t, &kustland()).await;
    stranger
        .find(&t)
        .await
        .expect_err("no relation")
        .assert_problem(404, "not_found");
    stranger
        .read(&t, student, "personalia")
        .await
        .assert_problem(404, "not_found");
    // An unknown student and a malformed reference: 404.
    zuidwaard
        .read(&t, Uuid::new_v4(), "personalia")
        .await
        .assert_problem(404, "not_found");
    let uri = "/api/v1/studenten/not-a-uuid/personalia";
    let a = send(
        &t.app,
        as_oin("GET", uri, &zuidwaard.tok, &zuidwaard.oin, None, None),
    )
    .await;
    a.assert_problem(404, "not_found");

    // Every read (and lookup) of this dossier is in the audit trail, allowed or denied, with
    // ids only.
    let reads = reads_of(&t, key).await;
    let s = summary(&reads);
    let z = "institution:25LX".to_owned();
    let row =
        |part: &str, why: &str, denied: bool| (z.clone(), part.to_owned(), why.to_owned(), denied);
    // The first read of each part: denied for want of consent; then the consented ones.
    assert!(
        s.contains(&row("personalia", "not_for_this_relation", true)),
        "{s:?}"
    );
    assert!(s.contains(&row("personalia", "consent", false)), "{s:?}");
    assert!(
        s.contains(&row("overstapdossier", "consent", false)),
        "{s:?}"
    );
    assert!(
        s.contains(&row("vooropleidingen", "consent", false)),
        "{s:?}"
    );
    let stranger_reads: Vec<_> = s
        .iter()
        .filter(|r| r.0 == "institution:28AB")
        .cloned()
        .collect();
    assert!(
        stranger_reads.contains(&(
            "institution:28AB".into(),
            "personalia".into(),
            "no_relation".into(),
            true
        )),
        "{s:?}"
    );
    // 11 reads of one part by 25LX and 1 by 28AB; 3 lookups by 25LX and 1 by 28AB, each
    // deciding the 4 parts.
    let gets = reads
        .iter()
        .filter(|r| {
            !r.entry
                .endpoint
                .as_deref()
                .unwrap_or("")
                .ends_with("/zoeken")
        })
        .count();
    assert_eq!(gets, 12, "{s:?}");
    let lookups = reads.len() - gets;
    assert_eq!(lookups, 4 * 4, "{s:?}");
    let text = format!("{reads:?}");
    assert!(!text.contains(BSN) && !text.contains("Sanne") && !text.contains("Berg"));
}

#[tokio::test]
async fn a_guest_institution_sees_only_its_part_and_records_the_result_with_its_own_credentials() {
    let t = api();
    let zuidwaard = Who::institution(&t, &brin_a()).await;
    let (ook, key) = ook_of_25lx(&t, &zuidwaard.tok, true).await;
    duo_answered(&t, key).await;
    let kd = format!("/api/v1/onderwijsovereenkomsten/{ook}/keuzedelen");
    for (k, body) in [
        ("k1", json!({"code": "K0067"})),
        ("k2", json!({"code": "K0100", "gastinstelling": "27DV"})),
    ] {
        let a = post(&t, &zuidwaard.tok, &brin_a(), &kd, k, &body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    }

    // The guest (27DV) finds the student and may read what the policy gives a guest:
    // personalia and the keuzedelen it hosts; nothing else.
    let guest = Who::institution(&t, &brin_b()).await;
    let (student, delen) = guest.find(&t).await.expect("found");
    assert_eq!(student, key.0);
    assert_eq!(delen, ["personalia", "keuzedelen"]);
    let a = guest.read(&t, student, "keuzedelen").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body["items"],
        json!([{"onderwijsovereenkomst": ook, "code": "K0100", "instelling": "25LX", "gastinstelling": "27DV"}])
    );
    let a = guest.read(&t, student, "personalia").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    for part in ["vooropleidingen", "overstapdossier"] {
        let a = guest.read(&t, student, part).await;
        a.assert_problem(403, "not_permitted");
        assert!(a.body["detail"].as_str().unwrap_or("").contains(part));
    }
    // Nor the agreement itself.
    get(
        &t,
        &guest.tok,
        &brin_b(),
        &format!("/api/v1/onderwijsovereenkomsten/{ook}"),
    )
    .await
    .assert_problem(404, "not_found");

    // The guest records the result of the keuzedeel it hosts, not of the other one.
    let datum = Utc::now().date_naive() - Days::new(2);
    let res = |code: &str| format!("/api/v1/studenten/{student}/keuzedelen/{ook}/{code}/resultaat");
    let body = json!({"uitslag": "behaald", "datum": datum});
    let a = post(&t, &guest.tok, &brin_b(), &res("K0100"), "g1", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"onderwijsovereenkomst": ook, "code": "K0100", "instelling": "25LX", "gastinstelling": "27DV",
               "resultaat": {"uitslag": "behaald", "datum": datum, "vastgelegd_door": "27DV"}})
    );
    // Replayed: the same answer.
    let again = post(&t, &guest.tok, &brin_b(), &res("K0100"), "g1", &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body, a.body);
    post(&t, &guest.tok, &brin_b(), &res("K0067"), "g2", &body)
        .await
        .assert_problem(404, "not_found");
    post(&t, &guest.tok, &brin_b(), &res("K0999"), "g3", &body)
        .await
        .assert_problem(404, "not_found");
    // An institution without a relation cannot record one either.
    let stranger = Who::institution(&t, &kustland()).await;
    post(&t, &stranger.tok, &kustland(), &res("K0100"), "g4", &body)
        .await
        .assert_problem(404, "not_found");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    let recorded: Vec<_> = d
        .keuzedelen
        .iter()
        .map(|k| {
            (
                k.code.as_str().to_owned(),
                k.resultaat
                    .as_ref()
                    .map(|r| r.vastgelegd_door.as_str().to_owned()),
            )
        })
        .collect();
    assert_eq!(
        recorded,
        [
            ("K0067".to_owned(), None),
            ("K0100".to_owned(), Some("27DV".to_owned()))
        ]
    );

    // The home institution sees the result in its feed.
    let adapter = FeedAdapter::new(
        t.api_store.clone() as Arc<dyn ApiStore>,
        t.state.reference.clone(),
    );
    for e in t.store.history(key).await.expect("history") {
        adapter.deliver(&e, Mode::Live).await;
    }
    let feed = get(&t, &zuidwaard.tok, &brin_a(), "/api/v1/feed?limit=100").await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    let results: Vec<&Value> = feed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["type"] == "nl.knooppunt.keuzedeel.resultaat_vastgelegd.v1")
        .collect();
    assert_eq!(results.len(), 1, "{}", feed.text);
    assert_eq!(results[0]["keuzedeel"], "K0100");
    assert_eq!(results[0]["status"], "behaald");
    assert_eq!(results[0]["ook_id"], ook.to_string());

    // Audited: the guest's reads on the guest ground, its refusals too.
    let s = summary(&reads_of(&t, key).await);
    let g = |part: &str, why: &str, denied: bool| {
        (
            "institution:27DV".to_owned(),
            part.to_owned(),
            why.to_owned(),
            denied,
        )
    };
    assert!(
        s.contains(&g("keuzedelen", "guest_institution", false)),
        "{s:?}"
    );
    assert!(
        s.contains(&g("personalia", "guest_institution", false)),
        "{s:?}"
    );
    assert!(
        s.contains(&g("vooropleidingen", "not_for_this_relation", true)),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_samenwerkingsschool_and_a_bevoegd_gezag_read_what_the_policy_gives_them() {
    let t = api();
    let zuidwaard = Who::institution(&t, &brin_a()).await;
    let samenwerking = Who::institution(&t, &groenland()).await;
    let bestuur = Who::of(&t, bestuur_oin(&bestuur_a())).await;

    // Before 25LX enrols the student (an aanmelding, no signed agreement) neither is related.
    prepared(&t, &zuidwaard.tok).await;
    for who in [&samenwerking, &bestuur] {
        who.find(&t)
            .await
            .expect_err("not related yet")
            .assert_problem(404, "not_found");
    }

    // Enrolled (a signed OOK at 25LX; a fresh API and store).
    let t = api();
    let zuidwaard = Who::institution(&t, &brin_a()).await;
    let samenwerking = Who::institution(&t, &groenland()).await;
    let (ook, key) = ook_of_25lx(&t, &zuidwaard.tok, true).await;
    duo_answered(&t, key).await;
    let kd = format!("/api/v1/onderwijsovereenkomsten/{ook}/keuzedelen");
    let a = post(
        &t,
        &zuidwaard.tok,
        &brin_a(),
        &kd,
        "k1",
        &json!({"code": "K0067"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);

    // The samenwerkingsschool: the enrolment parts, the keuzedelen of its verband.
    let (student, delen) = samenwerking.find(&t).await.expect("found");
    assert_eq!(delen, ["personalia", "keuzedelen"]);
    let a = samenwerking.read(&t, student, "personalia").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["achternaam"], "Berg");
    let a = samenwerking.read(&t, student, "keuzedelen").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["items"][0]["code"], "K0067");
    for part in ["vooropleidingen", "overstapdossier"] {
        samenwerking
            .read(&t, student, part)
            .await
            .assert_problem(403, "not_permitted");
    }

    // The bevoegd gezag of 25LX with its own credentials.
    let bestuur = Who::of(&t, bestuur_oin(&bestuur_a())).await;
    let (found, delen) = bestuur.find(&t).await.expect("found");
    assert_eq!(found, student);
    assert_eq!(delen, ["personalia", "keuzedelen"]);
    let a = bestuur.read(&t, student, "personalia").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["voornamen"], "Sanne");
    let a = bestuur.read(&t, student, "keuzedelen").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["items"].as_array().map(Vec::len), Some(1));
    for part in ["vooropleidingen", "overstapdossier"] {
        bestuur
            .read(&t, student, part)
            .await
            .assert_problem(403, "not_permitted");
    }
    // Another bestuur has no relation.
    let other_bestuur = Who::of(&t, bestuur_oin(&bestuur_b())).await;
    other_bestuur
        .read(&t, student, "personalia")
        .await
        .assert_problem(404, "not_found");
    // A bestuur reads students only: every institution endpoint refuses it, and it records
    // nothing.
    let a = send(
        &t.app,
        as_oin(
            "GET",
            "/api/v1/aanmeldingen",
            &bestuur.tok,
            &bestuur.oin,
            None,
            None,
        ),
    )
    .await;
    a.assert_problem(403, "not_permitted");
    let uri = format!("/api/v1/studenten/{student}/keuzedelen/{ook}/K0067/resultaat");
    let body = json!({"uitslag": "behaald", "datum": Utc::now().date_naive()}).to_string();
    let a = send(
        &t.app,
        as_oin(
            "POST",
            &uri,
            &bestuur.tok,
            &bestuur.oin,
            Some("b1"),
            Some(&body),
        ),
    )
    .await;
    a.assert_problem(403, "not_permitted");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert!(d.keuzedelen[0].resultaat.is_none());

    // Audited with their own actors and grounds.
    let s = summary(&reads_of(&t, key).await);
    let row = |actor: &str, part: &str, why: &str, denied: bool| {
        (actor.to_owned(), part.to_owned(), why.to_owned(), denied)
    };
    assert!(
        s.contains(&row(
            "institution:30GT",
            "personalia",
            "samenwerkingsschool",
            false
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&row(
            "bevoegd_gezag:100B490",
            "personalia",
            "bevoegd_gezag",
            false
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&row(
            "bevoegd_gezag:100B490",
            "vooropleidingen",
            "not_for_this_relation",
            true
        )),
        "{s:?}"
    );
    assert!(
        s.contains(&row(
            "bevoegd_gezag:100B491",
            "personalia",
            "no_relation",
            true
        )),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_bestuur_token_is_issued_over_mtls_and_carries_the_bestuur() {
    let t = api();
    let oin = bestuur_oin(&bestuur_a());
    let a = send(&t.app, token_request(oin.as_str(), SECRET, Some(&oin))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let claims = t
        .state
        .tokens
        .verify(a.body["access_token"].as_str().expect("token"))
        .expect("valid");
    assert_eq!(claims.bestuur.as_deref(), Some("100B490"));
    assert_eq!(claims.brin, "");
    // Wrong secret, another certificate: the one refusal.
    let a = send(
        &t.app,
        token_request(oin.as_str(), "wrong-secret-000000", Some(&oin)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    assert_eq!(a.body["error"], "invalid_client");
    let a = send(
        &t.app,
        token_request(oin.as_str(), SECRET, Some(&brin_a().oin())),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
}

#[tokio::test]
async fn every_student_endpoint_refuses_malformed_requests_and_stores_nothing() {
    let t = api();
    let zuidwaard = Who::institution(&t, &brin_a()).await;
    let (ook, key) = ook_of_25lx(&t, &zuidwaard.tok, true).await;
    let kd = format!("/api/v1/onderwijsovereenkomsten/{ook}/keuzedelen");
    let a = post(
        &t,
        &zuidwaard.tok,
        &brin_a(),
        &kd,
        "k1",
        &json!({"code": "K0100", "gastinstelling": "27DV"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let guest = Who::institution(&t, &brin_b()).await;
    let student = key.0;
    let datum = Utc::now().date_naive() - Days::new(1);
    let result_path = format!("/api/v1/studenten/{student}/keuzedelen/{ook}/K0100/resultaat");
    let raw = |method: &str, path: &str, key: Option<&str>, body: &str| {
        let mut r = as_oin(method, path, &guest.tok, &guest.oin, key, None);
        r.headers_mut()
            .insert("content-type", "application/json".parse().expect("header"));
        *r.body_mut() = Body::from(body.to_owned());
        r
    };
    // (path, idempotency key or not, a valid body, a body with a wrong type, its field)
    let posts: [(&str, bool, Value, Value, &str); 2] = [
        (
            "/api/v1/studenten/zoeken",
            false,
            json!({"bsn": BSN}),
            json!({"bsn": 123456782}),
            "bsn",
        ),
        (
            &result_path,
            true,
            json!({"uitslag": "behaald", "datum": datum}),
            json!({"uitslag": "ja", "datum": datum}),
            "uitslag",
        ),
    ];
    for (n, (path, keyed, valid, wrong, field)) in posts.iter().enumerate() {
        let k = |s: &str| keyed.then(|| format!("{s}{n}"));
        send(&t.app, raw("POST", path, k("m").as_deref(), "{]"))
            .await
            .assert_problem(400, "malformed_json");
        let a = send(
            &t.app,
            raw("POST", path, k("w").as_deref(), &wrong.to_string()),
        )
        .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], *field, "{path}: {}", a.text);
        let mut unknown = valid.clone();
        unknown["extra"] = json!(1);
        let a = send(
            &t.app,
            raw("POST", path, k("u").as_deref(), &unknown.to_string()),
        )
        .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], "extra", "{path}: {}", a.text);
        let mut big = valid.clone();
        big["extra"] = json!("x".repeat(70 * 1024));
        send(
            &t.app,
            raw("POST", path, k("b").as_deref(), &big.to_string()),
        )
        .await
        .assert_problem(413, "body_too_large");
        let mut text = raw("POST", path, k("x").as_deref(), &valid.to_string());
        text.headers_mut()
            .insert("content-type", "text/plain".parse().expect("header"));
        send(&t.app, text)
            .await
            .assert_problem(415, "unsupported_media_type");
        let mut no_token = raw("POST", path, k("t").as_deref(), &valid.to_string());
        no_token.headers_mut().remove("authorization");
        send(&t.app, no_token)
            .await
            .assert_problem(401, "missing_token");
        let mut bad_token = raw("POST", path, k("f").as_deref(), &valid.to_string());
        bad_token.headers_mut().insert(
            "authorization",
            "Bearer forged.token".parse().expect("header"),
        );
        send(&t.app, bad_token)
            .await
            .assert_problem(401, "invalid_token");
        let mut wrong_cert = raw("POST", path, k("c").as_deref(), &valid.to_string());
        wrong_cert.extensions_mut().insert(peer(&brin_a().oin()));
        send(&t.app, wrong_cert)
            .await
            .assert_problem(403, "certificate_oin_mismatch");
    }
    // The lookup's identifiers: malformed, both, neither.
    for (body, field) in [
        (json!({"bsn": BAD_BSN}), "bsn"),
        (json!({"onderwijsnummer": "12"}), "onderwijsnummer"),
        (json!({"bsn": BSN, "onderwijsnummer": "101234567"}), "bsn"),
        (json!({}), "bsn"),
    ] {
        let a = guest.lookup(&t, &body).await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], field, "{}", a.text);
        assert!(!a.text.contains(BAD_BSN), "no echo: {}", a.text);
    }
    // The result takes an Idempotency-Key.
    let mut no_key = raw("POST", &result_path, None, &posts[1].2.to_string());
    no_key.headers_mut().remove("idempotency-key");
    send(&t.app, no_key)
        .await
        .assert_problem(400, "idempotency_key_missing");
    // The reads: no token, a forged token, another certificate.
    for part in [
        "personalia",
        "vooropleidingen",
        "overstapdossier",
        "keuzedelen",
    ] {
        let uri = format!("/api/v1/studenten/{student}/{part}");
        let mut r = as_oin("GET", &uri, &guest.tok, &guest.oin, None, None);
        r.headers_mut().remove("authorization");
        send(&t.app, r).await.assert_problem(401, "missing_token");
        let r = as_oin("GET", &uri, "forged.token", &guest.oin, None, None);
        send(&t.app, r).await.assert_problem(401, "invalid_token");
        let r = as_oin("GET", &uri, &guest.tok, &brin_a().oin(), None, None);
        send(&t.app, r)
            .await
            .assert_problem(403, "certificate_oin_mismatch");
    }
    // Nothing stored by any of it.
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    assert!(d.keuzedelen[0].resultaat.is_none());

    // A replayed Idempotency-Key with another body: 422, and the first answer stands.
    let first = send(
        &t.app,
        raw(
            "POST",
            &result_path,
            Some("r-reuse"),
            &posts[1].2.to_string(),
        ),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let other = json!({"uitslag": "niet_behaald", "datum": datum}).to_string();
    send(&t.app, raw("POST", &result_path, Some("r-reuse"), &other))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let d = t.store.dossier(key).await.expect("store").expect("dossier");
    let r = d.keuzedelen[0].resultaat.as_ref().expect("result");
    assert_eq!(serde_json::to_value(r.uitslag).expect("json"), "behaald");
    // The lookup changes nothing and stores no answer: an Idempotency-Key on it is ignored,
    // so another body under the same key is answered for that body.
    let lk = raw(
        "POST",
        "/api/v1/studenten/zoeken",
        Some("l-same"),
        &json!({"bsn": BSN}).to_string(),
    );
    assert_eq!(send(&t.app, lk).await.status, StatusCode::OK);
    let other = raw(
        "POST",
        "/api/v1/studenten/zoeken",
        Some("l-same"),
        &json!({"bsn": BSN2}).to_string(),
    );
    send(&t.app, other).await.assert_problem(404, "not_found");
}
