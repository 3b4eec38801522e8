//! The console over plain HTTP (`oneshot`): the session cookie's flags, login and logout, CSRF,
//! a forged POST from another site or from a reader (403, nothing changed), input errors as
//! pages naming the field, and the security headers.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use knooppunt_api::operator::console::ConsoleSettings;

use super::{Fixture, OPERATOR, READER, assert_no_personal_data, csrf_of};
use crate::support::{Answer, send};

fn form(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "127.0.0.1:9444");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.body(Body::empty()).unwrap()
}

/// Logs in with `token`; the `name=value` of the session cookie and the Set-Cookie header.
async fn login(f: &Fixture, token: &str) -> (String, String) {
    let a = send(
        &f.app,
        form("/console/login", &format!("token={token}"), None),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.text);
    assert_eq!(a.headers["location"], "/console/status");
    let set = a.headers["set-cookie"].to_str().unwrap().to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (pair, set)
}

fn assert_page(a: &Answer, status: u16, needle: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert!(
        a.content_type().starts_with("text/html"),
        "{}: {}",
        a.content_type(),
        a.text
    );
    assert!(a.text.contains(needle), "no {needle:?} in {}", a.text);
    assert_no_personal_data(&a.text, "a console page");
}

#[tokio::test]
async fn login_sets_an_http_only_strict_cookie_without_the_token_and_logout_ends_it() {
    let f = Fixture::memory(ConsoleSettings::default()).await;
    let a = send(&f.app, get("/console/status", None)).await;
    assert_eq!(a.status, 303, "no session: to the login page");
    assert_eq!(a.headers["location"], "/console/login");
    let page = send(&f.app, get("/console/login", None)).await;
    assert_page(&page, 200, "Operator token");
    assert!(page.text.contains("<html lang=\"en\">"));

    let (cookie, set) = login(&f, OPERATOR).await;
    assert!(set.starts_with("knooppunt_console="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP listener: {set}");
    assert!(!set.contains(OPERATOR), "the token is not in the cookie");
    let status = send(&f.app, get("/console/status", Some(&cookie))).await;
    assert_page(&status, 200, "intergrip");
    assert!(status.text.contains("otto"));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(status.headers[name], value);
    }
    assert!(
        status.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // Logout needs the CSRF token; then the old cookie is worth nothing.
    let csrf = csrf_of(&status.text);
    let forged = send(&f.app, form("/console/logout", "csrf=nope", Some(&cookie))).await;
    assert_page(&forged, 403, "CSRF");
    let out = send(
        &f.app,
        form("/console/logout", &format!("csrf={csrf}"), Some(&cookie)),
    )
    .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.headers["location"], "/console/login");
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = send(&f.app, get("/console/status", Some(&cookie))).await;
    assert_eq!(after.status, 303, "the session is gone");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_listener_has_tls() {
    let f = Fixture::memory(ConsoleSettings {
        secure_cookies: true,
        ..ConsoleSettings::default()
    })
    .await;
    let (_, set) = login(&f, READER).await;
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test]
async fn an_expired_session_goes_back_to_the_login_page() {
    let f = Fixture::memory(ConsoleSettings {
        session_ttl: Duration::ZERO,
        ..ConsoleSettings::default()
    })
    .await;
    let (cookie, _) = login(&f, OPERATOR).await;
    let a = send(&f.app, get("/console/failures", Some(&cookie))).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "/console/login");
}

#[tokio::test]
async fn a_wrong_token_is_a_login_page_with_a_message_and_no_cookie() {
    let f = Fixture::memory(ConsoleSettings::default()).await;
    let a = send(&f.app, form("/console/login", "token=not-a-token", None)).await;
    assert_page(&a, 401, "not an operator token");
    assert!(!a.headers.contains_key("set-cookie"));
    let a = send(
        &f.app,
        Request::post("/console/login")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_page(&a, 415, "Content-Type");
    // A login posted from another site is refused.
    let mut req = form("/console/login", &format!("token={OPERATOR}"), None);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let a = send(&f.app, req).await;
    assert_page(&a, 403, "posted from the console");
    assert!(!a.headers.contains_key("set-cookie"));
}

#[tokio::test]
async fn forged_and_reader_posts_are_refused_and_change_nothing() {
    let f = Fixture::memory(ConsoleSettings::default()).await;
    let before = f.parked().await;
    let (reader, _) = login(&f, READER).await;
    let page = send(
        &f.app,
        get(
            &format!("/console/failures/intergrip/{}", f.exhausted[1]),
            Some(&reader),
        ),
    )
    .await;
    assert_page(&page, 200, "Parked message");
    assert!(
        !page.text.contains("action=\"/console/replay\"")
            && !page.text.contains("action=\"/console/discard\""),
        "a reader sees no action form"
    );
    let reader_csrf = csrf_of(&page.text);
    let id = f.exhausted[1];
    let replay = format!("consumer=intergrip&message_id={id}&reason=partner+back");
    let discard = format!("consumer=intergrip&message_id={id}&reason=obsolete");
    // A reader with a valid CSRF token: the role is refused.
    for (path, body) in [("/console/replay", &replay), ("/console/discard", &discard)] {
        let a = send(
            &f.app,
            form(path, &format!("{body}&csrf={reader_csrf}"), Some(&reader)),
        )
        .await;
        assert_page(&a, 403, "Role not permitted");
    }
    // An operator's session without or with a wrong CSRF token, or from another site.
    let (operator, _) = login(&f, OPERATOR).await;
    let status = send(&f.app, get("/console/status", Some(&operator))).await;
    let csrf = csrf_of(&status.text);
    assert_ne!(csrf, reader_csrf, "a token per session");
    for body in [
        replay.clone(),
        format!("{replay}&csrf=wrong"),
        format!("{replay}&csrf={reader_csrf}"),
        discard.clone(),
    ] {
        let path = if body.contains("obsolete") {
            "/console/discard"
        } else {
            "/console/replay"
        };
        let a = send(&f.app, form(path, &body, Some(&operator))).await;
        assert_page(&a, 403, "CSRF");
    }
    let mut cross = form(
        "/console/discard",
        &format!("{discard}&csrf={csrf}"),
        Some(&operator),
    );
    cross
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_page(&send(&f.app, cross).await, 403, "posted from the console");
    let mut cross = form(
        "/console/replay",
        &format!("{replay}&csrf={csrf}"),
        Some(&operator),
    );
    cross
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_page(&send(&f.app, cross).await, 403, "posted from the console");
    // No session at all: to the login page, nothing done.
    let a = send(&f.app, form("/console/discard", &discard, None)).await;
    assert_eq!(a.status, 303);
    assert_eq!(f.parked().await, before, "nothing changed");
    assert!(f.runtimes.republished.lock().unwrap().is_empty());
    assert!(f.runtimes.released.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_a_page_naming_the_field_and_changes_nothing() {
    let f = Fixture::memory(ConsoleSettings::default()).await;
    let before = f.parked().await;
    let (cookie, _) = login(&f, OPERATOR).await;
    let csrf = csrf_of(
        &send(&f.app, get("/console/status", Some(&cookie)))
            .await
            .text,
    );
    let id = f.exhausted[1];
    let cases = [
        (
            "/console/replay",
            format!("consumer=intergrip&message_id={id}&reason="),
        ),
        (
            "/console/replay",
            format!("consumer=intergrip&message_id={id}&reason=bsn+111222333"),
        ),
        (
            "/console/replay",
            "consumer=intergrip&canary=x&reason=r".to_owned(),
        ),
        (
            "/console/replay",
            "consumer=intergrip&canary=0&reason=r".to_owned(),
        ),
        (
            "/console/replay",
            "consumer=intergrip&rate_per_second=1000&reason=r".to_owned(),
        ),
        ("/console/replay", "consumer=nobody&reason=r".to_owned()),
        ("/console/replay", "message_id=nope&reason=r".to_owned()),
        ("/console/discard", format!("message_id={id}&reason=")),
        (
            "/console/discard",
            format!("message_id={id}&reason=BSN+999990019+is+wrong"),
        ),
        ("/console/discard", "message_id=nope&reason=r".to_owned()),
    ];
    let fields = [
        "reason",
        "reason",
        "canary",
        "canary",
        "rate_per_second",
        "consumer",
        "message_id",
        "reason",
        "reason",
        "message_id",
    ];
    for ((path, body), field) in cases.iter().zip(fields) {
        let a = send(
            &f.app,
            form(path, &format!("{body}&csrf={csrf}"), Some(&cookie)),
        )
        .await;
        assert_eq!(a.status, 422, "{path} {body}: {}", a.text);
        assert!(
            a.text.contains(&format!("<code>{field}</code>")),
            "{path} {body} names {field}: {}",
            a.text
        );
        assert!(a.text.contains("Invalid field") || a.text.contains("invalid"));
        assert!(a.content_type().starts_with("text/html"));
    }
    // Unknown things are 404 pages; a bad path id is a 400 page.
    let not_found = send(
        &f.app,
        get(
            &format!("/console/failures/intergrip/{}", uuid::Uuid::now_v7()),
            Some(&cookie),
        ),
    )
    .await;
    assert_page(&not_found, 404, "no such parked message");
    assert_page(
        &send(&f.app, get("/console/trace/nope", Some(&cookie))).await,
        400,
        "message_id",
    );
    assert_page(
        &send(&f.app, get("/console/nothing-here", Some(&cookie))).await,
        404,
        "Not found",
    );
    assert_page(
        &send(&f.app, get("/console/replay", Some(&cookie))).await,
        405,
        "this path does not accept this method",
    );
    assert_eq!(f.parked().await, before, "nothing changed");
}

#[tokio::test]
async fn an_operator_replays_and_discards_through_the_forms() {
    let f = Fixture::memory(ConsoleSettings::default()).await;
    let (cookie, _) = login(&f, OPERATOR).await;
    let csrf = csrf_of(
        &send(&f.app, get("/console/status", Some(&cookie)))
            .await
            .text,
    );
    let a = send(
        &f.app,
        form(
            "/console/replay",
            &format!(
                "csrf={csrf}&consumer=intergrip&park_reason=retries_exhausted&canary=1\
                 &rate_per_second=50&wait_seconds=10&reason=intergrip+is+back"
            ),
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.text);
    let job = a.headers["location"].to_str().unwrap().to_owned();
    assert!(job.starts_with("/console/replays/"), "{job}");
    let mut page = String::new();
    for _ in 0..500 {
        page = send(&f.app, get(&job, Some(&cookie))).await.text;
        if page.contains("<strong>Finished</strong>") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(page.contains("<strong>Finished</strong>"), "{page}");
    assert!(page.contains("data-live-done"));
    assert_eq!(*f.runtimes.republished.lock().unwrap(), f.exhausted);
    assert_eq!(f.parked().await, vec![f.undecodable]);
    let a = send(
        &f.app,
        form(
            "/console/discard",
            &format!(
                "csrf={csrf}&consumer=intergrip&message_id={}&reason=superseded",
                f.undecodable
            ),
            Some(&cookie),
        ),
    )
    .await;
    assert_page(&a, 200, "is discarded");
    assert!(f.parked().await.is_empty());
}
