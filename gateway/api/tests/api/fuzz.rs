//! Whatever a caller sends, the answer is never a 5xx and never echoes a BSN; a refused
//! request stores nothing.

use crate::support::*;
use knooppunt_api::ApiStore;
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[0-9]{0,12}".prop_map(serde_json::Value::String),
        ".{0,20}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("aanmelding_id".to_owned()),
                    Just("student".to_owned()),
                    Just("bsn".to_owned()),
                    Just("onderwijsnummer".to_owned()),
                    Just("opleiding".to_owned()),
                    Just("cohort".to_owned()),
                    Just("toeleverende_school".to_owned()),
                    Just("externe_referentie".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn check(body: Vec<u8>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(async {
        let t = test_api();
        let brin = brin_a();
        let tok = token(&t.app, &brin).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        let mut req = authed(
            "POST",
            "/api/v1/aanmeldingen",
            &tok,
            &brin,
            Some("fuzz"),
            None,
        );
        req.headers_mut()
            .insert("content-type", "application/json".parse().expect("header"));
        *req.body_mut() = axum::body::Body::from(body);
        let a = send(&t.app, req).await;
        prop_assert!(a.status.as_u16() < 500, "{} for {text}", a.text);
        if a.status.as_u16() >= 400 {
            prop_assert!(a.content_type().starts_with("application/problem+json"));
            prop_assert!(!a.code().is_empty());
            for secret in [BSN, BSN2] {
                prop_assert!(!a.text.contains(secret));
            }
            prop_assert!(
                t.api_store
                    .list_aanmeldingen("25LX", 0, 10)
                    .await
                    .map(|l| l.is_empty())
                    .unwrap_or(false)
            );
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_give_a_server_error(body in prop::collection::vec(any::<u8>(), 0..300)) {
        check(body)?;
    }

    #[test]
    fn arbitrary_json_never_gives_a_server_error(value in json_value()) {
        check(serde_json::to_vec(&value).unwrap_or_default())?;
    }

    #[test]
    fn a_valid_body_with_one_field_replaced_never_gives_a_server_error(
        field in prop_oneof![
            Just("aanmelding_id"), Just("student"), Just("opleiding"), Just("cohort"),
            Just("toeleverende_school"), Just("externe_referentie")
        ],
        value in json_value(),
    ) {
        let mut body: serde_json::Value =
            serde_json::from_str(&aanmelding_body(uuid::Uuid::new_v4(), BSN)).expect("json");
        body[field] = value;
        check(serde_json::to_vec(&body).unwrap_or_default())?;
    }
}
