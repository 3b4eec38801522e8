//! How a VA partner's answer is classified (the table in `docs/partners/va.md`).
//!
//! | answer | outcome |
//! | --- | --- |
//! | 2xx | `Delivered` (no answer command) |
//! | 400, 409, 422 | `Permanent Rejected`, reason = the partner's error code (if a short code) or `rejected`, answer `RecordVaAfwijzing` |
//! | 401, 403 | `Permanent Refused` (`http_401`, `http_403`) |
//! | 408 | `Transient Timeout` |
//! | 429 | `Transient RateLimited`, with `Retry-After` (seconds or HTTP date) |
//! | other 4xx, 3xx, 1xx | `Permanent Refused` (`http_<code>`): a configuration error, not fixed by retrying |
//! | 5xx | `Transient ServerError` |
//! | timeout | `Transient Timeout` |
//! | connection refused, reset, TLS | `Transient Connection` |

use std::time::Duration;

use chrono::{DateTime, Utc};
use knooppunt_registry::domain::{AanmeldingId, Command};
use knooppunt_registry::partner::Partner;

use crate::http_answer::HttpAnswer;
use crate::{Outcome, PermanentClass, TransientClass};

/// The longest `Retry-After` we pass on; a partner asking for more gets this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether `s` is a short bounded code: 1–64 characters of `[a-z0-9_.-]` (the rule of the
/// registry's `RecordVaAfwijzing`).
pub fn is_short_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// The partner's error code from a JSON error body (`code`, `errorCode` or `foutcode`, also a
/// problem-details `type` URI's last segment), lower-cased; `None` when there is none, when it
/// is not a short code, or when it looks like a number (a free text or a number could carry
/// personal data, so it is never passed on).
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let direct = ["code", "errorCode", "foutcode"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(|c| c.as_str()));
    let from_type = || {
        obj.get("type")
            .and_then(|t| t.as_str())
            .and_then(|t| t.rsplit('/').next())
    };
    let code = direct.or_else(from_type)?.trim().to_ascii_lowercase();
    (is_short_code(&code) && !looks_like_a_number(&code)).then_some(code)
}

/// A code without letters, or with a run of eight or more digits, may be a person number: such a
/// code is not passed on.
fn looks_like_a_number(code: &str) -> bool {
    let mut run = 0;
    for b in code.bytes() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 8 {
            return true;
        }
    }
    !code.bytes().any(|b| b.is_ascii_lowercase())
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`; a date in the
/// past means zero). Capped at [`MAX_RETRY_AFTER`]. `None` when it is neither.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What the classification needs to know about the attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// The partner, for the refusal answer.
    pub partner: Partner,
    /// The aanmelding the status was about, for the refusal answer.
    pub aanmelding: AanmeldingId,
    /// Where the attempt went (no ids).
    pub endpoint: &'a str,
}

/// Classifies a partner's HTTP answer.
pub fn classify_response(
    attempt: &Attempt<'_>,
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Outcome {
    let http = HttpAnswer {
        endpoint: attempt.endpoint,
        status,
    };
    match status {
        200..=299 => Outcome::Delivered {
            answer: None,
            status: status.to_string(),
            endpoint: attempt.endpoint.to_owned(),
        },
        400 | 409 | 422 => {
            let reason = error_code(body).unwrap_or_else(|| "rejected".to_owned());
            http.permanent_answered(
                PermanentClass::Rejected,
                reason.clone(),
                Some(Command::RecordVaAfwijzing {
                    aanmelding: attempt.aanmelding,
                    partner: attempt.partner,
                    reden: reason,
                }),
            )
        }
        408 => http.transient(TransientClass::Timeout, None),
        429 => http.transient(
            TransientClass::RateLimited,
            retry_after_header.and_then(|v| retry_after(v, now)),
        ),
        500..=599 => http.transient(TransientClass::ServerError, None),
        _ => http.permanent(PermanentClass::Refused, format!("http_{status}")),
    }
}

/// Classifies a failure to get an answer at all (reqwest error).
pub fn classify_error(endpoint: &str, error: &reqwest::Error) -> Outcome {
    let (class, text) = if error.is_timeout() {
        (TransientClass::Timeout, "timeout")
    } else if error.is_connect() {
        (TransientClass::Connection, "connect_error")
    } else if error.is_body() || error.is_decode() {
        (TransientClass::Connection, "body_error")
    } else {
        (TransientClass::Connection, "request_error")
    };
    Outcome::Transient {
        class,
        retry_after: None,
        status: None,
        endpoint: endpoint.to_owned(),
        error: text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn attempt() -> Attempt<'static> {
        Attempt {
            partner: Partner::Intergrip,
            aanmelding: AanmeldingId(Uuid::from_u128(7)),
            endpoint: "http://sim/intergrip/vva/v1/aanmeldstatussen",
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 2, 12, 9, 0, 0).unwrap()
    }

    #[test]
    fn the_classification_table() {
        let cases: [(u16, &str); 14] = [
            (200, "delivered"),
            (202, "delivered"),
            (204, "delivered"),
            (400, "permanent:rejected"),
            (409, "permanent:rejected"),
            (422, "permanent:rejected"),
            (401, "permanent:refused"),
            (403, "permanent:refused"),
            (404, "permanent:refused"),
            (301, "permanent:refused"),
            (408, "transient:timeout"),
            (429, "transient:rate_limited"),
            (500, "transient:server_error"),
            (503, "transient:server_error"),
        ];
        for (status, want) in cases {
            let got = match classify_response(&attempt(), status, None, b"", now()) {
                Outcome::Delivered { status: s, .. } => {
                    assert_eq!(s, status.to_string());
                    "delivered".to_owned()
                }
                Outcome::Permanent { class, .. } => format!("permanent:{class}"),
                Outcome::Transient { class, .. } => format!("transient:{class}"),
                Outcome::Skip => "skip".to_owned(),
            };
            assert_eq!(got, want, "status {status}");
        }
    }

    #[test]
    fn a_rejection_answers_with_the_partners_code_or_rejected() {
        let body = br#"{"type":"about:blank","title":"Status niet toegestaan","status":422,"code":"STATUS_NIET_TOEGESTAAN"}"#;
        match classify_response(&attempt(), 422, None, body, now()) {
            Outcome::Permanent { reason, answer, .. } => {
                assert_eq!(reason, "status_niet_toegestaan");
                assert_eq!(
                    answer,
                    Some(Command::RecordVaAfwijzing {
                        aanmelding: AanmeldingId(Uuid::from_u128(7)),
                        partner: Partner::Intergrip,
                        reden: "status_niet_toegestaan".to_owned(),
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        // A free text or a number (which could be a name or a BSN) is never passed on.
        for body in [
            &br#"{"code":"Leerling Fatima van der Berg onbekend"}"#[..],
            br#"{"code":"111222333"}"#,
            br#"{"code":"bsn-111222333"}"#,
            b"not json",
            b"",
        ] {
            match classify_response(&attempt(), 400, None, body, now()) {
                Outcome::Permanent {
                    class: PermanentClass::Rejected,
                    reason,
                    ..
                } => assert_eq!(reason, "rejected"),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            error_code(br#"{"type":"https://intergrip.example/problems/bsn-onbekend"}"#),
            Some("bsn-onbekend".to_owned())
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        assert_eq!(retry_after("1", now()), Some(Duration::from_secs(1)));
        assert_eq!(retry_after(" 120 ", now()), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Fri, 12 Feb 2027 09:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Fri, 12 Feb 2027 08:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(retry_after("99999999", now()), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now()), None);
        match classify_response(&attempt(), 429, Some("7"), b"", now()) {
            Outcome::Transient {
                class: TransientClass::RateLimited,
                retry_after,
                ..
            } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
    }
}
