//! `knooppunt ops controls|maintenance|shadow|rate-limit`: the runtime controls of the operator
//! API (`/ops/v1/controls`). Each change needs `--why` (recorded in the audit trail with your
//! name and role).

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Client, table, text, time};

/// `knooppunt ops controls`.
#[derive(Debug, clap::Args)]
pub struct ControlsArgs {
    /// One partner (consumer) only.
    #[arg(long)]
    pub partner: Option<String>,
}

/// `knooppunt ops maintenance …`.
#[derive(Debug, clap::Subcommand)]
pub enum MaintenanceCommand {
    /// Adds a maintenance window: nothing is sent to the partner until it ends (or is removed);
    /// then the backlog drains at the partner's drain rate.
    Add {
        /// The partner (consumer).
        #[arg(long)]
        partner: String,
        /// When it starts (RFC 3339, e.g. 2026-12-04T03:00:00Z); now when absent.
        #[arg(long)]
        start: Option<String>,
        /// When it ends: RFC 3339, or a duration from the start such as 90m, 2h, 1d.
        #[arg(long)]
        end: String,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
    /// The maintenance windows that have not ended, per partner.
    List {
        /// One partner (consumer) only.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Removes a window an operator added (the backlog then drains at the drain rate).
    Remove {
        /// The partner (consumer).
        #[arg(long)]
        partner: String,
        /// The window's id (from `maintenance list`).
        id: Uuid,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
}

/// On, off, or back to the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Shadow mode: translate and store, send nothing.
    On,
    /// Send.
    Off,
    /// Back to what the configuration says.
    Clear,
}

/// `knooppunt ops shadow on|off|clear`.
#[derive(Debug, clap::Args)]
pub struct ShadowArgs {
    /// on, off or clear (back to the configuration).
    pub switch: Switch,
    /// The partner (consumer).
    #[arg(long)]
    pub partner: String,
    /// Only the messages about this institution (BRIN).
    #[arg(long)]
    pub institution: Option<String>,
    /// Why (recorded in the audit trail with your name; no personal data).
    #[arg(long)]
    pub why: String,
}

/// `knooppunt ops rate-limit …`.
#[derive(Debug, clap::Subcommand)]
pub enum RateLimitCommand {
    /// Sets the partner's rate limit (overrides the configuration).
    Set {
        /// The partner (consumer).
        #[arg(long)]
        partner: String,
        /// Attempts per second (above 0).
        #[arg(long)]
        per_second: f64,
        /// Attempts at once after a quiet period.
        #[arg(long, default_value_t = 1)]
        burst: u32,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
    /// Back to the configured rate limit.
    Clear {
        /// The partner (consumer).
        #[arg(long)]
        partner: String,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
}

/// `--end`: RFC 3339, or a duration after `start` (`45s`, `90m`, `2h`, `1d`).
fn end_time(start: DateTime<Utc>, end: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(end) {
        return Ok(t.with_timezone(&Utc));
    }
    let end = end.trim().trim_start_matches('+');
    let cut = end.char_indices().last().map_or(0, |(i, _)| i);
    let (n, unit) = end.split_at(cut);
    let n: i64 = n
        .parse()
        .with_context(|| "--end: give RFC 3339 or a duration such as 90m, 2h or 1d")?;
    let d = match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        _ => None,
    };
    match d {
        Some(d) => Ok(start + d),
        None => bail!("--end: give RFC 3339 or a duration such as 90m, 2h or 1d"),
    }
}

fn source(v: &Value) -> &'static str {
    if v.as_str() == Some("operator") {
        " (operator)"
    } else {
        ""
    }
}

fn rate_text(p: &Value) -> String {
    match p["rate_limit"].as_object() {
        None => "none".to_owned(),
        Some(r) => format!("{}/s burst {}", text(&r["per_second"]), text(&r["burst"])),
    }
}

fn institutions_text(p: &Value) -> String {
    let list: Vec<String> = p["shadow_institutions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| format!("{}{}", text(&i["brin"]), source(&i["source"])))
        .collect();
    if list.is_empty() {
        "-".to_owned()
    } else {
        list.join(", ")
    }
}

fn partners(v: &Value) -> Vec<Value> {
    match v.get("partners").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => vec![v.clone()],
    }
}

/// One line per partner: maintenance, shadow, shadowed institutions, rate limit.
fn controls_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = partners(v)
        .iter()
        .map(|p| {
            vec![
                text(&p["partner"]),
                if p["in_maintenance"] == json!(true) {
                    "MAINTENANCE".to_owned()
                } else {
                    "-".to_owned()
                },
                p["maintenance"].as_array().map_or(0, Vec::len).to_string(),
                format!(
                    "{}{}",
                    if p["shadow"] == json!(true) {
                        "on"
                    } else {
                        "off"
                    },
                    source(&p["shadow_source"])
                ),
                institutions_text(p),
                format!("{}{}", rate_text(p), source(&p["rate_limit_source"])),
            ]
        })
        .collect();
    table(
        &[
            "PARTNER",
            "NOW",
            "WINDOWS",
            "SHADOW",
            "SHADOWED-INSTITUTIONS",
            "RATE-LIMIT",
        ],
        &rows,
    )
}

/// One line per maintenance window.
fn windows_table(v: &Value) -> String {
    let mut rows = Vec::new();
    for p in partners(v) {
        for w in p["maintenance"].as_array().into_iter().flatten() {
            rows.push(vec![
                text(&p["partner"]),
                text(&w["id"]),
                time(&w["start"]),
                time(&w["end"]),
                text(&w["source"]),
                text(&w["added_by"]),
            ]);
        }
    }
    if rows.is_empty() {
        return "no maintenance windows\n".to_owned();
    }
    table(
        &["PARTNER", "ID", "START", "END", "SOURCE", "ADDED-BY"],
        &rows,
    )
}

fn partner_path(partner: &str) -> anyhow::Result<String> {
    if partner.is_empty()
        || !partner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        bail!("--partner: not a partner name");
    }
    Ok(format!("/ops/v1/controls/{partner}"))
}

impl Client {
    async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn delete(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.delete(format!("{}{path}", self.base)).json(body))
            .await
    }
}

fn print(out: &mut dyn Write, json_out: bool, v: &Value, human: String) -> anyhow::Result<bool> {
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    } else {
        write!(out, "{human}")?;
    }
    Ok(true)
}

async fn overview(client: &Client, partner: Option<&str>) -> anyhow::Result<Value> {
    match partner {
        Some(p) => client.get(&partner_path(p)?).await,
        None => client.get("/ops/v1/controls").await,
    }
}

/// `knooppunt ops controls`.
pub async fn controls(
    client: &Client,
    args: &ControlsArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let v = overview(client, args.partner.as_deref()).await?;
    print(out, json_out, &v, controls_table(&v))
}

/// `knooppunt ops maintenance …`.
pub async fn maintenance(
    client: &Client,
    command: &MaintenanceCommand,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    match command {
        MaintenanceCommand::Add {
            partner,
            start,
            end,
            why,
        } => {
            let start = match start {
                Some(s) => Some(
                    DateTime::parse_from_rfc3339(s)
                        .context("--start: not an RFC 3339 time")?
                        .with_timezone(&Utc),
                ),
                None => None,
            };
            let end = end_time(start.unwrap_or_else(Utc::now), end)?;
            let v = client
                .post(
                    &format!("{}/maintenance", partner_path(partner)?),
                    &json!({ "start": start, "end": end, "reason": why }),
                )
                .await?;
            let mut human = format!(
                "maintenance window {} for {} until {}\n",
                text(&v["window_id"]),
                text(&v["partner"]),
                end.format("%Y-%m-%d %H:%M:%S UTC")
            );
            if v["in_maintenance"] == json!(true) {
                let _ = writeln!(human, "{} is in maintenance now: nothing is sent", partner);
            }
            print(out, json_out, &v, human)
        }
        MaintenanceCommand::List { partner } => {
            let v = overview(client, partner.as_deref()).await?;
            print(out, json_out, &v, windows_table(&v))
        }
        MaintenanceCommand::Remove { partner, id, why } => {
            let v = client
                .delete(
                    &format!("{}/maintenance/{id}", partner_path(partner)?),
                    &json!({ "reason": why }),
                )
                .await?;
            let human = format!(
                "removed window {id} of {partner}; in maintenance now: {}\n",
                if v["in_maintenance"] == json!(true) {
                    "yes"
                } else {
                    "no"
                }
            );
            print(out, json_out, &v, human)
        }
    }
}

/// `knooppunt ops shadow on|off|clear`.
pub async fn shadow(
    client: &Client,
    args: &ShadowArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let base = partner_path(&args.partner)?;
    let path = match &args.institution {
        Some(brin) => {
            if brin.is_empty() || !brin.bytes().all(|b| b.is_ascii_alphanumeric()) {
                bail!("--institution: not a BRIN");
            }
            format!("{base}/shadow/institutions/{brin}")
        }
        None => format!("{base}/shadow"),
    };
    let v = match args.switch {
        Switch::On | Switch::Off => {
            let on = args.switch == Switch::On;
            client
                .put(&path, &json!({ "on": on, "reason": args.why }))
                .await?
        }
        Switch::Clear => client.delete(&path, &json!({ "reason": args.why })).await?,
    };
    let human = format!(
        "{}: shadow {}{}; shadowed institutions: {}\n",
        args.partner,
        if v["shadow"] == json!(true) {
            "on"
        } else {
            "off"
        },
        source(&v["shadow_source"]),
        institutions_text(&v)
    );
    print(out, json_out, &v, human)
}

/// `knooppunt ops rate-limit set|clear`.
pub async fn rate_limit(
    client: &Client,
    command: &RateLimitCommand,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (partner, v) = match command {
        RateLimitCommand::Set {
            partner,
            per_second,
            burst,
            why,
        } => {
            let path = format!("{}/rate-limit", partner_path(partner)?);
            let body = json!({ "per_second": per_second, "burst": burst, "reason": why });
            (partner, client.put(&path, &body).await?)
        }
        RateLimitCommand::Clear { partner, why } => {
            let path = format!("{}/rate-limit", partner_path(partner)?);
            (
                partner,
                client.delete(&path, &json!({ "reason": why })).await?,
            )
        }
    };
    let human = format!(
        "{partner}: rate limit {}{}\n",
        rate_text(&v),
        source(&v["rate_limit_source"])
    );
    print(out, json_out, &v, human)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_is_a_time_or_a_duration_after_the_start() {
        let start = DateTime::parse_from_rfc3339("2026-12-04T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(end_time(start, "2h").unwrap(), start + TimeDelta::hours(2));
        assert_eq!(
            end_time(start, "+90m").unwrap(),
            start + TimeDelta::minutes(90)
        );
        assert_eq!(
            end_time(start, "2026-12-04T05:00:00+01:00").unwrap(),
            start + TimeDelta::hours(1)
        );
        assert!(end_time(start, "soon").is_err());
        assert!(end_time(start, "2w").is_err());
        assert!(end_time(start, "2ħ").is_err());
        assert!(end_time(start, "").is_err());
    }

    #[test]
    fn the_overview_shows_sources_and_maintenance() {
        let v = json!({ "partners": [{
            "partner": "intergrip", "in_maintenance": true,
            "maintenance": [{ "id": "0193", "start": "2026-12-04T03:00:00Z",
                "end": "2026-12-04T05:00:00Z", "source": "operator", "added_by": "otto" }],
            "shadow": false, "shadow_source": "configuration",
            "shadow_institutions": [{ "brin": "25LX", "source": "operator" }],
            "live_institutions": [],
            "rate_limit": { "per_second": 2.5, "burst": 1 }, "rate_limit_source": "operator"
        }]});
        let t = controls_table(&v);
        let line = t.lines().nth(1).unwrap();
        assert!(line.starts_with("intergrip  MAINTENANCE  1"), "{t}");
        assert!(line.contains("25LX (operator)"), "{t}");
        assert!(line.ends_with("2.5/s burst 1 (operator)"), "{t}");
        let w = windows_table(&v);
        assert!(
            w.contains("2026-12-04 03:00:00") && w.contains("otto"),
            "{w}"
        );
    }
}
