//! Step 1 of a message: the inbox (a duplicate is acknowledged and nothing else), decoding (an
//! undecodable body is parked), and the per-student order (a message behind an earlier one that
//! is retrying or parked is held).

use super::*;

/// What admission decided.
pub(super) enum Admission {
    /// Nothing more to do here: a duplicate, an undecodable message (parked) or a held one.
    Settled,
    /// To be attempted.
    Proceed(Admitted),
}

/// A message that may be attempted now.
pub(super) struct Admitted {
    /// The decoded event.
    pub(super) envelope: EventEnvelope,
    /// The student's dossier key, as text (the delivery state's key).
    pub(super) subject: String,
    /// The message that blocks this subject, if any (this one, when it is a retry).
    pub(super) blocker: Option<Uuid>,
}

impl DeliveryRuntime {
    pub(super) async fn admit(
        &self,
        msg: &Message,
        trail: &mut Trail,
    ) -> Result<Admission, DeliveryError> {
        let id = msg.id;
        let st = &self.deps.state;
        // The inbox and the subject's blocker are looked up side by side (two reads, one wait),
        // using the subject the message carries as a header; it is checked against the body
        // below and looked up again if the two differ.
        let header_subject = msg.header_str(headers::SUBJECT).map(str::to_owned);
        let (seen, early_blocker) = match &header_subject {
            Some(s) => {
                let (seen, blocker) =
                    tokio::join!(st.seen(&self.name, id), st.blocker(&self.name, s));
                (seen?, Some(blocker?))
            }
            None => (st.seen(&self.name, id).await?, None),
        };
        if seen {
            trail.push(Hop::Consumed).reason = Some("duplicate".into());
            trail.flush(&*self.deps.audit).await?;
            telemetry::DuplicateIgnored {
                partner: &self.name,
                message_id: id,
            }
            .emit();
            return Ok(Admission::Settled);
        }
        let envelope: EventEnvelope = match serde_json::from_slice(&msg.body) {
            Ok(e) => e,
            Err(e) => {
                telemetry::Undecodable {
                    partner: &self.name,
                    message_id: id,
                    line: e.line(),
                    column: e.column(),
                }
                .emit();
                let now = Utc::now();
                self.park(
                    msg,
                    None,
                    "undecodable",
                    header_u32(msg, headers::ATTEMPT),
                    now,
                    now,
                    "undecodable_body",
                    trail,
                )
                .await?;
                trail.flush(&*self.deps.audit).await?;
                return Ok(Admission::Settled);
            }
        };
        let subject = envelope.meta.subject;
        let subject_s = subject.to_string();
        trail.subject = Some(subject);
        trail.push(Hop::Consumed);

        // Ordering: never overtake an earlier message about this student that is retrying or parked.
        let blocker = match early_blocker {
            Some(b) if header_subject.as_deref() == Some(subject_s.as_str()) => b,
            _ => st.blocker(&self.name, &subject_s).await?,
        };
        // `hold` re-checks the blocker atomically: when the earlier message finished in the
        // meantime nothing is stored and this message is delivered now, so it cannot wait forever.
        if blocker.is_some_and(|b| b != id) && st.hold(&self.name, &subject_s, to_held(msg)).await?
        {
            trail.push(Hop::Held).reason = Some("behind_earlier_message".into());
            trail.flush(&*self.deps.audit).await?;
            self.update_waiting().await;
            return Ok(Admission::Settled);
        }
        Ok(Admission::Proceed(Admitted {
            envelope,
            subject: subject_s,
            blocker,
        }))
    }
}
