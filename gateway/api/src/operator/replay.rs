//! Staged replay: a canary of N parked messages first; once every canary is delivered, the rest
//! at a capped rate, stopping at the first failure. A replay runs as a job on the node (the
//! request answers 202 with the job, `GET /ops/v1/replays/{id}` follows it), so a large group
//! does not hold an HTTP request open.
//!
//! Each message goes through [`FailedMessages::replay`] (taken out of the parked set, recorded
//! `replayed` with the operator and reason) and then [`Redelivery::republish`] (back onto the
//! consumer's work queue, still the blocker of its student, so the messages held behind it
//! follow in order once it is delivered). Its outcome is read from its audit chain: the first
//! `delivered`, `rejected`, `retried` or `parked` record after the `replayed` one.
//!
//! Jobs live in memory: a restart forgets them, not their effect. What was replayed is in the
//! audit trail; what was not is still parked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use knooppunt_ops::audit::{AuditEntry, Hop};
use knooppunt_ops::{FailedMessages, OperatorAction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::OperatorState;

/// How many finished jobs are kept for `GET /ops/v1/replays/{id}`.
const KEPT_JOBS: usize = 100;

/// What a replay job was asked to do (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayPlan {
    /// The consumer.
    pub consumer: String,
    /// The messages, in replay order (oldest last failure first).
    pub messages: Vec<Uuid>,
    /// How many go first, alone.
    pub canary: usize,
    /// At most this many messages per second after the canary.
    pub rate_per_second: f64,
    /// How long to wait for an outcome (the canary's, and the last ones' at the end).
    pub outcome_wait: Duration,
    /// Who and why.
    pub action: OperatorAction,
    /// How the messages were chosen (for the view).
    pub selection: Selection,
}

/// How the messages of a job were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// One message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// The parked messages of this reason (with no `message_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub park_reason: Option<String>,
}

/// The outcome of one replayed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageOutcome {
    /// Back on the work queue; no outcome yet.
    Pending,
    /// The partner accepted it.
    Delivered,
    /// The partner refused its content (a business outcome; it is not parked again).
    Rejected,
    /// It failed again: back in a retry tier or parked again.
    Failed,
    /// The partner did not need it (the adapter skipped it), or it had been handled already.
    Skipped,
    /// It was no longer parked when its turn came (replayed or discarded by someone else).
    NotParked,
    /// It could not be put back on the queue (the bus failed); it is parked again.
    Error,
}

impl MessageOutcome {
    fn settled_ok(self) -> bool {
        matches!(self, Self::Delivered | Self::Skipped | Self::NotParked)
    }

    fn is_failure(self) -> bool {
        matches!(self, Self::Rejected | Self::Failed | Self::Error)
    }
}

/// One message of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The message id.
    pub message_id: Uuid,
    /// Its outcome so far.
    pub outcome: MessageOutcome,
}

/// A replay job as `POST /ops/v1/replay` and `GET /ops/v1/replays/{id}` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayJob {
    /// The job id.
    pub job_id: Uuid,
    /// The consumer.
    pub consumer: String,
    /// How the messages were chosen.
    pub selection: Selection,
    /// The operator.
    pub actor: String,
    /// `canary`, `rest` or `finished`.
    pub phase: String,
    /// Whether the job is over.
    pub finished: bool,
    /// Messages chosen.
    pub selected: usize,
    /// Canary size.
    pub canary: usize,
    /// The rate cap after the canary.
    pub rate_per_second: f64,
    /// Messages put back on the queue.
    pub replayed: usize,
    /// Of those: accepted by the partner.
    pub delivered: usize,
    /// Refused by the partner.
    pub rejected: usize,
    /// Failed again (retrying or parked again).
    pub failed: usize,
    /// No outcome within the wait.
    pub pending: usize,
    /// Skipped by the adapter or handled already.
    pub skipped: usize,
    /// No longer parked when their turn came.
    pub not_parked: usize,
    /// Not replayed: still parked (after a stop).
    pub left_parked: usize,
    /// Why the job stopped early, if it did.
    pub stopped: Option<String>,
    /// Per message, in replay order.
    pub messages: Vec<JobMessage>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

impl ReplayJob {
    fn new(id: Uuid, plan: &ReplayPlan) -> Self {
        Self {
            job_id: id,
            consumer: plan.consumer.clone(),
            selection: plan.selection.clone(),
            actor: plan.action.actor.clone(),
            phase: "canary".into(),
            finished: false,
            selected: plan.messages.len(),
            canary: plan.canary,
            rate_per_second: plan.rate_per_second,
            replayed: 0,
            delivered: 0,
            rejected: 0,
            failed: 0,
            pending: 0,
            skipped: 0,
            not_parked: 0,
            left_parked: plan.messages.len(),
            stopped: None,
            messages: Vec::new(),
            started_at: Utc::now(),
            finished_at: None,
        }
    }

    /// Recounts the totals from the per-message outcomes.
    fn recount(&mut self) {
        let count = |o: MessageOutcome| self.messages.iter().filter(|m| m.outcome == o).count();
        self.delivered = count(MessageOutcome::Delivered);
        self.rejected = count(MessageOutcome::Rejected);
        self.failed = count(MessageOutcome::Failed) + count(MessageOutcome::Error);
        self.pending = count(MessageOutcome::Pending);
        self.skipped = count(MessageOutcome::Skipped);
        self.not_parked = count(MessageOutcome::NotParked);
        self.replayed = self.messages.len() - self.not_parked;
        self.left_parked = self.selected - self.messages.len() + count(MessageOutcome::Error);
    }
}

/// The node's replay jobs (in memory; the most recent [`KEPT_JOBS`]).
#[derive(Debug, Default)]
pub struct ReplayJobs {
    jobs: Mutex<BTreeMap<Uuid, Arc<Mutex<ReplayJob>>>>,
}

impl ReplayJobs {
    /// A job's current view.
    pub fn get(&self, id: Uuid) -> Option<ReplayJob> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(&id)
            .map(|j| j.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    fn insert(&self, job: ReplayJob) -> Arc<Mutex<ReplayJob>> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        // Job ids are v7: the first key is the oldest.
        while jobs.len() >= KEPT_JOBS {
            let Some(oldest) = jobs.keys().next().copied() else {
                break;
            };
            jobs.remove(&oldest);
        }
        let id = job.job_id;
        let job = Arc::new(Mutex::new(job));
        jobs.insert(id, job.clone());
        job
    }
}

/// Starts a job for `plan`; returns its first view.
pub fn start(state: &OperatorState, plan: ReplayPlan) -> ReplayJob {
    let id = Uuid::now_v7();
    let view = ReplayJob::new(id, &plan);
    let job = state.replays.insert(view.clone());
    let state = state.clone();
    tokio::spawn(async move {
        run(&state, &plan, &job).await;
        let mut j = job.lock().unwrap_or_else(|e| e.into_inner());
        j.recount();
        j.phase = "finished".into();
        j.finished = true;
        j.finished_at = Some(Utc::now());
        tracing::info!(
            job_id = %j.job_id,
            consumer = %j.consumer,
            actor = %j.actor,
            replayed = j.replayed,
            delivered = j.delivered,
            failed = j.failed + j.rejected,
            left_parked = j.left_parked,
            "replay job finished"
        );
    });
    view
}

fn update(job: &Mutex<ReplayJob>, f: impl FnOnce(&mut ReplayJob)) {
    let mut j = job.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut j);
    j.recount();
}

fn stop(job: &Mutex<ReplayJob>, why: String) {
    update(job, |j| {
        if j.stopped.is_none() {
            j.stopped = Some(why);
        }
    });
}

async fn run(state: &OperatorState, plan: &ReplayPlan, job: &Mutex<ReplayJob>) {
    let failed = FailedMessages::new(state.state.clone(), state.audit.clone());
    let (canary, rest) = plan.messages.split_at(plan.canary.min(plan.messages.len()));
    for id in canary {
        replay_one(state, &failed, plan, *id, job).await;
    }
    let deadline = tokio::time::Instant::now() + plan.outcome_wait;
    if !wait_outcomes(state, plan, job, Some(deadline), true).await {
        let why = match first_not_ok(job) {
            Some((id, MessageOutcome::Pending)) => format!(
                "canary {id} had no outcome within {} s; the rest stay parked",
                plan.outcome_wait.as_secs()
            ),
            Some((id, o)) => format!("canary {id} {}; the rest stay parked", outcome_text(o)),
            None => "stopped".to_owned(),
        };
        stop(job, why);
        return;
    }
    update(job, |j| j.phase = "rest".into());
    let interval = Duration::from_secs_f64(1.0 / plan.rate_per_second);
    for id in rest {
        if state.shutdown.is_cancelled() {
            stop(
                job,
                "the node is shutting down; the rest stay parked".into(),
            );
            return;
        }
        // Stop at the first failure seen so far.
        wait_outcomes(state, plan, job, None, false).await;
        if let Some((failed_id, o)) = first_failure(job) {
            stop(
                job,
                format!("{failed_id} {}; the rest stay parked", outcome_text(o)),
            );
            break;
        }
        let started = tokio::time::Instant::now();
        replay_one(state, &failed, plan, *id, job).await;
        tokio::time::sleep_until(started + interval).await;
    }
    // The last ones' outcomes, within the wait.
    let deadline = tokio::time::Instant::now() + plan.outcome_wait;
    wait_outcomes(state, plan, job, Some(deadline), false).await;
    if let Some((failed_id, o)) = first_failure(job) {
        stop(
            job,
            format!("{failed_id} {}; the rest stay parked", outcome_text(o)),
        );
    }
}

fn outcome_text(o: MessageOutcome) -> &'static str {
    match o {
        MessageOutcome::Rejected => "was refused by the partner",
        MessageOutcome::Failed => "failed again (retrying, or parked again)",
        MessageOutcome::Error => "could not be put back on the queue (parked again)",
        MessageOutcome::Pending => "has no outcome yet",
        _ => "finished",
    }
}

fn first_failure(job: &Mutex<ReplayJob>) -> Option<(Uuid, MessageOutcome)> {
    let j = job.lock().unwrap_or_else(|e| e.into_inner());
    j.messages
        .iter()
        .find(|m| m.outcome.is_failure())
        .map(|m| (m.message_id, m.outcome))
}

fn first_not_ok(job: &Mutex<ReplayJob>) -> Option<(Uuid, MessageOutcome)> {
    let j = job.lock().unwrap_or_else(|e| e.into_inner());
    j.messages
        .iter()
        .find(|m| !m.outcome.settled_ok())
        .map(|m| (m.message_id, m.outcome))
}

async fn replay_one(
    state: &OperatorState,
    failed: &FailedMessages,
    plan: &ReplayPlan,
    id: Uuid,
    job: &Mutex<ReplayJob>,
) {
    let outcome = match failed.replay(&plan.consumer, id, &plan.action).await {
        Ok(None) => MessageOutcome::NotParked,
        Ok(Some(parked)) => match state.redelivery.republish(&parked).await {
            Ok(()) => MessageOutcome::Pending,
            Err(e) => {
                tracing::warn!(consumer = %plan.consumer, message_id = %id, error = %e, "replay: republishing failed; parked again");
                if let Err(e) = state.state.park(parked).await {
                    tracing::error!(consumer = %plan.consumer, message_id = %id, error = %e, "replay: parking again failed; the message is in the audit trail as replayed");
                }
                MessageOutcome::Error
            }
        },
        Err(e) => {
            tracing::warn!(consumer = %plan.consumer, message_id = %id, error = %e, "replay: taking the parked message failed");
            MessageOutcome::Error
        }
    };
    update(job, |j| {
        j.messages.push(JobMessage {
            message_id: id,
            outcome,
        })
    });
}

/// Reads the outcome of every pending message from its audit chain. With a `deadline`, polls
/// until none is pending (or, with `stop_on_failure`, one failed) or the deadline passes;
/// without, looks once. Returns whether every message settled well.
async fn wait_outcomes(
    state: &OperatorState,
    plan: &ReplayPlan,
    job: &Mutex<ReplayJob>,
    deadline: Option<tokio::time::Instant>,
    stop_on_failure: bool,
) -> bool {
    loop {
        let pending: Vec<Uuid> = {
            let j = job.lock().unwrap_or_else(|e| e.into_inner());
            j.messages
                .iter()
                .filter(|m| m.outcome == MessageOutcome::Pending)
                .map(|m| m.message_id)
                .collect()
        };
        for id in pending {
            let o = outcome(state, &plan.consumer, id).await;
            if o != MessageOutcome::Pending {
                update(job, |j| {
                    if let Some(m) = j.messages.iter_mut().find(|m| m.message_id == id) {
                        m.outcome = o;
                    }
                });
            }
        }
        let (all_ok, any_pending, any_failed) = {
            let j = job.lock().unwrap_or_else(|e| e.into_inner());
            (
                j.messages.iter().all(|m| m.outcome.settled_ok()),
                j.messages
                    .iter()
                    .any(|m| m.outcome == MessageOutcome::Pending),
                j.messages.iter().any(|m| m.outcome.is_failure()),
            )
        };
        let Some(deadline) = deadline else {
            return all_ok;
        };
        if !any_pending
            || (stop_on_failure && any_failed)
            || tokio::time::Instant::now() >= deadline
            || state.shutdown.is_cancelled()
        {
            return all_ok;
        }
        tokio::time::sleep(state.limits.outcome_poll).await;
    }
}

/// The outcome of a replayed message: the first `delivered`, `rejected`, `retried` or `parked`
/// record of its chain after its last `replayed` record.
async fn outcome(state: &OperatorState, consumer: &str, id: Uuid) -> MessageOutcome {
    let records = match state.audit.chain(&AuditEntry::message_chain(id)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(message_id = %id, error = %e, "replay: reading the audit chain failed");
            return MessageOutcome::Pending;
        }
    };
    let ours = |p: &Option<String>| p.as_deref().is_none_or(|p| p == consumer);
    let Some(start) = records
        .iter()
        .rposition(|r| r.entry.hop == Hop::Replayed && ours(&r.entry.partner))
    else {
        return MessageOutcome::Pending;
    };
    for r in &records[start + 1..] {
        if !ours(&r.entry.partner) {
            continue;
        }
        let e = &r.entry;
        match e.hop {
            Hop::Delivered => return MessageOutcome::Delivered,
            Hop::Rejected => return MessageOutcome::Rejected,
            Hop::Retried | Hop::Parked => return MessageOutcome::Failed,
            Hop::Consumed
                if e.status.as_deref() == Some("skipped")
                    || e.reason.as_deref() == Some("duplicate") =>
            {
                return MessageOutcome::Skipped;
            }
            _ => {}
        }
    }
    MessageOutcome::Pending
}
