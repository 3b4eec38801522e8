//! Pass 2: person by person through the registry store, with derived command ids (idempotent,
//! resumable).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use knooppunt_mappings::duo::ro::{self, RoPersoon, RoVlp};
use knooppunt_registry::domain::{Command, Rejection};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::Crebo;
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{Store, StoreError};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::check::{Checked, niveaus, reopen};
use super::summary::Summary;

/// Namespace of the import's command ids (UUID v5; see [`command_id`]).
pub const COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_5000_8000_726f_696d_0001);

/// Attempts per person when the store is briefly unavailable or a dossier is contended.
const ATTEMPTS: u32 = 5;

/// The id of the `position`-th import command (0 = `OpenDossier`) of the person with keyed
/// fingerprint `fingerprint` in an RO of institution `brin`: the same file gives the same ids,
/// so a second run replays instead of acting twice. Says nothing about the person without the
/// person key.
pub fn command_id(brin: &str, fingerprint: &str, position: usize) -> Uuid {
    Uuid::new_v5(
        &COMMAND_NAMESPACE,
        format!("ro-import:{brin}:{fingerprint}:{position}").as_bytes(),
    )
}

/// What importing one person came to.
#[derive(Debug, Default)]
pub(super) struct PersonResult {
    /// The dossier was opened by this run.
    pub dossier_opened: bool,
    /// The person had a dossier already (a previous run, a login, an aanmelding).
    pub dossier_existed: bool,
    /// Commands with a new effect, by command type.
    pub new: Vec<&'static str>,
    /// Commands whose id was handled before (a previous run).
    pub replayed: u64,
    /// Rejected commands by rejection code (a replayed rejection counts again: it still holds).
    pub rejected: Vec<&'static str>,
}

async fn import_person(
    store: &dyn Store,
    reference: &ReferenceData,
    brin: &str,
    fingerprint: &str,
    commands: Vec<Command>,
) -> Result<PersonResult, StoreError> {
    let mut out = PersonResult::default();
    let now = Utc::now();
    let meta = |dossier: DossierKey, position: usize, correlation: Option<Uuid>| {
        let id = command_id(brin, fingerprint, position);
        CommandMeta {
            id,
            dossier,
            actor: Actor::System,
            correlation_id: correlation.unwrap_or(id),
            causation_id: id,
            time: now,
        }
    };
    let mut commands = commands.into_iter();
    let Some(open) = commands.next() else {
        return Ok(out);
    };
    let Command::OpenDossier { person } = &open else {
        return Err(StoreError::Corrupt(
            "the import's first command is not OpenDossier".to_owned(),
        ));
    };
    let dossier = match store.find_dossier(&person.id).await? {
        Some(k) => {
            out.dossier_existed = true;
            k
        }
        None => {
            let o = store
                .execute(meta(DossierKey::new(), 0, None), open.clone(), reference)
                .await?;
            match o.result {
                Ok(_) => {
                    out.dossier_opened = !o.replayed;
                    if o.replayed {
                        out.replayed += 1;
                    } else {
                        out.new.push("open_dossier");
                    }
                    o.dossier
                }
                // Opened in between (a login, another run): use that one.
                Err(Rejection::DossierAlreadyOpen) => {
                    out.dossier_existed = true;
                    store
                        .find_dossier(&person.id)
                        .await?
                        .ok_or(StoreError::Conflict(o.dossier))?
                }
                Err(r) => {
                    out.rejected.push(r.code());
                    return Ok(out);
                }
            }
        }
    };
    // Every command after an `ImportInschrijving` is about that enrolment until the next one
    // (the order `ro::import_commands` builds): its correlation id is the OOK's id.
    let mut ook: Option<Uuid> = None;
    let batch: Vec<(CommandMeta, Command)> = commands
        .enumerate()
        .map(|(i, c)| {
            if let Command::ImportInschrijving { ook: id, .. } = &c {
                ook = Some(id.0);
            }
            (meta(dossier, i + 1, ook), c)
        })
        .collect();
    let names: Vec<&'static str> = batch.iter().map(|(_, c)| c.name()).collect();
    let outcomes = store.execute_batch(batch, reference).await?;
    for (name, o) in names.into_iter().zip(outcomes) {
        let o = o?;
        match (o.result, o.replayed) {
            (Ok(_), true) => out.replayed += 1,
            (Ok(_), false) => out.new.push(name),
            (Err(r), replayed) => {
                if replayed {
                    out.replayed += 1;
                }
                out.rejected.push(r.code());
            }
        }
    }
    Ok(out)
}

/// Imports one person, trying again while the store is briefly unavailable (safe: the command
/// ids make a repeat a replay).
async fn import_with_retry(
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    brin: String,
    fingerprint: String,
    commands: Vec<Command>,
) -> Result<PersonResult, StoreError> {
    let mut attempt = 0;
    loop {
        match import_person(&*store, &reference, &brin, &fingerprint, commands.clone()).await {
            Err(e) if e.is_transient() && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            other => return other,
        }
    }
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} importing [{bar:40}] {pos}/{len} persons ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The commands of one person, from a file that [`super::check`] accepted.
fn commands_of(
    vlp: &RoVlp,
    p: &RoPersoon,
    niveaus: &std::collections::HashMap<Crebo, knooppunt_registry::reference::Niveau>,
    key: &PersonKey,
) -> anyhow::Result<Vec<Command>> {
    let ctx = |c: &Crebo| niveaus.get(c).copied();
    Ok(ro::import_commands(vlp, p, &ctx, key)
        .context("the file changed since it was checked")?
        .commands)
}

/// Imports every person of a checked file, `concurrency` at a time, counting into `summary`.
pub(super) async fn apply(
    path: &Path,
    checked: &Checked,
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    key: &PersonKey,
    concurrency: usize,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (vlp, personen) = reopen(path)?;
    anyhow::ensure!(
        vlp == checked.vlp,
        "the file changed since it was checked; nothing more was imported"
    );
    let brin = vlp.brin.instelling().to_string();
    let niveaus = niveaus(&reference);
    let bar = progress(checked.persons);
    let mut running: JoinSet<Result<PersonResult, StoreError>> = JoinSet::new();
    let mut failure: Option<anyhow::Error> = None;
    let done = |r: Result<Result<PersonResult, StoreError>, tokio::task::JoinError>,
                summary: &mut Summary| {
        bar.inc(1);
        match r {
            Ok(Ok(p)) => {
                summary.add(&p);
                None
            }
            Ok(Err(e)) => Some(anyhow::Error::new(e).context("the registry store")),
            Err(e) => Some(anyhow::Error::new(e).context("an import task failed")),
        }
    };
    for p in personen {
        let p = p.context("the file changed since it was checked")?;
        let commands = commands_of(&vlp, &p, &niveaus, key)?;
        let fingerprint = key.fingerprint(&p.per.persoon);
        while running.len() >= concurrency {
            if let Some(r) = running.join_next().await
                && let Some(e) = done(r, summary)
            {
                failure.get_or_insert(e);
            }
        }
        if failure.is_some() {
            break;
        }
        running.spawn(import_with_retry(
            store.clone(),
            reference.clone(),
            brin.clone(),
            fingerprint,
            commands,
        ));
    }
    while let Some(r) = running.join_next().await {
        if let Some(e) = done(r, summary) {
            failure.get_or_insert(e);
        }
    }
    bar.finish_and_clear();
    match failure {
        Some(e) => Err(e.context(format!(
            "the import stopped after {} of {} persons; what was imported stays: run the same \
             command again to resume",
            summary.persons_done, checked.persons
        ))),
        None => Ok(()),
    }
}
