//! `knooppunt ops report [NAME] [--from DAY] [--to DAY] [--out FILE]`: a sector report as CSV
//! from `GET /ops/v1/reports/{name}` (stdout, or the file), or without a name the list of
//! reports. The report is the operator API's CSV byte for byte.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use serde_json::Value;

use super::{Client, table, text};

/// `knooppunt ops report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The report: aanmeldingen, va-timeliness, bron, bron-signalen or parked. Without it,
    /// the list.
    pub name: Option<String>,
    /// The first day (YYYY-MM-DD; default 2000-01-01).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// The last day, included (YYYY-MM-DD; default today, UTC).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Write the CSV to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The path and query of one report as CSV.
fn report_path(name: &str, from: Option<NaiveDate>, to: Option<NaiveDate>) -> String {
    let mut path = format!("/ops/v1/reports/{name}?format=csv");
    if let Some(from) = from {
        path.push_str(&format!("&from={from}"));
    }
    if let Some(to) = to {
        path.push_str(&format!("&to={to}"));
    }
    path
}

fn list_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| vec![text(&r["name"]), text(&r["title"])])
        .collect();
    table(&["REPORT", "WHAT"], &rows)
}

/// Runs `knooppunt ops report`.
pub(super) async fn run(
    client: &Client,
    args: &ReportArgs,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let Some(name) = &args.name else {
        let v = client.get("/ops/v1/reports").await?;
        if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        } else {
            write!(out, "{}", list_table(&v))?;
        }
        return Ok(true);
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!("NAME: not a report name (see `knooppunt ops report` for the list)");
    }
    let url = format!("{}{}", client.base, report_path(name, args.from, args.to));
    let res = client
        .http
        .get(url)
        .bearer_auth(&client.token)
        .header(reqwest::header::ACCEPT, "text/csv")
        .send()
        .await
        .with_context(|| format!("cannot reach the operator API at {}", client.base))?;
    let status = res.status();
    let body = res.bytes().await.context("reading the report")?;
    if !status.is_success() {
        let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bail!(
            "{} {}: {}",
            status.as_u16(),
            problem["code"].as_str().unwrap_or("error"),
            problem["detail"].as_str().unwrap_or("")
        );
    }
    match &args.out {
        None => out.write_all(&body)?,
        Some(path) => {
            std::fs::write(path, &body)
                .with_context(|| format!("--out: cannot write {}", path.display()))?;
            let rows = body
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                .saturating_sub(1);
            writeln!(out, "{name}: {rows} rows written to {}", path.display())?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_asks_for_csv_over_the_days_given() {
        assert_eq!(
            report_path("aanmeldingen", None, None),
            "/ops/v1/reports/aanmeldingen?format=csv"
        );
        let d = |s: &str| s.parse::<NaiveDate>().ok();
        assert_eq!(
            report_path("va-timeliness", d("2026-09-01"), d("2026-09-30")),
            "/ops/v1/reports/va-timeliness?format=csv&from=2026-09-01&to=2026-09-30"
        );
    }
}
