//! Sector reports on the operator API (`docs/operator-api.md`, *Sector reports*): aggregates
//! without personal data for the MBO Raad and saMBO-ICT, as JSON or CSV.
//!
//! - `GET /ops/v1/reports` — the reports with their columns;
//! - `GET /ops/v1/reports/{name}?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|csv` — one report
//!   (`Accept: text/csv` asks for CSV too). `from` defaults to 2000-01-01, `to` to today (UTC);
//!   both days are included.
//!
//! The reports are built by the registry ([`DossierReports`]) and the ops crate
//! ([`DeliveryReports`]) on the report model of [`knooppunt_registry::report`], which also
//! holds the small-cell suppression; this file only parses and renders. The role `reader`
//! is enough.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use knooppunt_ops::report::{DeliveryReports, parked_report, timeliness_report, va_partners};
use knooppunt_registry::report::{
    Cell, ColumnKind, DossierReports, Period, Report, ReportName, aanmeldingen_report, bron_report,
    signals_report,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Operator, OperatorState};
use crate::problem::{ErrorCode, Problem};

/// Where the reports come from: the registry's aggregates and the audit trail's. Cheap to
/// clone.
#[derive(Clone)]
pub struct Reports {
    dossiers: Arc<dyn DossierReports>,
    deliveries: Arc<dyn DeliveryReports>,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reports")
            .field("dossiers", &self.dossiers)
            .field("deliveries", &self.deliveries)
            .finish()
    }
}

/// Why a report could not be made (the store failed; the cause is logged).
#[derive(Debug, thiserror::Error)]
#[error("report {name}: {cause}")]
pub struct ReportFailed {
    /// Which report.
    pub name: ReportName,
    /// The store's error, without personal data.
    pub cause: String,
}

impl Reports {
    /// Reports from these sources (the node: its registry store or [`PgDossierReports`] and its
    /// audit trail or [`PgDeliveryReports`]).
    ///
    /// [`PgDossierReports`]: knooppunt_registry::report::PgDossierReports
    /// [`PgDeliveryReports`]: knooppunt_ops::report::PgDeliveryReports
    pub fn new(dossiers: Arc<dyn DossierReports>, deliveries: Arc<dyn DeliveryReports>) -> Self {
        Self {
            dossiers,
            deliveries,
        }
    }

    /// Makes report `name` over `period`.
    pub async fn make(&self, name: ReportName, period: &Period) -> Result<Report, ReportFailed> {
        let failed = |cause: String| ReportFailed { name, cause };
        match name {
            ReportName::Aanmeldingen => self
                .dossiers
                .aanmeldingen(period)
                .await
                .map_err(|e| failed(e.to_string())),
            ReportName::Bron => self
                .dossiers
                .bron(period)
                .await
                .map_err(|e| failed(e.to_string())),
            ReportName::BronSignalen => self
                .dossiers
                .bron_signals(period)
                .await
                .map_err(|e| failed(e.to_string())),
            ReportName::VaTimeliness => self
                .deliveries
                .va_timeliness(period)
                .await
                .map_err(|e| failed(e.to_string())),
            ReportName::Parked => self
                .deliveries
                .parked(period)
                .await
                .map_err(|e| failed(e.to_string())),
        }
    }
}

/// An empty report of `name`: its columns, for the list.
fn layout(name: ReportName, period: Period) -> Report {
    match name {
        ReportName::Aanmeldingen => aanmeldingen_report(period, Vec::new()),
        ReportName::Bron => bron_report(period, Vec::new()),
        ReportName::BronSignalen => signals_report(period, Vec::new()),
        ReportName::VaTimeliness => timeliness_report(period, &va_partners(), Vec::new()),
        ReportName::Parked => parked_report(period, Vec::new()),
    }
}

/// A column in the list and in a report's JSON.
#[derive(Debug, Serialize)]
pub struct ColumnView {
    /// The name (JSON key, CSV header).
    pub name: &'static str,
    /// `code`, `date`, `students`, `messages` or `millis`.
    pub kind: &'static str,
}

/// One entry of `GET /ops/v1/reports`.
#[derive(Debug, Serialize)]
pub struct ReportInfo {
    /// The name in the URL.
    pub name: &'static str,
    /// What it shows.
    pub title: &'static str,
    /// Whether it counts students (small cells suppressed).
    pub counts_students: bool,
    /// Its URL.
    pub href: String,
    /// Its columns, in order.
    pub columns: Vec<ColumnView>,
}

/// `GET /ops/v1/reports`.
#[derive(Debug, Serialize)]
pub struct ReportList {
    /// Every report.
    pub reports: Vec<ReportInfo>,
    /// The suppression rule, in one line.
    pub suppression: &'static str,
}

/// The rule as the answers state it.
pub const SUPPRESSION: &str = "counts of 1-4 students are suppressed (null with \"suppressed\": \
    true in JSON, <5 in CSV); when a row shows its total and only one cell is suppressed, the \
    smallest other non-zero cell (or else the total) is suppressed too; p50/p95 need at least 5 \
    messages";

fn columns(report: &Report) -> Vec<ColumnView> {
    report
        .columns
        .iter()
        .map(|c| ColumnView {
            name: c.name,
            kind: c.kind.as_str(),
        })
        .collect()
}

/// The JSON of a report: period, columns, and a row object per row keyed by column name, with
/// `"suppressed": true` when a cell of the row is hidden (that cell is `null`).
pub fn to_json(report: &Report) -> Value {
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for (column, cell) in report.columns.iter().zip(row) {
                let v = match cell {
                    Cell::Code(s) => Value::from(s.as_str()),
                    Cell::Date(d) => Value::from(d.to_string()),
                    Cell::Number(n) => Value::from(*n),
                    Cell::Suppressed => Value::Null,
                };
                obj.insert(column.name.to_owned(), v);
            }
            obj.insert(
                "suppressed".to_owned(),
                Value::Bool(row.iter().any(Cell::is_suppressed)),
            );
            Value::Object(obj)
        })
        .collect();
    serde_json::json!({
        "report": report.name.as_str(),
        "title": report.name.title(),
        "from": report.period.from().to_string(),
        "to": report.period.to().to_string(),
        "columns": columns(report),
        "rows": rows,
        "suppression": SUPPRESSION,
    })
}

/// A code as a CSV field that a spreadsheet does not take for a formula (a leading `=`, `+`,
/// `-` or `@` gets a `'` in front). Codes come from reference data; this keeps a strange one
/// harmless for the people who open the file.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The CSV of a report: a header of column names, a line per row; a suppressed count is `<5`,
/// a suppressed duration empty.
pub fn to_csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(report.columns.iter().map(|c| c.name))?;
    for row in &report.rows {
        let fields: Vec<String> = report
            .columns
            .iter()
            .zip(row)
            .map(|(column, cell)| match cell {
                Cell::Code(s) => csv_text(s),
                Cell::Date(d) => d.to_string(),
                Cell::Number(n) => n.to_string(),
                Cell::Suppressed if column.kind == ColumnKind::Millis => String::new(),
                Cell::Suppressed => "<5".to_owned(),
            })
            .collect();
        w.write_record(&fields)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn bad_parameter(name: &str, reason: &str) -> Problem {
    Problem::new(ErrorCode::InvalidQuery)
        .detail(format!("{name}: {reason}"))
        .field(name, reason)
}

fn day(name: &str, value: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| bad_parameter(name, "not a date (YYYY-MM-DD)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// The query of `GET /ops/v1/reports/{name}`, checked: unknown, repeated or malformed
/// parameters are a 400 naming the parameter.
fn parse_query(
    pairs: &[(String, String)],
    headers: &HeaderMap,
    today: NaiveDate,
) -> Result<(Period, Format), Problem> {
    let (mut from, mut to, mut format) = (None, None, None);
    for (key, value) in pairs {
        let slot_taken = match key.as_str() {
            "from" => from.replace(day("from", value)?).is_some(),
            "to" => to.replace(day("to", value)?).is_some(),
            "format" => {
                let f = match value.as_str() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => return Err(bad_parameter("format", "must be json or csv")),
                };
                format.replace(f).is_some()
            }
            // The key is the caller's text; name it only when it is a plain word.
            k if k.len() <= 32 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                return Err(bad_parameter(
                    k,
                    "unknown parameter (from, to and format are known)",
                ));
            }
            _ => {
                return Err(Problem::new(ErrorCode::InvalidQuery)
                    .detail("unknown parameter (from, to and format are known)"));
            }
        };
        if slot_taken {
            return Err(bad_parameter(key, "given more than once"));
        }
    }
    let period = Period::between(from, to, today).map_err(|e| bad_parameter(e.field, e.reason))?;
    let format = format.unwrap_or_else(|| {
        let wants_csv = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|m| m.split(';').next().map(str::trim) == Some("text/csv"));
        if wants_csv { Format::Csv } else { Format::Json }
    });
    Ok((period, format))
}

fn reports_of(state: &OperatorState) -> Result<&Reports, Problem> {
    state
        .reports
        .as_ref()
        .ok_or_else(|| Problem::new(ErrorCode::Unavailable).detail("this node serves no reports"))
}

/// `GET /ops/v1/reports`.
pub async fn list(
    _op: Operator,
    State(state): State<OperatorState>,
) -> Result<Json<ReportList>, Problem> {
    reports_of(&state)?;
    let today = Utc::now().date_naive();
    let period = Period::between(None, None, today).map_err(|_| Problem::internal())?;
    Ok(Json(ReportList {
        reports: ReportName::ALL
            .into_iter()
            .map(|name| ReportInfo {
                name: name.as_str(),
                title: name.title(),
                counts_students: name.counts_students(),
                href: format!("/ops/v1/reports/{name}"),
                columns: columns(&layout(name, period)),
            })
            .collect(),
        suppression: SUPPRESSION,
    }))
}

/// `GET /ops/v1/reports/{name}`.
pub async fn one(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(name): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let reports = reports_of(&state)?;
    let name: ReportName = name.parse().map_err(|_| Problem::not_found("report"))?;
    let Query(pairs) = query.map_err(|_| {
        Problem::new(ErrorCode::InvalidQuery).detail("the query string is not form-encoded")
    })?;
    let (period, format) = parse_query(&pairs, &headers, Utc::now().date_naive())?;
    let report = reports.make(name, &period).await.map_err(|e| {
        tracing::warn!(report = %e.name, error = %e.cause, "operator API: a report failed");
        Problem::unavailable()
    })?;
    match format {
        Format::Json => Ok(Json(to_json(&report)).into_response()),
        Format::Csv => {
            let body = to_csv(&report).map_err(|e| {
                tracing::warn!(report = %name, error = %e, "operator API: CSV rendering failed");
                Problem::internal()
            })?;
            let disposition = format!(
                "attachment; filename=\"{name}_{}_{}.csv\"",
                period.from(),
                period.to()
            );
            let mut res = body.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(res)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn q(pairs: &[(&str, &str)], accept: Option<&str>) -> Result<(Period, Format), Problem> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        parse_query(&pairs, &headers, d("2026-12-03"))
    }

    fn field(p: Problem) -> (u16, Option<String>) {
        (p.status_code().as_u16(), p.field)
    }

    #[test]
    fn the_query_gives_period_and_format() {
        let (p, f) = q(&[("from", "2026-09-01"), ("to", "2026-09-30")], None).unwrap();
        assert_eq!(
            (p.from(), p.to(), f),
            (d("2026-09-01"), d("2026-09-30"), Format::Json)
        );
        let (p, f) = q(&[("format", "csv")], None).unwrap();
        assert_eq!(
            (p.from(), p.to(), f),
            (Period::EARLIEST, d("2026-12-03"), Format::Csv)
        );
        let (_, f) = q(&[], Some("text/html, text/csv;q=0.9")).unwrap();
        assert_eq!(f, Format::Csv);
        let (_, f) = q(&[("format", "json")], Some("text/csv")).unwrap();
        assert_eq!(f, Format::Json, "the parameter wins over Accept");
    }

    #[test]
    fn a_bad_parameter_is_a_400_naming_it() {
        let bad = |pairs: &[(&str, &str)]| field(q(pairs, None).unwrap_err());
        let some = |s: &str| (400, Some(s.to_owned()));
        assert_eq!(bad(&[("from", "1-9-2026")]), some("from"));
        assert_eq!(bad(&[("to", "2026-02-30")]), some("to"));
        assert_eq!(
            bad(&[("from", "2026-10-01"), ("to", "2026-09-01")]),
            some("to")
        );
        assert_eq!(bad(&[("format", "xlsx")]), some("format"));
        assert_eq!(bad(&[("institution", "25XX")]), some("institution"));
        assert_eq!(
            bad(&[("to", "2026-09-01"), ("to", "2026-09-02")]),
            some("to")
        );
    }

    #[test]
    fn csv_writes_suppressed_counts_as_below_five() {
        use knooppunt_registry::report::Column;
        let report = Report {
            name: ReportName::VaTimeliness,
            period: Period::new(d("2026-09-01"), d("2026-09-30")).unwrap(),
            columns: vec![
                Column::new("partner", ColumnKind::Code),
                Column::new("students", ColumnKind::Students),
                Column::new("p50_ms", ColumnKind::Millis),
            ],
            rows: vec![
                vec![Cell::Code("a,b".into()), Cell::Suppressed, Cell::Suppressed],
                vec![Cell::Code("c".into()), Cell::Number(7), Cell::Number(120)],
                vec![Cell::Code("=1+1".into()), Cell::Number(0), Cell::Number(5)],
            ],
        };
        let csv = String::from_utf8(to_csv(&report).unwrap()).unwrap();
        assert_eq!(
            csv,
            "partner,students,p50_ms\n\"a,b\",<5,\nc,7,120\n'=1+1,0,5\n"
        );
        let json = to_json(&report);
        assert_eq!(json["rows"][0]["students"], Value::Null);
        assert_eq!(json["rows"][0]["suppressed"], Value::Bool(true));
        assert_eq!(json["rows"][1]["suppressed"], Value::Bool(false));
        assert_eq!(json["rows"][1]["p50_ms"], Value::from(120));
        assert_eq!(json["from"], Value::from("2026-09-01"));
    }
}
