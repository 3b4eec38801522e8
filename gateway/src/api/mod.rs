//! The open REST API for institutions: OAuth2 client credentials (with mTLS), aanmeldingen,
//! the per-institution feed and webhooks. See `docs/api.md`.

pub mod pki;
pub mod server;
pub mod tls;
