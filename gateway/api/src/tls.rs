//! Mutual TLS at the HTTP edge: the server's rustls configuration and the identity of the
//! client certificate.
//!
//! Institutions authenticate with a PKIoverheid certificate whose subject `serialNumber`
//! attribute (OID 2.5.4.5) holds the organisation's OIN, plus OAuth2 client credentials with
//! `client_id` = that OIN (`../shared/docs/domain.md` §2.3). The pattern:
//!
//! - [`server_config`] (from the [`TlsSettings`] of the configuration file) or
//!   [`server_config_from_pem`] builds a `rustls::ServerConfig` with the *ring* provider chosen
//!   explicitly (the process has both ring and aws-lc-rs linked in, so the process default is
//!   never relied upon), ALPN `h2` and `http/1.1`, and a client certificate verifier that
//!   checks a presented certificate against the client CA but makes presenting one
//!   **optional**: `/openapi.json`, `/docs` and `/healthz` must be reachable without one. A
//!   certificate from another CA fails the handshake.
//! - [`super::server::serve`] puts a [`PeerIdentity`] into the request extensions of every
//!   request on a connection that presented a (verified) client certificate. Plain HTTP, or TLS
//!   without a client certificate, gets no extension at all. The API's auth layer reads
//!   `Option<Extension<PeerIdentity>>` and demands it where the API needs mTLS, comparing
//!   [`PeerIdentity::oin`] with the OAuth2 `client_id`.
//! - [`oin_from_certificate`] reads the OIN from a DER certificate; a malformed `serialNumber`
//!   is a [`TlsError::Attribute`] naming the attribute, never a panic.
//!
//! The certificate subject of an organisation certificate is not personal data, so
//! [`PeerIdentity::subject`] may be logged; the OIN is the identity to use in audit records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use knooppunt_registry::ids::{IdError, Oin};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::{Deserialize, Serialize};
use x509_parser::oid_registry::OID_X509_SERIALNUMBER;

/// The ALPN protocols the server offers, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Who is on the other end of a TLS connection that presented a verified client certificate.
///
/// Inserted by [`super::server::serve`] as a request extension; absent on plain HTTP and on TLS
/// connections without a client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The OIN from the subject `serialNumber`; `None` when the certificate has no
    /// `serialNumber` or one that is not a valid OIN (the API then refuses the client).
    pub oin: Option<Oin>,
    /// The certificate subject as an RFC 4514-like string (`C=NL, O=…, serialNumber=…`). An
    /// organisation certificate, so no personal data.
    pub subject: String,
}

impl PeerIdentity {
    /// Reads the identity from the end-entity certificate (DER). A `serialNumber` that is not a
    /// valid OIN gives `oin: None` rather than an error, so the API can say what is wrong; a
    /// certificate that does not parse at all is an error.
    pub fn from_certificate(der: &[u8]) -> Result<Self, TlsError> {
        let cert = parse_certificate(der)?;
        let subject = cert.subject().to_string();
        let oin = oin_from_subject(cert.subject()).unwrap_or_else(|e| {
            // The error names the attribute and the reason, never the value.
            tracing::debug!(error = %e, "client certificate without a usable OIN");
            None
        });
        Ok(Self { oin, subject })
    }
}

/// What went wrong building the TLS configuration or reading a certificate. Each variant names
/// the setting or attribute concerned and the reason; no key material is ever included.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A configured file could not be read.
    #[error("{}: cannot read {}: {source}", setting_words(setting), path.display())]
    ReadFile {
        /// The setting that names the file, e.g. `"cert_pem_path"`.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PEM text holds no certificate (or no private key, for the key setting).
    #[error("{}: no {what} found in the PEM text", setting_words(setting))]
    NothingInPem {
        /// The setting (or argument) that held the PEM text.
        setting: &'static str,
        /// What was looked for: `"certificate"` or `"private key"`.
        what: &'static str,
    },
    /// The PEM text is malformed.
    #[error("{}: malformed PEM: {reason}", setting_words(setting))]
    Pem {
        /// The setting (or argument) that held the PEM text.
        setting: &'static str,
        /// What the PEM reader said.
        reason: String,
    },
    /// The private key does not belong to the (first) certificate.
    #[error(
        "server private key (tls.key_pem_path): it does not belong to the server certificate (tls.cert_pem_path)"
    )]
    KeyMismatch,
    /// The client CA certificates cannot be used as trust anchors or for the verifier.
    #[error("{}: {reason}", setting_words("client_ca_pem_path"))]
    ClientCa {
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration for another reason.
    #[error("{}: {source}", setting_words(setting))]
    Rustls {
        /// The setting the refusal is about.
        setting: &'static str,
        /// The rustls error.
        source: rustls::Error,
    },
    /// A certificate is not valid DER/X.509.
    #[error("certificate: not a valid X.509 certificate: {reason}")]
    Certificate {
        /// What the parser said.
        reason: String,
    },
    /// A subject attribute of a certificate is unusable.
    #[error("certificate subject attribute {attribute}: {reason}")]
    Attribute {
        /// The attribute, e.g. `"serialNumber"`.
        attribute: &'static str,
        /// What is wrong with it.
        reason: AttributeError,
    },
}

/// The setting in words, so a message makes sense however the configuration names the file:
/// `"server certificate (tls.cert_pem_path)"`.
fn setting_words(setting: &str) -> String {
    let role = match setting {
        "cert_pem_path" => "server certificate",
        "key_pem_path" => "server private key",
        "client_ca_pem_path" => "client CA certificates",
        other => return other.to_owned(),
    };
    format!("{role} (tls.{setting})")
}

/// Why a certificate subject attribute is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// The value is not a string type (or not valid in its string type).
    #[error("the value is not a string")]
    NotAString,
    /// The attribute occurs more than once with different values.
    #[error("it occurs more than once with different values")]
    Ambiguous,
    /// The value does not parse as the identifier it must hold.
    #[error(transparent)]
    Invalid(#[from] IdError),
}

/// Where the server's certificate, its key and the client CA are, in the configuration file:
///
/// ```toml
/// [api.tls]
/// cert_pem_path = "/etc/knooppunt/tls/server.pem"       # server certificate chain, leaf first
/// key_pem_path = "/etc/knooppunt/tls/server.key"        # its private key (PKCS#8, PKCS#1 or SEC1)
/// client_ca_pem_path = "/etc/knooppunt/tls/client-ca.pem" # CA(s) that issue client certificates
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file with the server certificate chain, end-entity certificate first.
    pub cert_pem_path: PathBuf,
    /// PEM file with the server's private key.
    pub key_pem_path: PathBuf,
    /// PEM file with the CA certificate(s) client certificates must chain to (for PKIoverheid:
    /// the private services CA chain; in the sandbox: the sandbox CA of [`super::pki`]).
    pub client_ca_pem_path: PathBuf,
}

/// Builds the server configuration from the files named in `settings`.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert = read_file("cert_pem_path", &settings.cert_pem_path)?;
    let key = read_file("key_pem_path", &settings.key_pem_path)?;
    let ca = read_file("client_ca_pem_path", &settings.client_ca_pem_path)?;
    server_config_from_pem(&cert, &key, &ca)
}

/// Builds the server configuration from PEM text: the server's certificate chain (leaf first),
/// its private key, and the CA certificate(s) that client certificates must chain to.
///
/// Client certificates are verified against the client CA but optional at the TLS level; ALPN
/// offers `h2` and `http/1.1`; the ring provider is used explicitly.
pub fn server_config_from_pem(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = ring_provider();
    let chain = certificates_from_pem("cert_pem_path", cert_pem)?;
    let key = private_key_from_pem("key_pem_path", key_pem)?;
    let ca_certs = certificates_from_pem("client_ca_pem_path", client_ca_pem)?;

    let mut roots = rustls::RootCertStore::empty();
    for (i, ca) in ca_certs.into_iter().enumerate() {
        roots.add(ca).map_err(|e| TlsError::ClientCa {
            reason: format!("certificate {} is not a usable trust anchor: {e}", i + 1),
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientCa {
            reason: e.to_string(),
        })?;

    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            setting: "protocol versions",
            source,
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| match source {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch
            }
            source => TlsError::Rustls {
                setting: "key_pem_path",
                source,
            },
        })?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The OIN in the subject `serialNumber` of a DER certificate: `Ok(None)` when there is no
/// such attribute, [`TlsError::Attribute`] naming `serialNumber` when its value is not an OIN.
pub fn oin_from_certificate(der: &[u8]) -> Result<Option<Oin>, TlsError> {
    let cert = parse_certificate(der)?;
    oin_from_subject(cert.subject())
}

/// When the end-entity certificate of a PEM chain (the first certificate, as in
/// [`TlsSettings::cert_pem_path`]) expires, in Unix seconds (its `notAfter`). For the metric
/// `knooppunt_tls_certificate_expiry_timestamp_seconds`.
pub fn certificate_not_after(setting: &'static str, pem: &str) -> Result<i64, TlsError> {
    let chain = certificates_from_pem(setting, pem)?;
    let leaf = parse_certificate(chain[0].as_ref())?;
    Ok(leaf.validity().not_after.timestamp())
}

/// [`certificate_not_after`] of the server certificate file (the `cert_pem_path` setting).
pub fn server_certificate_not_after(cert_pem_path: &Path) -> Result<i64, TlsError> {
    let cert = read_file("cert_pem_path", cert_pem_path)?;
    certificate_not_after("cert_pem_path", &cert)
}

/// The ring crypto provider, which every rustls configuration of the gateway uses explicitly.
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates in a PEM text; at least one, else [`TlsError::NothingInPem`].
pub fn certificates_from_pem(
    setting: &'static str,
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            setting,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NothingInPem {
            setting,
            what: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in a PEM text (PKCS#8, PKCS#1 or SEC1).
pub fn private_key_from_pem(
    setting: &'static str,
    pem: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NothingInPem {
            setting,
            what: "private key",
        },
        e => TlsError::Pem {
            setting,
            reason: e.to_string(),
        },
    })
}

fn read_file(setting: &'static str, path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::ReadFile {
        setting,
        path: path.to_owned(),
        source,
    })
}

fn parse_certificate(
    der: &[u8],
) -> Result<x509_parser::certificate::X509Certificate<'_>, TlsError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(TlsError::Certificate {
            reason: e.to_string(),
        }),
    }
}

fn oin_from_subject(subject: &x509_parser::x509::X509Name<'_>) -> Result<Option<Oin>, TlsError> {
    const ATTRIBUTE: &str = "serialNumber";
    let attr_err = |reason| TlsError::Attribute {
        attribute: ATTRIBUTE,
        reason,
    };
    let mut found: Option<&str> = None;
    for attr in subject.iter_by_oid(&OID_X509_SERIALNUMBER) {
        let value = attr
            .as_str()
            .map_err(|_| attr_err(AttributeError::NotAString))?;
        match found {
            Some(previous) if previous != value => return Err(attr_err(AttributeError::Ambiguous)),
            _ => found = Some(value),
        }
    }
    match found {
        None => Ok(None),
        Some(value) => value
            .parse::<Oin>()
            .map(Some)
            .map_err(|e| attr_err(AttributeError::Invalid(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Pki;

    fn oin(s: &str) -> Oin {
        s.parse().unwrap()
    }

    #[test]
    fn the_oin_comes_from_the_subject_serial_number() {
        let pki = Pki::generate().unwrap();
        let a = oin("0000000700025BE00000");
        let client = pki.client_cert(&a, "ROC Voorbeeld").unwrap();
        let der = certificates_from_pem("client", &client.cert_pem).unwrap();
        assert_eq!(oin_from_certificate(&der[0]).unwrap(), Some(a.clone()));
        let identity = PeerIdentity::from_certificate(&der[0]).unwrap();
        assert_eq!(identity.oin, Some(a));
        assert!(
            identity.subject.contains("ROC Voorbeeld"),
            "{}",
            identity.subject
        );
    }

    #[test]
    fn a_certificate_without_serial_number_has_no_oin() {
        let pki = Pki::generate().unwrap();
        let server = pki.server_cert(&["localhost"]).unwrap();
        let der = certificates_from_pem("server", &server.cert_pem).unwrap();
        assert_eq!(oin_from_certificate(&der[0]).unwrap(), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            oin_from_certificate(b"not a certificate"),
            Err(TlsError::Certificate { .. })
        ));
    }

    #[test]
    fn pem_errors_name_the_setting() {
        let err = certificates_from_pem("cert_pem_path", "no pem here").unwrap_err();
        assert!(matches!(
            err,
            TlsError::NothingInPem {
                setting: "cert_pem_path",
                what: "certificate"
            }
        ));
        assert!(err.to_string().contains("tls.cert_pem_path"), "{err}");
        let err = private_key_from_pem("key_pem_path", "").unwrap_err();
        assert!(matches!(
            err,
            TlsError::NothingInPem {
                setting: "key_pem_path",
                what: "private key"
            }
        ));
    }

    #[test]
    fn a_key_of_another_certificate_is_a_mismatch() {
        let pki = Pki::generate().unwrap();
        let one = pki.server_cert(&["localhost"]).unwrap();
        let other = pki.server_cert(&["localhost"]).unwrap();
        let err = server_config_from_pem(&one.cert_pem, &other.key_pem, &pki.ca_pem()).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_setting_and_the_path() {
        let settings = TlsSettings {
            cert_pem_path: "/nonexistent/knooppunt/server.pem".into(),
            key_pem_path: "/nonexistent/knooppunt/server.key".into(),
            client_ca_pem_path: "/nonexistent/knooppunt/ca.pem".into(),
        };
        let err = server_config(&settings).unwrap_err();
        assert!(matches!(
            err,
            TlsError::ReadFile {
                setting: "cert_pem_path",
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("tls.cert_pem_path")
                && text.contains("/nonexistent/knooppunt/server.pem"),
            "{text}"
        );
    }

    #[test]
    fn the_server_config_offers_h2_and_http1() {
        let pki = Pki::generate().unwrap();
        let server = pki.server_cert(&["localhost", "127.0.0.1"]).unwrap();
        let config =
            server_config_from_pem(&server.cert_pem, &server.key_pem, &pki.ca_pem()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn settings_deserialise_from_toml_and_refuse_unknown_fields() {
        let settings: TlsSettings = toml::from_str(
            "cert_pem_path = \"a.pem\"\nkey_pem_path = \"a.key\"\nclient_ca_pem_path = \"ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(settings.key_pem_path, PathBuf::from("a.key"));
        assert!(toml::from_str::<TlsSettings>("cert_pem_path = \"a\"\nkey_pem_path = \"b\"\nclient_ca_pem_path = \"c\"\nextra = 1\n").is_err());
    }
}
