//! The test kit at the bottom of the tree: what every crate's tests that need a service share —
//! service addresses from the environment ([`database_url`], [`amqp_url`]), a PostgreSQL
//! schema per test ([`TestSchema`]), a RabbitMQ vhost per test ([`TestVhost`]) and a broker
//! stop/start guard for fault tests ([`BrokerStopped`]).
//!
//! It depends on no crate of Knooppunt, so every crate can take it as a dev-dependency.
//!
//! Tests that need a service FAIL (they do not skip) when it is missing.

use std::process::Command;

use anyhow::{Context, bail};

/// `AMQP_URL`, or the local default `amqp://guest:guest@127.0.0.1:5672/%2f`.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `DATABASE_URL`, or the local default `postgres://postgres@127.0.0.1:5432/test`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `base` (an AMQP URL) with its vhost replaced by `vhost` (which must need no escaping).
pub fn amqp_url_with_vhost(base: &str, vhost: &str) -> String {
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base
        .get(host_start..)
        .and_then(|rest| rest.find('/'))
        .map_or(base.len(), |i| host_start + i);
    format!("{}/{}", base.get(..path_start).unwrap_or(base), vhost)
}

/// Runs `rabbitmqctl` with `args`; an error carries its output.
pub fn rabbitmqctl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .with_context(|| format!("running rabbitmqctl {args:?}"))?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A RabbitMQ vhost of its own for one test, with full permissions for `guest`; deleted on drop
/// (deleting the vhost deletes its queues, so no test leaves queues behind).
#[derive(Debug)]
pub struct TestVhost {
    name: String,
    url: String,
}

impl TestVhost {
    /// Creates `kp-<prefix>-<random>` and grants `guest` everything in it.
    pub fn create(prefix: &str) -> anyhow::Result<Self> {
        let name = format!("kp-{prefix}-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name])?;
        let guard = Self {
            url: amqp_url_with_vhost(&amqp_url(), &name),
            name,
        };
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &guard.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        Ok(guard)
    }

    /// The vhost's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The AMQP URL of this vhost.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_vhost", &self.name]) {
            eprintln!("could not delete test vhost {}: {e}", self.name);
        }
    }
}

/// The RabbitMQ application stopped (`rabbitmqctl stop_app`); started again by
/// [`BrokerStopped::start`] or, whatever happens in the test, on drop.
#[derive(Debug)]
pub struct BrokerStopped {
    started: bool,
}

impl BrokerStopped {
    /// Stops the broker application (the node keeps running).
    pub fn stop() -> anyhow::Result<Self> {
        rabbitmqctl(&["stop_app"])?;
        Ok(Self { started: false })
    }

    /// Starts the application again and waits until it runs.
    pub fn start(mut self) -> anyhow::Result<()> {
        self.started = true;
        start_app()
    }
}

fn start_app() -> anyhow::Result<()> {
    rabbitmqctl(&["start_app"])?;
    rabbitmqctl(&["await_startup"])?;
    Ok(())
}

impl Drop for BrokerStopped {
    fn drop(&mut self) {
        if !self.started
            && let Err(e) = start_app()
        {
            eprintln!("could not restart RabbitMQ after a fault test: {e}");
        }
    }
}

/// A PostgreSQL schema of its own for one test; dropped (with everything in it) on drop.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// Creates `kp_<prefix>_<random>`.
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        let name = format!("kp_{prefix}_{}", uuid::Uuid::new_v4().simple());
        let client = pg_client().await?;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .context("creating test schema")?;
        Ok(Self { name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the schema now, inside the test's runtime (dropping the value does it too, from a
    /// thread of its own).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        let name = std::mem::take(&mut self.name);
        pg_client()
            .await?
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .await
            .context("dropping test schema")?;
        Ok(())
    }
}

/// A connection to the test database (`DATABASE_URL`), driven on the current runtime.
pub async fn pg_client() -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    tokio::spawn(conn);
    Ok(client)
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return; // dropped by `drop_now`
        }
        // Drop may run outside a runtime (or inside one that is shutting down): use a thread
        // with its own small runtime.
        let name = self.name.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = pg_client().await.map_err(|e| e.to_string())?;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::amqp_url_with_vhost;

    #[test]
    fn vhost_is_replaced() {
        assert_eq!(
            amqp_url_with_vhost("amqp://guest:guest@127.0.0.1:5672/%2f", "kp-x"),
            "amqp://guest:guest@127.0.0.1:5672/kp-x"
        );
        assert_eq!(amqp_url_with_vhost("amqp://h:5672", "v"), "amqp://h:5672/v");
    }
}
