//! Operator identities: a name and a role per bearer token. Only the SHA-256 of each token is
//! kept (from configuration); a presented token is hashed and compared in constant time with
//! every stored hash. Tokens are never logged or shown, except the sandbox's, once, in the
//! start banner.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::OperatorState;
use crate::problem::{ErrorCode, Problem};

/// What an operator may do. Ordered: each role may do what the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads status, failures and traces.
    Reader,
    /// And replays and discards parked messages.
    Operator,
    /// Everything an operator may (and, when they exist, the administrative actions).
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Reader, Role::Operator, Role::Admin];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `name` can be an operator's name: it goes into the audit trail as the actor, so it
/// follows the trail's code rule (1–64 of `A–Z a–z 0–9 . _ - @`).
pub fn valid_operator_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// An authenticated operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The name (the audit trail's actor).
    pub name: String,
    /// The role.
    pub role: Role,
}

impl Operator {
    /// `Ok` when this operator's role is at least `needed`, else 403 `role_not_permitted`.
    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(Problem::new(ErrorCode::RoleNotPermitted).detail(format!(
                "this needs the role {needed} or higher; the token's role is {}",
                self.role
            )))
        }
    }
}

/// A generated sandbox token, for the banner.
#[derive(Clone)]
pub struct OperatorCredential {
    /// The operator's name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The bearer token.
    pub token: String,
}

impl fmt::Debug for OperatorCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorCredential")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

struct Entry {
    name: String,
    role: Role,
    token_sha256: [u8; 32],
}

/// The operators by token hash.
#[derive(Default)]
pub struct OperatorRegistry {
    operators: Vec<Entry>,
}

impl fmt::Debug for OperatorRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorRegistry")
            .field("operators", &self.operators.len())
            .finish()
    }
}

/// SHA-256 of a token (what the configuration holds: `printf %s "$TOKEN" | sha256sum`).
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl OperatorRegistry {
    /// No operators: every call is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an operator by the SHA-256 of its token.
    pub fn insert_hashed(&mut self, name: impl Into<String>, role: Role, token_sha256: [u8; 32]) {
        self.operators.push(Entry {
            name: name.into(),
            role,
            token_sha256,
        });
    }

    /// One random token per role (`sandbox-reader`, `sandbox-operator`, `sandbox-admin`).
    pub fn sandbox() -> (Self, Vec<OperatorCredential>) {
        let mut registry = Self::new();
        let mut credentials = Vec::new();
        for role in Role::ALL {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token = URL_SAFE_NO_PAD.encode(bytes);
            let name = format!("sandbox-{role}");
            registry.insert_hashed(name.clone(), role, token_sha256(&token));
            credentials.push(OperatorCredential { name, role, token });
        }
        (registry, credentials)
    }

    /// How many operators there are.
    pub fn len(&self) -> usize {
        self.operators.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }

    /// The operator whose token this is. Every stored hash is compared, in constant time, so
    /// the time taken tells nothing about which (or whether one) matched.
    pub fn authenticate(&self, token: &str) -> Option<Operator> {
        let given = token_sha256(token);
        let mut found = None;
        for e in &self.operators {
            let diff = given
                .iter()
                .zip(e.token_sha256.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(Operator {
                    name: e.name.clone(),
                    role: e.role,
                });
            }
        }
        found
    }
}

fn unauthorized(code: ErrorCode, detail: &str) -> Problem {
    Problem::new(code).detail(detail).header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"knooppunt-operator\""),
    )
}

impl FromRequestParts<OperatorState> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &OperatorState) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                ErrorCode::MissingToken,
                "send Authorization: Bearer <operator token>",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| unauthorized(ErrorCode::InvalidToken, "expected a Bearer token"))?;
        state
            .operators
            .authenticate(token)
            .ok_or_else(|| unauthorized(ErrorCode::InvalidToken, "unknown operator token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_and_roles_are_ordered() {
        let (registry, creds) = OperatorRegistry::sandbox();
        assert_eq!(creds.len(), 3);
        for c in &creds {
            let op = registry.authenticate(&c.token).unwrap();
            assert_eq!((op.name.as_str(), op.role), (c.name.as_str(), c.role));
            assert!(
                !format!("{c:?}").contains(&c.token),
                "tokens are not in Debug"
            );
        }
        assert!(registry.authenticate("nope").is_none());
        assert!(registry.authenticate("").is_none());
        let reader = registry.authenticate(&creds[0].token).unwrap();
        assert!(reader.require(Role::Reader).is_ok());
        let e = reader.require(Role::Operator).unwrap_err();
        assert_eq!(e.code, ErrorCode::RoleNotPermitted);
        let admin = registry.authenticate(&creds[2].token).unwrap();
        assert!(admin.require(Role::Operator).is_ok());
    }

    #[test]
    fn operator_names_are_audit_codes() {
        assert!(valid_operator_name("alice"));
        assert!(valid_operator_name("j.de-vries@noc"));
        assert!(!valid_operator_name(""));
        assert!(!valid_operator_name("Jan Jansen"));
        assert!(!valid_operator_name(&"a".repeat(65)));
    }
}
