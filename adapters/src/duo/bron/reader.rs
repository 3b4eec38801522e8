//! What the BRON adapter reads besides the event: the dossier, through the access policy, one
//! audit record per part read (allowed or denied), as DUO (`Actor::Partner { partner: Duo }`).

use std::fmt;
use std::sync::Arc;

use chrono::Utc;
use knooppunt_ops::{AuditEntry, AuditTrail};
use knooppunt_registry::domain::time::local_date;
use knooppunt_registry::domain::{Dossier, Event};
use knooppunt_registry::envelope::Actor;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::policy::{self, Access, Decision, Part, Subject};
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{EventEnvelope, Store};

use crate::va::ReadError;

/// The dossier parts a BRON message about `event` is made of: the person always, and the
/// records the mutation delivers.
pub fn parts_of(event: &Event) -> &'static [Part] {
    match event {
        Event::OnderwijsovereenkomstOndertekend { .. }
        | Event::OnderwijsovereenkomstBeeindigd { .. } => {
            &[Part::Personalia, Part::Onderwijsovereenkomsten]
        }
        Event::PraktijkovereenkomstOndertekend { .. }
        | Event::PraktijkovereenkomstBeeindigd { .. } => &[
            Part::Personalia,
            Part::Onderwijsovereenkomsten,
            Part::Praktijkovereenkomsten,
        ],
        Event::DiplomaUitgereikt { .. } => &[
            Part::Personalia,
            Part::Onderwijsovereenkomsten,
            Part::Diplomas,
            Part::Examenresultaten,
            Part::Keuzedelen,
        ],
        _ => &[],
    }
}

/// Reads the dossier of `event.meta.subject` for DUO, part by part through
/// [`policy::decide`], auditing every read on the event's chain.
#[derive(Clone)]
pub struct BronReader {
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    audit: Arc<dyn AuditTrail>,
}

impl fmt::Debug for BronReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BronReader").finish_non_exhaustive()
    }
}

impl BronReader {
    /// A reader over `store`, with `reference` data, auditing to `audit`.
    pub fn new(
        store: Arc<dyn Store>,
        reference: Arc<ReferenceData>,
        audit: Arc<dyn AuditTrail>,
    ) -> Self {
        Self {
            store,
            reference,
            audit,
        }
    }

    /// The institution's effective participation level: the latest change an operator
    /// recorded ([`Store::levels`]), else the reference data's.
    pub async fn level(
        &self,
        institution: &knooppunt_registry::reference::Institution,
    ) -> Result<knooppunt_registry::reference::Participation, knooppunt_registry::store::StoreError>
    {
        Ok(self.store.levels().await?.of(institution))
    }

    /// The dossier, when DUO may read every part the message about `event` needs.
    pub async fn dossier(&self, event: &EventEnvelope) -> Result<Dossier, ReadError> {
        let key = event.meta.subject;
        let dossier = self
            .store
            .dossier(key)
            .await?
            .ok_or(ReadError::DossierNotFound)?;
        let subject = Subject {
            key,
            dossier: &dossier,
            reference: &self.reference,
            on: local_date(Utc::now()),
        };
        let partner = Partner::Duo;
        let actor = Actor::Partner { partner };
        let mut refused = None;
        for part in parts_of(&event.data) {
            let decision = policy::decide(&actor, &subject, *part, Access::Read);
            let (ground, denied) = match decision {
                Decision::Allow { ground } => (code_name(&ground), false),
                Decision::Deny { reason } => (code_name(&reason), true),
            };
            let mut entry = AuditEntry::for_read(
                key,
                format!("partner:{partner}"),
                part.as_str(),
                ground,
                denied,
            )
            .partner(partner.as_str());
            entry.message_id = Some(event.meta.id);
            self.audit.append(entry).await?;
            if let Decision::Deny { reason } = decision {
                refused = Some(reason);
                break;
            }
        }
        if let Some(reason) = refused {
            return Err(ReadError::Denied { reason });
        }
        if dossier.person.is_none() {
            return Err(ReadError::NoPerson);
        }
        Ok(dossier)
    }
}

/// The snake_case name of a serde enum value (ground or deny reason), for the audit record.
fn code_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}
