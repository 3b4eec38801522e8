//! DigiD SAML assertion: BSN from the NameID and the assurance level.

use knooppunt_mappings::MappingError;
use knooppunt_mappings::digid::{self, DigidError, Niveau};

fn assertion(p: &str, name_id: &str, class: &str) -> String {
    format!(
        r#"<{p}:Assertion xmlns:{p}="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1b2" Version="2.0" IssueInstant="2027-03-01T09:00:00Z">
  <{p}:Issuer>https://was-preprod1.digid.nl/saml/idp/metadata</{p}:Issuer>
  <{p}:Subject><{p}:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</{p}:NameID></{p}:Subject>
  <{p}:Conditions NotBefore="2027-03-01T08:58:00Z" NotOnOrAfter="2027-03-01T09:02:00Z"/>
  <{p}:AuthnStatement AuthnInstant="2027-03-01T09:00:00Z" SessionIndex="s-123">
    <{p}:AuthnContext><{p}:AuthnContextClassRef>{class}</{p}:AuthnContextClassRef></{p}:AuthnContext>
  </{p}:AuthnStatement>
</{p}:Assertion>"#
    )
}

fn artifact_response(inner: &str, status: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<samlp:ArtifactResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="2027-03-01T09:00:00Z">
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
<samlp:Response ID="_r2" Version="2.0" IssueInstant="2027-03-01T09:00:00Z">
<samlp:Status><samlp:StatusCode Value="{status}"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode></samlp:Status>
{inner}</samlp:Response></samlp:ArtifactResponse></soapenv:Body></soapenv:Envelope>"#
    )
}

#[test]
fn every_level_and_any_prefix() {
    for n in Niveau::ALL {
        for p in ["saml", "saml2", "a"] {
            let id = digid::parse(assertion(p, "s00000000:111222333", n.class_ref()).as_bytes())
                .unwrap();
            assert_eq!((id.bsn.as_str(), id.niveau), ("111222333", n));
        }
    }
    assert!(Niveau::Basis < Niveau::Midden && Niveau::Substantieel < Niveau::Hoog);
}

#[test]
fn artifact_response_in_soap() {
    let x = artifact_response(
        &assertion("saml", "s00000000:111222333", Niveau::Midden.class_ref()),
        digid::SUCCESS,
    );
    let id = digid::parse(x.as_bytes()).unwrap();
    insta::assert_debug_snapshot!("digid_identity", id);
    let cancelled = artifact_response("", "urn:oasis:names:tc:SAML:2.0:status:Responder");
    let e = digid::parse(cancelled.as_bytes()).unwrap_err();
    assert_eq!(
        e,
        DigidError::Status {
            status: "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            sub_status: Some("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed".into())
        }
    );
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        (
            assertion("s", "s00000000:111222334", Niveau::Basis.class_ref()),
            "Assertion/Subject/NameID",
        ),
        (
            assertion("s", "s00000001:111222333", Niveau::Basis.class_ref()),
            "Assertion/Subject/NameID",
        ),
        (
            assertion("s", "111222333", Niveau::Basis.class_ref()),
            "Assertion/Subject/NameID",
        ),
        (
            assertion(
                "s",
                "s00000000:111222333",
                "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
            ),
            "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef",
        ),
    ];
    for (x, field) in cases {
        let DigidError::Mapping(e) = digid::parse(x.as_bytes()).unwrap_err() else {
            panic!()
        };
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(
            !e.to_string().contains("11122233"),
            "no BSN in the error: {e}"
        );
    }
    let wrong = assertion("s", "s00000000:111222333", Niveau::Basis.class_ref())
        .replace("SAML:2.0:assertion", "SAML:1.0:assertion");
    assert!(matches!(
        digid::parse(wrong.as_bytes()).unwrap_err(),
        DigidError::Mapping(MappingError::WrongNamespace { .. })
    ));
    let no_authn =
        assertion("s", "s00000000:111222333", "x").replace("AuthnStatement", "Statement");
    assert!(matches!(
        digid::parse(no_authn.as_bytes()).unwrap_err(),
        DigidError::Mapping(MappingError::Missing { .. })
    ));
    assert!(matches!(
        digid::parse(b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY b \"c\">]><a/>").unwrap_err(),
        DigidError::Mapping(MappingError::DoctypeNotAllowed)
    ));
    assert!(matches!(
        digid::parse(&vec![b'<'; digid::MAX_BYTES + 1]).unwrap_err(),
        DigidError::Mapping(MappingError::TooLarge { .. })
    ));
}
