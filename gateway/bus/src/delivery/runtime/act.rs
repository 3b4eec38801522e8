//! Step 3 of a message: what its outcome means. Delivered or rejected: the partner's answer goes
//! to the registry and the message is done; skipped: done; transient after the immediate
//! retries: the next retry tier, or parked when the tiers are used up.

use super::admit::Admitted;
use super::attempt::Attempted;
use super::*;

impl DeliveryRuntime {
    pub(super) async fn act(
        &self,
        msg: &Message,
        admitted: Admitted,
        attempted: Attempted,
        trail: &mut Trail,
    ) -> Result<(), DeliveryError> {
        let id = msg.id;
        let Admitted {
            envelope,
            subject,
            blocker,
        } = admitted;
        let Attempted {
            outcome,
            took,
            attempt,
        } = attempted;
        match outcome {
            Outcome::Delivered {
                answer,
                status,
                endpoint,
            } => {
                telemetry::Delivered {
                    partner: &self.name,
                    message_id: id,
                    attempt,
                    took,
                }
                .emit(&self.deps.metrics);
                let e = trail.push(Hop::Delivered);
                e.status = Some(clean_code(&status));
                e.endpoint = Some(clean_endpoint(&endpoint));
                e.attempt = Some(attempt);
                if let Some(command) = answer {
                    self.answer(&envelope, command, trail).await?;
                }
                self.finish(trail, id, "delivered").await?;
                self.finish_blocker(id, &subject, blocker).await?;
            }
            Outcome::Permanent {
                class,
                reason,
                answer,
                status,
                endpoint,
            } => {
                telemetry::Rejected {
                    partner: &self.name,
                    message_id: id,
                    class,
                    took,
                }
                .emit(&self.deps.metrics);
                let e = trail.push(Hop::Rejected);
                e.reason = Some(clean_reason(&format!("{class}: {reason}")));
                e.status = status.as_deref().map(clean_code);
                e.endpoint = Some(clean_endpoint(&endpoint));
                e.attempt = Some(attempt);
                if let Some(command) = answer {
                    self.answer(&envelope, command, trail).await?;
                }
                self.finish(trail, id, "rejected").await?;
                self.finish_blocker(id, &subject, blocker).await?;
            }
            Outcome::Skip => {
                trail.push(Hop::Consumed).status = Some("skipped".into());
                self.finish(trail, id, "skipped").await?;
                self.finish_blocker(id, &subject, blocker).await?;
            }
            Outcome::Transient {
                class,
                retry_after,
                status,
                ..
            } => {
                let last_error = clean_code(&match &status {
                    Some(s) => format!("{class}_{s}"),
                    None => class.to_string(),
                });
                let now = Utc::now();
                let first_failure = msg
                    .header_str(FIRST_FAILURE_HEADER)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or(now, |t| t.with_timezone(&Utc));
                let tier = self.next_tier(header_u32(msg, TIER_HEADER) as usize, retry_after);
                if blocker.is_none() {
                    self.deps.state.block(&self.name, &subject, id).await?;
                }
                match tier.and_then(|t| self.tiers.get(t).map(|d| (t, *d))) {
                    Some((t, delay)) => {
                        self.retry_later(msg, t, delay, attempt, first_failure, last_error, trail)
                            .await?;
                    }
                    None => {
                        self.park(
                            msg,
                            Some(&subject),
                            "retries_exhausted",
                            attempt,
                            first_failure,
                            now,
                            &last_error,
                            trail,
                        )
                        .await?;
                    }
                }
                trail.flush(&*self.deps.audit).await?;
            }
        }
        Ok(())
    }

    /// Sends the message to retry tier `t` (index), to come back after `delay`.
    #[allow(clippy::too_many_arguments)]
    async fn retry_later(
        &self,
        msg: &Message,
        t: usize,
        delay: Duration,
        attempt: u32,
        first_failure: DateTime<Utc>,
        last_error: String,
        trail: &mut Trail,
    ) -> Result<(), DeliveryError> {
        let tier = u8::try_from(t + 1).unwrap_or(u8::MAX);
        let mut retry = msg.clone();
        set_int(&mut retry, headers::ATTEMPT, attempt);
        set_int(
            &mut retry,
            TIER_HEADER,
            u32::try_from(t + 1).unwrap_or(u32::MAX),
        );
        retry.headers.insert(
            FIRST_FAILURE_HEADER.into(),
            HeaderValue::Str(first_failure.to_rfc3339()),
        );
        retry.headers.insert(
            headers::LAST_ERROR.into(),
            HeaderValue::Str(last_error.clone()),
        );
        self.deps
            .transport
            .publish(RETRY_EXCHANGE, &retry_key(&self.name, delay), &retry)
            .await?;
        telemetry::Retried {
            partner: &self.name,
            message_id: msg.id,
            tier,
            attempt,
            delay,
        }
        .emit(&self.deps.metrics);
        let e = trail.push(Hop::Retried);
        e.reason = Some(last_error);
        e.status = Some(format!("tier-{}", t + 1));
        e.attempt = Some(attempt);
        e.duration_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        Ok(())
    }
}
