//! The token endpoint under attack (issue 14): one `invalid_client` answer for every failed
//! client authentication (no oracle for a correct secret), and rate limits per client and per
//! source address answered 429 with `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::support::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use knooppunt_api::limiter::{Rate, TokenLimiter, TokenRateLimits};

fn basic(raw: &str, cert: Option<&knooppunt_registry::ids::Oin>) -> Request<Body> {
    let mut req = Request::post("/api/v1/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", raw)
        .body(Body::from("grant_type=client_credentials"))
        .expect("request");
    if let Some(oin) = cert {
        req.extensions_mut().insert(peer(oin));
    }
    req
}

#[tokio::test]
async fn every_failed_client_authentication_gets_the_same_answer() {
    let t = test_api();
    let oin = brin_a().oin();
    let other = brin_b().oin();
    let mut no_auth = token_request(oin.as_str(), SECRET, Some(&oin));
    no_auth.headers_mut().remove("authorization");
    let cases = [
        (
            "unknown client",
            token_request("00000001234567890000", SECRET, Some(&oin)),
        ),
        (
            "wrong secret",
            token_request(oin.as_str(), "wrong-secret", Some(&oin)),
        ),
        (
            "wrong secret, no certificate",
            token_request(oin.as_str(), "wrong-secret", None),
        ),
        (
            "right secret, no certificate",
            token_request(oin.as_str(), SECRET, None),
        ),
        (
            "right secret, another's certificate",
            token_request(oin.as_str(), SECRET, Some(&other)),
        ),
        ("no credentials", no_auth),
        ("malformed Basic", basic("Basic !!!", Some(&oin))),
    ];
    let mut first: Option<(String, Answer)> = None;
    for (case, req) in cases {
        let a = send(&t.app, req).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{case}: {}", a.text);
        assert_eq!(a.body["error"], "invalid_client", "{case}");
        match &first {
            None => first = Some((case.to_owned(), a)),
            Some((first_case, f)) => {
                assert_eq!(a.text, f.text, "{case} answers like {first_case}");
                for h in ["content-type", "www-authenticate", "cache-control"] {
                    assert_eq!(a.headers.get(h), f.headers.get(h), "{case}: {h}");
                }
            }
        }
    }
    // The right secret over the right certificate still gets its token.
    assert_eq!(
        send(&t.app, token_request(oin.as_str(), SECRET, Some(&oin)))
            .await
            .status,
        StatusCode::OK
    );
}

fn limited(per_client: u32, per_source: u32) -> TestApi {
    test_api_with(|s| {
        s.token_limiter = Arc::new(TokenLimiter::new(TokenRateLimits {
            // Refills about once in 17 minutes: no test waits for it.
            per_client: Rate {
                per_second: 0.001,
                burst: per_client,
            },
            per_source: Rate {
                per_second: 0.001,
                burst: per_source,
            },
            max_sources: 100,
        }));
    })
}

fn from(mut req: Request<Body>, addr: &str) -> Request<Body> {
    let addr: SocketAddr = addr.parse().expect("addr");
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

#[tokio::test]
async fn token_requests_of_one_client_are_limited_whatever_their_outcome() {
    let t = limited(3, 1000);
    let oin = brin_a().oin();
    // Wrong secrets count too: guessing is limited.
    for _ in 0..2 {
        let a = send(&t.app, token_request(oin.as_str(), "guess", Some(&oin))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = send(&t.app, token_request(oin.as_str(), SECRET, Some(&oin))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = send(&t.app, token_request(oin.as_str(), SECRET, Some(&oin))).await;
    a.assert_problem(429, "rate_limited");
    let retry: u64 = a
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "{retry}");
    // Another client has a bucket of its own.
    let b = brin_b().oin();
    let a = send(&t.app, token_request(b.as_str(), SECRET, Some(&b))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // Invented client ids get no bucket (memory stays bounded); they count per source.
    for n in 0..20 {
        let id = format!("0000000{n:013}");
        send(&t.app, token_request(&id, SECRET, Some(&oin))).await;
    }
    assert_eq!(t.state.token_limiter.clients_tracked(), 2);
}

#[tokio::test]
async fn token_requests_from_one_source_address_are_limited() {
    let t = limited(1000, 2);
    let oin = brin_a().oin();
    let here = "192.0.2.1:40000";
    for _ in 0..2 {
        let a = send(
            &t.app,
            from(token_request(oin.as_str(), SECRET, Some(&oin)), here),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    // From the same address (another port): refused before the credentials are looked at.
    let a = send(
        &t.app,
        from(
            token_request(oin.as_str(), SECRET, Some(&oin)),
            "192.0.2.1:40001",
        ),
    )
    .await;
    a.assert_problem(429, "rate_limited");
    assert!(a.headers.contains_key("retry-after"));
    // Another address is not affected.
    let a = send(
        &t.app,
        from(
            token_request(oin.as_str(), SECRET, Some(&oin)),
            "198.51.100.7:1",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
}
