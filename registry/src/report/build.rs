//! The registry's reports from their aggregates: layout and suppression, shared by both
//! backends.

use std::collections::BTreeMap;

use super::{
    AanmeldingCount, BronCount, BronOutcome, Cell, Column, ColumnKind, Period, Report, ReportName,
    SignalCount, suppress,
};
use crate::domain::AanmeldStatus;

/// The wire name of a status (its column name).
pub(super) fn status_name(status: AanmeldStatus) -> &'static str {
    match status {
        AanmeldStatus::Ontvangen => "ontvangen",
        AanmeldStatus::Aangemeld => "aangemeld",
        AanmeldStatus::OokAangeboden => "ook_aangeboden",
        AanmeldStatus::LeidtNietTotInschrijving => "leidt_niet_tot_inschrijving",
        AanmeldStatus::Ingetrokken => "ingetrokken",
        AanmeldStatus::Ingeschreven => "ingeschreven",
    }
}

pub(super) fn parse_status(s: &str) -> Option<AanmeldStatus> {
    AanmeldStatus::ALL
        .into_iter()
        .find(|st| status_name(*st) == s)
}

/// The `aanmeldingen` report: a row per institution and cohort, a column per status (the
/// distinct students whose aanmelding there is in that status now) and the row's total (the
/// distinct students with any aanmelding there), suppressed per [`suppress::row`].
pub fn aanmeldingen_report(period: Period, counts: Vec<AanmeldingCount>) -> Report {
    let mut columns = vec![
        Column::new("institution", ColumnKind::Code),
        Column::new("cohort", ColumnKind::Code),
    ];
    columns.extend(
        AanmeldStatus::ALL
            .into_iter()
            .map(|s| Column::new(status_name(s), ColumnKind::Students)),
    );
    columns.push(Column::new("total", ColumnKind::Students));

    let mut groups: BTreeMap<(String, String), ([u64; 6], Option<u64>)> = BTreeMap::new();
    for c in counts {
        let group = groups.entry((c.instelling, c.cohort)).or_default();
        match c.status {
            Some(s) => {
                if let Some(i) = AanmeldStatus::ALL.iter().position(|x| *x == s)
                    && let Some(slot) = group.0.get_mut(i)
                {
                    *slot += c.students;
                }
            }
            None => group.1 = Some(group.1.unwrap_or(0) + c.students),
        }
    }
    let rows = groups
        .into_iter()
        .map(|((instelling, cohort), (by_status, total))| {
            let total = total.unwrap_or_else(|| by_status.iter().sum());
            let (cells, total) = suppress::row(&by_status, total);
            let mut row = vec![Cell::Code(instelling), Cell::Code(cohort)];
            row.extend(cells);
            row.push(total);
            row
        })
        .collect();
    Report {
        name: ReportName::Aanmeldingen,
        period,
        columns,
        rows,
    }
}

/// The `bron` report: a row per institution, a column per DUO outcome (the distinct students
/// with feedback of that outcome), the row's total (distinct students with any feedback) and the
/// number of feedbacks (mutations; hidden with the total).
pub fn bron_report(period: Period, counts: Vec<BronCount>) -> Report {
    let mut columns = vec![Column::new("institution", ColumnKind::Code)];
    columns.extend(
        BronOutcome::ALL
            .into_iter()
            .map(|o| Column::new(o.as_str(), ColumnKind::Students)),
    );
    columns.push(Column::new("total", ColumnKind::Students));
    columns.push(Column::new("mutations", ColumnKind::Messages));

    /// Per outcome students, the total (students, mutations), and the mutations summed.
    type Group = ([u64; 3], Option<(u64, u64)>, u64);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for c in counts {
        let group = groups.entry(c.instelling).or_default();
        match c.outcome {
            Some(o) => {
                if let Some(i) = BronOutcome::ALL.iter().position(|x| *x == o)
                    && let Some(slot) = group.0.get_mut(i)
                {
                    *slot += c.students;
                }
                group.2 += c.mutations;
            }
            None => group.1 = Some((c.students, c.mutations)),
        }
    }
    let rows = groups
        .into_iter()
        .map(|(instelling, (by_outcome, total, mutations))| {
            let (students, mutations) =
                total.unwrap_or_else(|| (by_outcome.iter().sum(), mutations));
            let (cells, total) = suppress::row(&by_outcome, students);
            let mutations = suppress::with(&total, mutations);
            let mut row = vec![Cell::Code(instelling)];
            row.extend(cells);
            row.push(total);
            row.push(mutations);
            row
        })
        .collect();
    Report {
        name: ReportName::Bron,
        period,
        columns,
        rows,
    }
}

/// The `bron-signalen` report: a row per institution and signal code, the distinct students
/// whose feedback carried the code (1–4 hidden) and the feedbacks (hidden with them). No row
/// total is shown, so no secondary suppression is needed.
pub fn signals_report(period: Period, mut counts: Vec<SignalCount>) -> Report {
    counts.sort_by(|a, b| (&a.instelling, &a.code).cmp(&(&b.instelling, &b.code)));
    Report {
        name: ReportName::BronSignalen,
        period,
        columns: vec![
            Column::new("institution", ColumnKind::Code),
            Column::new("signal", ColumnKind::Code),
            Column::new("students", ColumnKind::Students),
            Column::new("mutations", ColumnKind::Messages),
        ],
        rows: counts
            .into_iter()
            .map(|c| {
                let students = suppress::students(c.students);
                let mutations = suppress::with(&students, c.mutations);
                vec![
                    Cell::Code(c.instelling),
                    Cell::Code(c.code),
                    students,
                    mutations,
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> Period {
        Period::new(Period::EARLIEST, "2026-12-31".parse().unwrap()).unwrap()
    }

    fn count(i: &str, c: &str, s: Option<AanmeldStatus>, n: u64) -> AanmeldingCount {
        AanmeldingCount {
            instelling: i.into(),
            cohort: c.into(),
            status: s,
            students: n,
        }
    }

    #[test]
    fn aanmeldingen_rows_per_institution_and_cohort_with_every_status() {
        use AanmeldStatus::*;
        let r = aanmeldingen_report(
            period(),
            vec![
                count("30XX", "2026", Some(Aangemeld), 3),
                count("30XX", "2026", None, 3),
                count("25XX", "2026", Some(Aangemeld), 7),
                count("25XX", "2026", Some(Ingeschreven), 5),
                count("25XX", "2026", None, 12),
            ],
        );
        assert_eq!(r.columns.len(), 9);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.cell(0, "institution"), Some(&Cell::Code("25XX".into())));
        assert_eq!(r.cell(0, "aangemeld"), Some(&Cell::Number(7)));
        assert_eq!(r.cell(0, "ontvangen"), Some(&Cell::Number(0)));
        assert_eq!(r.cell(0, "total"), Some(&Cell::Number(12)));
        assert_eq!(r.cell(1, "aangemeld"), Some(&Cell::Suppressed));
        assert_eq!(r.cell(1, "total"), Some(&Cell::Suppressed));
    }

    #[test]
    fn bron_mutations_hide_with_the_students() {
        let c = |o, s, m| BronCount {
            instelling: "30XX".into(),
            outcome: o,
            students: s,
            mutations: m,
        };
        let r = bron_report(
            period(),
            vec![
                c(Some(BronOutcome::Geaccepteerd), 2, 2),
                c(Some(BronOutcome::Afgekeurd), 1, 1),
                c(None, 3, 3),
            ],
        );
        assert_eq!(r.cell(0, "geaccepteerd"), Some(&Cell::Suppressed));
        assert_eq!(
            r.cell(0, "geaccepteerd_met_signalen"),
            Some(&Cell::Number(0))
        );
        assert_eq!(r.cell(0, "total"), Some(&Cell::Suppressed));
        assert_eq!(r.cell(0, "mutations"), Some(&Cell::Suppressed));
    }

    #[test]
    fn signal_rows_hide_small_counts_and_their_mutations() {
        let c = |i: &str, code: &str, s, m| SignalCount {
            instelling: i.into(),
            code: code.into(),
            students: s,
            mutations: m,
        };
        let r = signals_report(period(), vec![c("30XX", "A1", 2, 3), c("25XX", "W9", 7, 9)]);
        assert_eq!(
            r.rows,
            vec![
                vec![
                    Cell::Code("25XX".into()),
                    Cell::Code("W9".into()),
                    Cell::Number(7),
                    Cell::Number(9)
                ],
                vec![
                    Cell::Code("30XX".into()),
                    Cell::Code("A1".into()),
                    Cell::Suppressed,
                    Cell::Suppressed
                ],
            ]
        );
    }
}
