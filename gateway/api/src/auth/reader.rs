//! The extractor of the student reads: [`Reader`], an institution or a bevoegd gezag. Every
//! other endpoint takes [`Caller`], which refuses a bevoegd gezag's token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use knooppunt_registry::envelope::Actor;
use knooppunt_registry::ids::{Oin, OnderwijsbestuurCode};

use super::{Caller, invalid_token, verified_claims};
use crate::ApiState;
use crate::problem::Problem;

/// A bevoegd gezag behind a request.
#[derive(Debug, Clone)]
pub struct BestuurCaller {
    /// Its OIN.
    pub oin: Oin,
    /// Its onderwijsbestuurcode.
    pub bestuur: OnderwijsbestuurCode,
}

/// Whoever may read students: an institution or a bevoegd gezag (the extractor of the student
/// reads; every other endpoint takes [`Caller`]).
#[derive(Debug, Clone)]
pub enum Reader {
    /// An institution (also as guest institution or samenwerkingsschool).
    Institution(Caller),
    /// A bevoegd gezag.
    BevoegdGezag(BestuurCaller),
}

impl Reader {
    /// The registry actor it reads as.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Institution(c) => c.actor(),
            Self::BevoegdGezag(b) => Actor::BevoegdGezag {
                bestuur: b.bestuur.clone(),
            },
        }
    }

    /// The actor as written in audit records (ids only).
    pub fn audit_actor(&self) -> String {
        match self {
            Self::Institution(c) => c.audit_actor(),
            Self::BevoegdGezag(b) => format!("bevoegd_gezag:{}", b.bestuur.as_str()),
        }
    }

    /// The institution, when it is one.
    pub fn institution(&self) -> Option<&Caller> {
        match self {
            Self::Institution(c) => Some(c),
            Self::BevoegdGezag(_) => None,
        }
    }
}

impl FromRequestParts<ApiState> for Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let claims = verified_claims(parts, state).await?;
        if claims.bestuur.is_some()
            && let Some(b) = state.clients.get_bestuur(&claims.sub)
        {
            return Ok(Self::BevoegdGezag(BestuurCaller {
                oin: b.oin.clone(),
                bestuur: b.bestuur.clone(),
            }));
        }
        match state.clients.get(&claims.sub) {
            Some(client) if claims.bestuur.is_none() => Ok(Self::Institution(Caller {
                oin: client.oin.clone(),
                brin: client.brin.clone(),
            })),
            _ => Err(invalid_token("the token is not valid for this client")),
        }
    }
}
