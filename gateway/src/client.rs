//! A small client of Knooppunt's own API, as an institution's SIS would use it: mutual TLS with
//! the institution's certificate, an OAuth2 client-credentials token (renewed before it expires),
//! an `Idempotency-Key` on every POST. `knooppunt demo`, `knooppunt bench api` and the
//! end-to-end tests drive the API through it.

use std::fmt;

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::serve::Node;

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Value::Null` when empty or not JSON).
    pub body: Value,
    /// `Idempotent-Replayed: true` was set.
    pub replayed: bool,
}

impl ApiResponse {
    /// The problem code of a problem response.
    pub fn code(&self) -> Option<&str> {
        self.body.get("code").and_then(Value::as_str)
    }
}

/// One institution's API client.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
    secret: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `https://127.0.0.1:8443`); `tls` carries the CA and,
    /// for mutual TLS, the institution's certificate.
    pub fn new(
        base: &str,
        tls: Option<rustls::ClientConfig>,
        client_id: &str,
        secret: &str,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64);
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        Ok(Self {
            http: builder.build().context("HTTP client")?,
            base: base.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            token: Mutex::new(None),
        })
    }

    /// The client of a sandbox institution (by BRIN): its generated credentials and, when the
    /// node runs mutual TLS, its certificate.
    pub fn for_sandbox(node: &Node, brin: &str) -> anyhow::Result<Self> {
        let cred = node
            .credentials
            .iter()
            .find(|c| c.brin == brin)
            .with_context(|| format!("no sandbox credentials for {brin}"))?;
        let tls = match (&node.pki, node.client_files(&cred.client_id)) {
            (Some(pki), Some(files)) => {
                let ca = std::fs::read_to_string(&pki.ca_pem)?;
                let cert = std::fs::read_to_string(&files.cert_pem)?;
                let key = std::fs::read_to_string(&files.key_pem)?;
                Some(knooppunt_api::pki::client_tls_config(&ca, &cert, &key)?)
            }
            _ => None,
        };
        Self::new(&node.api_url, tls, &cred.client_id, &cred.client_secret)
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A valid access token (fetched, or the cached one while it has 30 s left).
    pub async fn token(&self) -> anyhow::Result<String> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = &*cached
            && Instant::now() + Duration::from_secs(30) < *until
        {
            return Ok(t.clone());
        }
        let response = self
            .http
            .post(format!("{}/api/v1/oauth2/token", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .context("token request")?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("token refused: {status} {body}");
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .context("token response without access_token")?
            .to_owned();
        let ttl = body.get("expires_in").and_then(Value::as_u64).unwrap_or(60);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
        Ok(token)
    }

    async fn finish(response: reqwest::Response) -> anyhow::Result<ApiResponse> {
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let bytes = response.bytes().await.context("reading the response")?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(ApiResponse {
            status,
            body,
            replayed,
        })
    }

    /// POSTs JSON with an `Idempotency-Key`.
    pub async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        body: &Value,
    ) -> anyhow::Result<ApiResponse> {
        let token = self.token().await?;
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("idempotency-key", idempotency_key)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        Self::finish(response).await
    }

    /// GETs JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<ApiResponse> {
        let token = self.token().await?;
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        Self::finish(response).await
    }
}
