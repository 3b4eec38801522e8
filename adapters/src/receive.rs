//! The kit of every receiver (an HTTP endpoint a partner pushes to: DUO's mutation notifications,
//! SBB's withdrawals, the signing provider's postbacks): the listener with the URL the partner is
//! told, and the `503` that asks the partner to push again.

use std::fmt;
use std::net::SocketAddr;

use async_trait::async_trait;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use knooppunt_registry::partner::Partner;
use tokio_util::sync::CancellationToken;

use crate::partners::{BuildError, Receiver, Settings};
use crate::sim::{SimServer, problem};

/// A receiver's HTTP listener: `router` served on an address, the public URL the partner is
/// told, and the path it pushes to. Dropping it stops it too.
pub struct PushListener {
    partner: Partner,
    server: SimServer,
    url: String,
    path: &'static str,
}

impl fmt::Debug for PushListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushListener")
            .field("partner", &self.partner)
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl PushListener {
    /// Serves `router` (`name` names it in logs) on `settings.receiver_listen` (absent: a free
    /// loopback port); `settings.receiver_url` is the base URL the partner is told (absent: the
    /// listener's own `http://` URL); the partner pushes to `path` on it.
    pub async fn spawn(
        partner: Partner,
        name: &'static str,
        router: Router,
        settings: &Settings,
        path: &'static str,
    ) -> Result<Self, BuildError> {
        let addr = settings
            .receiver_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let server = SimServer::spawn(name, addr, router, CancellationToken::new())
            .await
            .map_err(|source| BuildError::Receiver { partner, source })?;
        let url = settings
            .receiver_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| server.url());
        Ok(Self {
            partner,
            server,
            url,
            path,
        })
    }

    /// The base URL the partner is told.
    pub fn base_url(&self) -> String {
        self.url.clone()
    }

    /// Where the partner pushes: the base URL with the path.
    pub fn delivery_address(&self) -> String {
        format!("{}{}", self.url, self.path)
    }
}

#[async_trait]
impl Receiver for PushListener {
    fn partner(&self) -> Partner {
        self.partner
    }

    fn url(&self) -> String {
        self.delivery_address()
    }

    async fn shutdown(&self) {
        self.server.shutdown().await;
    }
}

/// `503`: Knooppunt could not store what was pushed (its store or audit trail is unavailable);
/// the partner pushes it again.
pub fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "temporarily unavailable, push again later",
        None,
    )
}
