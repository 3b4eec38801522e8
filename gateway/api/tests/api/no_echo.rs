//! A problem's detail names the field and the reason, never a value the caller sent — also
//! where the text comes from a parser (serde, the query string, UUIDs). (A field's *name* is
//! named, also an unknown one: `field` is the JSON path.)

use crate::support::*;
use uuid::Uuid;

#[tokio::test]
async fn query_errors_do_not_echo_values() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    for uri in [
        format!("/api/v1/aanmeldingen?limit={BSN}x"),
        format!("/api/v1/aanmeldingen?na={BSN}{BSN}{BSN}"),
        format!("/api/v1/feed?vanaf=-{BSN}x"),
        format!("/api/v1/feed?wacht={BSN}{BSN}{BSN}"),
    ] {
        let a = send(&t.app, authed("GET", &uri, &tok, &brin, None, None)).await;
        a.assert_problem(400, "invalid_query");
        assert!(!a.text.contains(BSN), "{uri}: {}", a.text);
    }
}

#[tokio::test]
async fn body_errors_do_not_echo_values() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let mut body: serde_json::Value =
        serde_json::from_str(&aanmelding_body(Uuid::new_v4(), BSN)).expect("json");
    for (field, value) in [
        ("aanmelding_id", serde_json::json!(format!("q{BSN}"))),
        ("opleiding", serde_json::json!(format!("{BSN}-zz"))),
        ("cohort", serde_json::json!(BSN.parse::<u64>().expect("n"))),
    ] {
        let before = body[field].clone();
        body[field] = value;
        let a = send(
            &t.app,
            authed(
                "POST",
                "/api/v1/aanmeldingen",
                &tok,
                &brin,
                Some(&format!("echo-{field}")),
                Some(&body.to_string()),
            ),
        )
        .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], field);
        assert!(!a.text.contains(BSN), "{field}: {}", a.text);
        assert!(
            !a.text.contains("`q`") && !a.text.contains("`z`"),
            "{}",
            a.text
        );
        body[field] = before;
    }
}
