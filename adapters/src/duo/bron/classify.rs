//! How DUO's answer to one delivered BRON mutation is classified (`docs/partners/duo.md` §6).
//!
//! | answer | result |
//! | --- | --- |
//! | 200 with a `Verwerkingsresultaat` about this `BerichtId` | [`Answer::Answered`]: accepted, accepted with signals, or rejected (afkeuring) — a business answer, never retried |
//! | 200 that does not parse, or is about another message | `Permanent Untranslatable` (`answer_error:<field>`, `other_message`) |
//! | 400, 422 | `Permanent Rejected`, reason = DUO's error code (if a short code) or `rejected`: DUO refused the message itself |
//! | 408 | `Transient Timeout` |
//! | 429 | `Transient RateLimited`, with `Retry-After` |
//! | 5xx | `Transient ServerError` |
//! | 401, 403, 404, other 4xx, 3xx, 1xx | `Permanent Refused` (`http_<code>`): a configuration error |
//! | timeout, connection refused or reset | `Transient Timeout` / `Transient Connection` |

use chrono::{DateTime, Utc};
use knooppunt_mappings::duo::bron::soap;
use knooppunt_registry::domain::DuoUitkomst;
use uuid::Uuid;

use crate::http_answer::HttpAnswer;
use crate::va::classify::{error_code, retry_after};
use crate::{Outcome, PermanentClass, TransientClass};

pub use crate::va::classify::classify_error;

/// What one delivered mutation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// DUO answered the mutation: the outcome to record.
    Answered(DuoUitkomst),
    /// No business answer: the attempt's outcome (transient, or a permanent failure).
    Failed(Outcome),
}

/// Classifies DUO's HTTP answer to the mutation `bericht_id`.
pub fn classify_response(
    bericht_id: Uuid,
    endpoint: &str,
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Answer {
    let http = HttpAnswer { endpoint, status };
    Answer::Failed(match status {
        200 => {
            return match soap::read_answer(body) {
                Ok(a) if a.bericht_id == bericht_id => Answer::Answered(a.uitkomst),
                Ok(_) => {
                    Answer::Failed(http.permanent(PermanentClass::Untranslatable, "other_message"))
                }
                Err(e) => Answer::Failed(http.permanent(
                    PermanentClass::Untranslatable,
                    match e.field() {
                        Some(f) => format!("answer_error:{f}"),
                        None => "answer_error".to_owned(),
                    },
                )),
            };
        }
        400 | 422 => http.permanent(
            PermanentClass::Rejected,
            error_code(body).unwrap_or_else(|| "rejected".to_owned()),
        ),
        408 => http.transient(TransientClass::Timeout, None),
        429 => http.transient(
            TransientClass::RateLimited,
            retry_after_header.and_then(|v| retry_after(v, now)),
        ),
        500..=599 => http.transient(TransientClass::ServerError, None),
        _ => http.permanent(PermanentClass::Refused, format!("http_{status}")),
    })
}

/// The short label of an outcome for metrics: `accepted`, `accepted_with_signals`, `rejected`.
pub fn outcome_label(u: &DuoUitkomst) -> &'static str {
    match u {
        DuoUitkomst::Geaccepteerd => "accepted",
        DuoUitkomst::GeaccepteerdMetSignalen { .. } => "accepted_with_signals",
        DuoUitkomst::Afgekeurd { .. } => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use knooppunt_registry::domain::Signaal;

    use super::*;

    const URL: &str = "http://sim/duo/bron/v1/mutaties";

    fn id() -> Uuid {
        Uuid::from_u128(42)
    }

    fn answer(bericht_id: Uuid, uitkomst: DuoUitkomst) -> String {
        soap::write_answer(
            &soap::Verwerkingsresultaat {
                bericht_id,
                uitkomst,
            },
            Uuid::nil(),
        )
    }

    fn classify(status: u16, body: &str) -> Answer {
        let now = Utc.with_ymd_and_hms(2027, 9, 1, 9, 0, 0).unwrap();
        classify_response(id(), URL, status, Some("7"), body.as_bytes(), now)
    }

    fn label(a: &Answer) -> String {
        match a {
            Answer::Answered(u) => format!("answered:{}", outcome_label(u)),
            Answer::Failed(Outcome::Transient { class, .. }) => format!("transient:{class}"),
            Answer::Failed(Outcome::Permanent { class, reason, .. }) => {
                format!("permanent:{class}:{reason}")
            }
            Answer::Failed(o) => o.label().to_owned(),
        }
    }

    #[test]
    fn the_classification_table() {
        let rejected = DuoUitkomst::Afgekeurd {
            signalen: vec![Signaal {
                code: "BPV0101".to_owned(),
                omschrijving: "Leerbedrijf onbekend".to_owned(),
                parameters: Vec::new(),
            }],
        };
        let cases: Vec<(u16, String, &str)> = vec![
            (
                200,
                answer(id(), DuoUitkomst::Geaccepteerd),
                "answered:accepted",
            ),
            (200, answer(id(), rejected.clone()), "answered:rejected"),
            (
                200,
                answer(Uuid::from_u128(7), rejected),
                "permanent:untranslatable:other_message",
            ),
            (
                200,
                "<x/>".to_owned(),
                "permanent:untranslatable:answer_error",
            ),
            (
                400,
                r#"{"code":"invalid_field"}"#.to_owned(),
                "permanent:rejected:invalid_field",
            ),
            (422, "not json".to_owned(), "permanent:rejected:rejected"),
            (401, String::new(), "permanent:refused:http_401"),
            (404, String::new(), "permanent:refused:http_404"),
            (301, String::new(), "permanent:refused:http_301"),
            (408, String::new(), "transient:timeout"),
            (429, String::new(), "transient:rate_limited"),
            (500, String::new(), "transient:server_error"),
            (
                503,
                answer(id(), DuoUitkomst::Geaccepteerd),
                "transient:server_error",
            ),
        ];
        for (status, body, want) in cases {
            let got = label(&classify(status, &body));
            assert!(got.starts_with(want), "{status}: {got}, want {want}");
        }
    }

    #[test]
    fn retry_after_is_passed_on() {
        let Answer::Failed(Outcome::Transient { retry_after, .. }) = classify(429, "") else {
            panic!("not transient")
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)));
    }
}
