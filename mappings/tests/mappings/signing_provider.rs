//! Signing provider: create-transaction request, status/postback → RecordSigningStatus.

use knooppunt_mappings::MappingError;
use knooppunt_mappings::signing::{self, CreateTransaction, Signer};
use knooppunt_registry::domain::{BpvId, Command, OokId, SigningStatus, SigningSubject};
use proptest::prelude::*;
use uuid::Uuid;

fn create() -> CreateTransaction {
    CreateTransaction {
        subject: SigningSubject::Ook(OokId(Uuid::from_u128(0x0123))),
        postback_url: "https://knooppunt.example/partners/signing/postback".into(),
        signers: vec![
            Signer {
                rol: "student".into(),
                email: Some("ayse.nunez@example.nl".into()),
                return_url: "https://knooppunt.example/ook/klaar".into(),
                idin: false,
            },
            Signer {
                rol: "ouder".into(),
                email: Some("ouder@example.nl".into()),
                return_url: "https://knooppunt.example/ook/klaar".into(),
                idin: true,
            },
            Signer {
                rol: "instelling".into(),
                email: Some("ook@roc.example".into()),
                return_url: "https://knooppunt.example/ook/klaar".into(),
                idin: false,
            },
        ],
        days_to_expire: 30,
    }
}

#[test]
fn the_direct_flow_sends_no_contact_data() {
    let mut t = create();
    for s in &mut t.signers {
        s.email = None;
    }
    let body: serde_json::Value =
        serde_json::from_str(&signing::write_create(&t).unwrap()).unwrap();
    assert_eq!(body["SendEmailNotifications"], false);
    for s in body["Signers"].as_array().unwrap() {
        assert!(s.get("Email").is_none(), "{s}");
        assert_eq!(s["SendSignRequest"], false);
    }
    assert_eq!(body["Signers"][1]["Verifications"][0]["Type"], "iDIN");
}

#[test]
fn create_request() {
    insta::assert_snapshot!("signing_create", signing::write_create(&create()).unwrap());
    let mut t = create();
    t.postback_url = "http://insecure".into();
    assert_eq!(
        signing::write_create(&t).unwrap_err().field(),
        Some("PostbackUrl")
    );
    let mut t = create();
    t.signers[1].email = Some("geen-adres".into());
    assert_eq!(
        signing::write_create(&t).unwrap_err().field(),
        Some("Signers[1].Email")
    );
    let mut t = create();
    t.postback_url = "http://127.0.0.1:4000/signing/v1/postback".into();
    assert!(
        signing::write_create(&t).is_ok(),
        "http on loopback: the sandbox"
    );
    let mut t = create();
    t.signers.clear();
    assert!(matches!(
        signing::write_create(&t).unwrap_err(),
        MappingError::Missing { .. }
    ));
}

#[test]
fn postback_becomes_record_signing_status() {
    let body = br#"{"Id":"b2a4c1e0-5d3f-4c8e-9a7b-1f2e3d4c5b6a","Status":30,"Reference":"bpv:00000000-0000-0000-0000-000000000077",
      "Seal":false,"Checksum":"abc","Signers":[
        {"Id":"student","Email":"x@example.nl","SignedDateTime":"2027-08-20T10:11:12+02:00"},
        {"Id":"leerbedrijf","Email":"y@example.nl","SignedDateTime":null}]}"#;
    let s = signing::parse_status(body).unwrap();
    assert_eq!(s.getekend.len(), 1);
    assert_eq!(
        signing::to_command(&s),
        Command::RecordSigningStatus {
            transactie: "b2a4c1e0-5d3f-4c8e-9a7b-1f2e3d4c5b6a".into(),
            subject: SigningSubject::Bpv(BpvId(Uuid::from_u128(0x77))),
            status: SigningStatus::Signed,
        }
    );
    insta::assert_json_snapshot!("signing_postback", s);
}

#[test]
fn every_status_code_5_to_70_is_read_and_others_refused() {
    for code in [5u16, 10, 20, 30, 40, 50, 60, 70] {
        let body = format!(
            r#"{{"Id":"t1","Status":{code},"Reference":"ook:00000000-0000-0000-0000-000000000001"}}"#
        );
        assert_eq!(
            signing::parse_status(body.as_bytes())
                .unwrap()
                .status
                .code(),
            code
        );
    }
    for code in [0u16, 15, 80] {
        let body = format!(
            r#"{{"Id":"t1","Status":{code},"Reference":"ook:00000000-0000-0000-0000-000000000001"}}"#
        );
        assert_eq!(
            signing::parse_status(body.as_bytes()).unwrap_err().field(),
            Some("Status")
        );
    }
}

#[test]
fn bad_input_names_the_field() {
    let cases: [(&[u8], &str); 4] = [
        (
            br#"{"Status":30,"Reference":"ook:00000000-0000-0000-0000-000000000001"}"#,
            "Id",
        ),
        (
            br#"{"Id":"t 1","Status":30,"Reference":"ook:00000000-0000-0000-0000-000000000001"}"#,
            "Id",
        ),
        (
            br#"{"Id":"t1","Reference":"ook:00000000-0000-0000-0000-000000000001"}"#,
            "Status",
        ),
        (
            br#"{"Id":"t1","Status":30,"Reference":"contract:1"}"#,
            "Reference",
        ),
    ];
    for (body, field) in cases {
        assert_eq!(
            signing::parse_status(body).unwrap_err().field(),
            Some(field)
        );
    }
    assert!(matches!(
        signing::parse_status(b"{").unwrap_err(),
        MappingError::Malformed { .. }
    ));
    assert!(matches!(
        signing::parse_status(b"\xfe").unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
}

proptest! {
    #[test]
    fn references_round_trip(n in any::<u128>(), ook in any::<bool>()) {
        let s = if ook { SigningSubject::Ook(OokId(Uuid::from_u128(n))) } else { SigningSubject::Bpv(BpvId(Uuid::from_u128(n))) };
        prop_assert_eq!(signing::subject_of("Reference", &signing::reference(&s)).unwrap(), s);
    }
}
