//! How DUO's answer to a person lookup is classified (the table in `docs/partners/duo.md` §5).
//!
//! | answer | outcome |
//! | --- | --- |
//! | 200 with a valid answer about the person asked for | `Delivered`, answer `RecordPersoonEnVooropleidingen` |
//! | 200 that does not parse, or is about another person | `Permanent Untranslatable` (`mapping_error:<field>`, `other_person`) |
//! | 404 with the code `persoon_onbekend` | `Permanent Rejected` (`persoon_onbekend`): DUO does not know the person — a business outcome, not retried |
//! | 400, 422 | `Permanent Rejected`, reason = DUO's error code (if a short code) or `rejected` |
//! | 408 | `Transient Timeout` |
//! | 429 | `Transient RateLimited`, with `Retry-After` |
//! | 5xx | `Transient ServerError` |
//! | 401, 403, another 404, other 4xx, 3xx, 1xx | `Permanent Refused` (`http_<code>`): a configuration error |
//! | timeout, connection refused or reset | `Transient Timeout` / `Transient Connection` |

use chrono::{DateTime, Utc};
use knooppunt_mappings::duo::persoon;
use knooppunt_registry::ids::PersonId;

use crate::http_answer::HttpAnswer;
use crate::va::classify::{error_code, retry_after};
use crate::{Outcome, PermanentClass, TransientClass};

/// DUO's error code for a person it does not know.
pub const PERSOON_ONBEKEND: &str = "persoon_onbekend";

pub use crate::va::classify::classify_error;

/// A short reason for a mapping error: the field it names, never a value.
pub fn mapping_reason(e: &knooppunt_mappings::MappingError) -> String {
    match e.field() {
        Some(field) => format!("mapping_error:{field}"),
        None => "mapping_error".to_owned(),
    }
}

/// Classifies DUO's HTTP answer to a lookup of `asked`.
pub fn classify_response(
    asked: &PersonId,
    endpoint: &str,
    status: u16,
    retry_after_header: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Outcome {
    let code = status.to_string();
    let http = HttpAnswer { endpoint, status };
    match status {
        200 => {
            let answer = match persoon::parse_persoon_en_vooropleidingen(body) {
                Ok(a) => a,
                Err(e) => {
                    return http.permanent(PermanentClass::Untranslatable, mapping_reason(&e));
                }
            };
            if &answer.persoon.id != asked {
                return http.permanent(PermanentClass::Untranslatable, "other_person".to_owned());
            }
            match persoon::lookup_to_command(&answer) {
                Ok(command) => Outcome::Delivered {
                    answer: Some(command),
                    status: code.clone(),
                    endpoint: endpoint.to_owned(),
                },
                Err(e) => http.permanent(PermanentClass::Untranslatable, mapping_reason(&e)),
            }
        }
        404 if error_code(body).as_deref() == Some(PERSOON_ONBEKEND) => {
            http.permanent(PermanentClass::Rejected, PERSOON_ONBEKEND.to_owned())
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
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use knooppunt_registry::domain::Command;

    use super::*;

    const URL: &str = "http://sim/duo/persoon/v1/opvragingen";

    fn asked() -> PersonId {
        PersonId::Bsn("111222333".parse().expect("a valid BSN"))
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 2, 12, 9, 0, 0).unwrap()
    }

    fn answer(bsn: &str) -> String {
        format!(
            r#"<PersoonEnVooropleidingen xmlns="urn:knooppunt:duo:persoon:v1"><Persoon>
            <Burgerservicenummer>{bsn}</Burgerservicenummer><Geboortedatum>2010-03-04</Geboortedatum>
            <Geslacht>V</Geslacht><Voornamen>Anna</Voornamen><Geslachtsnaam>Hof</Geslachtsnaam>
            </Persoon></PersoonEnVooropleidingen>"#
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
        classify_response(&asked(), URL, status, Some("7"), body.as_bytes(), now())
    }

    #[test]
    fn a_found_person_is_delivered_with_the_answer_command() {
        let o = classify(200, &answer("111222333"));
        let Outcome::Delivered { answer, status, .. } = o else {
            panic!("{}", label(&o))
        };
        assert_eq!(status, "200");
        assert!(matches!(
            answer,
            Some(Command::RecordPersoonEnVooropleidingen { ref vooropleidingen, .. }) if vooropleidingen.is_empty()
        ));
    }

    #[test]
    fn the_classification_table() {
        let unknown = r#"{"code":"persoon_onbekend"}"#;
        let cases: [(u16, &str, &str); 12] = [
            (200, "<x/>", "permanent:untranslatable:mapping_error"),
            (404, unknown, "permanent:rejected:persoon_onbekend"),
            (404, "", "permanent:refused:http_404"),
            (
                400,
                r#"{"code":"invalid_field"}"#,
                "permanent:rejected:invalid_field",
            ),
            (422, "not json", "permanent:rejected:rejected"),
            (401, "", "permanent:refused:http_401"),
            (403, "", "permanent:refused:http_403"),
            (301, "", "permanent:refused:http_301"),
            (408, "", "transient:timeout"),
            (429, "", "transient:rate_limited"),
            (500, "", "transient:server_error"),
            (503, unknown, "transient:server_error"),
        ];
        for (status, body, want) in cases {
            let got = label(&classify(status, body));
            assert!(got.starts_with(want), "{status} {body}: {got}");
        }
    }

    #[test]
    fn an_answer_about_another_person_is_not_recorded() {
        let o = classify(200, &answer("123456782"));
        assert_eq!(label(&o), "permanent:untranslatable:other_person");
    }

    #[test]
    fn retry_after_is_passed_on() {
        let Outcome::Transient { retry_after, .. } = classify(429, "") else {
            panic!("not transient")
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)));
    }
}
