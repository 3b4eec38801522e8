//! How a registry rejection is answered.

use axum::http::StatusCode;
use knooppunt_registry::domain::Rejection;

use crate::problem::Problem;

/// How a registry rejection is answered: 404 for what the caller may not know about, 409 for
/// conflicts with the current state, 403 for the policy, 422 for the rest. Never 500.
pub fn rejection_problem(r: &Rejection) -> Problem {
    let status = match r {
        Rejection::UnknownAanmelding { .. } | Rejection::DossierNotFound => {
            return Problem::not_found("aanmelding");
        }
        Rejection::InvalidTransition { .. }
        | Rejection::AanmeldingExists { .. }
        | Rejection::DuplicateAanmelding { .. }
        | Rejection::DossierAlreadyOpen
        | Rejection::Unchanged => StatusCode::CONFLICT,
        Rejection::NotPermitted { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Problem::new(status, r.code(), "Refused by the registry").detail(r.to_string())
}
