//! Shared support of the API tests: a router over in-memory stores with known clients, request
//! helpers and a fresh PostgreSQL schema for the `PgApiStore` suite.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use knooppunt_api::tls::PeerIdentity;
use knooppunt_api::{ApiState, ApiStore, ClientRegistry, MemoryApiStore, TokenIssuer, router};
use knooppunt_ops::audit::MemoryAudit;
use knooppunt_ops::metrics::Metrics;
use knooppunt_registry::ids::{Brin, Oin};
use knooppunt_registry::store::MemoryStore;
use knooppunt_sample as demo;
use tower::ServiceExt;

/// The secret of every test client.
pub const SECRET: &str = "test-secret-0123456789";
/// A valid BSN (11-proef).
pub const BSN: &str = "123456782";
/// A second valid BSN.
pub const BSN2: &str = "111222333";
/// A BSN failing the 11-proef.
pub const BAD_BSN: &str = "123456789";

/// ROC Zuidwaard (krd).
pub fn brin_a() -> Brin {
    "25LX".parse().expect("brin")
}
/// Vakcollege Houtwerk (aanmelden).
pub fn brin_b() -> Brin {
    "27DV".parse().expect("brin")
}
/// Not in the reference data.
pub fn brin_unknown() -> Brin {
    "99ZZ".parse().expect("brin")
}

/// Everything a test needs.
pub struct TestApi {
    pub app: Router,
    pub state: ApiState,
    pub store: Arc<MemoryStore>,
    pub api_store: Arc<MemoryApiStore>,
    pub audit: Arc<MemoryAudit>,
}

/// A router over fresh in-memory stores; clients for 25LX, 27DV and 99ZZ (unknown) with
/// [`SECRET`]; client certificates required.
pub fn test_api() -> TestApi {
    test_api_with(|_| {})
}

/// As [`test_api`], with the state adjusted by `f` before the router is built.
pub fn test_api_with(f: impl FnOnce(&mut ApiState)) -> TestApi {
    let store = Arc::new(MemoryStore::new());
    let api_store = Arc::new(MemoryApiStore::new());
    let audit = Arc::new(MemoryAudit::new());
    let mut clients = ClientRegistry::new();
    for brin in [brin_a(), brin_b(), brin_unknown()] {
        clients.insert(brin.oin(), brin.clone(), SECRET);
    }
    let mut state = ApiState::new(
        store.clone(),
        Arc::new(demo::reference_data()),
        audit.clone(),
        Arc::new(Metrics::new()),
        Arc::new(clients),
        Arc::new(TokenIssuer::random(std::time::Duration::from_secs(300))),
        api_store.clone() as Arc<dyn ApiStore>,
    );
    f(&mut state);
    TestApi {
        app: router(state.clone()),
        state,
        store,
        api_store,
        audit,
    }
}

/// The identity of a verified client certificate for `oin`.
pub fn peer(oin: &Oin) -> PeerIdentity {
    PeerIdentity {
        oin: Some(oin.clone()),
        subject: format!("C=NL, O=Test, serialNumber={}", oin.as_str()),
    }
}

/// A response, its body parsed as JSON (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

impl Answer {
    /// The problem `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {}", self.text);
        assert_eq!(self.code(), code, "code of {}", self.text);
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "content type {} of {}",
            self.content_type(),
            self.text
        );
    }
}

/// Sends a request through the router.
pub async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// A token request with HTTP Basic credentials, over mTLS as `cert` (if any).
pub fn token_request(client_id: &str, secret: &str, cert: Option<&Oin>) -> Request<Body> {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let mut req = Request::post("/api/v1/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .expect("request");
    if let Some(oin) = cert {
        req.extensions_mut().insert(peer(oin));
    }
    req
}

/// A token for the institution `brin` (over mTLS with its own certificate).
pub async fn token(app: &Router, brin: &Brin) -> String {
    let oin = brin.oin();
    let a = send(app, token_request(oin.as_str(), SECRET, Some(&oin))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// An authenticated request of `brin` (token + its certificate).
pub fn authed(
    method: &str,
    uri: &str,
    token: &str,
    brin: &Brin,
    idempotency_key: Option<&str>,
    body: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(k) = idempotency_key {
        b = b.header("idempotency-key", k);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let mut req = b
        .body(body.map_or_else(Body::empty, |s| Body::from(s.to_owned())))
        .expect("request");
    req.extensions_mut().insert(peer(&brin.oin()));
    req
}

/// A valid aanmelding body for 25LX (Software Developer, cohort 2027-2028).
pub fn aanmelding_body(id: uuid::Uuid, bsn: &str) -> String {
    serde_json::json!({
        "aanmelding_id": id,
        "student": {"bsn": bsn},
        "opleiding": demo::SOFTWARE_DEVELOPER,
        "cohort": "2027-2028",
    })
    .to_string()
}

/// POSTs a valid aanmelding (see [`aanmelding_body`]) as `brin` with `key` as Idempotency-Key.
pub async fn submit(
    app: &Router,
    tok: &str,
    brin: &Brin,
    key: &str,
    id: uuid::Uuid,
    bsn: &str,
) -> Answer {
    let body = aanmelding_body(id, bsn);
    send(
        app,
        authed(
            "POST",
            "/api/v1/aanmeldingen",
            tok,
            brin,
            Some(key),
            Some(&body),
        ),
    )
    .await
}

/// POSTs a status change of aanmelding `id` as `brin` with `key` as Idempotency-Key.
pub async fn change_status(
    app: &Router,
    tok: &str,
    brin: &Brin,
    key: &str,
    id: uuid::Uuid,
    status: &str,
) -> Answer {
    let body = serde_json::json!({ "status": status }).to_string();
    send(
        app,
        authed(
            "POST",
            &format!("/api/v1/aanmeldingen/{id}/status"),
            tok,
            brin,
            Some(key),
            Some(&body),
        ),
    )
    .await
}

/// The database the tests use (`DATABASE_URL`, default: the local test database).
pub use knooppunt_testkit::database_url;

/// A fresh schema (the test kit's) with the API migrations applied. Fails (does not skip)
/// without PostgreSQL.
pub struct PgSchema {
    pub name: String,
    pub pool: deadpool_postgres::Pool,
    schema: knooppunt_testkit::TestSchema,
}

impl PgSchema {
    pub async fn new() -> anyhow::Result<Self> {
        let schema = knooppunt_testkit::TestSchema::create("api").await?;
        let name = schema.name().to_owned();
        let pool = knooppunt_registry::store::pg_pool(&database_url(), Some(&name), 8)?;
        knooppunt_api::migrate(&pool).await?;
        // A second run is a no-op.
        knooppunt_api::migrate(&pool).await?;
        Ok(Self { name, pool, schema })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close();
        self.schema.drop_now().await
    }
}
