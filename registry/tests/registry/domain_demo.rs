//! The demo journey runs on the in-memory store and every step is accepted.

use knooppunt_registry::domain::institution::Levels;
use knooppunt_registry::domain::{AanmeldStatus, BpvStatus, KeuzedeelUitslag, OokStatus};
use knooppunt_registry::store::MemoryStore;
use knooppunt_sample as demo;

#[tokio::test]
async fn the_demo_journey_succeeds_on_the_memory_store() {
    let store = MemoryStore::new();
    let mut out = Vec::new();
    let report = demo::run(&store, &mut out).await.expect("demo runs");
    for step in &report.steps {
        assert!(
            step.result.is_ok(),
            "step {:?} failed: {:?}",
            step.title,
            step.result
        );
    }
    assert!(report.all_succeeded());
    assert_eq!(report.steps.len(), demo::journey(report.dossier).len());

    let d = report.final_dossier.expect("the dossier exists");
    let a = &d.aanmeldingen[&demo::AANMELDING];
    assert_eq!(a.status, AanmeldStatus::Ingeschreven);
    assert!(a.toelatingsrecht);
    let ook = &d.onderwijsovereenkomsten[&demo::OOK];
    assert_eq!(ook.status, OokStatus::Beeindigd);
    assert!(
        ook.handtekeningen.ouder.is_some(),
        "a parent signed for the 16-year-old"
    );
    assert_eq!(
        ook.reden_uitschrijving.as_ref().map(|r| r.as_str()),
        Some("01")
    );
    assert_eq!(
        d.praktijkovereenkomsten[&demo::BPV].status,
        BpvStatus::Beeindigd
    );
    let k = &d.keuzedelen[0];
    assert_eq!(
        k.resultaat.as_ref().map(|r| r.uitslag),
        Some(KeuzedeelUitslag::Behaald)
    );
    assert_eq!(
        k.resultaat.as_ref().map(|r| r.vastgelegd_door.as_str()),
        Some("30GT")
    );
    assert_eq!(d.diplomas.len(), 1);
    assert_eq!(d.examenresultaten.len(), 4);

    // Sequence numbers of the history run 1..n without gaps.
    let history = knooppunt_registry::store::Store::history(&store, report.dossier)
        .await
        .expect("history");
    let seqs: Vec<u64> = history.iter().map(|e| e.meta.sequence).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(d.sequence, seqs.len() as u64);

    let text = String::from_utf8(out).expect("utf-8 output");
    assert!(text.contains("nl.knooppunt.diploma.uitgereikt.v1"));
    assert!(text.contains("The dossier at the end:"));
}

#[test]
fn the_demo_reference_data_is_consistent() {
    let r = demo::reference_data();
    for (brin, i) in &r.institutions {
        assert_eq!(brin, &i.brin);
        assert_eq!(i.oin.brin().as_ref(), Some(brin));
    }
    for o in r.opleidingen.values() {
        assert!(
            r.institution(&o.instelling).is_some(),
            "opleiding of a known institution"
        );
        assert!(!o.cohorts.is_empty());
        for c in &o.cohorts {
            assert!(c.begin_aanmeldperiode <= c.einde_aanmeldperiode);
            assert!(c.einde_aanmeldperiode <= c.startdatum + chrono::Duration::days(1));
        }
    }
    for s in r.vo_scholen.values() {
        assert!(r.gemeenten.contains_key(&s.gemeente));
    }
    // Serialisable both ways (the store persists it).
    let json = serde_json::to_string(&r).expect("serialise");
    let back: knooppunt_registry::reference::ReferenceData =
        serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, r);
}

/// The same journey through PostgreSQL (a fresh schema from `DATABASE_URL`, dropped at the end):
/// every step is accepted and the stored dossier equals the fold of the journey's events.
#[tokio::test]
async fn the_demo_journey_succeeds_on_postgres() {
    use knooppunt_registry::domain::{DecideContext, Dossier};
    use knooppunt_registry::store::{PgStore, PgStoreConfig, Store};

    let schema = knooppunt_testkit::TestSchema::create("demo")
        .await
        .expect("PostgreSQL at DATABASE_URL");
    let config = PgStoreConfig {
        url: knooppunt_testkit::database_url(),
        schema: Some(schema.name().to_owned()),
        pool_size: 2,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    };
    let outcome = async {
        let store = PgStore::open(&config).await?;
        let mut out = Vec::new();
        let report = demo::run(&store, &mut out).await?;
        let history = store.history(report.dossier).await?;
        anyhow::Ok((report, history))
    }
    .await;
    schema.drop_now().await.expect("drop schema");
    let (report, history) = outcome.expect("demo on PostgreSQL");

    assert!(report.all_succeeded(), "{:?}", report.steps);
    let stored = report.final_dossier.expect("dossier");
    let reference = demo::reference_data();
    let mut local = Dossier::default();
    for step in demo::journey(report.dossier) {
        let ctx = DecideContext {
            reference: &reference,
            levels: Levels::none(),
            meta: &step.meta,
        };
        for e in local.decide(&step.command, &ctx).expect("accepted") {
            local.apply(&e);
        }
    }
    assert_eq!(stored, local);
    let types: Vec<&str> = history.iter().map(|e| e.data.type_name()).collect();
    assert_eq!(types.len() as u64, stored.sequence);
    assert_eq!(types.last(), Some(&"nl.knooppunt.diploma.uitgereikt.v1"));
}
