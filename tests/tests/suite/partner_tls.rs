//! The partners' HTTP clients speak TLS the way chain partners ask: trusting the CA from
//! `[partners.<name>.tls]` (PKIoverheid private roots are not in the public bundle) and showing
//! Knooppunt's client certificate. The counterpart here is a sandbox node's API, which serves a
//! certificate of its own CA and asks for a client certificate of that CA.

use knooppunt_adapters::partners::{BuildError, ClientTls, Settings, http_client};
use knooppunt_registry::partner::Partner;
use reqwest::StatusCode;

use crate::support::{Backend, start_node};

fn settings(tls: ClientTls) -> Settings {
    Settings {
        tls,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_client_trusts_its_configured_ca_and_shows_its_certificate() {
    let h = start_node("ptls", Backend::Sandbox, |_| {}).await;
    let pki = h.node.pki.clone().expect("the sandbox serves TLS");
    let credential = h.node.credentials[0].clone();
    let files = h
        .node
        .client_files(&credential.client_id)
        .expect("the institution's certificate")
        .clone();
    let healthz = format!("{}/healthz", h.node.api_url);
    let token_url = format!("{}/api/v1/oauth2/token", h.node.api_url);
    let token = |client: reqwest::Client| {
        let url = token_url.clone();
        let credential = credential.clone();
        async move {
            client
                .post(url)
                .basic_auth(&credential.client_id, Some(&credential.client_secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    // The public roots only: the node's CA is not among them, so no connection.
    let public = http_client(Partner::Duo, &Settings::default()).unwrap();
    let e = public.get(&healthz).send().await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");

    // The CA configured: the server is trusted; without a client certificate the token
    // endpoint refuses the (correct) secret.
    let ca_only = http_client(
        Partner::Duo,
        &settings(ClientTls {
            ca_file: Some(pki.ca_pem.clone()),
            ..ClientTls::default()
        }),
    )
    .unwrap();
    assert_eq!(
        ca_only.get(&healthz).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(token(ca_only).await, StatusCode::UNAUTHORIZED);

    // With the client certificate (and its key) too: the certificate's OIN is the client's.
    let mutual = http_client(
        Partner::Duo,
        &settings(ClientTls {
            ca_file: Some(pki.ca_pem.clone()),
            client_cert: Some(files.cert_pem.clone()),
            client_key: Some(files.key_pem.clone()),
        }),
    )
    .unwrap();
    assert_eq!(token(mutual).await, StatusCode::OK);
}

#[test]
fn unusable_tls_files_are_named_at_start() {
    let dir = std::env::temp_dir().join(format!("kp-ptls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let field = |tls: ClientTls| match http_client(Partner::Sbb, &settings(tls)) {
        Err(e @ (BuildError::Tls { .. } | BuildError::Setting { .. })) => e.to_string(),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("an unusable TLS setting was accepted"),
    };
    let e = field(ClientTls {
        ca_file: Some(dir.join("missing.pem")),
        ..ClientTls::default()
    });
    assert!(
        e.starts_with("partners.sbb.tls.ca_file: ") && e.contains("missing.pem"),
        "{e}"
    );
    let e = field(ClientTls {
        ca_file: Some(not_pem.clone()),
        ..ClientTls::default()
    });
    assert!(
        e.starts_with("partners.sbb.tls.ca_file: ") && e.contains("certificate"),
        "{e}"
    );
    let e = field(ClientTls {
        client_cert: Some(not_pem.clone()),
        ..ClientTls::default()
    });
    assert!(e.contains("client_cert and client_key go together"), "{e}");
    let e = field(ClientTls {
        client_cert: Some(not_pem.clone()),
        client_key: Some(not_pem),
        ..ClientTls::default()
    });
    assert!(e.starts_with("partners.sbb.tls.client_cert: "), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
