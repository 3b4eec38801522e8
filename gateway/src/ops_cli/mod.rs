//! `knooppunt ops …`: the operator CLI, a client of the operator API (`docs/operator-api.md`).
//! Human tables by default, the API's JSON with `--json`; a progress bar on replay (on a
//! terminal). The URL and token come from `--url`/`--token` or `KNOOPPUNT_OPS_URL`/
//! `KNOOPPUNT_OPS_TOKEN` (prefer the environment: a command line is visible to other users).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

mod controls;
mod levels;
mod reports;

/// `knooppunt ops`.
#[derive(Debug, clap::Args)]
pub struct OpsArgs {
    /// The operator API's base URL.
    #[arg(
        long,
        env = "KNOOPPUNT_OPS_URL",
        default_value = "http://127.0.0.1:9444",
        global = true
    )]
    pub url: String,
    /// The operator's bearer token.
    #[arg(
        long,
        env = "KNOOPPUNT_OPS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust for an https URL, besides the system's.
    #[arg(long, env = "KNOOPPUNT_OPS_CACERT", global = true)]
    pub cacert: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: OpsCommand,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Per partner: parked, waiting, breaker, in flight, queue depth, last success and failure.
    Status,
    /// Parked messages grouped by partner and reason; with --partner, that partner's messages.
    Failures {
        /// One partner (consumer) only, message by message.
        #[arg(long)]
        partner: Option<String>,
    },
    /// One parked message: ids, codes, attempts, times, reason (never the body).
    Show {
        /// The partner (consumer).
        consumer: String,
        /// The message id.
        id: String,
    },
    /// A message's audit trail, each chain verified.
    Trace {
        /// The message id.
        id: String,
    },
    /// Replays parked messages in stages: a canary first, then the rest at a capped rate,
    /// stopping at the first failure.
    Replay {
        /// One message.
        #[arg(long, conflicts_with = "reason")]
        message: Option<Uuid>,
        /// The partner (consumer): all its parked messages, or with --reason one group.
        #[arg(long, required_unless_present = "message")]
        partner: Option<String>,
        /// Only the parked messages of this park reason (e.g. retries_exhausted).
        #[arg(long)]
        reason: Option<String>,
        /// How many go first, alone.
        #[arg(long, default_value_t = 1)]
        canary: usize,
        /// At most this many messages per second after the canary.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Seconds to wait for an outcome (the canary's, and the last ones').
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
    /// Discards one parked message; what waited behind it goes to the partner.
    Discard {
        /// The message id.
        id: Uuid,
        /// The partner (consumer), when the message is parked at more than one.
        #[arg(long)]
        partner: Option<String>,
        /// Why (recorded in the audit trail with your name; no personal data).
        #[arg(long)]
        why: String,
    },
    /// Institutions' participation levels: show them, or move one a step (recorded, reversible).
    Level {
        #[command(subcommand)]
        command: levels::LevelCommand,
    },
    /// A sector report as CSV (aanmeldingen, va-timeliness, bron, bron-signalen, parked);
    /// without a name, the list.
    Report(reports::ReportArgs),
    /// Per partner: maintenance, shadow mode, shadowed institutions, rate limit, and whether
    /// each comes from the configuration or an operator.
    Controls(controls::ControlsArgs),
    /// Maintenance windows: add, list, remove.
    #[command(subcommand)]
    Maintenance(controls::MaintenanceCommand),
    /// Shadow mode (translate and store, send nothing) for a partner or one institution.
    Shadow(controls::ShadowArgs),
    /// A partner's rate limit: set, clear.
    #[command(subcommand)]
    RateLimit(controls::RateLimitCommand),
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(args: &OpsArgs) -> anyhow::Result<Self> {
        let Some(token) = args.token.clone().filter(|t| !t.is_empty()) else {
            bail!("no operator token: give --token or set KNOOPPUNT_OPS_TOKEN");
        };
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(path) = &args.cacert {
            let pem = std::fs::read(path)
                .with_context(|| format!("--cacert: cannot read {}", path.display()))?;
            http = http.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).context("--cacert: not a PEM certificate")?,
            );
        }
        Ok(Self {
            http: http.build().context("HTTP client")?,
            base: args.url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the operator API at {}", self.base))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body["code"].as_str().unwrap_or("error");
            let detail = body["detail"].as_str().unwrap_or("");
            bail!("{} {code}: {detail}", status.as_u16());
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time as `2026-12-03 15:40:11` (UTC), or `-`.
fn time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<String>| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(l, "{cell:<w$}  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(&mut out, row.clone());
    }
    out
}

fn status_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["consumers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                text(&c["consumer"]),
                text(&c["parked"]),
                text(&c["blocked_subjects"]),
                text(&c["held"]),
                text(&c["breaker"]),
                text(&c["in_flight"]),
                text(&c["queue_depth"]),
                text(&c["delivered_since_start"]),
                text(&c["rejected_since_start"]),
                time(&c["last_delivered_at"]),
                time(&c["last_failure_at"]),
            ]
        })
        .collect();
    let ready = if v["ready"] == json!(true) {
        "ready"
    } else {
        "NOT READY"
    };
    format!(
        "node: {ready}\n{}",
        table(
            &[
                "PARTNER",
                "PARKED",
                "BLOCKED",
                "HELD",
                "BREAKER",
                "IN-FLIGHT",
                "QUEUE",
                "DELIVERED",
                "REJECTED",
                "LAST-DELIVERED",
                "LAST-FAILURE",
            ],
            &rows,
        )
    )
}

fn groups_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            vec![
                text(&g["consumer"]),
                text(&g["reason"]),
                text(&g["count"]),
                time(&g["oldest_failure"]),
                time(&g["latest_failure"]),
            ]
        })
        .collect();
    format!(
        "{} parked\n{}",
        text(&v["total"]),
        table(
            &[
                "PARTNER",
                "REASON",
                "COUNT",
                "OLDEST-FAILURE",
                "LATEST-FAILURE"
            ],
            &rows
        )
    )
}

fn messages_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                text(&m["message_id"]),
                text(&m["reason"]),
                text(&m["attempts"]),
                text(&m["last_error"]),
                time(&m["last_failure"]),
            ]
        })
        .collect();
    table(
        &[
            "MESSAGE-ID",
            "REASON",
            "ATTEMPTS",
            "LAST-ERROR",
            "LAST-FAILURE",
        ],
        &rows,
    )
}

fn show_text(v: &Value) -> String {
    let mut out = String::new();
    for key in [
        "consumer",
        "message_id",
        "subject",
        "reason",
        "attempts",
        "last_error",
        "body_bytes",
        "payload_sha256",
    ] {
        let _ = writeln!(out, "{key:<15} {}", text(&v[key]));
    }
    for key in ["first_failure", "last_failure"] {
        let _ = writeln!(out, "{key:<15} {}", time(&v[key]));
    }
    if let Some(headers) = v["headers"].as_object() {
        for (k, val) in headers {
            let _ = writeln!(out, "{:<15} {}", k, text(val));
        }
    }
    out
}

fn trace_text(v: &Value) -> String {
    let mut out = String::new();
    for chain in v["chains"].as_array().into_iter().flatten() {
        let verdict = if chain["verified"] == json!(true) {
            "verified".to_owned()
        } else {
            format!("BROKEN: {}", text(&chain["broken"]))
        };
        let _ = writeln!(out, "chain {} ({verdict})", text(&chain["chain"]));
        let rows: Vec<Vec<String>> = chain["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                vec![
                    text(&r["seq"]),
                    time(&r["at"]),
                    text(&r["hop"]),
                    text(&r["partner"]),
                    text(&r["status"]),
                    text(&r["attempt"]),
                    text(&r["actor"]),
                    text(&r["reason"]),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "SEQ", "AT", "HOP", "PARTNER", "STATUS", "ATTEMPT", "ACTOR", "REASON",
            ],
            &rows,
        ));
    }
    out
}

fn job_summary(j: &Value) -> String {
    let mut out = format!(
        "replay {} of {}: {} selected, {} replayed — {} delivered, {} rejected, {} failed, {} pending, {} skipped; {} left parked",
        text(&j["job_id"]),
        text(&j["consumer"]),
        text(&j["selected"]),
        text(&j["replayed"]),
        text(&j["delivered"]),
        text(&j["rejected"]),
        text(&j["failed"]),
        text(&j["pending"]),
        text(&j["skipped"]),
        text(&j["left_parked"]),
    );
    if let Some(why) = j["stopped"].as_str() {
        let _ = write!(out, "\nstopped: {why}");
    }
    out
}

fn job_ok(j: &Value) -> bool {
    j["stopped"].is_null()
        && ["failed", "rejected", "pending"]
            .iter()
            .all(|k| j[*k].as_u64() == Some(0))
}

async fn replay(
    client: &Client,
    body: Value,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let job = client.post("/ops/v1/replay", &body).await?;
    let id = text(&job["job_id"]);
    let total = job["selected"].as_u64().unwrap_or(0);
    let bar = if json_out {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} replayed  {msg}  ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    };
    let job = loop {
        let j = client.get(&format!("/ops/v1/replays/{id}")).await?;
        bar.set_position(j["replayed"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{}: {} delivered, {} failed",
            text(&j["phase"]),
            text(&j["delivered"]),
            j["failed"].as_u64().unwrap_or(0) + j["rejected"].as_u64().unwrap_or(0)
        ));
        if j["finished"] == json!(true) {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    if json_out {
        writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?;
    } else {
        writeln!(out, "{}", job_summary(&job))?;
    }
    Ok(job_ok(&job))
}

/// Runs one `knooppunt ops` command, writing to `out`. `Ok(false)`: the command ran but did not
/// fully succeed (a replay stopped or left failures); the process exits 1.
pub async fn run(args: OpsArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let client = Client::new(&args)?;
    let print = |out: &mut dyn Write, v: &Value, human: String| -> anyhow::Result<bool> {
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
        } else {
            write!(out, "{human}")?;
        }
        Ok(true)
    };
    match &args.command {
        OpsCommand::Status => {
            let v = client.get("/ops/v1/status").await?;
            print(out, &v, status_table(&v))
        }
        OpsCommand::Failures { partner: None } => {
            let v = client.get("/ops/v1/parked").await?;
            print(out, &v, groups_table(&v))
        }
        OpsCommand::Failures {
            partner: Some(partner),
        } => {
            let v = client.get(&format!("/ops/v1/parked/{partner}")).await?;
            print(out, &v, messages_table(&v))
        }
        OpsCommand::Show { consumer, id } => {
            let v = client
                .get(&format!("/ops/v1/parked/{consumer}/{id}"))
                .await?;
            print(out, &v, show_text(&v))
        }
        OpsCommand::Trace { id } => {
            let v = client.get(&format!("/ops/v1/trace/{id}")).await?;
            print(out, &v, trace_text(&v))
        }
        OpsCommand::Replay {
            message,
            partner,
            reason,
            canary,
            rate,
            wait,
            why,
        } => {
            let body = json!({
                "consumer": partner,
                "message_id": message,
                "park_reason": reason,
                "canary": canary,
                "rate_per_second": rate,
                "wait_seconds": wait,
                "reason": why,
            });
            replay(&client, body, args.json, out).await
        }
        OpsCommand::Discard { id, partner, why } => {
            let v = client
                .post(
                    "/ops/v1/discard",
                    &json!({ "consumer": partner, "message_id": id, "reason": why }),
                )
                .await?;
            let released: Vec<String> = v["released"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let human = format!(
                "discarded {} of {}; released: {}\n",
                text(&v["message_id"]),
                text(&v["consumer"]),
                if released.is_empty() {
                    "nothing waited behind it".to_owned()
                } else {
                    released.join(", ")
                }
            );
            print(out, &v, human)
        }
        OpsCommand::Level { command } => levels::run(&client, command, args.json, out).await,
        OpsCommand::Report(report) => reports::run(&client, report, args.json, out).await,
        OpsCommand::Controls(a) => controls::controls(&client, a, args.json, out).await,
        OpsCommand::Maintenance(c) => controls::maintenance(&client, c, args.json, out).await,
        OpsCommand::Shadow(a) => controls::shadow(&client, a, args.json, out).await,
        OpsCommand::RateLimit(c) => controls::rate_limit(&client, c, args.json, out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_show_unknowns_as_a_dash() {
        let v = json!({ "ready": true, "consumers": [
            { "consumer": "intergrip", "parked": 2, "blocked_subjects": 1, "held": 3,
              "breaker": "open", "in_flight": 0, "queue_depth": null,
              "delivered_since_start": 10, "rejected_since_start": 0,
              "last_delivered_at": "2026-12-03T15:40:11Z", "last_failure_at": null }
        ]});
        let t = status_table(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "node: ready");
        assert!(lines[1].starts_with("PARTNER    PARKED"), "{t}");
        assert!(lines[2].starts_with("intergrip  2"), "{t}");
        assert!(lines[2].contains("2026-12-03 15:40:11"), "{t}");
        assert!(lines[2].ends_with('-'), "unknown last failure: {t}");
    }

    #[test]
    fn a_job_is_ok_only_without_failures_or_a_stop() {
        let done = json!({ "stopped": null, "failed": 0, "rejected": 0, "pending": 0 });
        assert!(job_ok(&done));
        assert!(!job_ok(
            &json!({ "stopped": "canary failed", "failed": 1, "rejected": 0, "pending": 0 })
        ));
        assert!(!job_ok(
            &json!({ "stopped": null, "failed": 0, "rejected": 0, "pending": 1 })
        ));
    }
}
