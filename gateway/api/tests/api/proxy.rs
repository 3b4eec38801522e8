//! Behind a TLS-terminating proxy (`api.tls.mode = "proxy"`): the client certificate the proxy
//! forwards (URL-encoded PEM in `X-Client-Cert`) counts only when the connection comes from a
//! configured proxy address, and then the certificate–OIN check holds as with the API's own
//! mutual TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::support::*;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use knooppunt_api::pki::Pki;
use knooppunt_api::proxy::{DEFAULT_HEADER, TrustedProxy};
use knooppunt_registry::ids::Oin;

const PROXY: &str = "10.0.0.5:40000";

/// `text` URL-encoded as nginx's `$ssl_client_escaped_cert` does (everything but unreserved
/// characters as `%XX`).
fn escaped(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A token request for the 25LX client from `from`, with `header` as the forwarded certificate.
async fn token_via(t: &TestApi, from: &str, header: Option<String>) -> StatusCode {
    let oin = brin_a().oin();
    let mut req = token_request(oin.as_str(), SECRET, None);
    req.extensions_mut()
        .insert(ConnectInfo(from.parse::<SocketAddr>().unwrap()));
    if let Some(h) = header {
        req.headers_mut()
            .insert("x-client-cert", h.parse().expect("a header value"));
    }
    send(&t.app, req).await.status
}

fn cert_of(pki: &Pki, oin: &Oin) -> String {
    escaped(&pki.client_cert(oin, "ROC Test").unwrap().cert_pem)
}

#[tokio::test]
async fn a_forwarded_certificate_counts_only_from_a_trusted_proxy() {
    let t = test_api_with(|s| {
        s.trusted_proxy = Some(Arc::new(
            TrustedProxy::new(
                vec![PROXY.parse::<SocketAddr>().unwrap().ip()],
                DEFAULT_HEADER,
            )
            .unwrap(),
        ));
    });
    let pki = Pki::generate().unwrap();
    let own = cert_of(&pki, &brin_a().oin());

    // From the proxy, with the institution's certificate: a token.
    assert_eq!(
        token_via(&t, PROXY, Some(own.clone())).await,
        StatusCode::OK
    );
    // From the proxy without a certificate: refused.
    assert_eq!(token_via(&t, PROXY, None).await, StatusCode::UNAUTHORIZED);
    // From the proxy with another institution's certificate: refused.
    assert_eq!(
        token_via(&t, PROXY, Some(cert_of(&pki, &brin_b().oin()))).await,
        StatusCode::UNAUTHORIZED
    );
    // From the proxy with something that is no certificate: refused.
    assert_eq!(
        token_via(
            &t,
            PROXY,
            Some(escaped("-----BEGIN CERTIFICATE-----\nAAAA\n"))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    // From anywhere else, the header is ignored: refused.
    assert_eq!(
        token_via(&t, "10.0.0.6:40000", Some(own.clone())).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_via(&t, "127.0.0.1:40000", Some(own)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn behind_a_proxy_the_connection_brings_no_identity_of_its_own() {
    let t = test_api_with(|s| {
        s.trusted_proxy = Some(Arc::new(
            TrustedProxy::new(vec!["10.0.0.5".parse().unwrap()], DEFAULT_HEADER).unwrap(),
        ));
    });
    // An identity in the request's extensions (as a TLS connection would bring) does not count
    // in proxy mode: only the proxy's header does.
    let oin = brin_a().oin();
    let mut req = token_request(oin.as_str(), SECRET, Some(&oin));
    req.extensions_mut()
        .insert(ConnectInfo("10.0.0.6:1".parse::<SocketAddr>().unwrap()));
    assert_eq!(send(&t.app, req).await.status, StatusCode::UNAUTHORIZED);
}
