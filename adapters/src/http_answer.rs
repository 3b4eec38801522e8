//! The outcome of one HTTP answer of a partner: every [`Outcome`] of an attempt carries the
//! endpoint and the status, and each partner's `classify.rs` decides only the class and reason.

use std::time::Duration;

use knooppunt_registry::domain::Command;

use crate::{Outcome, PermanentClass, TransientClass};

/// A partner's answer: where it came from and its HTTP status.
#[derive(Debug, Clone, Copy)]
pub struct HttpAnswer<'a> {
    /// The endpoint called.
    pub endpoint: &'a str,
    /// The HTTP status.
    pub status: u16,
}

impl HttpAnswer<'_> {
    /// Try again (`retry_after`: the partner's `Retry-After`, when it gave one).
    pub fn transient(&self, class: TransientClass, retry_after: Option<Duration>) -> Outcome {
        Outcome::Transient {
            class,
            retry_after,
            status: Some(self.status.to_string()),
            endpoint: self.endpoint.to_owned(),
            error: format!("http_{}", self.status),
        }
    }

    /// Never again, for `reason` (a code, never a value).
    pub fn permanent(&self, class: PermanentClass, reason: impl Into<String>) -> Outcome {
        self.permanent_answered(class, reason, None)
    }

    /// Never again, for `reason`, with the partner's answer to record all the same (a business
    /// refusal the registry must know).
    pub fn permanent_answered(
        &self,
        class: PermanentClass,
        reason: impl Into<String>,
        answer: Option<Command>,
    ) -> Outcome {
        Outcome::Permanent {
            class,
            reason: reason.into(),
            answer,
            status: Some(self.status.to_string()),
            endpoint: self.endpoint.to_owned(),
        }
    }
}
