//! The per-institution feed: a projection of the aanmelding, onderwijsovereenkomst,
//! praktijkovereenkomst and signing events (SBB's and the signing provider's outcomes included)
//! and of the keuzedeel, examenresultaat and diploma events (codes, no grades) onto numbered
//! items
//! (`wijzigingsvolgnummer`, the pattern of CAMBO's `…/aanmelding/nieuw`), read with
//! `GET /api/v1/feed` and pushed by the webhook dispatcher.
//!
//! [`FeedAdapter`] is an ordinary [`Adapter`] on the delivery runtime (name `feed`, topics
//! `nl.knooppunt.{aanmelding,onderwijsovereenkomst,praktijkovereenkomst,ondertekening,keuzedeel,examenresultaat,diploma}.#`), so it gets inbox idempotency and per-student ordering from
//! there; the append itself is idempotent by event id as well.

use std::sync::Arc;

use async_trait::async_trait;
use knooppunt_adapters::{Adapter, Mode, Outcome, TransientClass};
use knooppunt_registry::domain::{
    BpvId, DuoTerugkoppeling, DuoUitkomst, Event, OokDetails, OokId, RedenUitschrijving, SbbCheck,
    SigningStatus, SigningSubject,
};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::EventEnvelope;

use super::store::{ApiStore, NewFeedItem};

/// The adapter name.
pub const FEED_ADAPTER: &str = "feed";

/// The event type of a VA partner's refusal.
pub const STATUS_AFGEWEZEN: &str = "nl.knooppunt.aanmelding.status_afgewezen.v1";

/// The registry's name of an enum value (its serde form).
pub(crate) fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

/// The name of a signing provider's status in the feed and the API (`signed`, `rejected`, …).
pub fn signing_status_name(s: SigningStatus) -> &'static str {
    match s {
        SigningStatus::WaitingForDocument => "waiting_for_document",
        SigningStatus::WaitingForSigner => "waiting_for_signer",
        SigningStatus::InProgress => "in_progress",
        SigningStatus::Signed => "signed",
        SigningStatus::Rejected => "rejected",
        SigningStatus::Expired => "expired",
        SigningStatus::Cancelled => "cancelled",
        SigningStatus::Failed => "failed",
    }
}

/// The name of SBB's check state (`pending`, `erkend`, `niet_erkend`, `ingetrokken`) and SBB's
/// reason when it did not recognise the leerbedrijf.
pub fn sbb_state(s: &SbbCheck) -> (&'static str, Option<String>) {
    match s {
        SbbCheck::Pending => ("pending", None),
        SbbCheck::Erkend { .. } => ("erkend", None),
        SbbCheck::NietErkend { reason } => ("niet_erkend", Some(reason.clone())),
        SbbCheck::Ingetrokken { .. } => ("ingetrokken", None),
    }
}

/// The feed item of an event, with the institution it is for; `None` when the event is not
/// one the institution follows (aanmeldingen, onderwijs- and praktijkovereenkomsten, their
/// signing and SBB's answers, keuzedelen, exam results and diplomas, all for the enrolling
/// institution). Ids, statuses and codes only.
pub fn feed_item(event: &EventEnvelope) -> Option<(String, NewFeedItem)> {
    let brin = event.data.institution()?.instelling();
    let base = NewFeedItem {
        event_id: event.meta.id,
        kind: event.meta.kind.clone(),
        tijd: event.meta.time,
        ..NewFeedItem::default()
    };
    let status = |s: &str| Some(s.to_owned());
    let aanmelding = |aanmelding: uuid::Uuid, st: Option<String>| NewFeedItem {
        aanmelding_id: Some(aanmelding),
        status: st,
        ..base.clone()
    };
    let ook = |id: &OokId, details: Option<&OokDetails>, st: &str| NewFeedItem {
        aanmelding_id: details.and_then(|d| d.aanmelding).map(|a| a.0),
        ook_id: Some(id.0),
        status: status(st),
        ..base.clone()
    };
    let bpv = |id: &BpvId, st: Option<&str>| NewFeedItem {
        bpv_id: Some(id.0),
        status: st.map(str::to_owned),
        ..base.clone()
    };
    let item = match &event.data {
        Event::AanmeldingIngediend { aanmelding: a } => {
            aanmelding(a.id.0, Some(serde_name(&a.status)))
        }
        Event::AanmeldingStatusGewijzigd {
            aanmelding: a,
            naar,
            ..
        } => aanmelding(a.0, Some(serde_name(naar))),
        Event::AanmeldingStatusAfgewezen {
            aanmelding: a,
            status,
            partner,
            reden,
            ..
        } => NewFeedItem {
            partner: Some(partner.as_str().to_owned()),
            reden: Some(reden.clone()),
            ..aanmelding(a.0, Some(serde_name(status)))
        },
        Event::OnderwijsovereenkomstOpgesteld {
            ook: id, details, ..
        } => ook(id, Some(details), "concept"),
        Event::OnderwijsovereenkomstAangeboden {
            ook: id, details, ..
        } => ook(id, Some(details), "aangeboden"),
        Event::OnderwijsovereenkomstGetekend {
            ook: id,
            ondertekenaar,
            ..
        } => NewFeedItem {
            status: None,
            ondertekenaar: Some(serde_name(ondertekenaar)),
            ..ook(id, None, "")
        },
        Event::OnderwijsovereenkomstOndertekend {
            ook: id, details, ..
        } => ook(id, Some(details), "ondertekend"),
        Event::OnderwijsovereenkomstBeeindigd { ook: id, reden, .. } => NewFeedItem {
            reden: Some(reden.as_str().to_owned()),
            ..ook(id, None, "beeindigd")
        },
        Event::OnderwijsovereenkomstVervallen { ook: id, .. } => ook(id, None, "vervallen"),
        Event::PraktijkovereenkomstGeregistreerd {
            bpv: id, details, ..
        } => NewFeedItem {
            ook_id: Some(details.ook.0),
            ..bpv(id, Some("geregistreerd"))
        },
        Event::SbbCheckVastgelegd {
            bpv: id, uitkomst, ..
        } => {
            let (state, reden) = sbb_state(uitkomst);
            NewFeedItem {
                partner: Some(Partner::Sbb.as_str().to_owned()),
                reden,
                ..bpv(id, Some(state))
            }
        }
        Event::ErkenningIngetrokken { bpv: id, .. } => NewFeedItem {
            partner: Some(Partner::Sbb.as_str().to_owned()),
            ..bpv(id, Some("ingetrokken"))
        },
        Event::PraktijkovereenkomstGetekend {
            bpv: id,
            ondertekenaar,
            ..
        } => NewFeedItem {
            ondertekenaar: Some(serde_name(ondertekenaar)),
            ..bpv(id, None)
        },
        Event::PraktijkovereenkomstOndertekend { bpv: id, .. } => bpv(id, Some("ondertekend")),
        Event::PraktijkovereenkomstBeeindigd { bpv: id, .. } => bpv(id, Some("beeindigd")),
        Event::KeuzedeelGeregistreerd { keuzedeel: k } => NewFeedItem {
            keuzedeel: Some(k.code.as_str().to_owned()),
            ..ook(&k.ook, None, "geregistreerd")
        },
        Event::KeuzedeelResultaatVastgelegd {
            ook: id,
            code,
            resultaat,
            ..
        } => NewFeedItem {
            keuzedeel: Some(code.as_str().to_owned()),
            ..ook(id, None, &serde_name(&resultaat.uitslag))
        },
        // No grades in the feed: the SIS reads them with the agreement.
        Event::ExamenresultaatVastgelegd { resultaat, .. } => NewFeedItem {
            status: None,
            ..ook(&resultaat.ook(), None, "")
        },
        Event::DiplomaUitgereikt { diploma } => NewFeedItem {
            reden: Some(RedenUitschrijving::geslaagd().as_str().to_owned()),
            ..ook(&diploma.ook, None, "beeindigd")
        },
        Event::OndertekenstatusVastgelegd { transactie } => {
            let (ook_id, bpv_id) = match transactie.subject {
                SigningSubject::Ook(o) => (Some(o.0), None),
                SigningSubject::Bpv(b) => (None, Some(b.0)),
            };
            NewFeedItem {
                ook_id,
                bpv_id,
                partner: Some(Partner::Signing.as_str().to_owned()),
                status: status(signing_status_name(transactie.status)),
                ..base.clone()
            }
        }
        _ => return None,
    };
    Some((brin.as_str().to_owned(), item))
}

/// Projects the events an institution follows onto the institutions' feeds.
#[derive(Debug, Clone)]
pub struct FeedAdapter {
    store: Arc<dyn ApiStore>,
    reference: Arc<ReferenceData>,
}

impl FeedAdapter {
    /// An adapter appending to `store`; only institutions in `reference` get a feed.
    pub fn new(store: Arc<dyn ApiStore>, reference: Arc<ReferenceData>) -> Self {
        Self { store, reference }
    }
}

#[async_trait]
impl Adapter for FeedAdapter {
    fn name(&self) -> &str {
        FEED_ADAPTER
    }

    fn answers_as(&self) -> Option<knooppunt_registry::partner::Partner> {
        None
    }

    fn topics(&self) -> Vec<String> {
        [
            "nl.knooppunt.aanmelding.#",
            "nl.knooppunt.onderwijsovereenkomst.#",
            "nl.knooppunt.praktijkovereenkomst.#",
            "nl.knooppunt.ondertekening.#",
            "nl.knooppunt.keuzedeel.#",
            "nl.knooppunt.examenresultaat.#",
            "nl.knooppunt.diploma.#",
            "nl.knooppunt.duo_terugkoppeling.#",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    async fn deliver(&self, event: &EventEnvelope, _mode: Mode) -> Outcome {
        let found = match &event.data {
            Event::DuoTerugkoppelingOntvangen { terugkoppeling } => {
                match self.store.feed_item_of_event(terugkoppeling.mutatie).await {
                    Ok(about) => Some(duo_item(
                        event,
                        terugkoppeling,
                        about.as_ref().map(|i| &i.item),
                    )),
                    Err(e) => return unavailable(&e, terugkoppeling.instelling.as_str()),
                }
            }
            _ => feed_item(event),
        };
        let Some((brin, item)) = found else {
            return Outcome::Skip;
        };
        let known = brin
            .parse()
            .ok()
            .is_some_and(|b| self.reference.institution(&b).is_some());
        if !known {
            return Outcome::Skip;
        }
        match self.store.append_feed(&brin, &item).await {
            Ok(n) => Outcome::Delivered {
                answer: None,
                status: format!("appended:{n}"),
                endpoint: format!("feed:{brin}"),
            },
            Err(e) => unavailable(&e, &brin),
        }
    }
}

fn unavailable(e: &super::store::ApiStoreError, brin: &str) -> Outcome {
    tracing::warn!(error = %e, "feed append failed");
    Outcome::Transient {
        class: TransientClass::Unavailable,
        retry_after: None,
        status: None,
        endpoint: format!("feed:{brin}"),
        error: String::from("api store unavailable"),
    }
}

/// DUO's answer on a delivered mutation as a feed item: partner `duo`, the outcome as status
/// (`geaccepteerd`, `geaccepteerd_met_signalen`, `afgekeurd`), the signals' codes as reden
/// (comma-separated; never their descriptions or parameters), and the ids of the item the
/// mutation came from (`about`: the OOK, BPV or aanmelding), when that event was in the feed.
pub fn duo_item(
    event: &EventEnvelope,
    terugkoppeling: &DuoTerugkoppeling,
    about: Option<&NewFeedItem>,
) -> (String, NewFeedItem) {
    let signalen = match &terugkoppeling.uitkomst {
        DuoUitkomst::Geaccepteerd => &[][..],
        DuoUitkomst::GeaccepteerdMetSignalen { signalen } | DuoUitkomst::Afgekeurd { signalen } => {
            signalen.as_slice()
        }
    };
    let mut codes = String::new();
    for code in signalen.iter().map(|s| s.code.as_str()) {
        if codes.len() + code.len() + 1 > 200 {
            break;
        }
        if !codes.is_empty() {
            codes.push(',');
        }
        codes.push_str(code);
    }
    let status = match &terugkoppeling.uitkomst {
        DuoUitkomst::Geaccepteerd => "geaccepteerd",
        DuoUitkomst::GeaccepteerdMetSignalen { .. } => "geaccepteerd_met_signalen",
        DuoUitkomst::Afgekeurd { .. } => "afgekeurd",
    };
    let item = NewFeedItem {
        event_id: event.meta.id,
        kind: event.meta.kind.clone(),
        tijd: event.meta.time,
        aanmelding_id: about.and_then(|a| a.aanmelding_id),
        ook_id: about.and_then(|a| a.ook_id),
        bpv_id: about.and_then(|a| a.bpv_id),
        keuzedeel: about.and_then(|a| a.keuzedeel.clone()),
        status: Some(status.to_owned()),
        partner: Some(Partner::Duo.as_str().to_owned()),
        reden: (!codes.is_empty()).then_some(codes),
        ondertekenaar: None,
    };
    (terugkoppeling.instelling.as_str().to_owned(), item)
}
