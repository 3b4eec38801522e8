//! Sector reports (design.md §1: MBO Raad, saMBO-ICT): aggregates without personal data.
//!
//! A [`Report`] is what every renderer (the operator API's JSON and CSV, the console's charts,
//! `knooppunt ops report`) works from: its [`Column`]s and a list of rows of typed [`Cell`]s.
//! The registry's reports ([`DossierReports`]: aanmeldingen, BRON feedback) are built here, the
//! delivery reports (timeliness, parked) in the ops crate, all on this one model.
//!
//! *Architecture invariant:* a report holds codes (BRIN, cohort, status, partner), dates and
//! counts — never a BSN, a name, a birth date, an address or a dossier key. Counts of students
//! go through [`suppress`], the one place where small cells are hidden (see there for the
//! rule). Counts are of distinct students (dossiers) where the report is about students.
//!
//! Backends (the in-memory store and PostgreSQL) only aggregate: they return counts
//! ([`AanmeldingCount`], [`BronCount`]); the layout and the suppression are shared, so both
//! backends give the same report for the same data.

mod build;
mod memory;
mod pg;
pub mod suppress;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

use crate::domain::AanmeldStatus;
use crate::store::StoreError;

pub use build::{aanmeldingen_report, bron_report, signals_report};
pub use pg::PgDossierReports;

/// The reports Knooppunt serves, by their name in URLs and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportName {
    /// `aanmeldingen`: students with an aanmelding, per institution and cohort, per status.
    Aanmeldingen,
    /// `va-timeliness`: time from an aanmeldstatus change to its delivery, per VA partner.
    VaTimeliness,
    /// `bron`: students with BRON feedback, per institution, per outcome.
    Bron,
    /// `bron-signalen`: students with a DUO signal on BRON feedback, per institution, per
    /// signal code.
    BronSignalen,
    /// `parked`: messages parked, replayed and discarded, per partner per week.
    Parked,
}

impl ReportName {
    /// Every report, in the order of the list.
    pub const ALL: [ReportName; 5] = [
        Self::Aanmeldingen,
        Self::VaTimeliness,
        Self::Bron,
        Self::BronSignalen,
        Self::Parked,
    ];

    /// The name in URLs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aanmeldingen => "aanmeldingen",
            Self::VaTimeliness => "va-timeliness",
            Self::Bron => "bron",
            Self::BronSignalen => "bron-signalen",
            Self::Parked => "parked",
        }
    }

    /// One line on what the report shows.
    pub fn title(self) -> &'static str {
        match self {
            Self::Aanmeldingen => {
                "Students with an aanmelding submitted in the period, per institution and cohort, \
                 by the aanmelding's current status"
            }
            Self::VaTimeliness => {
                "Time from an aanmeldstatus change to its delivery at each VA partner, for \
                 messages delivered in the period (p50 and p95 over at least 5 messages)"
            }
            Self::Bron => {
                "Students with BRON feedback received in the period, per institution, by outcome"
            }
            Self::BronSignalen => {
                "Students with a DUO signal on BRON feedback received in the period, per \
                 institution and signal code"
            }
            Self::Parked => "Messages parked, replayed and discarded, per partner per week",
        }
    }

    /// Whether it counts students (and so goes through small-cell suppression).
    pub fn counts_students(self) -> bool {
        matches!(self, Self::Aanmeldingen | Self::Bron | Self::BronSignalen)
    }
}

impl fmt::Display for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`ReportName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known report (one of: aanmeldingen, va-timeliness, bron, bron-signalen, parked)")]
pub struct UnknownReport;

impl FromStr for ReportName {
    type Err = UnknownReport;
    fn from_str(s: &str) -> Result<Self, UnknownReport> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownReport)
    }
}

/// The days a report covers: `from` through `to`, both inclusive, whole days in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

/// A period that cannot be: names the parameter and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PeriodError {
    /// `from` or `to`.
    pub field: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl Period {
    /// The first day when none is given: 2000-01-01 (before any dossier).
    pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
        Some(d) => d,
        None => NaiveDate::MIN,
    };

    /// From `from` through `to`; `to` before `from` is refused (naming `to`), as is a day
    /// before [`Period::EARLIEST`] or after 9999-12-30.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, PeriodError> {
        if from < Self::EARLIEST {
            return Err(PeriodError {
                field: "from",
                reason: "before 2000-01-01",
            });
        }
        let last = NaiveDate::from_ymd_opt(9999, 12, 30).unwrap_or(NaiveDate::MAX);
        if to > last {
            return Err(PeriodError {
                field: "to",
                reason: "after 9999-12-30",
            });
        }
        if to < from {
            return Err(PeriodError {
                field: "to",
                reason: "before from",
            });
        }
        Ok(Self { from, to })
    }

    /// `from` (default [`Period::EARLIEST`]) through `to` (default `today`).
    pub fn between(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, PeriodError> {
        Self::new(from.unwrap_or(Self::EARLIEST), to.unwrap_or(today))
    }

    /// The first day.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// The last day (inclusive).
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// The first instant: `from` at 00:00 UTC.
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// The instant after the period: the day after `to` at 00:00 UTC (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.to
            .checked_add_days(Days::new(1))
            .unwrap_or(self.to)
            .and_time(NaiveTime::MIN)
            .and_utc()
    }

    /// Whether `at` falls in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        at >= self.start() && at < self.end()
    }
}

/// What a column holds; renderers format and chart by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// A code: a BRIN, a cohort, a partner name.
    Code,
    /// A calendar day (`YYYY-MM-DD`; for weeks, the Monday).
    Date,
    /// A number of distinct students (small cells suppressed).
    Students,
    /// A number of messages or mutations.
    Messages,
    /// A duration in milliseconds (a percentile over at least 5 messages).
    Millis,
}

impl ColumnKind {
    /// The kind's name in the JSON column list.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Date => "date",
            Self::Students => "students",
            Self::Messages => "messages",
            Self::Millis => "millis",
        }
    }
}

/// A column: its name (a JSON key and a CSV header) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The name, snake_case.
    pub name: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
}

impl Column {
    /// A column.
    pub const fn new(name: &'static str, kind: ColumnKind) -> Self {
        Self { name, kind }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A code (never personal data).
    Code(String),
    /// A day.
    Date(NaiveDate),
    /// A number shown as is.
    Number(u64),
    /// Hidden: a count of 1–4 students, a count from which such a count could be derived, or a
    /// percentile over fewer than 5 messages. JSON `null` (the row says `"suppressed": true`),
    /// CSV `<5` for a count and empty for a duration.
    Suppressed,
}

impl Cell {
    /// Whether the cell is hidden.
    pub fn is_suppressed(&self) -> bool {
        matches!(self, Self::Suppressed)
    }
}

/// A report: its name, period, columns and rows (each row has one cell per column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Which report.
    pub name: ReportName,
    /// The period it covers.
    pub period: Period,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, in a stable order (by the code columns).
    pub rows: Vec<Vec<Cell>>,
}

impl Report {
    /// The cell of `column` in `row`, if both exist.
    pub fn cell(&self, row: usize, column: &str) -> Option<&Cell> {
        let i = self.columns.iter().position(|c| c.name == column)?;
        self.rows.get(row)?.get(i)
    }
}

/// One aggregate of the aanmeldingen report: the distinct students with an aanmelding at
/// `instelling` for `cohort` in `status` (`None`: in any status, the row total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AanmeldingCount {
    /// BRIN of the institution.
    pub instelling: String,
    /// Cohort code.
    pub cohort: String,
    /// The status, or `None` for the total.
    pub status: Option<AanmeldStatus>,
    /// Distinct students.
    pub students: u64,
}

/// DUO's outcome on a BRON mutation, as the report groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BronOutcome {
    /// Accepted.
    Geaccepteerd,
    /// Accepted with signals.
    GeaccepteerdMetSignalen,
    /// Rejected (afkeuring).
    Afgekeurd,
}

impl BronOutcome {
    /// Every outcome, in column order.
    pub const ALL: [BronOutcome; 3] = [
        Self::Geaccepteerd,
        Self::GeaccepteerdMetSignalen,
        Self::Afgekeurd,
    ];

    /// The stored tag (and column name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Geaccepteerd => "geaccepteerd",
            Self::GeaccepteerdMetSignalen => "geaccepteerd_met_signalen",
            Self::Afgekeurd => "afgekeurd",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One aggregate of the BRON report: the distinct students of `instelling` with DUO feedback
/// of `outcome` (`None`: any outcome, the row total), and how many mutations that feedback was
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronCount {
    /// BRIN of the institution.
    pub instelling: String,
    /// The outcome, or `None` for the total.
    pub outcome: Option<BronOutcome>,
    /// Distinct students.
    pub students: u64,
    /// Feedback records (one per delivered mutation).
    pub mutations: u64,
}

/// One aggregate of the `bron-signalen` report: the distinct students of `instelling` whose
/// DUO feedback carried signal `code`, and how many feedbacks (mutations) did. Only the code:
/// a signal's description and parameters may quote a person's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalCount {
    /// BRIN of the institution.
    pub instelling: String,
    /// DUO's signal code.
    pub code: String,
    /// Distinct students.
    pub students: u64,
    /// Feedbacks (one per delivered mutation) with the code.
    pub mutations: u64,
}

/// The registry's aggregates for the sector reports, on the in-memory store
/// ([`MemoryStore`](crate::store::MemoryStore)) and on PostgreSQL ([`PgDossierReports`]).
#[async_trait]
pub trait DossierReports: Send + Sync + fmt::Debug + 'static {
    /// Per institution, cohort and current status (and per institution and cohort), the
    /// distinct students with an aanmelding submitted in `period`.
    async fn count_aanmeldingen(&self, period: &Period)
    -> Result<Vec<AanmeldingCount>, StoreError>;

    /// Per institution and outcome (and per institution), the distinct students with DUO
    /// feedback on a BRON mutation received in `period`, and the number of such feedbacks.
    async fn count_bron(&self, period: &Period) -> Result<Vec<BronCount>, StoreError>;

    /// Per institution and signal code, the distinct students with DUO feedback received in
    /// `period` that carried the code, and the number of such feedbacks.
    async fn count_bron_signals(&self, period: &Period) -> Result<Vec<SignalCount>, StoreError>;

    /// The `aanmeldingen` report.
    async fn aanmeldingen(&self, period: &Period) -> Result<Report, StoreError> {
        Ok(aanmeldingen_report(
            *period,
            self.count_aanmeldingen(period).await?,
        ))
    }

    /// The `bron` report.
    async fn bron(&self, period: &Period) -> Result<Report, StoreError> {
        Ok(bron_report(*period, self.count_bron(period).await?))
    }

    /// The `bron-signalen` report.
    async fn bron_signals(&self, period: &Period) -> Result<Report, StoreError> {
        Ok(signals_report(
            *period,
            self.count_bron_signals(period).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_is_whole_days_with_to_inclusive() {
        let p = Period::new(day("2026-09-01"), day("2026-09-30")).unwrap();
        assert_eq!(p.start().to_rfc3339(), "2026-09-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2026-10-01T00:00:00+00:00");
        assert!(p.contains("2026-09-30T23:59:59Z".parse().unwrap()));
        assert!(!p.contains("2026-10-01T00:00:00Z".parse().unwrap()));
        assert!(!p.contains("2026-08-31T23:59:59Z".parse().unwrap()));
    }

    #[test]
    fn a_bad_period_names_the_parameter() {
        let e = Period::new(day("2026-09-02"), day("2026-09-01")).unwrap_err();
        assert_eq!(e.field, "to");
        let e = Period::new(day("1999-12-31"), day("2026-09-01")).unwrap_err();
        assert_eq!(e.field, "from");
        let p = Period::between(None, None, day("2026-12-03")).unwrap();
        assert_eq!((p.from(), p.to()), (Period::EARLIEST, day("2026-12-03")));
    }

    #[test]
    fn report_names_round_trip() {
        for r in ReportName::ALL {
            assert_eq!(r.as_str().parse::<ReportName>(), Ok(r));
        }
        assert_eq!("students".parse::<ReportName>(), Err(UnknownReport));
    }
}
