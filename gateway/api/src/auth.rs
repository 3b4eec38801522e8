//! Authentication of institutions: OAuth2 client credentials (`client_id` = the institution's
//! OIN) bound to the mTLS client certificate (subject `serialNumber` = the same OIN), and the
//! stateless bearer tokens the token endpoint issues.
//!
//! - [`ClientRegistry`] holds each client's OIN, BRIN and the SHA-256 of its secret (never the
//!   secret itself); secrets are compared in constant time.
//! - [`TokenIssuer`] signs tokens with HMAC-SHA256: `base64url(claims).base64url(mac)`, claims
//!   `{sub, brin, iat, exp, jti}`. Verification is constant-time (`Mac::verify_slice`).
//! - [`Caller`] is the extractor every API handler takes: a valid bearer token and, when the
//!   state requires client certificates, a [`PeerIdentity`] whose OIN is the token's subject.
//! - A bevoegd gezag (onderwijsbestuur) is a client of its own kind ([`BestuurClient`], by OIN
//!   and RIO onderwijsbestuurcode): its token carries the `bestuur` claim, [`Caller`] refuses it
//!   (403 `not_permitted`) and only the student reads take it, through [`Reader`].

use std::collections::BTreeMap;
use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use knooppunt_registry::envelope::Actor;
use knooppunt_registry::ids::{Brin, Oin, OnderwijsbestuurCode};
use knooppunt_registry::reference::ReferenceData;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ApiState;
use super::problem::{ErrorCode, Problem};
use super::tls::PeerIdentity;

mod reader;

pub use self::reader::{BestuurCaller, Reader};

type HmacSha256 = Hmac<Sha256>;

/// Default token lifetime.
pub const DEFAULT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Why a client configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// A client's field is invalid.
    #[error("api.clients[{index}].{field}: {reason}")]
    Client {
        /// Position in the configured list.
        index: usize,
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The token key is invalid.
    #[error("api.token_key: {0}")]
    TokenKey(String),
}

/// One configured OAuth2 client (from the configuration file). The secret is given either as
/// plain text (sandbox) or as its hex SHA-256.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The institution's OIN (the `client_id`).
    pub oin: String,
    /// The institution's BRIN.
    pub brin: String,
    /// Hex SHA-256 of the client secret.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// The client secret in plain text (sandbox only; prefer `secret_sha256`).
    #[serde(default)]
    pub secret: Option<String>,
}

/// A registered OAuth2 client.
#[derive(Clone)]
pub struct Client {
    /// The institution's OIN (`client_id`).
    pub oin: Oin,
    /// The institution's BRIN (instelling level).
    pub brin: Brin,
    secret_sha256: [u8; 32],
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("oin", &self.oin)
            .field("brin", &self.brin)
            .finish_non_exhaustive()
    }
}

/// Credentials of a sandbox client, printed at start of `knooppunt serve` in sandbox mode.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxCredential {
    /// BRIN.
    pub brin: String,
    /// Name of the institution.
    pub naam: String,
    /// OIN.
    pub oin: String,
    /// The `client_id` (= OIN).
    pub client_id: String,
    /// The generated client secret.
    pub client_secret: String,
}

/// The institutions' OAuth2 clients by OIN.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    clients: BTreeMap<String, Client>,
    besturen: BTreeMap<String, BestuurClient>,
}

/// A registered OAuth2 client of a bevoegd gezag (onderwijsbestuur): it reads what the access
/// policy gives the bestuur of an enrolling institution, and changes nothing.
#[derive(Clone)]
pub struct BestuurClient {
    /// The bestuur's OIN (`client_id`).
    pub oin: Oin,
    /// Its RIO onderwijsbestuurcode, e.g. `100B490`.
    pub bestuur: OnderwijsbestuurCode,
    secret_sha256: [u8; 32],
}

impl fmt::Debug for BestuurClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BestuurClient")
            .field("oin", &self.oin)
            .field("bestuur", &self.bestuur)
            .finish_non_exhaustive()
    }
}

/// Credentials of a sandbox bevoegd gezag client, printed at start in sandbox mode.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxBestuurCredential {
    /// RIO onderwijsbestuurcode.
    pub bestuur: String,
    /// The BRINs of its institutions in the reference data.
    pub instellingen: Vec<String>,
    /// The `client_id` (the OIN made up for the sandbox: `00000001000` + code + `00`).
    pub client_id: String,
    /// The generated client secret.
    pub client_secret: String,
}

/// Who a client is: an institution or a bevoegd gezag.
#[derive(Debug, Clone, Copy)]
pub enum ClientIdentity<'a> {
    /// An institution.
    Institution(&'a Client),
    /// A bevoegd gezag.
    BevoegdGezag(&'a BestuurClient),
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equality of two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a client with the SHA-256 of its secret.
    pub fn insert_hashed(&mut self, oin: Oin, brin: Brin, secret_sha256: [u8; 32]) {
        let brin = brin.instelling();
        self.besturen.remove(oin.as_str());
        self.clients.insert(
            oin.as_str().to_owned(),
            Client {
                oin,
                brin,
                secret_sha256,
            },
        );
    }

    /// Adds (or replaces) a client with a plain secret (kept only as its SHA-256).
    pub fn insert(&mut self, oin: Oin, brin: Brin, secret: &str) {
        self.insert_hashed(oin, brin, sha256(secret.as_bytes()));
    }

    /// Adds (or replaces) a bevoegd gezag client with the SHA-256 of its secret. An OIN is one
    /// client: an institution client of the same OIN is removed.
    pub fn insert_bestuur_hashed(
        &mut self,
        oin: Oin,
        bestuur: OnderwijsbestuurCode,
        secret_sha256: [u8; 32],
    ) {
        self.clients.remove(oin.as_str());
        self.besturen.insert(
            oin.as_str().to_owned(),
            BestuurClient {
                oin,
                bestuur,
                secret_sha256,
            },
        );
    }

    /// Adds (or replaces) a bevoegd gezag client with a plain secret (kept only as its SHA-256).
    pub fn insert_bestuur(&mut self, oin: Oin, bestuur: OnderwijsbestuurCode, secret: &str) {
        self.insert_bestuur_hashed(oin, bestuur, sha256(secret.as_bytes()));
    }

    /// The sandbox OIN of a bevoegd gezag: `00000001000` + its code + `00` (a real bestuur's
    /// OIN comes from its KvK registration and is configured).
    pub fn sandbox_bestuur_oin(bestuur: &OnderwijsbestuurCode) -> Option<Oin> {
        format!("00000001000{}00", bestuur.as_str()).parse().ok()
    }

    /// One client per bevoegd gezag of the institutions in the reference data, each with a
    /// random secret (the sandbox's besturen).
    pub fn sandbox_besturen(&mut self, reference: &ReferenceData) -> Vec<SandboxBestuurCredential> {
        let mut by_bestuur: BTreeMap<OnderwijsbestuurCode, Vec<String>> = BTreeMap::new();
        for inst in reference.institutions.values() {
            by_bestuur
                .entry(inst.bevoegd_gezag.clone())
                .or_default()
                .push(inst.brin.as_str().to_owned());
        }
        let mut creds = Vec::new();
        for (bestuur, instellingen) in by_bestuur {
            let Some(oin) = Self::sandbox_bestuur_oin(&bestuur) else {
                continue;
            };
            let secret = random_secret();
            creds.push(SandboxBestuurCredential {
                bestuur: bestuur.as_str().to_owned(),
                instellingen,
                client_id: oin.as_str().to_owned(),
                client_secret: secret.clone(),
            });
            self.insert_bestuur(oin, bestuur, &secret);
        }
        creds
    }

    /// Builds the registry from configuration.
    pub fn from_config(clients: &[ClientConfig]) -> Result<Self, AuthConfigError> {
        let mut reg = Self::new();
        for (index, c) in clients.iter().enumerate() {
            let bad = |field: &'static str, reason: String| AuthConfigError::Client {
                index,
                field,
                reason,
            };
            let oin: Oin = c.oin.parse().map_err(|e| bad("oin", format!("{e}")))?;
            let brin: Brin = c.brin.parse().map_err(|e| bad("brin", format!("{e}")))?;
            let hash = match (&c.secret_sha256, &c.secret) {
                (Some(h), None) => {
                    let bytes = hex::decode(h.trim())
                        .map_err(|_| bad("secret_sha256", "not hex".into()))?;
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| bad("secret_sha256", "expected 64 hex digits".into()))?
                }
                (None, Some(s)) if s.len() >= 16 => sha256(s.as_bytes()),
                (None, Some(_)) => {
                    return Err(bad("secret", "at least 16 characters".into()));
                }
                _ => {
                    return Err(bad(
                        "secret_sha256",
                        "give exactly one of secret_sha256 and secret".into(),
                    ));
                }
            };
            reg.insert_hashed(oin, brin, hash);
        }
        Ok(reg)
    }

    /// One client per institution in the reference data, each with a random secret.
    pub fn sandbox(reference: &ReferenceData) -> (Self, Vec<SandboxCredential>) {
        let mut reg = Self::new();
        let mut creds = Vec::new();
        for inst in reference.institutions.values() {
            let secret = random_secret();
            reg.insert(inst.oin.clone(), inst.brin.clone(), &secret);
            creds.push(SandboxCredential {
                brin: inst.brin.as_str().to_owned(),
                naam: inst.naam.clone(),
                oin: inst.oin.as_str().to_owned(),
                client_id: inst.oin.as_str().to_owned(),
                client_secret: secret,
            });
        }
        (reg, creds)
    }

    /// The institution client with this id, when the secret matches.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<&Client> {
        match self.authenticate_any(client_id, secret)? {
            ClientIdentity::Institution(c) => Some(c),
            ClientIdentity::BevoegdGezag(_) => None,
        }
    }

    /// The client (institution or bevoegd gezag) with this id, when the secret matches.
    pub fn authenticate_any(&self, client_id: &str, secret: &str) -> Option<ClientIdentity<'_>> {
        let id = client_id.trim();
        let client = self.clients.get(id);
        let bestuur = self.besturen.get(id);
        // Hash even for an unknown client, so timing does not tell whether the id exists.
        let given = sha256(secret.as_bytes());
        let stored = client
            .map(|c| c.secret_sha256)
            .or(bestuur.map(|b| b.secret_sha256))
            .unwrap_or([0u8; 32]);
        if !constant_time_eq(&given, &stored) {
            return None;
        }
        client
            .map(ClientIdentity::Institution)
            .or(bestuur.map(ClientIdentity::BevoegdGezag))
    }

    /// The client by OIN.
    pub fn get(&self, oin: &str) -> Option<&Client> {
        self.clients.get(oin)
    }

    /// The bevoegd gezag client by OIN.
    pub fn get_bestuur(&self, oin: &str) -> Option<&BestuurClient> {
        self.besturen.get(oin)
    }

    /// Whether a client (of either kind) has this OIN.
    pub fn knows(&self, oin: &str) -> bool {
        self.clients.contains_key(oin) || self.besturen.contains_key(oin)
    }

    /// Number of clients (of both kinds).
    pub fn len(&self) -> usize {
        self.clients.len() + self.besturen.len()
    }

    /// Whether there are no clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.besturen.is_empty()
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The client's OIN.
    pub sub: String,
    /// The institution's BRIN.
    pub brin: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: Uuid,
    /// A bevoegd gezag client's onderwijsbestuurcode (`brin` is then empty); absent for an
    /// institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bestuur: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the form `claims.mac`, or not base64/JSON.
    #[error("the token is malformed")]
    Malformed,
    /// The MAC does not verify.
    #[error("the token signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
}

/// Issues and verifies stateless HMAC-SHA256 access tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Vec<u8>,
    ttl: std::time::Duration,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer with a configured key (at least 32 bytes) and lifetime.
    pub fn new(key: &[u8], ttl: std::time::Duration) -> Result<Self, AuthConfigError> {
        if key.len() < 32 {
            return Err(AuthConfigError::TokenKey(
                "at least 32 bytes are required".into(),
            ));
        }
        Ok(Self {
            key: key.to_vec(),
            ttl,
        })
    }

    /// An issuer with a fresh random key (tokens die with the process).
    pub fn random(ttl: std::time::Duration) -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self { key, ttl }
    }

    /// The token lifetime.
    pub fn ttl(&self) -> std::time::Duration {
        self.ttl
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_mac(),
        }
    }

    /// Issues a token for `client` at `now`.
    pub fn issue_at(&self, oin: &Oin, brin: &Brin, now: DateTime<Utc>) -> (String, Claims) {
        self.sign(oin, brin.as_str(), None, now)
    }

    /// Issues a token for a bevoegd gezag client now.
    pub fn issue_bestuur(&self, oin: &Oin, bestuur: &OnderwijsbestuurCode) -> (String, Claims) {
        self.sign(oin, "", Some(bestuur), Utc::now())
    }

    fn sign(
        &self,
        oin: &Oin,
        brin: &str,
        bestuur: Option<&OnderwijsbestuurCode>,
        now: DateTime<Utc>,
    ) -> (String, Claims) {
        let iat = now.timestamp();
        let claims = Claims {
            sub: oin.as_str().to_owned(),
            brin: brin.to_owned(),
            iat,
            exp: iat.saturating_add(self.ttl.as_secs() as i64),
            jti: Uuid::new_v4(),
            bestuur: bestuur.map(|b| b.as_str().to_owned()),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{payload}.{sig}"), claims)
    }

    /// Issues a token now.
    pub fn issue(&self, oin: &Oin, brin: &Brin) -> (String, Claims) {
        self.issue_at(oin, brin, Utc::now())
    }

    /// Verifies a token at `now`.
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Verifies a token now.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, Utc::now())
    }
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // `Hmac::new_from_slice` accepts every key length; this is never reached.
    match HmacSha256::new_from_slice(&[0u8; 32]) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

/// The authenticated institution behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its OIN.
    pub oin: Oin,
    /// Its BRIN (instelling level).
    pub brin: Brin,
}

impl Caller {
    /// The registry actor it acts as.
    pub fn actor(&self) -> Actor {
        Actor::Institution {
            brin: self.brin.clone(),
        }
    }

    /// The actor as written in audit records (ids only).
    pub fn audit_actor(&self) -> String {
        format!("institution:{}", self.brin)
    }
}

/// 401 `invalid_token` with the RFC 6750 challenge.
pub fn invalid_token(detail: &str) -> Problem {
    Problem::new(ErrorCode::InvalidToken)
        .detail(detail.to_owned())
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"knooppunt\", error=\"invalid_token\""),
        )
}

/// Checks the client certificate against the OIN, when the state requires one.
pub fn check_certificate(
    required: bool,
    peer: Option<&PeerIdentity>,
    oin: &str,
) -> Result<(), Problem> {
    if !required {
        return Ok(());
    }
    let Some(peer) = peer else {
        return Err(Problem::new(ErrorCode::ClientCertificateRequired)
            .detail("present a PKIoverheid client certificate whose serialNumber is your OIN"));
    };
    match &peer.oin {
        Some(cert_oin) if cert_oin.as_str() == oin => Ok(()),
        _ => Err(Problem::new(ErrorCode::CertificateOinMismatch)
            .detail("the OIN in the client certificate is not the client_id")),
    }
}

/// The verified claims of the request's bearer token, with the client certificate checked.
pub(crate) async fn verified_claims(parts: &Parts, state: &ApiState) -> Result<Claims, Problem> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(Problem::new(ErrorCode::MissingToken)
            .detail("send Authorization: Bearer <access_token> from /api/v1/oauth2/token")
            .header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"knooppunt\""),
            ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or_else(|| invalid_token("expected a Bearer token"))?;
    let claims = state.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => invalid_token("the token has expired"),
        _ => invalid_token("the token is not valid"),
    })?;
    // A token of a client removed since is refused.
    if !state.clients.knows(&claims.sub) {
        return Err(invalid_token("the client is no longer registered"));
    }
    check_certificate(
        state.require_client_cert,
        parts.extensions.get::<PeerIdentity>(),
        &claims.sub,
    )?;
    Ok(claims)
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let claims = verified_claims(parts, state).await?;
        match state.clients.get(&claims.sub) {
            Some(client) if claims.bestuur.is_none() => Ok(Caller {
                oin: client.oin.clone(),
                brin: client.brin.clone(),
            }),
            _ => Err(Problem::new(ErrorCode::NotPermitted).detail(
                "a bevoegd gezag client may only read students (/api/v1/studenten); this endpoint is for institutions",
            )),
        }
    }
}
