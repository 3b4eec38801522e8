//! The console's pages: each renders the view its JSON endpoint returns.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::{Layout, OrPage, PageError, Session, render, when};
use crate::operator::replay::{MessageOutcome, ReplayJob};
use crate::operator::views::{ParkedGroups, ParkedView, StatusView, TraceView};
use crate::operator::{OperatorState, handlers};

/// Seconds between live refreshes of the status and replay job pages.
const REFRESH_SECONDS: u32 = 10;

#[derive(Template)]
#[template(path = "status.html", config = "src/operator/console/askama.toml")]
struct StatusPage {
    layout: Layout,
    view: StatusView,
    generated: String,
}

/// `GET /console/status`.
pub async fn status(
    who: Session,
    State(state): State<OperatorState>,
) -> Result<Response, PageError> {
    let view = handlers::status_view(&state).await.or_page(&who)?;
    Ok(render(&StatusPage {
        layout: Layout::new("Status", "/console/status", &who).live(REFRESH_SECONDS),
        view,
        generated: when(&Utc::now()),
    }))
}

#[derive(Template)]
#[template(path = "failures.html", config = "src/operator/console/askama.toml")]
struct FailuresPage {
    layout: Layout,
    view: ParkedGroups,
}

/// `GET /console/failures`.
pub async fn failures(
    who: Session,
    State(state): State<OperatorState>,
) -> Result<Response, PageError> {
    let view = handlers::parked_groups_view(&state).await.or_page(&who)?;
    Ok(render(&FailuresPage {
        layout: Layout::new("Failures", "/console/failures", &who),
        view,
    }))
}

/// `?reason=` of the consumer page.
#[derive(Debug, Deserialize)]
pub struct ReasonFilter {
    /// Only the messages parked for this reason.
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "consumer.html", config = "src/operator/console/askama.toml")]
struct ConsumerPage {
    layout: Layout,
    consumer: String,
    reason: Option<String>,
    messages: Vec<ParkedView>,
    rate_per_second: f64,
    wait_seconds: u64,
}

/// `GET /console/failures/{consumer}`.
pub async fn consumer(
    who: Session,
    State(state): State<OperatorState>,
    Path(consumer): Path<String>,
    Query(filter): Query<ReasonFilter>,
) -> Result<Response, PageError> {
    let mut messages = handlers::parked_of_view(&state, &consumer)
        .await
        .or_page(&who)?;
    let reason = filter.reason.filter(|r| !r.is_empty());
    if let Some(r) = &reason {
        messages.retain(|m| &m.reason == r);
    }
    let title = match &reason {
        Some(r) => format!("Failures at {consumer}: {r}"),
        None => format!("Failures at {consumer}"),
    };
    Ok(render(&ConsumerPage {
        layout: Layout::new(title, "/console/failures", &who),
        consumer,
        reason,
        messages,
        rate_per_second: state.limits.rate_per_second,
        wait_seconds: state.limits.outcome_wait.as_secs(),
    }))
}

#[derive(Template)]
#[template(path = "message.html", config = "src/operator/console/askama.toml")]
struct MessagePage {
    layout: Layout,
    view: ParkedView,
    wait_seconds: u64,
}

/// `GET /console/failures/{consumer}/{message_id}`.
pub async fn message(
    who: Session,
    State(state): State<OperatorState>,
    Path((consumer, message_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let view = handlers::parked_one_view(&state, &consumer, &message_id)
        .await
        .or_page(&who)?;
    Ok(render(&MessagePage {
        layout: Layout::new(
            format!("Parked message {}", view.message_id),
            "/console/failures",
            &who,
        ),
        view,
        wait_seconds: state.limits.outcome_wait.as_secs(),
    }))
}

#[derive(Template)]
#[template(path = "trace.html", config = "src/operator/console/askama.toml")]
struct TracePage {
    layout: Layout,
    view: TraceView,
}

/// `GET /console/trace/{message_id}`.
pub async fn trace(
    who: Session,
    State(state): State<OperatorState>,
    Path(message_id): Path<String>,
) -> Result<Response, PageError> {
    let view = handlers::trace_view(&state, &message_id)
        .await
        .or_page(&who)?;
    Ok(render(&TracePage {
        layout: Layout::new(
            format!("Trace of {}", view.message_id),
            "/console/failures",
            &who,
        ),
        view,
    }))
}

#[derive(Template)]
#[template(path = "job.html", config = "src/operator/console/askama.toml")]
struct JobPage {
    layout: Layout,
    job: ReplayJob,
}

/// `GET /console/replays/{job_id}`: refreshes live until the job is finished.
pub async fn replay_job(
    who: Session,
    State(state): State<OperatorState>,
    Path(job_id): Path<String>,
) -> Result<Response, PageError> {
    let job = handlers::replay_job_view(&state, &job_id).or_page(&who)?;
    let mut layout = Layout::new(
        format!("Replay job {}", job.job_id),
        "/console/failures",
        &who,
    );
    if !job.finished {
        layout = layout.live(1);
    }
    Ok(render(&JobPage { layout, job }))
}

/// A replayed message's outcome as the job page shows it (the JSON API's words).
pub(super) fn outcome(o: &MessageOutcome) -> &'static str {
    match o {
        MessageOutcome::Pending => "pending",
        MessageOutcome::Delivered => "delivered",
        MessageOutcome::Rejected => "rejected",
        MessageOutcome::Failed => "failed",
        MessageOutcome::Skipped => "skipped",
        MessageOutcome::NotParked => "not_parked",
        MessageOutcome::Error => "error",
    }
}
