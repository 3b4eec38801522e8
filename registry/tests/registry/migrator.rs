//! The migration runner and the pool builder against PostgreSQL (`DATABASE_URL`): each test works
//! in a fresh schema and drops it afterwards, also when it fails.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use knooppunt_registry::store::{
    MigrateError, Migration, Migrator, PgPoolError, migrations, pg_config, pg_connect, pg_pool,
};
use tokio_postgres::Client;
use uuid::Uuid;

const TABLE: &str = "t_schema_migrations";

static V1: Migration = Migration {
    version: 1,
    name: "alpha",
    sql: "CREATE TABLE t_alpha (id integer PRIMARY KEY)",
};
static V2: Migration = Migration {
    version: 2,
    name: "beta",
    sql: "CREATE TABLE t_beta (id integer PRIMARY KEY); INSERT INTO t_beta VALUES (1)",
};
static V3: Migration = Migration {
    version: 3,
    name: "gamma",
    sql: "ALTER TABLE t_beta ADD COLUMN note text",
};
/// Version 1 with different SQL (an applied file that was edited).
static V1_EDITED: Migration = Migration {
    version: 1,
    name: "alpha",
    sql: "CREATE TABLE t_alpha (id bigint PRIMARY KEY)",
};

static ONE: Migrator = Migrator::new("test", TABLE, &[V1]);
static TWO: Migrator = Migrator::new("test", TABLE, &[V1, V2]);
static THREE: Migrator = Migrator::new("test", TABLE, &[V1, V2, V3]);
static EDITED: Migrator = Migrator::new("test", TABLE, &[V1_EDITED, V2, V3]);
static FAILING: Migrator = Migrator::new(
    "test",
    TABLE,
    &[
        V1,
        Migration {
            version: 2,
            name: "broken",
            sql: "CREATE TABLE t_broken (id integer); SELECT no_such_column FROM t_broken",
        },
    ],
);

use knooppunt_testkit::database_url;

/// A fresh schema, and an administrative connection outside it.
#[derive(Clone)]
struct Schema {
    admin: Arc<Client>,
    name: String,
}

impl Schema {
    async fn create() -> Self {
        let admin = pg_connect(&pg_config(&database_url(), None).unwrap())
            .await
            .expect("PostgreSQL at DATABASE_URL is required for these tests");
        let name = format!("migrator_test_{}", Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        Self {
            admin: Arc::new(admin),
            name,
        }
    }

    /// A new connection working in this schema.
    async fn client(&self) -> Client {
        pg_connect(&pg_config(&database_url(), Some(&self.name)).unwrap())
            .await
            .expect("connect")
    }

    /// The versions and checksums recorded in `table`.
    async fn recorded(&self, table: &str) -> Vec<(i32, String, Option<String>)> {
        self.admin
            .query(
                &format!(
                    "SELECT version, name, checksum FROM {}.{table} ORDER BY version",
                    self.name
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    async fn has_table(&self, table: &str) -> bool {
        self.admin
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{}.{table}", self.name)],
            )
            .await
            .unwrap()
            .get(0)
    }
}

/// Runs `test` in a fresh schema and drops the schema afterwards, also when `test` panics.
async fn in_schema<F, Fut>(test: F)
where
    F: FnOnce(Schema) -> Fut,
    Fut: Future<Output = ()>,
{
    let schema = Schema::create().await;
    let outcome = AssertUnwindSafe(test(schema.clone())).catch_unwind().await;
    schema
        .admin
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", schema.name))
        .await
        .expect("drop schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn applying_twice_is_a_no_op() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        assert_eq!(TWO.run(&mut client).await.unwrap(), vec![1, 2]);
        assert_eq!(TWO.run(&mut client).await.unwrap(), Vec::<i32>::new());
        let recorded = s.recorded(TABLE).await;
        assert_eq!(
            recorded,
            vec![
                (1, "alpha".to_owned(), Some(V1.checksum())),
                (2, "beta".to_owned(), Some(V2.checksum())),
            ]
        );
        // A later binary applies only what is new.
        assert_eq!(THREE.run(&mut client).await.unwrap(), vec![3]);
        assert_eq!(THREE.run(&mut client).await.unwrap(), Vec::<i32>::new());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_apply_each_file_once() {
    in_schema(|s| async move {
        // Connect first, so the runs start as close together as possible.
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(s.client().await);
        }
        let runs: Vec<_> = clients
            .into_iter()
            .map(|mut client| tokio::spawn(async move { THREE.run(&mut client).await }))
            .collect();
        let mut applied = Vec::new();
        for run in runs {
            // The files are not idempotent (CREATE TABLE, INSERT): applying one twice would
            // fail here.
            applied.extend(run.await.unwrap().unwrap());
        }
        assert_eq!(applied, vec![1, 2, 3], "each file applied exactly once");
        assert_eq!(s.recorded(TABLE).await.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_changed_file_is_refused_with_its_version() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        assert_eq!(ONE.run(&mut client).await.unwrap(), vec![1]);
        let err = EDITED.run(&mut client).await.unwrap_err();
        match &err {
            MigrateError::ChecksumMismatch {
                namespace,
                version,
                file,
                recorded,
                expected,
            } => {
                assert_eq!(*namespace, "test");
                assert_eq!(*version, 1);
                assert_eq!(file, "0001_alpha.sql");
                assert_eq!(*recorded, V1.checksum());
                assert_eq!(*expected, V1_EDITED.checksum());
            }
            other => panic!("expected a checksum mismatch, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("migration 1 (0001_alpha.sql)"), "{text}");
        assert!(!text.contains("CREATE"), "no SQL in the error: {text}");
        assert!(!err.is_transient());
        // Refused as a whole: the pending versions were not applied.
        assert!(!s.has_table("t_beta").await);
        assert_eq!(s.recorded(TABLE).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_unknown_newer_version_is_refused() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        assert_eq!(THREE.run(&mut client).await.unwrap(), vec![1, 2, 3]);
        let err = ONE.run(&mut client).await.unwrap_err();
        match &err {
            MigrateError::UnknownVersion {
                version,
                name,
                known_up_to,
                ..
            } => {
                assert_eq!(*version, 2, "the first version the binary does not know");
                assert_eq!(name, "beta");
                assert_eq!(*known_up_to, 1);
            }
            other => panic!("expected an unknown version, got {other:?}"),
        }
        assert!(err.to_string().contains("version 2 (beta)"), "{err}");
        assert!(!err.is_transient());
    })
    .await;
}

#[tokio::test]
async fn a_failing_file_rolls_everything_back() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        let err = FAILING.run(&mut client).await.unwrap_err();
        match &err {
            MigrateError::Database {
                step,
                message,
                transient,
                ..
            } => {
                assert_eq!(step, "applying 0002_broken.sql");
                assert!(message.contains("42703"), "SQLSTATE kept: {message}");
                assert!(!transient);
            }
            other => panic!("expected a database error, got {other:?}"),
        }
        assert!(!err.to_string().contains("SELECT"), "no SQL: {err}");
        assert!(!s.has_table("t_alpha").await, "version 1 rolled back too");
        assert!(!s.has_table(TABLE).await, "the table itself rolled back");
    })
    .await;
}

#[tokio::test]
async fn a_table_without_checksums_is_upgraded_then_verified() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        // What the runners without checksums left behind: versions 1 and 2 applied.
        client
            .batch_execute(&format!(
                "CREATE TABLE {TABLE} (
                     version    integer     PRIMARY KEY,
                     name       text        NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 );
                 {};
                 {};
                 INSERT INTO {TABLE} (version, name) VALUES (1, 'alpha'), (2, 'beta');",
                V1.sql, V2.sql
            ))
            .await
            .unwrap();

        // The first run records this binary's checksums for 1 and 2 and applies 3.
        assert_eq!(THREE.run(&mut client).await.unwrap(), vec![3]);
        assert_eq!(
            s.recorded(TABLE).await,
            vec![
                (1, "alpha".to_owned(), Some(V1.checksum())),
                (2, "beta".to_owned(), Some(V2.checksum())),
                (3, "gamma".to_owned(), Some(V3.checksum())),
            ]
        );
        let nullable: String = s
            .admin
            .query_one(
                "SELECT is_nullable FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 AND column_name = 'checksum'",
                &[&s.name, &TABLE],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(nullable, "NO", "the upgraded table has the new shape");

        // From then on it verifies.
        assert_eq!(THREE.run(&mut client).await.unwrap(), Vec::<i32>::new());
        let err = EDITED.run(&mut client).await.unwrap_err();
        assert!(
            matches!(err, MigrateError::ChecksumMismatch { version: 1, .. }),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_old_table_with_an_unknown_version_is_refused_and_left_as_it_was() {
    in_schema(|s| async move {
        let mut client = s.client().await;
        client
            .batch_execute(&format!(
                "CREATE TABLE {TABLE} (version integer PRIMARY KEY, name text NOT NULL,
                                       applied_at timestamptz NOT NULL DEFAULT now());
                 {};
                 INSERT INTO {TABLE} (version, name) VALUES (1, 'alpha'), (7, 'later');",
                V1.sql
            ))
            .await
            .unwrap();
        let err = THREE.run(&mut client).await.unwrap_err();
        assert!(
            matches!(err, MigrateError::UnknownVersion { version: 7, .. }),
            "{err:?}"
        );
        // Rolled back: no checksum column was added, no checksum recorded.
        let has_checksum: bool = s
            .admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = $1 AND table_name = $2 AND column_name = 'checksum')",
                &[&s.name, &TABLE],
            )
            .await
            .unwrap()
            .get(0);
        assert!(!has_checksum);
    })
    .await;
}

/// The runner takes the same advisory lock as the runners it replaced (their literal SQL below),
/// so an old and a new binary starting at once still exclude each other.
#[tokio::test]
async fn the_lock_keys_are_those_of_the_earlier_runners() {
    in_schema(|s| async move {
        static OPS_LIKE: Migrator = Migrator::new("ops", TABLE, &[V1]);
        for (old_lock_sql, runner) in [
            (
                "SELECT pg_advisory_xact_lock(hashtext('knooppunt-ops-migrate:' || coalesce(current_schema(), '')))",
                &OPS_LIKE,
            ),
            (
                "SELECT pg_advisory_xact_lock(hashtext('knooppunt-migrate:' || coalesce(current_schema(), '')))",
                &migrations::MIGRATOR,
            ),
        ] {
            let mut old = s.client().await;
            let old_tx = old.transaction().await.unwrap();
            old_tx.execute(old_lock_sql, &[]).await.unwrap();

            // While an old binary holds its lock, the new runner cannot get in: it gives up
            // when its lock timeout expires instead of waiting.
            let mut new = s.client().await;
            new.batch_execute("SET lock_timeout = '250ms'").await.unwrap();
            let err = runner.run(&mut new).await.unwrap_err();
            match &err {
                MigrateError::Database { step, message, .. } => {
                    assert_eq!(step, "taking the migration lock");
                    assert!(message.contains("55P03"), "lock_not_available: {message}");
                }
                other => panic!("expected to wait for the lock, got {other:?}"),
            }

            // Once the old binary is done, the new one migrates.
            old_tx.commit().await.unwrap();
            new.batch_execute("SET lock_timeout = 0").await.unwrap();
            assert!(!runner.run(&mut new).await.unwrap().is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn the_pool_puts_tables_in_its_schema() {
    in_schema(|s| async move {
        let pool = pg_pool(&database_url(), Some(&s.name), 2).unwrap();
        assert_eq!(TWO.run_pool(&pool).await.unwrap(), vec![1, 2]);
        let client = pool.get().await.unwrap();
        let search_path: String = client
            .query_one("SHOW search_path", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(search_path, s.name);
        let schemas: Vec<String> = s
            .admin
            .query(
                "SELECT table_schema::text FROM information_schema.tables
                 WHERE table_name IN ('t_alpha', 't_beta', $1) ORDER BY table_name",
                &[&TABLE],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(schemas, vec![s.name.clone(); 3]);
        drop(client);
        pool.close();
    })
    .await;
}

#[test]
fn the_pool_refuses_a_schema_name_it_cannot_put_in_the_search_path() {
    for bad in ["", "Public", "a b", "x;drop", "x,public", "1abc"] {
        assert!(
            matches!(
                pg_pool(&database_url(), Some(bad), 2),
                Err(PgPoolError::Schema(_))
            ),
            "{bad:?}"
        );
    }
}
