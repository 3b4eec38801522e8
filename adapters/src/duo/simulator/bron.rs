//! The DUO simulator's BRON service: it takes what a [`BronAdapter`](crate::duo::bron::BronAdapter)
//! sends — one mutation per SOAP envelope, POSTed to [`BRON_PATH`] — and checks it strictly
//! with the mapping's reader (`bron::soap::read_envelope`: the WS-Addressing headers, DUO's
//! OIN as receiver, the sender's OIN matching the message's BRIN, and the `Mutatiebericht`
//! read element by element; an unknown element is an error). The XSD conformance of what
//! Knooppunt writes is proven by the mapping tests and an adapter test with `xmllint`
//! (`docs/partners/bron-mbo-v1.xsd`); the simulator does not run a schema validator.
//!
//! It answers every valid mutation with a `Verwerkingsresultaat` from its rules ([`BronRule`]:
//! the first that matches decides; none: accepted). Its default rule rejects a BPV at a
//! leerbedrijf DUO does not know ([`UNKNOWN_LEERBEDRIJF`], code [`BPV_LEERBEDRIJF_ONBEKEND`]).
//! A message id seen before is answered as the first time and counted as a duplicate, not
//! recorded again. Faults (`SimFaults`: latency, 5xx, timeouts = missing answers, 429) apply.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use knooppunt_mappings::duo::bron::{BronBericht, BronInhoud, soap};
use knooppunt_mappings::rio::soap::DUO_OIN;
use knooppunt_registry::domain::{DuoUitkomst, Signaal, SignaalParameter};

use super::Shared;
use crate::duo::bron::{BRON_PATH as PATH, SOAP_XML, outcome_label};
use crate::sim::{SimMessage, has_content_type, problem};

/// Where the simulator takes BRON mutations.
pub const BRON_PATH: &str = PATH;

/// The leerbedrijf the default rule does not know.
pub const UNKNOWN_LEERBEDRIJF: &str = "100000001";
/// The code of the default rule's afkeuring.
pub const BPV_LEERBEDRIJF_ONBEKEND: &str = "BPV0101";

/// When a rule applies: every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BronMatch {
    /// The record, e.g. `"Inschrijving"`, `"BPV"`, `"Diploma"`, `"Uitschrijving"`.
    pub record: Option<String>,
    /// The mutation, `"T"`, `"A"` or `"V"`.
    pub soort: Option<String>,
    /// A BPV at this leerbedrijf.
    pub leerbedrijf: Option<String>,
}

/// One answering rule of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BronRule {
    /// When it applies.
    pub when: BronMatch,
    /// What DUO answers.
    pub uitkomst: DuoUitkomst,
}

impl BronRule {
    /// Rejects matching mutations with `code`.
    pub fn reject(when: BronMatch, code: &str, omschrijving: &str) -> Self {
        Self {
            when,
            uitkomst: DuoUitkomst::Afgekeurd {
                signalen: vec![signaal(code, omschrijving)],
            },
        }
    }

    /// Accepts matching mutations with a signal `code`.
    pub fn signal(when: BronMatch, code: &str, omschrijving: &str) -> Self {
        Self {
            when,
            uitkomst: DuoUitkomst::GeaccepteerdMetSignalen {
                signalen: vec![signaal(code, omschrijving)],
            },
        }
    }

    fn matches(&self, m: &BronBericht) -> bool {
        let w = &self.when;
        w.record.as_deref().is_none_or(|r| r == m.inhoud.element())
            && w.soort.as_deref().is_none_or(|s| s == m.mutatie.code())
            && w.leerbedrijf.as_deref().is_none_or(|l| match &m.inhoud {
                BronInhoud::Bpv(b) => b.leerbedrijf_id.to_string() == l,
                _ => false,
            })
    }
}

fn signaal(code: &str, omschrijving: &str) -> Signaal {
    Signaal {
        code: code.to_owned(),
        omschrijving: omschrijving.to_owned(),
        parameters: Vec::<SignaalParameter>::new(),
    }
}

/// The rules a simulator starts with: a BPV at [`UNKNOWN_LEERBEDRIJF`] is rejected.
pub fn default_rules() -> Vec<BronRule> {
    vec![BronRule::reject(
        BronMatch {
            record: Some("BPV".to_owned()),
            leerbedrijf: Some(UNKNOWN_LEERBEDRIJF.to_owned()),
            ..BronMatch::default()
        },
        BPV_LEERBEDRIJF_ONBEKEND,
        "Leerbedrijf onbekend bij DUO",
    )]
}

/// One BRON mutation the simulator accepted for processing, with its answer.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMutatie {
    /// The message as read.
    pub bericht: BronBericht,
    /// The envelope exactly as received.
    pub envelope: String,
    /// What the simulator answered.
    pub uitkomst: DuoUitkomst,
}

impl std::fmt::Debug for ReceivedMutatie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedMutatie")
            .field("bericht_id", &self.bericht.bericht_id)
            .field("soort", &self.bericht.mutatie.code())
            .field("record", &self.bericht.inhoud.element())
            .field("uitkomst", &outcome_label(&self.uitkomst))
            .finish()
    }
}

impl ReceivedMutatie {
    /// `<soort>:<record>`, e.g. `T:Inschrijving`: the code in the simulator's messages.
    pub fn code(&self) -> String {
        format!(
            "{}:{}",
            self.bericht.mutatie.code(),
            self.bericht.inhoud.element()
        )
    }
}

/// One rule as `POST /_sim/bron/regels` takes it (a JSON list replaces the rules):
/// `{"record": "BPV", "soort": "T", "leerbedrijf": "100018965", "uitkomst": "afgekeurd",
/// "code": "BPV0101", "omschrijving": "…"}`; `uitkomst` is `geaccepteerd`,
/// `geaccepteerd_met_signalen` or `afgekeurd` (the last two need a `code`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleJson {
    /// When it applies.
    #[serde(flatten)]
    pub when: BronMatch,
    /// What DUO answers.
    pub uitkomst: String,
    /// The signal's code.
    pub code: Option<String>,
    /// The signal's description.
    pub omschrijving: Option<String>,
}

impl RuleJson {
    fn rule(self) -> Result<BronRule, &'static str> {
        let text = |s: &Option<String>, max: usize| {
            s.as_deref()
                .filter(|v| !v.is_empty() && v.chars().count() <= max)
                .map(str::to_owned)
        };
        let code = text(&self.code, 20);
        let omschrijving = text(&self.omschrijving, 500).unwrap_or_default();
        match (self.uitkomst.as_str(), code) {
            ("geaccepteerd", _) => Ok(BronRule {
                when: self.when,
                uitkomst: DuoUitkomst::Geaccepteerd,
            }),
            ("geaccepteerd_met_signalen", Some(c)) => {
                Ok(BronRule::signal(self.when, &c, &omschrijving))
            }
            ("afgekeurd", Some(c)) => Ok(BronRule::reject(self.when, &c, &omschrijving)),
            ("geaccepteerd_met_signalen" | "afgekeurd", None) => Err("code"),
            _ => Err("uitkomst"),
        }
    }
}

/// `POST /_sim/bron/regels`: replaces the answering rules (sandbox and tests).
pub(super) async fn set_rules(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Result<Vec<RuleJson>, _> = serde_json::from_slice(&body);
    let Ok(list) = parsed else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "expected a JSON list of rules",
            None,
        );
    };
    let mut rules = Vec::with_capacity(list.len());
    for r in list {
        match r.rule() {
            Ok(rule) => rules.push(rule),
            Err(field) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    "a rule needs a known uitkomst, and a code of at most 20 characters for a signal",
                    Some(field),
                );
            }
        }
    }
    shared.lock().bron_rules = rules;
    StatusCode::NO_CONTENT.into_response()
}

/// The BRON handler.
pub(super) async fn mutatie(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(fault) = shared.faults.check(&headers, &shared.cancel).await {
        return fault;
    }
    if !has_content_type(&headers, SOAP_XML) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected text/xml (SOAP 1.1)",
            None,
        );
    }
    let (kop, bericht) = match soap::read_envelope(&body) {
        Ok(read) => read,
        Err(e) => {
            let field = e.field().unwrap_or("body").to_owned();
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                &format!("invalid BRON message at {field}"),
                Some(&field),
            );
        }
    };
    if kop.to.to_string() != DUO_OIN {
        return problem(
            StatusCode::BAD_REQUEST,
            "wrong_receiver",
            "wsa:To does not carry DUO's OIN",
            Some("Envelope/Header/wsa:To"),
        );
    }
    if kop.from != bericht.brin.instelling().oin() {
        return problem(
            StatusCode::BAD_REQUEST,
            "sender_not_institution",
            "wsa:From does not carry the OIN of the message's BRIN",
            Some("Envelope/Header/wsa:From"),
        );
    }
    let uitkomst = {
        let mut s = shared.lock();
        if let Some(earlier) = s.bron_answers.get(&bericht.bericht_id).cloned() {
            s.duplicates += 1;
            earlier
        } else {
            let uitkomst = s
                .bron_rules
                .iter()
                .find(|r| r.matches(&bericht))
                .map_or(DuoUitkomst::Geaccepteerd, |r| r.uitkomst.clone());
            s.bron_answers.insert(bericht.bericht_id, uitkomst.clone());
            let received = ReceivedMutatie {
                bericht: bericht.clone(),
                envelope: String::from_utf8_lossy(&body).into_owned(),
                uitkomst: uitkomst.clone(),
            };
            s.log.push(SimMessage {
                subject: bericht.persoon.id.digits().to_owned(),
                code: received.code(),
                sequence: None,
                institution: Some(bericht.brin.to_string()),
                message_id: Some(bericht.bericht_id.to_string()),
            });
            s.bron.push(received);
            uitkomst
        }
    };
    let answer = soap::write_answer(
        &soap::Verwerkingsresultaat {
            bericht_id: bericht.bericht_id,
            uitkomst,
        },
        kop.message_id,
    );
    let mut r = (StatusCode::OK, answer).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}

/// The summary line of one mutation for `GET /_sim/received` (no personal data).
pub(super) fn summary_item(shared: &Shared, m: &ReceivedMutatie) -> serde_json::Value {
    serde_json::json!({
        "mutatie": m.code(),
        "berichtId": m.bericht.bericht_id,
        "brin": m.bericht.brin.to_string(),
        "uitkomst": outcome_label(&m.uitkomst),
        "persoonHash": shared.hash(m.bericht.persoon.id.digits()),
    })
}
