//! `knooppunt import ro FILE`: the bulk import of an institution's DUO registratieoverzicht (RO)
//! before it moves to level `krd` (`docs/operations.md`, "Moving an institution to krd").
//!
//! Two passes over the file:
//!
//! 1. [`check`]: the whole file is read and checked before anything is written — the RO's
//!    framing and its SLR counts (`knooppunt_mappings::duo::ro`), the institution at level
//!    `aanmelden` or `krd` (its effective level), every person's import commands
//!    (`ro::import_commands`), no person twice. Any fault refuses the whole file with a message naming the line or the person's
//!    position and the field, never personal data.
//! 2. [`apply`]: person by person through the registry [`Store`]: the person's dossier is found
//!    by their keyed fingerprint ([`Store::find_dossier`]) or opened, and the commands are
//!    executed with ids derived from the institution, the fingerprint and the command's
//!    position. Running the import again (after a crash, or by mistake) replays those ids:
//!    one effect, and the summary says "already imported".
//!
//! When every person was handled, the run is recorded in the institution's history
//! (`InstitutionCommand::RecordRoImport`: counts only); moving the institution up to `krd`
//! (`knooppunt ops level set BRIN krd`) requires that record. The import itself runs from level
//! `aanmelden` up.
//!
//! Every command about an imported enrolment carries the enrolment's OOK id as correlation id,
//! which is how the BRON mapping (`bron::event::part_of_import`) knows not to deliver it to DUO
//! again: it came from DUO.

mod apply;
mod check;
mod generate;
mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use knooppunt_registry::domain::institution::{InstitutionCommand, Levels};
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{PgStore, PgStoreConfig, Store};

use crate::config::{Config, Mode, StoreSettings, load_person_key};

pub use apply::{COMMAND_NAMESPACE, command_id};
pub use check::{Checked, check};
pub use generate::write_ro;
pub use summary::Summary;

/// `knooppunt import …`.
#[derive(Debug, clap::Subcommand)]
pub enum ImportCmd {
    /// Imports an institution's DUO registratieoverzicht (the `|`-separated RO file) into the
    /// registry on PostgreSQL: the whole file is checked first (nothing is imported when the
    /// check fails), then imported person by person. Running it again has no second effect, so
    /// a crashed run is simply run again.
    Ro(RoArgs),
    /// Writes a synthetic RO file of `persons` students (valid test BSNs, one enrolment each,
    /// some with a BPV and a diploma) for trying and measuring the import.
    #[command(hide = true)]
    GenerateRo {
        /// Where to write it.
        out: PathBuf,
        /// Number of persons.
        #[arg(long, default_value_t = 16_000)]
        persons: u32,
        /// The institution's BRIN.
        #[arg(long, default_value = "27DV")]
        brin: String,
    },
}

/// The arguments of `knooppunt import ro`.
#[derive(Debug, clap::Args)]
pub struct RoArgs {
    /// The RO file.
    pub file: PathBuf,
    /// The node's TOML configuration: its `store` (PostgreSQL, with `person_key_file`) and its
    /// `reference.file`.
    #[arg(long, env = "KNOOPPUNT_CONFIG", conflicts_with = "database_url")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL (instead of `--config`).
    #[arg(long, hide_env_values = true, requires = "person_key_file")]
    pub database_url: Option<String>,
    /// The person key file (`store.person_key_file`), with `--database-url`.
    #[arg(long)]
    pub person_key_file: Option<PathBuf>,
    /// Reference data (JSON in the shape of `ReferenceData`) instead of what the store holds.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Check and count only; write nothing (and, with `--reference`, do not connect at all).
    #[arg(long)]
    pub dry_run: bool,
    /// Persons imported at the same time (1–64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// Where the import writes and what it checks against.
struct Target {
    url: String,
    schema: Option<String>,
    person_key: PersonKey,
    reference_file: Option<PathBuf>,
}

fn target(args: &RoArgs) -> anyhow::Result<Target> {
    if let Some(url) = &args.database_url {
        let Some(key_file) = &args.person_key_file else {
            anyhow::bail!("--database-url needs --person-key-file (the store's person key)");
        };
        return Ok(Target {
            url: url.clone(),
            schema: None,
            person_key: load_person_key(key_file, Mode::Production)?,
            reference_file: args.reference.clone(),
        });
    }
    let Some(path) = &args.config else {
        anyhow::bail!(
            "give the node's configuration (--config FILE or KNOOPPUNT_CONFIG), or \
             --database-url URL with --person-key-file FILE"
        );
    };
    let config = Config::load(Some(path))?;
    match &config.store {
        StoreSettings::Postgres {
            url,
            schema,
            person_key_file,
            ..
        } => Ok(Target {
            url: url.clone(),
            schema: schema.clone(),
            person_key: load_person_key(person_key_file, config.mode)?,
            reference_file: args
                .reference
                .clone()
                .or_else(|| config.reference.file.clone()),
        }),
        StoreSettings::Memory => anyhow::bail!(
            "configuration `store.kind`: the import writes to the PostgreSQL registry; an \
             in-memory store would forget it at exit"
        ),
    }
}

fn read_reference(path: &Path) -> anyhow::Result<ReferenceData> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reference data: cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("reference data: {} is not reference data", path.display()))
}

/// Runs `knooppunt import ro`: prints the summary to stdout. An error (a refused file, an
/// unreachable store) means: nothing more was written; what was written before stays, and the
/// same command resumes.
pub async fn run_ro(args: &RoArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let target = target(args)?;
    let connect = |pool_size: usize| {
        PgStore::connect(&PgStoreConfig {
            url: target.url.clone(),
            schema: target.schema.clone(),
            pool_size,
            person_key: target.person_key.clone(),
        })
    };
    // A dry run with a reference file does not touch the database at all.
    let store: Option<PgStore> = if args.dry_run && target.reference_file.is_some() {
        None
    } else if args.dry_run {
        Some(connect(2).context("connecting to the registry store")?)
    } else {
        let store = connect(usize::from(args.concurrency) + 2)
            .context("connecting to the registry store")?;
        // What `serve` does at start: migrations, and the person index keyed with this key
        // (another key is refused: its fingerprints would find nobody).
        store.migrate().await.context("registry migrations")?;
        store
            .index_persons()
            .await
            .context("the person index (store.person_key_file)")?;
        Some(store)
    };
    let reference = match (&target.reference_file, &store) {
        (Some(path), _) => read_reference(path)?,
        (None, Some(store)) => store
            .load_reference()
            .await
            .context("reading reference data from the store")?
            .context(
                "the store holds no reference data: start the node once with its \
                 `reference.file`, or give --reference FILE",
            )?,
        (None, None) => anyhow::bail!("no reference data: give --reference FILE"),
    };
    // The effective levels (recorded changes) when there is a store; a dry run without one
    // checks against the reference data's levels.
    let levels = match &store {
        Some(store) => store
            .levels()
            .await
            .context("reading the participation levels from the store")?,
        None => Arc::new(Levels::default()),
    };
    let checked = check(&args.file, &reference, &levels, &target.person_key)?;
    let mut summary = Summary::of_check(&args.file, &checked);
    if let (false, Some(store)) = (args.dry_run, store) {
        let store: Arc<dyn Store> = Arc::new(store);
        let reference = Arc::new(reference);
        apply::apply(
            &args.file,
            &checked,
            store.clone(),
            reference.clone(),
            &target.person_key,
            usize::from(args.concurrency),
            &mut summary,
        )
        .await?;
        // Every person was handled: the institution's history records that its RO import
        // was done, which moving it up to `krd` requires.
        let record = InstitutionCommand::RecordRoImport {
            persons: checked.persons,
            commands_new: summary.commands_new,
            rejected: summary.rejected.values().sum(),
        };
        store
            .execute_institution(
                &checked.vlp.brin.instelling(),
                Utc::now(),
                record,
                &reference,
            )
            .await
            .context("recording the RO import in the institution's history")?
            .map_err(|r| anyhow::anyhow!("recording the RO import: {r}"))?;
        summary.recorded = true;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Runs an `ImportCmd` and prints what it did.
pub fn main(cmd: ImportCmd) -> anyhow::Result<()> {
    match cmd {
        ImportCmd::Ro(args) => {
            let summary = tokio::runtime::Runtime::new()?.block_on(run_ro(&args))?;
            print!("{summary}");
            Ok(())
        }
        ImportCmd::GenerateRo { out, persons, brin } => {
            let brin = brin.parse().map_err(|e| anyhow::anyhow!("--brin: {e}"))?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let records = write_ro(&mut w, &brin, persons)?;
            std::io::Write::flush(&mut w)?;
            println!(
                "wrote {} ({persons} persons, {records} records)",
                out.display()
            );
            Ok(())
        }
    }
}
