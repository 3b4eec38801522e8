//! The operators' service for parked messages: list, replay, discard — each action recorded in
//! the audit trail with the operator's name and reason.

use std::sync::Arc;

use uuid::Uuid;

use super::{DeliveryState, HeldMessage, ParkedMessage};
use crate::OpsError;
use crate::audit::{AuditEntry, AuditTrail, Hop};

/// Who acts and why; both go into the audit trail (so: a user name, and a reason without
/// personal data — see [`AuditEntry`]'s field rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAction {
    /// The operator's user name.
    pub actor: String,
    /// Why (free text from the operator, at most 500 characters, no BSNs).
    pub reason: String,
}

impl OperatorAction {
    /// An action by `actor` because of `reason`.
    pub fn new(actor: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            reason: reason.into(),
        }
    }
}

/// The result of a discard: the discarded message, and the held message that was promoted to
/// the subject's blocker (the runtime must deliver it; the others stay held behind it and
/// follow one by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// The message that was discarded.
    pub message: ParkedMessage,
    /// The oldest message about the same subject that waited behind it, now the subject's
    /// blocker (at most one; empty when nothing waited).
    pub released: Vec<HeldMessage>,
}

/// List, replay and discard parked messages; combines a [`DeliveryState`] and an [`AuditTrail`].
#[derive(Clone)]
pub struct FailedMessages {
    state: Arc<dyn DeliveryState>,
    audit: Arc<dyn AuditTrail>,
}

impl std::fmt::Debug for FailedMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedMessages").finish_non_exhaustive()
    }
}

impl FailedMessages {
    /// A service over these stores.
    pub fn new(state: Arc<dyn DeliveryState>, audit: Arc<dyn AuditTrail>) -> Self {
        Self { state, audit }
    }

    /// The parked messages of `consumer`, oldest last failure first.
    pub async fn list(&self, consumer: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        self.state.parked(consumer).await
    }

    fn entry(hop: Hop, p: &ParkedMessage, who: &OperatorAction) -> AuditEntry {
        let mut e = AuditEntry::for_message(p.message_id, hop)
            .partner(p.partner.clone())
            .actor(who.actor.clone())
            .reason(who.reason.clone())
            .status(p.consumer.clone());
        e.attempt = Some(p.attempts);
        if let Some(s) = p.subject.as_deref().and_then(|s| s.parse().ok()) {
            e.subject = Some(s);
        }
        e
    }

    /// Takes the parked message out and builds its audit entry; puts it back when the entry is
    /// refused (so a refused action changes nothing).
    async fn take(
        &self,
        consumer: &str,
        message_id: Uuid,
        hop: Hop,
        who: &OperatorAction,
    ) -> Result<Option<(ParkedMessage, AuditEntry)>, OpsError> {
        let Some(p) = self.state.take_parked(consumer, message_id).await? else {
            return Ok(None);
        };
        let entry = Self::entry(hop, &p, who);
        if let Err(e) = entry.validate() {
            self.state.park(p).await?;
            return Err(e);
        }
        Ok(Some((p, entry)))
    }

    fn check(who: &OperatorAction) -> Result<(), OpsError> {
        if who.actor.trim().is_empty() {
            return Err(OpsError::Invalid {
                field: "actor",
                reason: "an operator name is required",
            });
        }
        if who.reason.trim().is_empty() {
            return Err(OpsError::Invalid {
                field: "reason",
                reason: "a reason is required",
            });
        }
        // The actor and reason rules of the audit trail, checked before anything changes.
        AuditEntry::for_message(Uuid::nil(), Hop::Replayed)
            .actor(who.actor.clone())
            .reason(who.reason.clone())
            .validate()
    }

    /// Takes a parked message out for replay and records `replayed` (actor, reason). Returns the
    /// message for the runtime to re-publish, or `None` when it is not (or no longer) parked.
    /// The subject stays blocked by this message until its delivery finishes, so held messages
    /// keep their order.
    pub async fn replay(
        &self,
        consumer: &str,
        message_id: Uuid,
        who: &OperatorAction,
    ) -> Result<Option<ParkedMessage>, OpsError> {
        Self::check(who)?;
        let Some((p, entry)) = self.take(consumer, message_id, Hop::Replayed, who).await? else {
            return Ok(None);
        };
        if let Err(e) = self.audit.append(entry).await {
            // Put it back: an unrecorded replay must not happen.
            self.state.park(p).await?;
            return Err(e);
        }
        tracing::info!(consumer, message_id = %message_id, actor = %who.actor, "parked message replayed");
        Ok(Some(p))
    }

    /// Discards a parked message: records `discarded` (actor, reason), marks it done in the
    /// inbox (a late copy is ignored), and when it blocked its subject, promotes the oldest held
    /// message to blocker and returns it for delivery (see
    /// [`DeliveryState::promote_next_held`]). `None` when the message is not parked.
    pub async fn discard(
        &self,
        consumer: &str,
        message_id: Uuid,
        who: &OperatorAction,
    ) -> Result<Option<Discarded>, OpsError> {
        Self::check(who)?;
        let Some((p, entry)) = self.take(consumer, message_id, Hop::Discarded, who).await? else {
            return Ok(None);
        };
        if let Err(e) = self.audit.append(entry).await {
            self.state.park(p).await?;
            return Err(e);
        }
        self.state
            .mark_done(consumer, message_id, "discarded")
            .await?;
        // When it blocked its subject, the oldest held message becomes the blocker in the same
        // step (the others stay held behind it), so a crash cannot lose a held message.
        let mut released = Vec::new();
        if let Some(subject) = p.subject.as_deref() {
            released.extend(
                self.state
                    .promote_next_held(consumer, subject, message_id)
                    .await?,
            );
        }
        tracing::info!(
            consumer,
            message_id = %message_id,
            actor = %who.actor,
            released = released.len(),
            "parked message discarded"
        );
        Ok(Some(Discarded {
            message: p,
            released,
        }))
    }
}
