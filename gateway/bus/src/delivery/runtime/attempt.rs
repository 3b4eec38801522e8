//! Step 2 of a message: attempts through the partner's gate (maintenance window, breaker, rate
//! limit), with the immediate retries of a transient failure. Only the last outcome leaves.

use super::*;

/// The last attempt's outcome.
pub(super) struct Attempted {
    /// What the adapter said.
    pub(super) outcome: Outcome,
    /// How long the last attempt took.
    pub(super) took: Duration,
    /// The attempt number (counting earlier tiers too).
    pub(super) attempt: u32,
}

impl DeliveryRuntime {
    /// `None` when shutting down while waiting (the trail is flushed; the message stays
    /// unsettled and is redelivered).
    pub(super) async fn attempt(
        &self,
        envelope: &EventEnvelope,
        msg: &Message,
        trail: &mut Trail,
        cancel: &CancellationToken,
    ) -> Result<Option<Attempted>, DeliveryError> {
        // Shadow mode as it is now (partner-wide or for the event's institution).
        let mode = if self.gate.shadows(envelope.meta.institution.as_ref()) {
            Mode::Shadow
        } else {
            Mode::Live
        };
        let mut attempt = header_u32(msg, headers::ATTEMPT);
        let mut backoff = self.immediate_backoff();
        let immediate_max = Duration::from_millis(self.config.immediate.max_ms);
        loop {
            if self.gate.admit(cancel).await.is_none() {
                trail.flush(&*self.deps.audit).await?;
                return Ok(None);
            }
            attempt = attempt.saturating_add(1);
            let started = Instant::now();
            let outcome = {
                let _in_flight = self.deps.metrics.in_flight(&self.name);
                self.adapter.deliver(envelope, mode).await
            };
            let took = started.elapsed();
            self.gate.report(match &outcome {
                Outcome::Delivered { .. } | Outcome::Permanent { .. } => Health::Up,
                Outcome::Transient { .. } => Health::Failing,
                Outcome::Skip => Health::Unknown,
            });
            if !matches!(outcome, Outcome::Skip) {
                let e = trail.push(Hop::Attempt);
                e.endpoint = outcome.endpoint().map(clean_endpoint);
                e.status = outcome.status().map(clean_code);
                e.duration_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
                e.attempt = Some(attempt);
            }
            let Outcome::Transient {
                class, retry_after, ..
            } = &outcome
            else {
                return Ok(Some(Attempted {
                    outcome,
                    took,
                    attempt,
                }));
            };
            telemetry::AttemptFailed {
                partner: &self.name,
                message_id: msg.id,
                class: *class,
                took,
            }
            .emit(&self.deps.metrics);
            let wait = match (backoff.next(), retry_after) {
                (Some(d), None) => d,
                (Some(d), Some(ra)) if *ra <= immediate_max => d.max(*ra),
                _ => {
                    return Ok(Some(Attempted {
                        outcome,
                        took,
                        attempt,
                    }));
                }
            };
            telemetry::RetriedNow {
                partner: &self.name,
                message_id: msg.id,
                attempt,
                wait,
            }
            .emit(&self.deps.metrics);
            tokio::select! {
                _ = cancel.cancelled() => {
                    trail.flush(&*self.deps.audit).await?;
                    return Ok(None);
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
