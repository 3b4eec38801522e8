//! Connecting to PostgreSQL: TLS chosen from the URL (`sslmode`, `sslrootcert`), against the
//! local server; and a configured schema that does not exist.
//! Debian's PostgreSQL serves TLS with the host's self-signed certificate (for `localhost`); the
//! test asks the server where that certificate is and trusts exactly it.

use knooppunt_registry::store::{PgPoolError, pg_config, pg_connect, pg_pool};
use knooppunt_testkit::database_url;

/// `DATABASE_URL` with the host `localhost` (the name in the server's certificate) and `query`.
fn local_url(query: &str) -> String {
    let pg: tokio_postgres::Config = database_url().parse().unwrap();
    let user = pg.get_user().unwrap_or("postgres");
    let db = pg.get_dbname().unwrap_or("test");
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("postgres://{user}@localhost:{port}/{db}?{query}")
}

/// The server's own certificate file (readable here: the tests run on the database's host).
async fn server_certificate() -> String {
    let plain = pg_connect(&pg_config(&database_url(), None).unwrap())
        .await
        .unwrap();
    let ssl: String = plain.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    assert_eq!(ssl, "on", "the test server must serve TLS");
    plain
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn verify_full_connects_over_tls_to_the_server_the_ca_vouches_for() {
    let ca = server_certificate().await;
    let config = pg_config(
        &local_url(&format!(
            "sslmode=verify-full&sslrootcert={ca}&application_name=kp"
        )),
        None,
    )
    .unwrap();
    assert!(config.uses_tls());
    assert!(config.is_local());
    let pool = knooppunt_registry::store::pool_from_config(config, 2).unwrap();
    let client = pool.get().await.unwrap();
    let over_tls: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(over_tls, "the pool's connection is encrypted");
    // And a single connection made outside a pool.
    let single = pg_connect(
        &pg_config(
            &local_url(&format!("sslmode=verify-full&sslrootcert={ca}")),
            None,
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let over_tls: bool = single
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(over_tls);
}

#[tokio::test]
async fn a_server_the_ca_does_not_vouch_for_is_refused() {
    // The public CAs did not sign the server's self-signed certificate.
    let config = pg_config(
        &local_url("sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt"),
        None,
    )
    .unwrap();
    let pool = knooppunt_registry::store::pool_from_config(config, 1).unwrap();
    assert!(pool.get().await.is_err());
}

#[test]
fn tls_settings_that_cannot_be_honoured_are_named() {
    // TLS without a CA: never an unverified server.
    let e = pg_pool(&local_url("sslmode=require"), None, 1).unwrap_err();
    assert!(
        matches!(
            e,
            PgPoolError::Tls {
                param: "sslrootcert",
                ..
            }
        ),
        "{e}"
    );
    let e = pg_pool(&local_url("sslmode=maybe"), None, 1).unwrap_err();
    assert!(
        matches!(
            e,
            PgPoolError::Tls {
                param: "sslmode",
                ..
            }
        ),
        "{e}"
    );
    let e = pg_pool(
        &local_url("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
        None,
        1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    // Plain, and where.
    let plain = pg_config("postgres://kp@db.internal:5432/kp", None).unwrap();
    assert!(!plain.uses_tls());
    assert!(!plain.is_local());
    assert!(
        pg_config("postgres://kp@127.0.0.1/kp?sslmode=disable", None)
            .unwrap()
            .is_local()
    );
}

#[tokio::test]
async fn a_configured_schema_that_does_not_exist_is_named_with_the_fix() {
    use knooppunt_registry::store::{PgStore, PgStoreConfig, StoreError};
    let schema = format!("kp_missing_{}", uuid::Uuid::new_v4().simple());
    let Err(e) = PgStore::open(&PgStoreConfig {
        url: database_url(),
        schema: Some(schema.clone()),
        pool_size: 2,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    })
    .await
    else {
        panic!("a schema that does not exist was accepted");
    };
    let StoreError::Config(text) = e else {
        panic!("a configuration error, got {e}");
    };
    assert!(
        text.contains(&schema) && text.contains("does not exist") && text.contains("CREATE SCHEMA"),
        "{text}"
    );
}
