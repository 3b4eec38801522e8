//! How the signing provider's answer to a create-transaction request is classified (the table in
//! `docs/partners/signing.md`).
//!
//! | answer | outcome |
//! | --- | --- |
//! | 200 or 201 with a transaction about the subject asked for | `Delivered`, answer `RecordSigningStatus` (the transaction id and its status) |
//! | 200 or 201 that does not parse, or is about another subject | `Permanent Untranslatable` (`mapping_error:<field>`, `other_subject`) |
//! | 400, 422 | `Permanent Rejected`, reason = the provider's error code (if a short code) or `rejected` |
//! | 408 | `Transient Timeout` |
//! | 429 | `Transient RateLimited`, with `Retry-After` |
//! | 5xx | `Transient ServerError` |
//! | 401, 403, 404, other 4xx, 3xx, 1xx | `Permanent Refused` (`http_<code>`): a configuration error |
//! | timeout, connection refused or reset | `Transient Timeout` / `Transient Connection` |

use chrono::{DateTime, Utc};
use knooppunt_mappings::signing::{self, TransactionStatus};
use knooppunt_registry::domain::SigningSubject;

use crate::duo::classify::mapping_reason;
use crate::http_answer::HttpAnswer;
use crate::va::classify::{error_code, retry_after};
use crate::{Outcome, PermanentClass, TransientClass};

pub use crate::va::classify::classify_error;

/// Classifies the provider's HTTP answer to the creation of a transaction for `asked`. A
/// delivered outcome comes with the transaction as the provider reported it.
pub fn classify_response(
    asked: &SigningSubject,
    endpoint: &str,
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> (Outcome, Option<TransactionStatus>) {
    let code = status.to_string();
    let http = HttpAnswer { endpoint, status };
    let outcome = match status {
        200 | 201 => {
            let t = match signing::parse_status(body) {
                Ok(t) => t,
                Err(e) => {
                    return (
                        http.permanent(PermanentClass::Untranslatable, mapping_reason(&e)),
                        None,
                    );
                }
            };
            if &t.subject != asked {
                return (
                    http.permanent(PermanentClass::Untranslatable, "other_subject".to_owned()),
                    None,
                );
            }
            let delivered = Outcome::Delivered {
                answer: Some(signing::to_command(&t)),
                status: code.clone(),
                endpoint: endpoint.to_owned(),
            };
            return (delivered, Some(t));
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
    };
    (outcome, None)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use knooppunt_registry::domain::{Command, OokId, SigningStatus};
    use uuid::Uuid;

    use super::*;

    const URL: &str = "http://sim/api/transaction";

    fn asked() -> SigningSubject {
        SigningSubject::Ook(OokId(Uuid::from_u128(7)))
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 6, 1, 9, 0, 0).unwrap()
    }

    fn transaction(subject: &SigningSubject) -> String {
        format!(
            r#"{{"Id":"tx-1","Status":10,"Reference":"{}","Signers":[{{"Id":"student"}}]}}"#,
            signing::reference(subject)
        )
    }

    fn label(o: &Outcome) -> String {
        match o {
            Outcome::Delivered { .. } => "delivered".to_owned(),
            Outcome::Transient { class, .. } => format!("transient:{class}"),
            Outcome::Permanent { class, reason, .. } => format!("permanent:{class}:{reason}"),
            Outcome::Skip => "skip".to_owned(),
        }
    }

    fn classify(status: u16, body: &str) -> Outcome {
        classify_response(&asked(), URL, status, Some("7"), body.as_bytes(), now()).0
    }

    #[test]
    fn a_created_transaction_is_recorded() {
        let (o, t) = classify_response(
            &asked(),
            URL,
            201,
            None,
            transaction(&asked()).as_bytes(),
            now(),
        );
        let Outcome::Delivered { answer, .. } = o else {
            panic!("{}", label(&o))
        };
        assert_eq!(
            answer,
            Some(Command::RecordSigningStatus {
                transactie: "tx-1".to_owned(),
                subject: asked(),
                status: SigningStatus::WaitingForSigner,
            })
        );
        assert_eq!(t.map(|t| t.transactie), Some("tx-1".to_owned()));
    }

    #[test]
    fn the_classification_table() {
        let other = transaction(&SigningSubject::Ook(OokId(Uuid::from_u128(8))));
        let cases: [(u16, &str, &str); 12] = [
            (200, "{}", "permanent:untranslatable:mapping_error:Id"),
            (201, &other, "permanent:untranslatable:other_subject"),
            (
                400,
                r#"{"code":"invalid_field"}"#,
                "permanent:rejected:invalid_field",
            ),
            (422, "not json", "permanent:rejected:rejected"),
            (401, "", "permanent:refused:http_401"),
            (403, "", "permanent:refused:http_403"),
            (404, "", "permanent:refused:http_404"),
            (301, "", "permanent:refused:http_301"),
            (408, "", "transient:timeout"),
            (429, "", "transient:rate_limited"),
            (500, "", "transient:server_error"),
            (503, "", "transient:server_error"),
        ];
        for (status, body, want) in cases {
            let got = label(&classify(status, body));
            assert_eq!(got, want, "{status} {body}");
        }
    }

    #[test]
    fn retry_after_is_passed_on() {
        let Outcome::Transient { retry_after, .. } = classify(429, "") else {
            panic!("not transient")
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)));
    }
}
