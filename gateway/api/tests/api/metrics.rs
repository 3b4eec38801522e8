//! The API's metric labels stay bounded (issue 14): invented methods and raw paths never become
//! label values.

use crate::support::*;
use axum::body::Body;
use axum::http::Request;
use uuid::Uuid;

/// The `knooppunt_api_requests_total` series of the encoded metrics.
fn request_series(t: &TestApi) -> Vec<String> {
    t.state
        .api_metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("knooppunt_api_requests_total{"))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(labels, _)| labels)
                .to_owned()
        })
        .collect()
}

async fn call(t: &TestApi, method: &str, uri: &str) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    send(&t.app, req).await;
}

#[tokio::test]
async fn invented_methods_and_raw_paths_add_no_series() {
    let t = test_api();
    let id = Uuid::new_v4();
    // One request of each shape: a matched route with an invented method, an unknown path, a
    // route with a value in its path.
    call(&t, "FOO", "/api/v1/feed").await;
    call(&t, "BAR", "/nowhere").await;
    call(&t, "GET", &format!("/api/v1/aanmeldingen/{id}")).await;
    let before = request_series(&t);
    assert!(!before.is_empty());
    // Many more invented methods and paths: no new series.
    for n in 0..50 {
        call(&t, &format!("INVENTED{n}"), "/api/v1/feed").await;
        call(&t, &format!("X{n}"), &format!("/nowhere/{n}")).await;
        call(
            &t,
            "GET",
            &format!("/api/v1/aanmeldingen/{}", Uuid::new_v4()),
        )
        .await;
    }
    assert_eq!(request_series(&t), before);
    let text = t.state.api_metrics.encode();
    for leaked in ["FOO", "BAR", "INVENTED", "nowhere", &id.to_string()] {
        assert!(!text.contains(leaked), "{leaked} is a label value:\n{text}");
    }
    assert!(text.contains("route=\"OTHER /api/v1/feed\""), "{text}");
    assert!(
        text.contains("route=\"GET /api/v1/aanmeldingen/{id}\""),
        "{text}"
    );
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert_eq!(
        t.state.api_metrics.requests("OTHER /api/v1/feed", "4xx"),
        51
    );
}
