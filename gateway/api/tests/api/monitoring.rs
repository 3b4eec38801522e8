//! The monitoring files (`ops/monitoring/`) against what the node exports: every metric named in
//! an alert rule, a rule unit test or a dashboard query is on `GET /metrics` (the process
//! metrics of `knooppunt_ops::Metrics` and the API's own, with every family touched so that it
//! renders); the dashboard is a valid Grafana dashboard with a Prometheus input and a `partner`
//! variable; every alert has a severity and a runbook section in `docs/operations.md`.
//!
//! There is no YAML parser among the workspace's dependencies: the rule files are read with a
//! line scan that knows the layout they are written in (`expr: |` blocks or one-line values);
//! `promtool check rules` (in `.ci/run`) validates them as YAML and PromQL.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use knooppunt_api::ApiMetrics;
use knooppunt_ops::{BreakerState, Metrics};
use serde_json::Value;

use crate::support::{send, test_api_with};

const ALERTS: &str = include_str!("../../../../ops/monitoring/alerts.yml");
const ALERT_TESTS: &str = include_str!("../../../../ops/monitoring/alerts.test.yml");
const DASHBOARD: &str = include_str!("../../../../ops/monitoring/dashboard.json");
const RUNBOOK: &str = include_str!("../../../../docs/operations.md");
/// Where `runbook_url`s point: the repository's `docs/operations.md`.
const RUNBOOK_URL: &str = "https://example.invalid/knooppunt/docs/operations.md";
/// Series Prometheus makes itself, not the node.
const PROMETHEUS_OWN: [&str; 1] = ["up"];

/// Touches every family once, so each renders at least one sample.
fn exercise(m: &Metrics, api: &ApiMetrics) {
    m.published("bron");
    m.consumed("bron");
    m.delivered("bron", Duration::from_millis(10));
    m.rejected("bron", Duration::from_millis(10));
    m.attempt_failed("bron", Duration::from_millis(10));
    m.retried("bron", 1);
    m.parked("bron");
    drop(m.in_flight("bron"));
    m.set_waiting("bron", 1);
    m.breaker("bron", BreakerState::Open);
    m.bus_reconnected();
    m.bus_republished(1);
    m.relay_published(1);
    m.set_outbox_unsent(1);
    m.set_ready(true);
    m.set_blocked_since("bron", Some(Utc::now()));
    m.set_certificate_expiry(1_900_000_000);
    m.set_queue_messages("bron", Some(1));
    m.bron_mutation("duo_bron", "sent");
    m.set_bron_unanswered("duo_bron", 1, Some(Utc::now()));
    api.request("POST /api/v1/aanmeldingen", 201, Duration::from_millis(5));
    api.aanmelding_submitted();
}

/// The sample names of `GET /metrics` with every family touched; fails when a family has no
/// sample (so a new family must be added to [`exercise`]).
async fn exported_names() -> BTreeSet<String> {
    let metrics = Arc::new(Metrics::new());
    let api_metrics = Arc::new(ApiMetrics::new());
    exercise(&metrics, &api_metrics);
    let t = test_api_with(|s| {
        s.metrics = metrics.clone();
        s.api_metrics = api_metrics.clone();
    });
    let res = send(
        &t.app,
        Request::get("/metrics").body(Body::empty()).expect("req"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let names: BTreeSet<String> = res
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            l.split(['{', ' '])
                .next()
                .expect("a sample line has a name")
                .to_owned()
        })
        .collect();
    for line in res.text.lines() {
        if let Some(family) = line
            .strip_prefix("# TYPE ")
            .and_then(|l| l.split(' ').next())
        {
            assert!(
                names.iter().any(|n| n.starts_with(family)),
                "family {family} has no sample: touch it in exercise()"
            );
        }
    }
    names
}

/// The metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// ranges and grouping lists that are neither keywords, aggregation operators nor function
/// names. Grafana variables
/// (`$partner`, `$__rate_interval`, `${x}`) are skipped.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const KEYWORDS: [&str; 7] = ["and", "or", "unless", "offset", "bool", "inf", "nan"];
    // Aggregation operators: `sum by (x) (…)` puts no `(` right after the name.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let b = expr.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut grouping = false;
    // Index just past the bracket that closes the one at `start` (quotes respected).
    let close = |start: usize, open: u8, shut: u8| -> usize {
        let mut depth = 0;
        let mut j = start;
        let mut quote: Option<u8> = None;
        while j < b.len() {
            let c = b[j];
            match quote {
                Some(_) if c == b'\\' => j += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
                None if c == open => depth += 1,
                None if c == shut => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                None => {}
            }
            j += 1;
        }
        b.len()
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' => i = close(i, b'{', b'}'),
            b'[' => i = close(i, b'[', b']'),
            b'(' if grouping => {
                i = close(i, b'(', b')');
                grouping = false;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    i = close(i, b'{', b'}');
                } else {
                    while i < b.len() && ident(b[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (ident(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = expr[i..].trim_start().as_bytes().first().copied();
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&lower.as_str()) {
                    grouping = true;
                } else if KEYWORDS.contains(&lower.as_str())
                    || AGGREGATIONS.contains(&lower.as_str())
                    || next == Some(b'(')
                {
                    // a keyword, an aggregation or a function
                } else {
                    out.insert(word.to_owned());
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The names in `names` that the node does not export (nor Prometheus itself).
fn unknown<'a>(
    names: impl IntoIterator<Item = &'a String>,
    exported: &BTreeSet<String>,
) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| !exported.contains(*n) && !PROMETHEUS_OWN.contains(&n.as_str()))
        .cloned()
        .collect()
}

/// The values of `key` in a YAML text written as the monitoring files are: `key: value` on one
/// line (quotes removed), or `key: |` / `key: >-` followed by more deeply indented lines.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let body = line.trim_start();
        let body = body.strip_prefix("- ").unwrap_or(body);
        let Some(value) = body
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
        else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let block: Vec<&str> = lines[n + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect();
            out.push(block.join("\n").trim().to_owned());
        } else {
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            out.push(unquoted.to_owned());
        }
    }
    out
}

/// One alert rule: its name and the text of its entry (up to the next rule).
fn alert_rules(text: &str) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.trim_start().strip_prefix("- alert:") {
            rules.push((name.trim().to_owned(), String::new()));
        } else if line.trim_start().starts_with("- name:") {
            // a new group ends the rule before it
            rules.push((String::new(), String::new()));
        }
        if let Some((_, body)) = rules.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    rules.retain(|(name, _)| !name.is_empty());
    rules
}

/// Every PromQL query of a Grafana dashboard: panel targets (rows' nested panels too) and
/// query variables (`label_values(metric, label)`, only the metric counts).
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(panels: &[Value], out: &mut Vec<String>) {
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_owned());
                }
            }
            walk(p["panels"].as_array().map_or(&[], |v| v), out);
        }
    }
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().map_or(&[], |v| v), &mut out);
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let q = v["query"]["query"].as_str().or(v["query"].as_str());
        if let Some(q) = q {
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.rsplit_once(','))
                .map_or(q, |(metric, _label)| metric);
            out.push(inner.to_owned());
        }
    }
    out
}

#[test]
fn the_extractor_finds_metric_names_and_nothing_else() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (partner, le) (rate(knooppunt_delivery_latency_seconds_bucket{partner=~"$partner",outcome="delivered"}[$__rate_interval]))) > 5"#
        ),
        ["knooppunt_delivery_latency_seconds_bucket"]
    );
    assert_eq!(
        names(
            "max by (partner) (knooppunt_queue_messages) > 0\nunless sum by (partner) (rate(knooppunt_consumed_total[10m])) > 0"
        ),
        ["knooppunt_consumed_total", "knooppunt_queue_messages"]
    );
    assert_eq!(
        names(
            "knooppunt_tls_certificate_expiry_timestamp_seconds - time() < 30 * 86400 and on (instance) up offset 5m"
        ),
        ["knooppunt_tls_certificate_expiry_timestamp_seconds", "up"]
    );
    assert_eq!(
        names(
            r#"sum(rate(x_total{route="a b (c)", outcome=~"5.."}[5m])) by (route) / ignoring(outcome) group_left y"#
        ),
        ["x_total", "y"]
    );
    assert_eq!(
        names("vector(1) + 1e3 + ${var} - 0.5"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn an_unknown_metric_is_caught() {
    let exported = exported_names().await;
    let bad = metric_names(
        "sum(rate(knooppunt_delivered_total[5m])) / sum(rate(knooppunt_deliverd_total[5m]))",
    );
    assert_eq!(unknown(&bad, &exported), ["knooppunt_deliverd_total"]);
    // counters are exported with `_total`, histograms as `_bucket`/`_sum`/`_count`
    for name in [
        "knooppunt_parked",
        "knooppunt_delivery_latency_seconds",
        "knooppunt_api_requests",
    ] {
        assert_eq!(
            unknown(&metric_names(name), &exported),
            [name],
            "{name} is not a series name"
        );
    }
}

#[tokio::test]
async fn every_alert_query_names_an_exported_metric() {
    let exported = exported_names().await;
    let exprs = yaml_values(ALERTS, "expr");
    let rules = alert_rules(ALERTS);
    assert_eq!(exprs.len(), rules.len(), "one expr per alert");
    assert!(rules.len() >= 8, "{rules:?}");
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr}");
        let bad = unknown(&names, &exported);
        assert!(bad.is_empty(), "{bad:?} in `{expr}` are not exported");
    }
    // The rule unit tests feed series of exported names only.
    let series = yaml_values(ALERT_TESTS, "series");
    assert!(!series.is_empty());
    for s in &series {
        let bad = unknown(&metric_names(s), &exported);
        assert!(bad.is_empty(), "test series {s}: {bad:?} are not exported");
    }
}

#[test]
fn every_alert_has_a_severity_annotations_and_a_runbook_section() {
    let rules = alert_rules(ALERTS);
    let headings: BTreeSet<&str> = RUNBOOK
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(str::trim)
        .collect();
    let mut names = BTreeSet::new();
    for (name, body) in &rules {
        assert!(names.insert(name.clone()), "{name} twice");
        let severity = yaml_values(body, "severity");
        assert!(
            severity == ["warning"] || severity == ["critical"],
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description"] {
            let v = yaml_values(body, key);
            assert!(v.len() == 1 && !v[0].is_empty(), "{name}: {key} {v:?}");
        }
        assert_eq!(
            yaml_values(body, "runbook_url"),
            [format!("{RUNBOOK_URL}#{}", name.to_lowercase())],
            "{name}: runbook_url"
        );
        assert!(
            headings.contains(name.as_str()),
            "docs/operations.md has no section `### {name}`"
        );
        assert!(
            ALERT_TESTS.contains(&format!("alertname: {name}\n")),
            "{name} has no promtool unit test"
        );
    }
}

#[tokio::test]
async fn every_dashboard_query_names_an_exported_metric() {
    let exported = exported_names().await;
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("dashboard.json is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "no metric in {q}");
        let bad = unknown(&names, &exported);
        assert!(bad.is_empty(), "{bad:?} in `{q}` are not exported");
        used.extend(names);
    }
    // The whole path is on it: API, relay, every per-partner family.
    for family in [
        "knooppunt_api_requests_total",
        "knooppunt_api_request_duration_seconds_bucket",
        "knooppunt_relay_published_total",
        "knooppunt_outbox_unsent",
        "knooppunt_queue_messages",
        "knooppunt_consumed_total",
        "knooppunt_delivered_total",
        "knooppunt_rejected_total",
        "knooppunt_retried_total",
        "knooppunt_parked_total",
        "knooppunt_in_flight",
        "knooppunt_waiting",
        "knooppunt_breaker_state",
        "knooppunt_delivery_latency_seconds_bucket",
        "knooppunt_ready",
        "knooppunt_tls_certificate_expiry_timestamp_seconds",
    ] {
        assert!(
            used.contains(family),
            "the dashboard does not show {family}"
        );
    }
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_with_a_prometheus_input_and_a_partner_variable() {
    let d: Value = serde_json::from_str(DASHBOARD).expect("dashboard.json is JSON");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let partner = vars
        .iter()
        .find(|v| v["name"] == "partner")
        .expect("a partner variable");
    assert_eq!(partner["type"], "query");
    assert_eq!(partner["datasource"]["uid"], "${DS_PROMETHEUS}");

    let mut ids = BTreeSet::new();
    let mut with_partner = 0;
    for p in d["panels"].as_array().expect("panels") {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        let pos = &p["gridPos"];
        assert!(
            pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24,
            "panel {id} wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {id}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {id}");
            let expr = t["expr"].as_str().expect("expr");
            if expr.contains("partner=~\"$partner\"") {
                with_partner += 1;
            }
        }
    }
    assert!(
        with_partner >= 10,
        "{with_partner} queries filter by partner"
    );
}
