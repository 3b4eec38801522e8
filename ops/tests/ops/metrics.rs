//! The metrics exposition: every family is there, and labels stay within the bounded set.

use std::collections::BTreeSet;
use std::time::Duration;

use knooppunt_ops::metrics::{LABEL_NAMES, partner_label};
use knooppunt_ops::{BreakerState, Metrics};

fn at(unix: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(unix, 0).expect("valid time")
}

fn exercise(m: &Metrics) {
    m.published("bron");
    m.consumed("bron");
    m.delivered("bron", Duration::from_millis(120));
    m.rejected("duo", Duration::from_millis(80));
    m.attempt_failed("bron", Duration::from_secs(3));
    m.retried("bron", 0);
    m.retried("bron", 2);
    m.retried("bron", 200);
    m.parked("bron");
    m.set_waiting("bron", 4);
    m.breaker("bron", BreakerState::Open);
    m.breaker("intergrip", BreakerState::HalfOpen);
    m.bus_reconnected();
    m.bus_republished(3);
    m.bus_republished(0);
    m.relay_published(500);
    m.set_outbox_unsent(42);
    m.set_ready(true);
    m.set_blocked_since("bron", Some(at(1_800_000_000)));
    m.set_certificate_expiry(1_900_000_000);
    m.set_queue_messages("bron", Some(17));
    // a partner name that is not a code is not used as a label value
    m.published("https://bron.example/api?id=4f1c2d3e-0000-4000-8000-000000000001");
    m.published("Jan de Vries");
}

/// (family/sample name, label names, label values) of each sample line.
fn samples(text: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, rest) = l
                .split_once('{')
                .unwrap_or((l.split(' ').next().unwrap_or(l), ""));
            let labels = rest.split_once('}').map_or("", |(ls, _)| ls);
            let mut names = Vec::new();
            let mut values = Vec::new();
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                names.push(k.to_owned());
                values.push(v.trim_matches('"').to_owned());
            }
            (name.to_owned(), names, values)
        })
        .collect()
}

#[test]
fn encode_contains_every_family() {
    let m = Metrics::new();
    exercise(&m);
    let _guard = m.in_flight("bron");
    let text = m.encode();
    for family in [
        "knooppunt_published",
        "knooppunt_consumed",
        "knooppunt_delivered",
        "knooppunt_rejected",
        "knooppunt_retried",
        "knooppunt_parked",
        "knooppunt_bus_reconnects",
        "knooppunt_bus_republished",
        "knooppunt_in_flight",
        "knooppunt_waiting",
        "knooppunt_breaker_state",
        "knooppunt_delivery_latency_seconds",
        "knooppunt_relay_published",
        "knooppunt_outbox_unsent",
        "knooppunt_ready",
        "knooppunt_blocked_since_timestamp_seconds",
        "knooppunt_tls_certificate_expiry_timestamp_seconds",
        "knooppunt_queue_messages",
        "knooppunt_last_delivered_timestamp_seconds",
        "knooppunt_last_failure_timestamp_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "missing {family} in\n{text}"
        );
    }
    assert!(text.contains("knooppunt_published_total{partner=\"bron\"} 1"));
    assert!(text.contains("knooppunt_published_total{partner=\"other\"} 2"));
    assert!(text.contains("knooppunt_retried_total{partner=\"bron\",tier=\"9\"} 1"));
    assert!(text.contains("knooppunt_breaker_state{partner=\"bron\"} 2"));
    assert!(text.contains("knooppunt_breaker_state{partner=\"intergrip\"} 1"));
    assert!(text.contains("knooppunt_waiting{partner=\"bron\"} 4"));
    assert!(text.contains("knooppunt_in_flight{partner=\"bron\"} 1"));
    assert!(text.contains(
        "knooppunt_delivery_latency_seconds_count{partner=\"bron\",outcome=\"delivered\"} 1"
    ));
    assert!(text.trim_end().ends_with("# EOF"));
}

#[test]
fn labels_are_bounded_and_never_ids() {
    let m = Metrics::new();
    exercise(&m);
    let text = m.encode();
    let allowed: BTreeSet<&str> = LABEL_NAMES.into_iter().chain(["le"]).collect();
    let all = samples(&text);
    assert!(!all.is_empty());
    for (name, names, values) in all {
        for n in &names {
            assert!(allowed.contains(n.as_str()), "{name} has label {n}");
        }
        for v in &values {
            assert!(v.len() <= 32, "{name} has a long label value {v}");
            assert!(
                uuid::Uuid::parse_str(v).is_err(),
                "{name} has an id label {v}"
            );
        }
    }
    assert!(!text.contains("Jan"));
    assert!(!text.contains("4f1c2d3e"));
}

#[test]
fn in_flight_goes_down_when_the_attempt_ends() {
    let m = Metrics::new();
    {
        let _a = m.in_flight("bron");
        let _b = m.in_flight("bron");
        assert!(
            m.encode()
                .contains("knooppunt_in_flight{partner=\"bron\"} 2")
        );
    }
    assert!(
        m.encode()
            .contains("knooppunt_in_flight{partner=\"bron\"} 0")
    );
}

#[test]
fn partner_labels_are_codes_or_other() {
    assert_eq!(partner_label("intergrip"), "intergrip");
    assert_eq!(partner_label("bron-rod_2"), "bron-rod_2");
    assert_eq!(partner_label("BRON"), "other");
    assert_eq!(partner_label(""), "other");
    assert_eq!(partner_label(&"a".repeat(33)), "other");
}

#[test]
fn bus_reconnects_and_republished_publishes_are_counted() {
    let m = Metrics::new();
    assert_eq!((m.bus_reconnects(), m.bus_republished_total()), (0, 0));
    m.bus_reconnected();
    m.bus_republished(5);
    m.bus_republished(0);
    assert_eq!((m.bus_reconnects(), m.bus_republished_total()), (1, 5));
    let text = m.encode();
    assert!(text.contains("knooppunt_bus_reconnects_total 1"), "{text}");
    assert!(text.contains("knooppunt_bus_republished_total 5"), "{text}");
}

#[test]
fn relay_outbox_and_readiness_are_exported() {
    let m = Metrics::new();
    let text = m.encode();
    // before anything is known: not ready, nothing counted, no certificate
    assert!(text.contains("knooppunt_ready 0\n"), "{text}");
    assert!(text.contains("knooppunt_outbox_unsent 0\n"), "{text}");
    assert!(
        text.contains("knooppunt_relay_published_total 0\n"),
        "{text}"
    );
    assert!(
        text.contains("knooppunt_tls_certificate_expiry_timestamp_seconds 0\n"),
        "{text}"
    );
    assert!(!m.is_ready());

    m.set_ready(true);
    m.set_outbox_unsent(1234);
    m.relay_published(500);
    m.relay_published(0);
    m.relay_published(20);
    m.set_certificate_expiry(1_900_000_000);
    let text = m.encode();
    assert!(m.is_ready());
    assert!(text.contains("knooppunt_ready 1\n"), "{text}");
    assert!(text.contains("knooppunt_outbox_unsent 1234\n"), "{text}");
    assert!(
        text.contains("knooppunt_relay_published_total 520\n"),
        "{text}"
    );
    assert!(
        text.contains("knooppunt_tls_certificate_expiry_timestamp_seconds 1900000000\n"),
        "{text}"
    );
    m.set_ready(false);
    assert!(m.encode().contains("knooppunt_ready 0\n"));
    assert!(!m.is_ready());
}

#[test]
fn blocked_since_is_per_partner_and_disappears_when_nothing_waits() {
    let m = Metrics::new();
    m.set_blocked_since("bron", Some(at(1_800_000_000)));
    m.set_blocked_since("duo", Some(at(1_800_000_600)));
    let text = m.encode();
    assert!(
        text.contains("knooppunt_blocked_since_timestamp_seconds{partner=\"bron\"} 1800000000\n"),
        "{text}"
    );
    assert!(
        text.contains("knooppunt_blocked_since_timestamp_seconds{partner=\"duo\"} 1800000600\n"),
        "{text}"
    );
    m.set_blocked_since("bron", None);
    let text = m.encode();
    assert!(
        !text.contains("knooppunt_blocked_since_timestamp_seconds{partner=\"bron\"}"),
        "{text}"
    );
    assert!(text.contains("knooppunt_blocked_since_timestamp_seconds{partner=\"duo\"}"));
    // a name that is not a code is reported as `other`, like every per-partner family
    m.set_blocked_since("Jan de Vries", Some(at(1_800_000_000)));
    assert!(
        m.encode()
            .contains("knooppunt_blocked_since_timestamp_seconds{partner=\"other\"}")
    );
}

#[test]
fn queue_depth_is_per_partner_and_disappears_when_unknown() {
    let m = Metrics::new();
    m.set_queue_messages("bron", Some(17));
    m.set_queue_messages("duo", Some(0));
    let text = m.encode();
    assert!(
        text.contains("knooppunt_queue_messages{partner=\"bron\"} 17\n"),
        "{text}"
    );
    assert!(
        text.contains("knooppunt_queue_messages{partner=\"duo\"} 0\n"),
        "{text}"
    );
    m.set_queue_messages("bron", None);
    let text = m.encode();
    assert!(
        !text.contains("knooppunt_queue_messages{partner=\"bron\"}"),
        "{text}"
    );
    assert!(text.contains("knooppunt_queue_messages{partner=\"duo\"} 0\n"));
}

#[test]
fn the_partner_view_reads_what_the_metrics_hold() {
    let m = Metrics::new();
    // Nothing known yet: no sample is invented.
    let empty = m.partner_view("bron");
    assert_eq!(empty, knooppunt_ops::PartnerView::default());
    assert!(
        !m.encode().contains("partner=\"bron\""),
        "reading creates no sample"
    );
    let before = chrono::Utc::now().timestamp();
    exercise(&m);
    let _guard = m.in_flight("bron");
    let v = m.partner_view("bron");
    assert_eq!(
        (v.delivered, v.rejected, v.parked, v.in_flight),
        (1, 0, 1, 1)
    );
    assert_eq!(v.breaker, Some(BreakerState::Open));
    assert_eq!(v.queue_messages, Some(17));
    assert!(v.last_delivered_at.is_some_and(|t| t >= before));
    assert!(v.last_failure_at.is_some_and(|t| t >= before));
    let duo = m.partner_view("duo");
    assert_eq!((duo.delivered, duo.rejected), (0, 1));
    assert_eq!(duo.last_delivered_at, None);
    assert!(
        duo.last_failure_at.is_some(),
        "a refusal counts as a failure"
    );
    m.set_queue_messages("bron", None);
    assert_eq!(m.partner_view("bron").queue_messages, None);
}
