//! DUO's BRON/ROD deliveries (`docs/partners/duo.md` §6): the registry's facts about an
//! enrolment at a `krd` institution, one mutation per message.
//!
//! The [`BronAdapter`] consumes the events [`bron::event::from_event`] maps (a signed OOK → an
//! inschrijving toevoegen; a signed BPV → BPV toevoegen, its end → BPV aanpassen; a diploma →
//! diploma with its generieke examenonderdelen and keuzedelen, and the uitschrijving; an ended
//! OOK → uitschrijving) for institutions at level `krd` only — every other event, and every
//! event of a `va` or `aanmelden` institution, is `Skip`. It reads the dossier as DUO through
//! the access policy, audited ([`BronReader`]), writes each mutation with the mapping and sends
//! it, wrapped in an Edukoppeling/WUS SOAP envelope (WS-Addressing `From` = the institution's
//! OIN from reference data, `To` = DUO's OIN), POSTed to [`BRON_PATH`] under DUO's base URL.
//!
//! DUO answers each mutation ([`classify`]): accepted, accepted with signals, or rejected with a
//! code. That answer goes back as one registry command, `RecordDuoFeedback` keyed by the event
//! id, executed as `Actor::Partner { partner: Duo }`: accepted → `Delivered`; rejected →
//! `Permanent Rejected` carrying the same command (never retried). A 5xx, a 429 or no answer is
//! `Transient`: the runtime retries, and its per-student order holds later mutations back, so
//! an aanpassing never overtakes its toevoeging. An event with two mutations (a diploma and its
//! uitschrijving) is sent as two messages in order; DUO's answers are recorded together, the
//! worst outcome with every signal (`docs/partners/duo.md` §6.3). Message ids derive from the
//! event id ([`bron::event::message_id`]), so a resend is recognisable to DUO.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::duo::bron::{self, BronBericht, soap};
use knooppunt_mappings::rio::soap::{Addressing, DUO_OIN};
use knooppunt_ops::Metrics;
use knooppunt_registry::domain::{Command, DuoUitkomst, Event, Signaal, SignaalParameter};
use knooppunt_registry::ids::{Brin, Oin};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::{Participation, ReferenceData};
use knooppunt_registry::store::EventEnvelope;

use crate::duo::classify::mapping_reason;
use crate::{Adapter, Mode, Outcome, PermanentClass, TransientClass};

pub mod classify;
mod reader;
mod tracker;

pub use classify::{Answer, outcome_label};
pub use reader::{BronReader, parts_of};
pub use tracker::{BronTracker, Settled};

/// Where DUO takes BRON mutations (relative to DUO's base URL). ASSUMPTION: DUO's real service
/// address is agreed at connection time.
pub const BRON_PATH: &str = "/duo/bron/v1/mutaties";

/// The adapter's name: its queue (`knooppunt.duo_bron`), metric label and audit `partner`.
pub const NAME: &str = "duo_bron";

/// The SOAP 1.1 media type of every BRON message and answer.
pub const SOAP_XML: &str = "text/xml";

/// The events the adapter consumes.
pub const TOPICS: [&str; 5] = [
    "nl.knooppunt.onderwijsovereenkomst.ondertekend.#",
    "nl.knooppunt.onderwijsovereenkomst.beeindigd.#",
    "nl.knooppunt.praktijkovereenkomst.ondertekend.#",
    "nl.knooppunt.praktijkovereenkomst.beeindigd.#",
    "nl.knooppunt.diploma.uitgereikt.#",
];

/// The BRON adapter. See the module documentation.
pub struct BronAdapter {
    url: String,
    client: reqwest::Client,
    reader: BronReader,
    reference: Arc<ReferenceData>,
    duo_oin: Oin,
    tracker: BronTracker,
}

impl fmt::Debug for BronAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BronAdapter")
            .field("url", &self.url)
            .field("duo_oin", &self.duo_oin)
            .finish_non_exhaustive()
    }
}

/// The institution a BRON event is about.
fn instelling_of(event: &Event) -> Option<&Brin> {
    match event {
        Event::OnderwijsovereenkomstOndertekend { instelling, .. }
        | Event::OnderwijsovereenkomstBeeindigd { instelling, .. }
        | Event::PraktijkovereenkomstOndertekend { instelling, .. }
        | Event::PraktijkovereenkomstBeeindigd { instelling, .. } => Some(instelling),
        Event::DiplomaUitgereikt { diploma } => Some(&diploma.instelling),
        _ => None,
    }
}

impl BronAdapter {
    /// An adapter delivering to DUO at `endpoint` (its base URL) with `client` (build it with a
    /// timeout), reading dossiers with `reader` and institutions' levels and OINs from
    /// `reference`; it reports its mutations to `metrics` when given.
    pub fn new(
        endpoint: &str,
        client: reqwest::Client,
        reader: BronReader,
        reference: Arc<ReferenceData>,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            url: format!("{}{BRON_PATH}", endpoint.trim_end_matches('/')),
            client,
            reader,
            reference,
            duo_oin: DUO_OIN.parse().expect("DUO's OIN is valid"),
            tracker: BronTracker::new(NAME, metrics),
        }
    }

    /// The mutations sent and not yet answered (for tests and operators).
    pub fn tracker(&self) -> &BronTracker {
        &self.tracker
    }

    /// Sends one mutation and classifies DUO's answer.
    async fn send(&self, msg: &BronBericht, from: &Oin) -> Answer {
        let addressing = Addressing {
            from: from.clone(),
            endpoint: self.url.clone(),
            to: self.duo_oin.clone(),
            message_id: msg.bericht_id,
        };
        let envelope = match soap::write_envelope(msg, &addressing) {
            Ok(e) => e,
            Err(e) => {
                return Answer::Failed(Outcome::Permanent {
                    class: PermanentClass::Untranslatable,
                    reason: mapping_reason(&e),
                    answer: None,
                    status: None,
                    endpoint: self.url.clone(),
                });
            }
        };
        let sent = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("soapaction", format!("\"{}\"", soap::ACTION))
            .header("x-message-id", msg.bericht_id.to_string())
            .body(envelope)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Failed(classify::classify_error(&self.url, &e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Answer::Failed(classify::classify_error(&self.url, &e)),
        };
        classify::classify_response(
            msg.bericht_id,
            &self.url,
            status,
            retry_after.as_deref(),
            &body,
            Utc::now(),
        )
    }

    fn untranslatable(&self, reason: String) -> Outcome {
        Outcome::Permanent {
            class: PermanentClass::Untranslatable,
            reason,
            answer: None,
            status: None,
            endpoint: self.url.clone(),
        }
    }
}

#[async_trait]
impl Adapter for BronAdapter {
    fn name(&self) -> &str {
        NAME
    }

    fn answers_as(&self) -> Option<Partner> {
        Some(Partner::Duo)
    }

    fn topics(&self) -> Vec<String> {
        TOPICS.iter().map(|t| (*t).to_owned()).collect()
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        let Some(brin) = instelling_of(&event.data) else {
            return Outcome::Skip;
        };
        // Only a krd institution's registry is the source DUO hears from; at va and aanmelden
        // the institution delivers to BRON itself. Its effective level: an operator's recorded
        // change, else the reference data.
        let Some(institution) = self.reference.institution(&brin.instelling()) else {
            return self.untranslatable("institution_unknown".to_owned());
        };
        let level = match self.reader.level(institution).await {
            Ok(level) => level,
            Err(e) => {
                return Outcome::Transient {
                    class: TransientClass::Connection,
                    retry_after: None,
                    status: None,
                    endpoint: self.url.clone(),
                    error: if e.is_transient() {
                        "store_unavailable"
                    } else {
                        "store_failed"
                    }
                    .to_owned(),
                };
            }
        };
        if level != Participation::Krd {
            return Outcome::Skip;
        }
        let dossier = match self.reader.dossier(event).await {
            Ok(d) => d,
            Err(e) if e.is_transient() => {
                return Outcome::Transient {
                    class: TransientClass::Connection,
                    retry_after: None,
                    status: None,
                    endpoint: self.url.clone(),
                    error: e.code().to_owned(),
                };
            }
            Err(e) => return self.untranslatable(e.code().to_owned()),
        };
        let messages = match bron::event::from_event(&event.meta, &event.data, &dossier) {
            Ok(m) if m.is_empty() => return Outcome::Skip,
            Ok(m) => m,
            Err(e) => return self.untranslatable(mapping_reason(&e)),
        };
        if mode == Mode::Shadow {
            // Written in full (so mapping errors show), nothing sent.
            for m in &messages {
                let addressing = Addressing {
                    from: institution.oin.clone(),
                    endpoint: self.url.clone(),
                    to: self.duo_oin.clone(),
                    message_id: m.bericht_id,
                };
                if let Err(e) = soap::write_envelope(m, &addressing) {
                    return self.untranslatable(mapping_reason(&e));
                }
            }
            return Outcome::Delivered {
                answer: None,
                status: "shadow".to_owned(),
                endpoint: self.url.clone(),
            };
        }
        let mut answers = Vec::with_capacity(messages.len());
        for m in &messages {
            self.tracker.sending(m.bericht_id, event.meta.time);
            match self.send(m, &institution.oin).await {
                Answer::Answered(u) => answers.push((m.bericht_id, u)),
                Answer::Failed(outcome) => {
                    if matches!(outcome, Outcome::Permanent { .. }) {
                        for m in &messages {
                            self.tracker.settled(m.bericht_id, Settled::Failed);
                        }
                    }
                    return outcome;
                }
            }
        }
        for (id, u) in &answers {
            self.tracker.settled(
                *id,
                match u {
                    DuoUitkomst::Geaccepteerd => Settled::Accepted,
                    DuoUitkomst::GeaccepteerdMetSignalen { .. } => Settled::AcceptedWithSignals,
                    DuoUitkomst::Afgekeurd { .. } => Settled::Rejected,
                },
            );
        }
        let uitkomst = combine(answers);
        let rejection = match &uitkomst {
            DuoUitkomst::Afgekeurd { signalen } => Some(
                signalen
                    .first()
                    .map_or_else(|| "rejected".to_owned(), |s| bounded_code(&s.code)),
            ),
            _ => None,
        };
        let answer = Some(Command::RecordDuoFeedback {
            mutatie: event.meta.id,
            instelling: brin.instelling(),
            uitkomst,
        });
        match rejection {
            Some(reason) => Outcome::Permanent {
                class: PermanentClass::Rejected,
                reason,
                answer,
                status: Some("200".to_owned()),
                endpoint: self.url.clone(),
            },
            None => Outcome::Delivered {
                answer,
                status: "200".to_owned(),
                endpoint: self.url.clone(),
            },
        }
    }
}

/// One event's answers as one outcome: rejected if any mutation was rejected, else accepted
/// with signals if any carried signals, else accepted. With more than one mutation every signal
/// names the message it is about (parameter `BerichtId`).
pub fn combine(answers: Vec<(uuid::Uuid, DuoUitkomst)>) -> DuoUitkomst {
    let several = answers.len() > 1;
    let mut rejections: Vec<Signaal> = Vec::new();
    let mut others: Vec<Signaal> = Vec::new();
    let mut rejected = false;
    for (id, u) in answers {
        let (into, list) = match u {
            DuoUitkomst::Geaccepteerd => continue,
            DuoUitkomst::GeaccepteerdMetSignalen { signalen } => (&mut others, signalen),
            DuoUitkomst::Afgekeurd { signalen } => {
                rejected = true;
                (&mut rejections, signalen)
            }
        };
        for mut s in list {
            if several {
                s.parameters.push(SignaalParameter {
                    naam: "BerichtId".to_owned(),
                    waarde: id.to_string(),
                });
            }
            into.push(s);
        }
    }
    // A rejection's signals come first: the first is the rejection's code.
    rejections.append(&mut others);
    let signalen = rejections;
    match (rejected, signalen.is_empty()) {
        (true, _) => DuoUitkomst::Afgekeurd { signalen },
        (false, true) => DuoUitkomst::Geaccepteerd,
        (false, false) => DuoUitkomst::GeaccepteerdMetSignalen { signalen },
    }
}

/// A signal code as an outcome reason: a short code, or `rejected`.
fn bounded_code(code: &str) -> String {
    if !code.is_empty() && code.len() <= 20 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        code.to_owned()
    } else {
        "rejected".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn s(code: &str) -> Signaal {
        Signaal {
            code: code.to_owned(),
            omschrijving: String::new(),
            parameters: Vec::new(),
        }
    }

    #[test]
    fn one_event_one_outcome_the_worst_with_every_signal() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(
            combine(vec![(a, DuoUitkomst::Geaccepteerd)]),
            DuoUitkomst::Geaccepteerd
        );
        // A single mutation's signals are passed on as they are.
        let single = combine(vec![(
            a,
            DuoUitkomst::GeaccepteerdMetSignalen {
                signalen: vec![s("S1")],
            },
        )]);
        assert_eq!(
            single,
            DuoUitkomst::GeaccepteerdMetSignalen {
                signalen: vec![s("S1")]
            }
        );
        // A rejection wins and its code comes first, each signal naming its message.
        let both = combine(vec![
            (
                a,
                DuoUitkomst::GeaccepteerdMetSignalen {
                    signalen: vec![s("S1")],
                },
            ),
            (
                b,
                DuoUitkomst::Afgekeurd {
                    signalen: vec![s("F1")],
                },
            ),
        ]);
        let DuoUitkomst::Afgekeurd { signalen } = both else {
            panic!("not rejected")
        };
        let codes: Vec<&str> = signalen.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, ["F1", "S1"]);
        assert_eq!(signalen[0].parameters[0].waarde, b.to_string());
        assert_eq!(signalen[1].parameters[0].waarde, a.to_string());
        assert_eq!(bounded_code("BPV0101"), "BPV0101");
        assert_eq!(bounded_code("not a code!"), "rejected");
    }
}
