//! The summary `knooppunt import ro` prints: counts and reasons, no personal data.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::apply::PersonResult;
use super::check::Checked;

/// What an import run found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The institution (BRIN) of the file.
    pub brin: String,
    /// The file's name (its last path component).
    pub file: String,
    /// True for `--dry-run`: checked and counted, nothing written.
    pub dry_run: bool,
    /// Records in the file, VLP and SLR included.
    pub records: u64,
    /// In the file: persons, enrolments, BPV's, diplomas.
    pub file_persons: u64,
    /// Enrolments in the file that are imported.
    pub file_inschrijvingen: u64,
    /// BPV's in the file that are imported.
    pub file_bpvs: u64,
    /// Diplomas in the file that are imported.
    pub file_diplomas: u64,
    /// Persons handled by this run.
    pub persons_done: u64,
    /// Persons this run changed something for.
    pub persons_imported: u64,
    /// Persons for whom everything was there already (a previous run).
    pub persons_already: u64,
    /// Persons of whom this run imported nothing because the registry refused every command.
    pub persons_refused: u64,
    /// Dossiers this run opened.
    pub dossiers_opened: u64,
    /// Persons who had a dossier already (found by their keyed fingerprint).
    pub dossiers_existing: u64,
    /// Enrolments this run imported.
    pub inschrijvingen: u64,
    /// BPV's this run imported.
    pub bpvs: u64,
    /// Diplomas this run imported.
    pub diplomas: u64,
    /// Commands with a new effect.
    pub commands_new: u64,
    /// Commands a previous run handled already (replayed, no effect).
    pub commands_already: u64,
    /// Commands the registry refused, by rejection code.
    pub rejected: BTreeMap<String, u64>,
    /// What the mapping left out, by reason, counted.
    pub skipped: BTreeMap<String, u64>,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Whether the run was recorded in the institution's history (every person handled).
    pub recorded: bool,
}

impl Summary {
    /// The summary of a checked file before anything is imported.
    pub(super) fn of_check(path: &Path, c: &Checked) -> Self {
        Self {
            brin: c.vlp.brin.instelling().to_string(),
            file: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            records: c.records,
            file_persons: c.persons,
            file_inschrijvingen: c.inschrijvingen,
            file_bpvs: c.bpvs,
            file_diplomas: c.diplomas,
            dry_run: true,
            skipped: c
                .overgeslagen
                .iter()
                .map(|(r, n)| ((*r).to_owned(), *n))
                .collect(),
            ..Self::default()
        }
    }

    /// Counts one imported person.
    pub(super) fn add(&mut self, p: &PersonResult) {
        self.dry_run = false;
        self.persons_done += 1;
        if !p.new.is_empty() {
            self.persons_imported += 1;
        } else if p.replayed > 0 || p.dossier_existed {
            self.persons_already += 1;
        } else {
            self.persons_refused += 1;
        }
        self.dossiers_opened += u64::from(p.dossier_opened);
        self.dossiers_existing += u64::from(p.dossier_existed);
        for name in &p.new {
            self.commands_new += 1;
            match *name {
                "import_inschrijving" => self.inschrijvingen += 1,
                "register_praktijkovereenkomst" => self.bpvs += 1,
                "award_diploma" => self.diplomas += 1,
                _ => {}
            }
        }
        self.commands_already += p.replayed;
        for code in &p.rejected {
            *self.rejected.entry((*code).to_owned()).or_default() += 1;
        }
    }

    /// Records per second over the whole run (check and import).
    pub fn records_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.records as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "RO import of institution {} from {}{}",
            self.brin,
            self.file,
            if self.dry_run {
                " (dry run: checked, nothing written)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "file: {} records; persons {}, inschrijvingen {}, BPV's {}, diploma's {}",
            self.records,
            self.file_persons,
            self.file_inschrijvingen,
            self.file_bpvs,
            self.file_diplomas
        )?;
        if !self.dry_run {
            writeln!(
                f,
                "imported: persons {}, inschrijvingen {}, BPV's {}, diploma's {} ({} commands; \
                 dossiers opened {}, existing {})",
                self.persons_imported,
                self.inschrijvingen,
                self.bpvs,
                self.diplomas,
                self.commands_new,
                self.dossiers_opened,
                self.dossiers_existing
            )?;
            writeln!(
                f,
                "already imported: persons {} ({} commands replayed, no effect)",
                self.persons_already, self.commands_already
            )?;
            if self.persons_refused > 0 {
                writeln!(
                    f,
                    "not imported: persons {} (every command rejected)",
                    self.persons_refused
                )?;
            }
            if self.rejected.is_empty() {
                writeln!(f, "rejected commands: none")?;
            } else {
                writeln!(f, "rejected commands:")?;
                for (code, n) in &self.rejected {
                    writeln!(f, "  {code}: {n}")?;
                }
            }
        }
        if self.recorded {
            writeln!(
                f,
                "recorded: the RO import of {} is in its history (it may move up to krd)",
                self.brin
            )?;
        }
        if self.skipped.is_empty() {
            writeln!(f, "skipped: none")?;
        } else {
            writeln!(f, "skipped (not imported, by reason):")?;
            for (reason, n) in &self.skipped {
                writeln!(f, "  {n} × {reason}")?;
            }
        }
        writeln!(
            f,
            "time: {:.2} s, {:.0} records/s",
            self.seconds,
            self.records_per_second()
        )
    }
}
