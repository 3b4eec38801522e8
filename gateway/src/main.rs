//! `knooppunt` — the collective exchange hub of the Dutch mbo sector.

use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Knooppunt: the mbo sector's exchange hub and core registry.
#[derive(Debug, Parser)]
#[command(
    name = "knooppunt",
    version,
    about = "Knooppunt: the exchange hub and core registry of the Dutch mbo sector"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs Knooppunt: with no configuration the sandbox (in-memory store and bus, every partner
    /// simulated, sample data, test credentials printed); with a configuration file the
    /// production shape (PostgreSQL, RabbitMQ, real partners). See docs/configuration.md.
    Serve {
        /// TOML configuration file; environment variables KNOOPPUNT_<SECTION>__<FIELD> override it.
        #[arg(long, env = "KNOOPPUNT_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
    #[cfg(feature = "tools")]
    /// Drives a sandbox through a journey and prints each step: `va` (default) over the open
    /// HTTP API, `krd` (memo steps b–f for a minor and an adult over the open API, with the
    /// signing, SBB and DUO simulators), or `registry` (memo steps a–f directly on the registry).
    Demo {
        /// Which journey.
        #[arg(value_enum, default_value_t = Journey::Va)]
        journey: Journey,
    },
    /// Imports data into the registry: `ro FILE`, an institution's DUO registratieoverzicht
    /// (the move to level `krd`).
    #[command(subcommand)]
    Import(knooppunt_gateway::import::ImportCmd),
    /// Operates a running node through its operator API: status, failures, show, trace,
    /// replay (staged), discard. See docs/operations.md.
    Ops(knooppunt_gateway::ops_cli::OpsArgs),
    /// Applies pending migrations (registry, ops, api) to the database at DATABASE_URL.
    Migrate {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = knooppunt_registry::store::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Benchmarks a component.
    #[cfg(feature = "tools")]
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[cfg(feature = "tools")]
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Journey {
    /// Vroegtijdige aanmelding over the HTTP API: institutions, VO school, municipality.
    Va,
    /// Memo steps a–f on the registry (aanmelding to diploma).
    Registry,
    /// Memo steps b–f over the HTTP API at a krd institution, for a minor and an adult:
    /// aanmelding, DUO, OOK from a template signed digitally, BPVO checked by SBB, keuzedeel,
    /// results and diploma, each BRON mutation to DUO and its answer.
    Krd,
}

#[cfg(feature = "tools")]
#[derive(Debug, Subcommand)]
enum BenchTarget {
    /// Commands per second on the PostgreSQL registry store (durable), in a throwaway schema.
    Registry {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = knooppunt_registry::store::DEFAULT_DATABASE_URL)]
        database_url: String,
        /// Concurrent dossiers per level.
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        levels: Vec<usize>,
        /// Seconds per level.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Connection pool size (at least the highest level).
        #[arg(long, default_value_t = 32)]
        pool_size: usize,
        /// Commands per dossier before a worker opens the next one.
        #[arg(long, default_value_t = 10)]
        commands_per_dossier: u32,
    },
    /// A load run against the HTTP API on RabbitMQ + PostgreSQL (mutual TLS, partner simulators):
    /// aanmeldingen and their status changes through the whole chain.
    Api {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = knooppunt_registry::store::DEFAULT_DATABASE_URL)]
        database_url: String,
        /// AMQP URL; use a vhost of its own.
        #[arg(
            long,
            env = "AMQP_URL",
            hide_env_values = true,
            default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
        )]
        amqp_url: String,
        /// Aanmeldingen to submit.
        #[arg(long, default_value_t = 50_000)]
        aanmeldingen: usize,
        /// Status changes per aanmelding (0–2).
        #[arg(long, default_value_t = 2)]
        statuses: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Prefetch of each delivery runtime.
        #[arg(long, default_value_t = 256)]
        prefetch: u16,
        /// Seconds to wait for the partners to receive everything.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Round trips through the whole path (registry → outbox → relay → RabbitMQ → delivery
    /// runtime → loopback partner → answer → registry), compared with the bare hop.
    Path {
        /// PostgreSQL URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, default_value = knooppunt_registry::store::DEFAULT_DATABASE_URL)]
        database_url: String,
        /// AMQP URL; use a vhost of its own.
        #[arg(
            long,
            env = "AMQP_URL",
            hide_env_values = true,
            default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
        )]
        amqp_url: String,
        /// Round trips (and bare-hop messages).
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Concurrent command producers.
        #[arg(long, default_value_t = 256)]
        producers: usize,
        /// Messages in flight in the delivery runtime.
        #[arg(long, default_value_t = 1000)]
        prefetch: u16,
        /// Seconds to wait for round trips before giving up.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

/// Logs to stderr, filtered by `KNOOPPUNT_LOG` (default `warn`); `KNOOPPUNT_LOG_FORMAT=json` writes
/// one JSON object per line, with the request's or message's span (request id, message id,
/// correlation id) on every line.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("KNOOPPUNT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let json = std::env::var("KNOOPPUNT_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

async fn serve(config: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let config = knooppunt_gateway::config::Config::load(config.as_deref())?;
    let node = knooppunt_gateway::serve::Node::start(config).await?;
    println!("{}", node.banner());
    println!("Stop with Ctrl-C.");
    node.run_until(stop_signal()).await
}

/// Resolves on the first SIGTERM (a container or service manager stopping the node) or SIGINT
/// (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the node");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Cmd::Serve { config } => tokio::runtime::Runtime::new()?.block_on(serve(config)),
        Cmd::Ops(args) => {
            let ok = tokio::runtime::Runtime::new()?.block_on(async {
                let mut out = std::io::stdout();
                knooppunt_gateway::ops_cli::run(args, &mut out).await
            })?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Demo {
            journey: Journey::Va,
        } => {
            let report = tokio::runtime::Runtime::new()?.block_on(async {
                let mut out = std::io::stdout();
                knooppunt_gateway::demo::run(&mut out).await
            })?;
            anyhow::ensure!(report.all_passed(), "demo: some checks failed");
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Demo {
            journey: Journey::Krd,
        } => {
            let report = tokio::runtime::Runtime::new()?.block_on(async {
                let mut out = std::io::stdout();
                knooppunt_gateway::demo::krd::run(&mut out).await
            })?;
            anyhow::ensure!(report.all_passed(), "demo: some checks failed");
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Demo {
            journey: Journey::Registry,
        } => {
            let store = knooppunt_registry::store::MemoryStore::new();
            let report = tokio::runtime::Runtime::new()?.block_on(async {
                let mut out = std::io::stdout().lock();
                knooppunt_sample::run(&store, &mut out).await
            })?;
            anyhow::ensure!(report.all_succeeded(), "demo: some steps were rejected");
            Ok(())
        }
        Cmd::Import(cmd) => knooppunt_gateway::import::main(cmd),
        Cmd::Migrate { database_url } => {
            use knooppunt_registry::store::{PgStore, PgStoreConfig};
            let config = PgStoreConfig {
                url: database_url,
                schema: None,
                pool_size: 1,
                // Unused: `migrate` changes the schema only. The person index is (re-)keyed by
                // `serve`, which has `store.person_key_file` (PgStore::index_persons).
                person_key: knooppunt_registry::pseudonym::PersonKey::random(),
            };
            let applied = tokio::runtime::Runtime::new()?.block_on(async {
                let applied = PgStore::connect(&config)?.migrate().await?;
                let pool = knooppunt_gateway::serve::ops_pool(&config.url, None, 1)?;
                knooppunt_ops::migrate(&pool).await?;
                knooppunt_api::migrate(&pool).await?;
                anyhow::Ok(applied)
            })?;
            if applied.is_empty() {
                println!("registry schema is up to date; ops and api tables are up to date");
            } else {
                println!(
                    "applied registry migrations: {applied:?}; ops and api tables are up to date"
                );
            }
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Bench {
            target:
                BenchTarget::Api {
                    database_url,
                    amqp_url,
                    aanmeldingen,
                    statuses,
                    concurrency,
                    prefetch,
                    timeout,
                },
        } => {
            let config = knooppunt_gateway::bench_api::ApiBenchConfig {
                aanmeldingen,
                statuses,
                concurrency,
                database_url,
                amqp_url,
                prefetch,
                timeout: std::time::Duration::from_secs(timeout),
            };
            let report = tokio::runtime::Runtime::new()?
                .block_on(knooppunt_gateway::bench_api::run(&config))?;
            println!("{report}");
            anyhow::ensure!(
                report.lost == 0 && report.duplicates == 0,
                "bench api: lost or duplicated deliveries"
            );
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Bench {
            target:
                BenchTarget::Path {
                    database_url,
                    amqp_url,
                    messages,
                    producers,
                    prefetch,
                    timeout,
                },
        } => {
            let config = knooppunt_gateway::bench::BenchConfig {
                messages,
                producers,
                prefetch,
                database_url,
                amqp_url,
                timeout: std::time::Duration::from_secs(timeout),
            };
            let report =
                tokio::runtime::Runtime::new()?.block_on(knooppunt_gateway::bench::run(&config))?;
            println!("{report}");
            Ok(())
        }
        #[cfg(feature = "tools")]
        Cmd::Bench {
            target:
                BenchTarget::Registry {
                    database_url,
                    levels,
                    seconds,
                    pool_size,
                    commands_per_dossier,
                },
        } => {
            use knooppunt_registry::store::{PgStoreConfig, bench};
            let config = bench::BenchConfig {
                store: PgStoreConfig {
                    url: database_url,
                    schema: None,
                    pool_size,
                    // The bench makes and drops a schema of its own.
                    person_key: knooppunt_registry::pseudonym::PersonKey::random(),
                },
                levels,
                duration: std::time::Duration::from_secs(seconds),
                commands_per_dossier,
            };
            let report = tokio::runtime::Runtime::new()?.block_on(bench::run(&config))?;
            println!(
                "registry store bench: PostgreSQL, fsync={} synchronous_commit={}, pool {}, \
                 {seconds} s per level, follow-up command: {}",
                report.durability.fsync,
                report.durability.synchronous_commit,
                report.pool_size,
                report.follow_up.unwrap_or("none (OpenDossier only)"),
            );
            println!(
                "{:>12} {:>10} {:>9} {:>12}",
                "concurrency", "commands", "rejected", "commands/s"
            );
            for level in &report.levels {
                println!(
                    "{:>12} {:>10} {:>9} {:>12.0}",
                    level.concurrency,
                    level.commands,
                    level.rejected,
                    level.per_second()
                );
            }
            Ok(())
        }
    }
}
