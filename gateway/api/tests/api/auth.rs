//! Clients and tokens: the sandbox registry, configuration errors naming the field, token
//! verification.

use knooppunt_api::auth::{ClientConfig, TokenError};
use knooppunt_api::{ClientRegistry, TokenIssuer};
use knooppunt_sample as demo;

#[test]
fn sandbox_clients_one_per_institution_with_random_secrets() {
    let reference = demo::reference_data();
    let (reg, creds) = ClientRegistry::sandbox(&reference);
    assert_eq!(creds.len(), reference.institutions.len());
    assert_eq!(reg.len(), creds.len());
    for c in &creds {
        assert_eq!(c.client_id, c.oin);
        assert!(c.client_secret.len() >= 24);
        let client = reg
            .authenticate(&c.client_id, &c.client_secret)
            .expect("sandbox credentials authenticate");
        assert_eq!(client.brin.as_str(), c.brin);
        assert!(reg.authenticate(&c.client_id, "wrong").is_none());
    }
    let (_, again) = ClientRegistry::sandbox(&reference);
    assert_ne!(again[0].client_secret, creds[0].client_secret);
    // The secret never shows in Debug output.
    assert!(!format!("{reg:?}").contains(&creds[0].client_secret));
}

#[test]
fn configured_clients_and_their_errors() {
    let ok = ClientConfig {
        oin: "0000000700025LX00000".into(),
        brin: "25LX".into(),
        secret_sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            b"a-secret-of-the-sis",
        ))),
        secret: None,
    };
    let reg = ClientRegistry::from_config(std::slice::from_ref(&ok)).expect("valid");
    assert!(
        reg.authenticate("0000000700025LX00000", "a-secret-of-the-sis")
            .is_some()
    );

    let mut bad_oin = ok.clone();
    bad_oin.oin = "12".into();
    let e = ClientRegistry::from_config(&[ok.clone(), bad_oin]).expect_err("bad oin");
    assert!(e.to_string().starts_with("api.clients[1].oin"), "{e}");

    let mut bad_hash = ok.clone();
    bad_hash.secret_sha256 = Some("abc".into());
    let e = ClientRegistry::from_config(&[bad_hash]).expect_err("bad hash");
    assert!(e.to_string().contains("secret_sha256"), "{e}");

    let mut both = ok.clone();
    both.secret = Some("also-a-plain-secret".into());
    assert!(ClientRegistry::from_config(&[both]).is_err());

    let mut short = ok;
    short.secret_sha256 = None;
    short.secret = Some("short".into());
    let e = ClientRegistry::from_config(&[short]).expect_err("short secret");
    assert!(e.to_string().contains("secret"), "{e}");
}

#[test]
fn tokens_verify_only_untampered_unexpired_and_with_the_same_key() {
    let brin: knooppunt_registry::ids::Brin = "25LX".parse().expect("brin");
    let issuer = TokenIssuer::new(&[7u8; 32], std::time::Duration::from_secs(300)).expect("key");
    let (token, claims) = issuer.issue(&brin.oin(), &brin);
    assert_eq!(issuer.verify(&token).expect("valid"), claims);
    assert!(TokenIssuer::new(&[7u8; 16], std::time::Duration::from_secs(1)).is_err());

    let other = TokenIssuer::new(&[8u8; 32], std::time::Duration::from_secs(300)).expect("key");
    assert_eq!(other.verify(&token), Err(TokenError::BadSignature));

    let (payload, sig) = token.split_once('.').expect("two parts");
    let mut bytes = payload.as_bytes().to_vec();
    bytes[3] ^= 1;
    let tampered = format!("{}.{sig}", String::from_utf8_lossy(&bytes));
    assert!(issuer.verify(&tampered).is_err());
    assert_eq!(issuer.verify("nodot"), Err(TokenError::Malformed));
    assert_eq!(issuer.verify("a.!!!"), Err(TokenError::Malformed));

    let later = chrono::Utc::now() + chrono::Duration::seconds(301);
    assert_eq!(issuer.verify_at(&token, later), Err(TokenError::Expired));
}
