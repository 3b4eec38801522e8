//! The delivery reports, from the audit trail: `va-timeliness` (from an aanmeldstatus change
//! to its delivery at each VA partner) and `parked` (parked, replayed and discarded messages
//! per partner per week). Built on the registry's report model
//! ([`knooppunt_registry::report`]), which also holds the suppression rule.
//!
//! *When did the status change?* A message's id is its event's id, a UUIDv7 the registry made
//! when it decided the change (`store::decide`): its first 48 bits are that moment in Unix
//! milliseconds. The time to delivery is the first `delivered` record of the message at the
//! partner minus that moment (0 when clocks disagree). Messages whose id is not a UUIDv7 are
//! left out.
//!
//! Both reports count messages, not students, and have no institution dimension: their counts
//! are shown as they are; a percentile needs at least 5 messages ([`suppress::percentile`]).

mod memory;
mod pg;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::report::{Cell, Column, ColumnKind, Period, Report, ReportName, suppress};
use uuid::Uuid;

use crate::OpsError;

pub use pg::PgDeliveryReports;

/// Time to delivery at one partner over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeliness {
    /// The partner (consumer) name.
    pub partner: String,
    /// Messages delivered in the period.
    pub messages: u64,
    /// Median time from the change to delivery, ms (nearest rank).
    pub p50_ms: Option<u64>,
    /// 95th percentile, ms (nearest rank).
    pub p95_ms: Option<u64>,
}

/// Parked, replayed and discarded messages of one partner in one week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedWeek {
    /// The week's Monday (weeks in UTC).
    pub week: NaiveDate,
    /// The partner (consumer) name.
    pub partner: String,
    /// Distinct messages parked that week.
    pub parked: u64,
    /// Distinct messages an operator replayed that week.
    pub replayed: u64,
    /// Distinct messages an operator discarded that week.
    pub discarded: u64,
}

/// The VA partners, by the name their consumer has in the audit trail.
pub fn va_partners() -> Vec<&'static str> {
    Partner::ALL
        .into_iter()
        .filter(|p| p.is_va_recipient())
        .map(Partner::as_str)
        .collect()
}

/// The moment a UUIDv7 was made (Unix milliseconds), `None` for another version.
pub fn v7_millis(id: Uuid) -> Option<i64> {
    if id.get_version_num() != 7 {
        return None;
    }
    let b = id.as_bytes();
    let ms = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    i64::try_from(ms).ok()
}

/// The Monday of the week of `at` (UTC).
pub fn week_of(at: DateTime<Utc>) -> NaiveDate {
    let day = at.date_naive();
    day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
        .unwrap_or(day)
}

/// The ops crate's aggregates for the sector reports, on [`MemoryAudit`](crate::MemoryAudit)
/// and on PostgreSQL ([`PgDeliveryReports`]).
#[async_trait]
pub trait DeliveryReports: Send + Sync + fmt::Debug + 'static {
    /// Per partner of `partners` that delivered a message in `period`: how many (each message
    /// once, at its first delivery in the period) and the p50 and p95 of the time from the
    /// message's UUIDv7 moment to that delivery.
    async fn delivery_times(
        &self,
        period: &Period,
        partners: &[&str],
    ) -> Result<Vec<Timeliness>, OpsError>;

    /// Per week and partner with any: distinct messages parked, replayed and discarded.
    async fn parked_weeks(&self, period: &Period) -> Result<Vec<ParkedWeek>, OpsError>;

    /// The `va-timeliness` report: a row per VA partner (also without messages).
    async fn va_timeliness(&self, period: &Period) -> Result<Report, OpsError> {
        let partners = va_partners();
        let found = self.delivery_times(period, &partners).await?;
        Ok(timeliness_report(*period, &partners, found))
    }

    /// The `parked` report.
    async fn parked(&self, period: &Period) -> Result<Report, OpsError> {
        Ok(parked_report(*period, self.parked_weeks(period).await?))
    }
}

/// The `va-timeliness` report from the aggregates: a row per partner of `partners`, in that
/// order; the percentiles only over at least 5 messages.
pub fn timeliness_report(period: Period, partners: &[&str], found: Vec<Timeliness>) -> Report {
    let rows = partners
        .iter()
        .map(|p| {
            let t = found.iter().find(|t| t.partner == *p);
            let messages = t.map_or(0, |t| t.messages);
            vec![
                Cell::Code((*p).to_owned()),
                Cell::Number(messages),
                suppress::percentile(messages, t.and_then(|t| t.p50_ms)),
                suppress::percentile(messages, t.and_then(|t| t.p95_ms)),
            ]
        })
        .collect();
    Report {
        name: ReportName::VaTimeliness,
        period,
        columns: vec![
            Column::new("partner", ColumnKind::Code),
            Column::new("messages", ColumnKind::Messages),
            Column::new("p50_ms", ColumnKind::Millis),
            Column::new("p95_ms", ColumnKind::Millis),
        ],
        rows,
    }
}

/// The `parked` report from the aggregates: by week, then partner.
pub fn parked_report(period: Period, mut weeks: Vec<ParkedWeek>) -> Report {
    weeks.sort_by(|a, b| (a.week, &a.partner).cmp(&(b.week, &b.partner)));
    Report {
        name: ReportName::Parked,
        period,
        columns: vec![
            Column::new("week", ColumnKind::Date),
            Column::new("partner", ColumnKind::Code),
            Column::new("parked", ColumnKind::Messages),
            Column::new("replayed", ColumnKind::Messages),
            Column::new("discarded", ColumnKind::Messages),
        ],
        rows: weeks
            .into_iter()
            .map(|w| {
                vec![
                    Cell::Date(w.week),
                    Cell::Code(w.partner),
                    Cell::Number(w.parked),
                    Cell::Number(w.replayed),
                    Cell::Number(w.discarded),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moment_of_a_uuid_v7() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-09-01T10:00:00.123Z").unwrap();
        let ms = at.timestamp_millis();
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            u64::try_from(ms / 1000).unwrap(),
            123_000_000,
        ));
        assert_eq!(v7_millis(id), Some(ms));
        assert_eq!(v7_millis(Uuid::new_v4()), None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let sunday = "2026-09-06T23:00:00Z".parse().unwrap();
        assert_eq!(week_of(sunday), "2026-08-31".parse::<NaiveDate>().unwrap());
        let monday = "2026-09-07T00:00:00Z".parse().unwrap();
        assert_eq!(week_of(monday), "2026-09-07".parse::<NaiveDate>().unwrap());
    }

    #[test]
    fn every_va_partner_has_a_row_and_few_messages_give_no_percentile() {
        let period = Period::new(Period::EARLIEST, "2026-12-31".parse().unwrap()).unwrap();
        let partners = va_partners();
        let r = timeliness_report(
            period,
            &partners,
            vec![
                Timeliness {
                    partner: "intergrip".into(),
                    messages: 5,
                    p50_ms: Some(100),
                    p95_ms: Some(900),
                },
                Timeliness {
                    partner: "voroc".into(),
                    messages: 4,
                    p50_ms: Some(100),
                    p95_ms: Some(900),
                },
            ],
        );
        assert_eq!(r.rows.len(), partners.len());
        let row = |p: &str| {
            r.rows
                .iter()
                .find(|row| row.first() == Some(&Cell::Code(p.into())))
                .unwrap()
                .clone()
        };
        assert_eq!(
            row("intergrip")[1..],
            [Cell::Number(5), Cell::Number(100), Cell::Number(900)]
        );
        assert_eq!(
            row("voroc")[1..],
            [Cell::Number(4), Cell::Suppressed, Cell::Suppressed]
        );
        assert_eq!(
            row("koppelpunt")[1..],
            [Cell::Number(0), Cell::Suppressed, Cell::Suppressed]
        );
    }
}
