//! How SBB's answer to a *natrekken erkenning* is classified (`docs/partners/sbb.md`).
//!
//! | answer | outcome |
//! | --- | --- |
//! | 200, `erkend`, about the question asked | `Delivered`, answer `RecordSbbCheck { erkend: true }` |
//! | 200, `nietErkend`, about the question asked | `Permanent Rejected` (reason = the signaalcode, e.g. `SBB002`), answer `RecordSbbCheck { erkend: false, reden: signaalcode }`: a business outcome, recorded once, not retried |
//! | 200 that does not parse, is a `mutatieErkenning`, or answers another question or BPV | `Permanent Untranslatable` (`mapping_error:<field>`, `not_an_answer`, `other_question`) |
//! | 400, 422 | `Permanent Rejected`, reason = SBB's error code (if a short code) or `rejected` |
//! | 408 | `Transient Timeout` |
//! | 429 | `Transient RateLimited`, with `Retry-After` |
//! | 5xx | `Transient ServerError` |
//! | 401, 403, 404, other 4xx, 3xx, 1xx | `Permanent Refused` (`http_<code>`): a configuration error |
//! | timeout, connection refused or reset | `Transient Timeout` / `Transient Connection` |

use chrono::{DateTime, Utc};
use knooppunt_mappings::sbb::{self, Inkomend, Uitkomst, Verzoek};

use crate::http_answer::HttpAnswer;
use crate::va::classify::{error_code, retry_after};
use crate::{Outcome, PermanentClass, TransientClass};

pub use crate::duo::classify::mapping_reason;
pub use crate::va::classify::classify_error;

/// Classifies SBB's HTTP answer to the question `asked`.
pub fn classify_response(
    asked: &Verzoek,
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
            let antwoord = match sbb::parse(body) {
                Ok(Inkomend::Antwoord(a)) => a,
                Ok(Inkomend::Mutatie(_)) => {
                    return http
                        .permanent(PermanentClass::Untranslatable, "not_an_answer".to_owned());
                }
                Err(e) => {
                    return http.permanent(PermanentClass::Untranslatable, mapping_reason(&e));
                }
            };
            if antwoord.in_antwoord_op != asked.bericht.bericht_id
                || antwoord.referentie != asked.referentie
                || antwoord.leerbedrijf != asked.leerbedrijf
                || antwoord.onderdeel != asked.onderdeel
                || antwoord.startdatum != asked.startdatum
            {
                return http.permanent(PermanentClass::Untranslatable, "other_question".to_owned());
            }
            let command = sbb::to_command(&Inkomend::Antwoord(antwoord.clone()));
            match &antwoord.uitkomst {
                Uitkomst::Erkend { .. } => Outcome::Delivered {
                    answer: Some(command),
                    status: code.clone(),
                    endpoint: endpoint.to_owned(),
                },
                Uitkomst::NietErkend { signaal, .. } => {
                    http.permanent_answered(PermanentClass::Rejected, signaal.code(), Some(command))
                }
            }
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
    use chrono::{NaiveDate, TimeZone};
    use knooppunt_mappings::sbb::{Antwoord, Bericht, Mutatie, Signaal};
    use knooppunt_registry::domain::{BpvId, BpvOnderdeel, Command};
    use uuid::Uuid;

    use super::*;

    const URL: &str = "http://sim/sbb/whitelabel/v1/natrekken-erkenning";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2028, 8, 20, 9, 0, 0).unwrap()
    }

    fn bericht(n: u128) -> Bericht {
        Bericht {
            bericht_id: Uuid::from_u128(n),
            verzender: crate::sbb::KNOOPPUNT_OIN.parse().unwrap(),
            ontvanger: crate::sbb::SBB_OIN.parse().unwrap(),
            tijdstip: now(),
        }
    }

    fn asked() -> Verzoek {
        Verzoek {
            bericht: bericht(1),
            referentie: BpvId(Uuid::from_u128(77)),
            leerbedrijf: "100018965".parse().unwrap(),
            onderdeel: BpvOnderdeel::Crebo("25998".parse().unwrap()),
            startdatum: NaiveDate::from_ymd_opt(2028, 9, 1).unwrap(),
        }
    }

    fn answer(v: &Verzoek, uitkomst: Uitkomst) -> String {
        sbb::write_antwoord(&Antwoord {
            bericht: bericht(2),
            in_antwoord_op: v.bericht.bericht_id,
            referentie: v.referentie,
            leerbedrijf: v.leerbedrijf.clone(),
            onderdeel: v.onderdeel.clone(),
            startdatum: v.startdatum,
            uitkomst,
        })
        .unwrap()
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
    fn erkend_is_delivered_with_the_check() {
        let o = classify(
            200,
            &answer(
                &asked(),
                Uitkomst::Erkend {
                    vanaf: None,
                    tot: None,
                },
            ),
        );
        let Outcome::Delivered { answer, status, .. } = o else {
            panic!("{}", label(&o))
        };
        assert_eq!(status, "200");
        assert_eq!(
            answer,
            Some(Command::RecordSbbCheck {
                bpv: asked().referentie,
                erkend: true,
                reden: None,
                datum: now().date_naive(),
            })
        );
    }

    #[test]
    fn niet_erkend_is_a_business_outcome_with_the_check() {
        let o = classify(
            200,
            &answer(
                &asked(),
                Uitkomst::NietErkend {
                    signaal: Signaal::GeenErkenningVoorOnderdeel,
                    omschrijving: Some("geen erkenning".to_owned()),
                },
            ),
        );
        let Outcome::Permanent {
            class,
            reason,
            answer,
            ..
        } = o
        else {
            panic!("{}", label(&o))
        };
        assert_eq!(class, PermanentClass::Rejected);
        assert_eq!(reason, "SBB002");
        assert!(matches!(
            answer,
            Some(Command::RecordSbbCheck { erkend: false, reden: Some(ref r), .. }) if r == "SBB002"
        ));
    }

    #[test]
    fn an_answer_to_another_question_is_not_recorded() {
        let mut other = asked();
        other.bericht.bericht_id = Uuid::from_u128(9);
        let erkend = Uitkomst::Erkend {
            vanaf: None,
            tot: None,
        };
        assert_eq!(
            label(&classify(200, &answer(&other, erkend.clone()))),
            "permanent:untranslatable:other_question"
        );
        let mut other = asked();
        other.referentie = BpvId(Uuid::from_u128(78));
        assert_eq!(
            label(&classify(200, &answer(&other, erkend))),
            "permanent:untranslatable:other_question"
        );
    }

    #[test]
    fn the_classification_table() {
        let mutatie = sbb::write_mutatie(&Mutatie {
            bericht: bericht(3),
            leerbedrijf: "100018965".parse().unwrap(),
            onderdeel: None,
            datum_ingang: NaiveDate::from_ymd_opt(2028, 10, 1).unwrap(),
            signaal: None,
        })
        .unwrap();
        let cases: [(u16, &str, &str); 12] = [
            (200, "<x/>", "permanent:untranslatable:mapping_error"),
            (200, &mutatie, "permanent:untranslatable:not_an_answer"),
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
            assert!(got.starts_with(want), "{status} {body}: {got}");
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
