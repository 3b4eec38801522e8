//! Pass 1: the whole RO file checked before anything is written.

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::path::Path;

use anyhow::Context as _;
use knooppunt_mappings::duo::ro::{self, RoVlp};
use knooppunt_registry::domain::Command;
use knooppunt_registry::domain::institution::Levels;
use knooppunt_registry::ids::Crebo;
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::{Niveau, Participation, ReferenceData};

/// At most this many faulty persons are named in a refusal (the count is always given).
const MAX_NAMED_FAULTS: usize = 10;

/// What the check found in a file that may be imported.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The file's header (the institution and the selection period).
    pub vlp: RoVlp,
    /// Persons (PER records).
    pub persons: u64,
    /// Records in the file, VLP and SLR included.
    pub records: u64,
    /// Enrolments to import (`ImportInschrijving` commands).
    pub inschrijvingen: u64,
    /// BPV's to import.
    pub bpvs: u64,
    /// Diplomas to import.
    pub diplomas: u64,
    /// Commands to execute, `OpenDossier` included.
    pub commands: u64,
    /// What the mapping leaves out, by reason, counted (positions are per person: not shown).
    pub overgeslagen: BTreeMap<&'static str, u64>,
}

/// The niveau of every crebo the reference data offers (the RO's ISP carries it only for
/// dossier-level enrolments).
pub(super) fn niveaus(reference: &ReferenceData) -> HashMap<Crebo, Niveau> {
    reference
        .opleidingen
        .values()
        .map(|o| (o.crebo.clone(), o.niveau))
        .collect()
}

fn open(path: &Path) -> anyhow::Result<BufReader<std::fs::File>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

/// Opens the file for the import pass (after [`check`]).
pub(super) fn reopen(
    path: &Path,
) -> anyhow::Result<(RoVlp, ro::RoPersonen<BufReader<std::fs::File>>)> {
    ro::open(open(path)?).map_err(|e| refused(&e.to_string()))
}

fn refused(reason: &str) -> anyhow::Error {
    anyhow::anyhow!("the RO file is refused, nothing was imported: {reason}")
}

/// Reads and checks the whole file: framing and SLR counts, the institution at level
/// `aanmelden` or `krd` (its effective level: `levels` over the reference data; the import
/// prepares the move to `krd`, which needs it done), each person's import commands, no person
/// twice. Writes nothing.
pub fn check(
    path: &Path,
    reference: &ReferenceData,
    levels: &Levels,
    key: &PersonKey,
) -> anyhow::Result<Checked> {
    let (vlp, personen) = ro::open(open(path)?).map_err(|e| refused(&e.to_string()))?;
    let brin = vlp.brin.instelling();
    let Some(institution) = reference.institution(&brin) else {
        return Err(refused(&format!(
            "line 1/VLP/BRIN: institution {brin} is not in the reference data"
        )));
    };
    let level = levels.of(institution);
    if level < Participation::Aanmelden {
        return Err(refused(&format!(
            "line 1/VLP/BRIN: institution {brin} is at level `{level}`; the import is for an \
             institution at level `aanmelden` (before its move to `krd`) or `krd`: move it up \
             first (`knooppunt ops level set {brin} aanmelden`)"
        )));
    }
    let niveaus = niveaus(reference);
    let ctx = |c: &Crebo| niveaus.get(c).copied();
    let mut checked = Checked {
        vlp: vlp.clone(),
        persons: 0,
        records: 0,
        inschrijvingen: 0,
        bpvs: 0,
        diplomas: 0,
        commands: 0,
        overgeslagen: BTreeMap::new(),
    };
    // Fingerprint → position of the person's PER record (1-based).
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut faults: Vec<String> = Vec::new();
    let mut fault_count = 0usize;
    let mut personen = personen;
    for p in personen.by_ref() {
        let p = p.map_err(|e| refused(&e.to_string()))?;
        checked.persons += 1;
        let n = checked.persons;
        let mut fault = |text: String| {
            fault_count += 1;
            if faults.len() < MAX_NAMED_FAULTS {
                faults.push(text);
            }
        };
        if let Some(first) = seen.insert(key.fingerprint(&p.per.persoon), n) {
            fault(format!(
                "person {n} (PER record {n}): the same person as PER record {first}"
            ));
            continue;
        }
        match ro::import_commands(&vlp, &p, &ctx, key) {
            Ok(import) => {
                checked.commands += import.commands.len() as u64;
                for c in &import.commands {
                    match c {
                        Command::ImportInschrijving { .. } => checked.inschrijvingen += 1,
                        Command::RegisterPraktijkovereenkomst { .. } => checked.bpvs += 1,
                        Command::AwardDiploma { .. } => checked.diplomas += 1,
                        _ => {}
                    }
                }
                for (_, reason) in import.overgeslagen {
                    *checked.overgeslagen.entry(reason).or_default() += 1;
                }
            }
            Err(e) => fault(format!("person {n} (PER record {n}): {e}")),
        }
    }
    let counts = personen.counts();
    checked.records = [
        counts.per, counts.isg, counts.isp, counts.ise, counts.bpv, counts.dip, counts.amo,
        counts.geo, counts.kzd,
    ]
    .iter()
    .sum::<u64>()
        + 2;
    if fault_count > 0 {
        let more = fault_count - faults.len();
        let mut reason = format!("{fault_count} person(s) cannot be imported:");
        for f in &faults {
            reason.push_str("\n  ");
            reason.push_str(f);
        }
        if more > 0 {
            reason.push_str(&format!("\n  … and {more} more"));
        }
        return Err(refused(&reason));
    }
    Ok(checked)
}
