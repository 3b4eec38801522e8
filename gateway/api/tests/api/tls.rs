//! The API listener with mutual TLS: a tiny router behind `api::server::serve_with`, a PKI made
//! by `api::pki`, and reqwest clients with and without client certificates.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Extension};
use axum::routing::get;
use axum::{Json, Router};
use knooppunt_api::pki::{self, CertifiedKey, Pki};
use knooppunt_api::server::{ServeOptions, serve, serve_with};
use knooppunt_api::tls::{self, AttributeError, PeerIdentity, TlsError};
use knooppunt_registry::ids::Oin;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A bound on every wait in these tests, so a bug hangs no CI job; never reached when all is well.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn oin_a() -> Oin {
    "0000000700025BE00000".parse().unwrap()
}

/// Counts the calls of the handlers, to show a refused client never reached one.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

async fn whoami(
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    identity: Option<Extension<PeerIdentity>>,
    Extension(calls): Extension<Calls>,
) -> Json<Value> {
    calls.0.fetch_add(1, Ordering::SeqCst);
    let identity = identity.map(|Extension(identity)| {
        json!({
            "oin": identity.oin.map(|oin| oin.to_string()),
            "subject": identity.subject,
        })
    });
    Json(json!({ "remote_ip": remote.ip().to_string(), "identity": identity }))
}

fn router(calls: &Calls) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .layer(Extension(calls.clone()))
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(
        app: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: ServeOptions,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(serve_with(listener, app, tls, shutdown.clone(), options));
        Self {
            addr,
            shutdown,
            handle,
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(HANG_GUARD, self.handle)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

struct Setup {
    pki: Pki,
    config: Arc<rustls::ServerConfig>,
}

fn setup() -> Setup {
    let pki = Pki::generate().unwrap();
    let server = pki.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let config =
        tls::server_config_from_pem(&server.cert_pem, &server.key_pem, &pki.ca_pem()).unwrap();
    Setup { pki, config }
}

fn client(config: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .no_proxy()
        .build()
        .unwrap()
}

fn client_with_cert(pki: &Pki, cert: &CertifiedKey) -> reqwest::Client {
    client(pki::client_tls_config(&pki.ca_pem(), &cert.cert_pem, &cert.key_pem).unwrap())
}

#[tokio::test]
async fn a_client_certificate_puts_its_oin_in_the_request() {
    let setup = setup();
    let calls = Calls::default();
    let server = Running::start(
        router(&calls),
        Some(setup.config.clone()),
        ServeOptions::default(),
    )
    .await;
    let cert = setup.pki.client_cert(&oin_a(), "ROC Voorbeeld").unwrap();

    // ALPN offers h2 first, so this is HTTP/2.
    let response = client_with_cert(&setup.pki, &cert)
        .get(server.url("https", "/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["identity"]["oin"], "0000000700025BE00000");
    let subject = body["identity"]["subject"].as_str().unwrap();
    assert!(subject.contains("O=ROC Voorbeeld"), "{subject}");
    assert_eq!(body["remote_ip"], "127.0.0.1");

    // Without ALPN the same works over HTTP/1.1.
    let mut http1 =
        pki::client_tls_config(&setup.pki.ca_pem(), &cert.cert_pem, &cert.key_pem).unwrap();
    http1.alpn_protocols.clear();
    let response = client(http1)
        .get(server.url("https", "/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["identity"]["oin"], "0000000700025BE00000");
    assert_eq!(calls.0.load(Ordering::SeqCst), 2);

    server.stop().await;
}

#[tokio::test]
async fn tls_without_a_client_certificate_gets_through_without_identity() {
    let setup = setup();
    let calls = Calls::default();
    let server = Running::start(
        router(&calls),
        Some(setup.config.clone()),
        ServeOptions::default(),
    )
    .await;
    let anonymous = client(pki::client_tls_config_without_cert(&setup.pki.ca_pem()).unwrap());
    let response = anonymous
        .get(server.url("https", "/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["identity"], Value::Null);
    assert_eq!(body["remote_ip"], "127.0.0.1");
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused_and_the_listener_carries_on() {
    let setup = setup();
    let calls = Calls::default();
    let server = Running::start(
        router(&calls),
        Some(setup.config.clone()),
        ServeOptions::default(),
    )
    .await;

    // A client that trusts our server but presents a certificate from a CA of its own.
    let rogue_ca = Pki::generate().unwrap();
    let rogue = rogue_ca.client_cert(&oin_a(), "Nep ROC").unwrap();
    let refused = client(
        pki::client_tls_config(&setup.pki.ca_pem(), &rogue.cert_pem, &rogue.key_pem).unwrap(),
    )
    .get(server.url("https", "/whoami"))
    .send()
    .await;
    // The server's verdict arrives as a TLS alert (the handshake failed), not as an HTTP answer.
    let refused = refused.expect_err("a foreign client certificate is refused");
    assert!(format!("{refused:?}").contains("alert"), "{refused:?}");

    // Plain HTTP on the TLS port fails its handshake too.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        plain
            .get(server.url("http", "/whoami"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(calls.0.load(Ordering::SeqCst), 0, "no handler ran");

    // The failed handshakes did not stop the loop.
    let cert = setup.pki.client_cert(&oin_a(), "ROC Voorbeeld").unwrap();
    let response = client_with_cert(&setup.pki, &cert)
        .get(server.url("https", "/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_handshake_is_dropped_after_the_handshake_timeout() {
    let setup = setup();
    let calls = Calls::default();
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(100),
        ..ServeOptions::default()
    };
    let server = Running::start(router(&calls), Some(setup.config.clone()), options).await;

    // Connect and say nothing: the server closes the connection.
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(HANG_GUARD, stalled.read(&mut buf))
        .await
        .expect("the server closes a stalled handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let anonymous = client(pki::client_tls_config_without_cert(&setup.pki.ca_pem()).unwrap());
    let response = anonymous
        .get(server.url("https", "/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn plain_http_mode_serves_with_connect_info_and_no_identity() {
    let calls = Calls::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    // The public entry point with its default options.
    let handle = tokio::spawn(serve(listener, router(&calls), None, shutdown.clone()));

    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = plain
        .get(format!("http://{addr}/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["identity"], Value::Null);
    assert_eq!(body["remote_ip"], "127.0.0.1");

    shutdown.cancel();
    tokio::time::timeout(HANG_GUARD, handle)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A handler that signals it has started and then waits to be released.
fn slow_router(entered: Arc<Notify>, release: Arc<Notify>) -> Router {
    Router::new().route(
        "/slow",
        get(move || {
            let entered = entered.clone();
            let release = release.clone();
            async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }
        }),
    )
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    for tls in [false, true] {
        let setup = setup();
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let server = Running::start(
            slow_router(entered.clone(), release.clone()),
            tls.then(|| setup.config.clone()),
            ServeOptions::default(),
        )
        .await;
        let (http, scheme) = if tls {
            let cert = setup.pki.client_cert(&oin_a(), "ROC Voorbeeld").unwrap();
            (client_with_cert(&setup.pki, &cert), "https")
        } else {
            (
                reqwest::Client::builder().no_proxy().build().unwrap(),
                "http",
            )
        };
        let url = server.url(scheme, "/slow");
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let result = async { http.get(url).send().await?.text().await }.await;
            let _ = done_tx.send(result);
        });
        tokio::time::timeout(HANG_GUARD, entered.notified())
            .await
            .expect("the request reaches the handler");

        server.shutdown.cancel();
        // Let the listener act on the cancellation; the request still holds it open.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !server.handle.is_finished(),
            "serve waits for the in-flight request (tls: {tls})"
        );

        release.notify_one();
        let body = tokio::time::timeout(HANG_GUARD, done_rx)
            .await
            .expect("the request completes")
            .unwrap()
            .unwrap();
        assert_eq!(body, "done", "tls: {tls}");
        tokio::time::timeout(HANG_GUARD, server.handle)
            .await
            .expect("serve returns once the request is done")
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn the_shutdown_grace_bounds_the_wait_for_a_stuck_request() {
    let setup = setup();
    let entered = Arc::new(Notify::new());
    let never = Arc::new(Notify::new());
    let options = ServeOptions {
        shutdown_grace: Duration::from_millis(100),
        ..ServeOptions::default()
    };
    let server = Running::start(
        slow_router(entered.clone(), never.clone()),
        Some(setup.config.clone()),
        options,
    )
    .await;
    let cert = setup.pki.client_cert(&oin_a(), "ROC Voorbeeld").unwrap();
    let http = client_with_cert(&setup.pki, &cert);
    let url = server.url("https", "/slow");
    let request = tokio::spawn(async move { http.get(url).send().await });
    tokio::time::timeout(HANG_GUARD, entered.notified())
        .await
        .expect("the request reaches the handler");

    server.stop().await;
    let result = tokio::time::timeout(HANG_GUARD, request)
        .await
        .expect("the aborted request ends")
        .unwrap();
    assert!(result.is_err(), "the stuck request was cut off: {result:?}");
}

#[test]
fn a_malformed_serial_number_is_a_typed_error_naming_the_attribute() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "ROC Voorbeeld");
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString("12345".try_into().unwrap()),
    );
    let cert = params.self_signed(&key).unwrap();

    let err = tls::oin_from_certificate(cert.der()).unwrap_err();
    assert!(
        matches!(
            &err,
            TlsError::Attribute {
                attribute: "serialNumber",
                reason: AttributeError::Invalid(_)
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("serialNumber") && text.contains("OIN"),
        "{text}"
    );
    assert!(
        !text.contains("12345"),
        "the value itself is not echoed: {text}"
    );

    // In a request, such a certificate gives an identity without OIN (the API refuses it).
    let identity = PeerIdentity::from_certificate(cert.der()).unwrap();
    assert_eq!(identity.oin, None);
    assert!(identity.subject.contains("ROC Voorbeeld"));
}

#[test]
fn the_expiry_of_the_first_certificate_in_a_chain_is_read() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::default();
    leaf.not_after = rcgen::date_time_ymd(2031, 3, 4);
    let leaf = leaf.self_signed(&key).unwrap();
    let mut other = rcgen::CertificateParams::default();
    other.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let other = other.self_signed(&key).unwrap();
    let chain = format!("{}{}", leaf.pem(), other.pem());
    // 2031-03-04T00:00:00Z
    assert_eq!(
        tls::certificate_not_after("cert_pem_path", &chain).unwrap(),
        1_930_348_800
    );

    let dir = std::env::temp_dir().join(format!("kp-tls-expiry-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("server.pem");
    std::fs::write(&file, &chain).unwrap();
    let from_file = tls::server_certificate_not_after(&file);
    let missing = tls::server_certificate_not_after(&dir.join("absent.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(from_file.unwrap(), 1_930_348_800);
    assert!(
        matches!(
            missing,
            Err(TlsError::ReadFile {
                setting: "cert_pem_path",
                ..
            })
        ),
        "{missing:?}"
    );
    assert!(matches!(
        tls::certificate_not_after("cert_pem_path", "no pem here"),
        Err(TlsError::NothingInPem {
            setting: "cert_pem_path",
            what: "certificate"
        })
    ));
}
