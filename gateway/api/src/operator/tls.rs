//! TLS for the operator listener: the server's certificate and key, no client certificates
//! (operators authenticate with bearer tokens).

use std::path::Path;
use std::sync::Arc;

use crate::tls::{
    ALPN_PROTOCOLS, TlsError, certificates_from_pem, private_key_from_pem, ring_provider,
};

/// A rustls server configuration from PEM files: the certificate chain (leaf first) and its key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |setting: &'static str, path: &Path| {
        std::fs::read_to_string(path).map_err(|source| TlsError::ReadFile {
            setting,
            path: path.to_owned(),
            source,
        })
    };
    let chain = certificates_from_pem("operator.tls.cert", &read("operator.tls.cert", cert)?)?;
    let key = private_key_from_pem("operator.tls.key", &read("operator.tls.key", key)?)?;
    let mut config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            setting: "protocol versions",
            source,
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            setting: "operator.tls.key",
            source,
        })?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
