//! The keyed person index on PostgreSQL: the database remembers its key and refuses another,
//! and an index of unkeyed fingerprints (releases before 0.5) is re-keyed once at open.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use knooppunt_registry::domain::{Command, Person};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_registry::store::{PgStore, PgStoreConfig, Store, StoreError};
use knooppunt_testkit::{TestSchema, database_url, pg_client};

fn config(schema: &TestSchema, key: &PersonKey) -> PgStoreConfig {
    PgStoreConfig {
        url: database_url(),
        schema: Some(schema.name().to_owned()),
        pool_size: 2,
        person_key: key.clone(),
    }
}

async fn open_dossiers(store: &PgStore, persons: &[PersonId]) -> Vec<DossierKey> {
    let time = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
    let mut keys = Vec::new();
    for p in persons {
        let key = DossierKey::new();
        let outcome = store
            .execute(
                CommandMeta::new(key, Actor::System, time),
                Command::OpenDossier {
                    person: Person { id: p.clone() },
                },
                &ReferenceData::default(),
            )
            .await
            .unwrap();
        assert!(outcome.result.is_ok());
        keys.push(key);
    }
    keys
}

/// The unkeyed fingerprint of releases before 0.5 (SHA-256 over a domain-separated form).
fn unkeyed(p: &PersonId) -> String {
    use sha2::{Digest, Sha256};
    let kind = match p {
        PersonId::Bsn(_) => "bsn:",
        PersonId::Onderwijsnummer(_) => "onr:",
    };
    hex::encode(Sha256::digest(
        format!("knooppunt:person:v1:{kind}{}", p.digits()).as_bytes(),
    ))
}

#[tokio::test]
async fn the_index_remembers_its_key_and_refuses_another() {
    let schema = TestSchema::create("pkey").await.unwrap();
    let key = PersonKey::random();
    let store = PgStore::open(&config(&schema, &key)).await.unwrap();
    let persons: Vec<PersonId> = (0..3).map(synthetic_person).collect();
    let keys = open_dossiers(&store, &persons).await;
    drop(store);

    // The same key again: nothing to do, every person found.
    let again = PgStore::open(&config(&schema, &key)).await.unwrap();
    assert_eq!(again.index_persons().await.unwrap(), 0);
    for (p, k) in persons.iter().zip(&keys) {
        assert_eq!(again.find_dossier(p).await.unwrap(), Some(*k));
    }
    drop(again);

    // Another key: refused, naming the setting and both key ids (never the key).
    let other = PersonKey::random();
    let Err(e) = PgStore::open(&config(&schema, &other)).await else {
        panic!("a node with another person key was let in");
    };
    let StoreError::Config(text) = e else {
        panic!("a configuration error, got {e}");
    };
    assert!(
        text.contains("store.person_key_file")
            && text.contains(&key.key_id())
            && text.contains(&other.key_id()),
        "{text}"
    );

    // Without the key, the stored fingerprints are not those of a plain hash of the number.
    let admin = pg_client().await.unwrap();
    let stored: Vec<String> = admin
        .query(
            &format!("SELECT person_fingerprint FROM {}.dossiers", schema.name()),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 3);
    for p in &persons {
        assert!(!stored.contains(&unkeyed(p)));
        assert!(stored.contains(&key.fingerprint(p)));
    }
}

#[tokio::test]
async fn an_unkeyed_index_is_rekeyed_once_at_open() {
    let schema = TestSchema::create("pkey").await.unwrap();
    let first = PersonKey::random();
    let store = Arc::new(PgStore::open(&config(&schema, &first)).await.unwrap());
    let persons: Vec<PersonId> = (10..15).map(synthetic_person).collect();
    let keys = open_dossiers(&store, &persons).await;
    drop(store);

    // Make it look like a database of an earlier release: unkeyed fingerprints, no key id.
    let admin = pg_client().await.unwrap();
    let s = schema.name();
    admin
        .execute(&format!("DELETE FROM {s}.person_key"), &[])
        .await
        .unwrap();
    for p in &persons {
        admin
            .execute(
                &format!(
                    "UPDATE {s}.dossiers SET person_fingerprint = $1 WHERE person_fingerprint = $2"
                ),
                &[&unkeyed(p), &first.fingerprint(p)],
            )
            .await
            .unwrap();
    }

    // Opened with the configured key: every row re-keyed from the person in its state.
    let key = PersonKey::random();
    let store = PgStore::connect(&config(&schema, &key)).unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.index_persons().await.unwrap(), 5);
    for (p, k) in persons.iter().zip(&keys) {
        assert_eq!(store.find_dossier(p).await.unwrap(), Some(*k));
    }
    // Recorded: a second open has nothing to do, and another key is refused.
    assert_eq!(store.index_persons().await.unwrap(), 0);
    let recorded: String = admin
        .query_one(&format!("SELECT key_id FROM {s}.person_key"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, key.key_id());
    assert!(PgStore::open(&config(&schema, &first)).await.is_err());

    // A new dossier for a re-keyed person is refused as a duplicate person.
    let time = Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap();
    let outcome = store
        .execute(
            CommandMeta::new(DossierKey::new(), Actor::System, time),
            Command::OpenDossier {
                person: Person {
                    id: persons[0].clone(),
                },
            },
            &ReferenceData::default(),
        )
        .await
        .unwrap();
    assert!(outcome.result.is_err(), "a second dossier for one person");
}
