//! What a VA adapter reads besides the event: the person number (`pgn`) from the dossier and
//! the opleiding's RIO details from reference data — through the access policy, audited.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::va::{self, VaContext};
use knooppunt_ops::{AuditEntry, AuditTrail, OpsError};
use knooppunt_registry::domain::time::local_date;
use knooppunt_registry::domain::{AanmeldingId, Event};
use knooppunt_registry::envelope::Actor;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::policy::{self, Access, Decision, DenyReason, Part, Subject};
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{EventEnvelope, Store, StoreError};

use super::VaPartner;

/// Why the context of a VA status could not be read. Names no personal data.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The access policy refused the partner this read (or the partner is not a target of the
    /// event). Permanent: retrying is refused the same way.
    #[error("read of va_status denied: {reason}")]
    Denied {
        /// Why.
        reason: DenyReason,
    },
    /// The event's dossier does not exist in the store.
    #[error("dossier not found")]
    DossierNotFound,
    /// The dossier exists but holds no person (never opened).
    #[error("dossier has no person")]
    NoPerson,
    /// The event is not about an aanmelding, or the dossier does not hold it.
    #[error("aanmelding not found in the dossier")]
    AanmeldingNotFound,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The read could not be audited, so it was not done.
    #[error("audit trail: {0}")]
    Audit(#[from] OpsError),
}

impl ReadError {
    /// Whether trying again later may succeed (store or audit trail unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(e) => e.is_transient(),
            Self::Audit(_) => true,
            Self::Denied { .. }
            | Self::DossierNotFound
            | Self::NoPerson
            | Self::AanmeldingNotFound => false,
        }
    }

    /// A short, bounded code for outcomes and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied { .. } => "read_denied",
            Self::DossierNotFound => "dossier_not_found",
            Self::NoPerson => "dossier_without_person",
            Self::AanmeldingNotFound => "aanmelding_not_found",
            Self::Store(_) => "store_unavailable",
            Self::Audit(_) => "audit_unavailable",
        }
    }
}

/// Reads the [`VaContext`] of a status event for a partner. Implementations check the access
/// policy and audit every read.
#[async_trait]
pub trait VaReader: Send + Sync + fmt::Debug {
    /// The context for `event`, as read by `partner` (e.g. [`Partner::Intergrip`]).
    async fn va_context(
        &self,
        partner: Partner,
        event: &EventEnvelope,
    ) -> Result<VaContext, ReadError>;
}

/// The [`VaReader`] over the registry store: loads the dossier of `event.meta.subject`, asks
/// [`policy::decide`] whether `Actor::Partner { partner }` may read [`Part::VaStatus`] (and,
/// for a VA partner, whether it is a target of the event at all), writes one
/// [`AuditEntry::for_read`] per read (allowed or denied), and returns the pgn, the aanmelding's
/// externe referentie and the opleiding's RIO details (cohort start, leertraject, aanbieder).
#[derive(Clone)]
pub struct StoreVaReader {
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    audit: Arc<dyn AuditTrail>,
}

impl fmt::Debug for StoreVaReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreVaReader")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl StoreVaReader {
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
}

/// The aanmelding a VA status event is about.
pub(crate) fn aanmelding_of(event: &Event) -> Option<AanmeldingId> {
    match event {
        Event::AanmeldingIngediend { aanmelding } => Some(aanmelding.id),
        Event::AanmeldingStatusGewijzigd { aanmelding, .. } => Some(*aanmelding),
        _ => None,
    }
}

/// The snake_case name of a serde enum value (ground or deny reason), for the audit record.
fn code_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

#[async_trait]
impl VaReader for StoreVaReader {
    async fn va_context(
        &self,
        partner: Partner,
        event: &EventEnvelope,
    ) -> Result<VaContext, ReadError> {
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
        let actor = Actor::Partner { partner };
        let mut decision = policy::decide(&actor, &subject, Part::VaStatus, Access::Read);
        // Data minimisation beyond the part: a VA partner reads a status only when it is one of
        // the event's targets (a regional system only for its own schools, the municipality only
        // when the registry named one).
        if decision.is_allowed()
            && let Some(p) = VaPartner::from_partner(partner)
            && !p.is_target(&va::targets(&event.data, &self.reference))
        {
            decision = Decision::Deny {
                reason: DenyReason::PartnerNotConcerned,
            };
        }
        let (ground, denied) = match decision {
            Decision::Allow { ground } => (code_name(&ground), false),
            Decision::Deny { reason } => (code_name(&reason), true),
        };
        let mut entry = AuditEntry::for_read(
            key,
            format!("partner:{partner}"),
            Part::VaStatus.as_str(),
            ground,
            denied,
        )
        .partner(partner.as_str());
        entry.message_id = Some(event.meta.id);
        self.audit.append(entry).await?;
        if let Decision::Deny { reason } = decision {
            return Err(ReadError::Denied { reason });
        }

        let person = dossier.person.as_ref().ok_or(ReadError::NoPerson)?;
        let aanmelding = aanmelding_of(&event.data)
            .and_then(|id| dossier.aanmeldingen.get(&id))
            .ok_or(ReadError::AanmeldingNotFound)?;
        let opleiding = self.reference.opleiding(&aanmelding.opleiding);
        let cohort = opleiding.and_then(|o| o.cohort(&aanmelding.cohort));
        Ok(VaContext {
            pgn: Some(person.id.clone()),
            externe_referentie: aanmelding.externe_referentie.clone(),
            ca_keten_id: None,
            onderwijsaanbieder_code: self
                .reference
                .institution(&aanmelding.instelling)
                .map(|i| i.aanbieder.clone()),
            startdatum: cohort.map(|c| c.startdatum),
            leertraject: opleiding.map(|o| o.leertraject),
        })
    }
}
