//! A TLS-terminating proxy in front of the API (`api.tls.mode = "proxy"`): the proxy verifies the
//! institution's client certificate and forwards it in a header; the API takes it only from the
//! configured proxy addresses and then checks the certificate's OIN against the OAuth2 client
//! exactly as with its own mutual TLS ([`crate::auth::check_certificate`]).
//!
//! The header holds the client's end-entity certificate as PEM, URL-encoded — what nginx puts in
//! `$ssl_client_escaped_cert` (`proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`) and
//! HAProxy or Envoy can be told to send. The header of a request from any other address is
//! removed unread, so nobody can claim a certificate by sending the header themselves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

use crate::tls::PeerIdentity;

/// The default header a trusted proxy forwards the client certificate in.
pub const DEFAULT_HEADER: &str = "x-client-cert";

/// The proxies whose forwarded client certificate the API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    /// The proxies' addresses (the TCP peer of the connection, not a forwarded-for header).
    pub addresses: Vec<IpAddr>,
    /// The header the certificate comes in.
    pub header: HeaderName,
}

impl TrustedProxy {
    /// Proxies at `addresses` forwarding in `header` (case-insensitive; must be a valid name).
    pub fn new(addresses: Vec<IpAddr>, header: &str) -> Result<Self, String> {
        let header = HeaderName::try_from(header.to_ascii_lowercase())
            .map_err(|_| "not a valid HTTP header name".to_owned())?;
        Ok(Self { addresses, header })
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.addresses.contains(&peer)
    }

    /// The identity in a forwarded header value (URL-encoded PEM), or why not.
    fn identity(value: &[u8]) -> Result<PeerIdentity, &'static str> {
        let text = std::str::from_utf8(value).map_err(|_| "not text")?;
        let pem_text = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|_| "not URL-encoded UTF-8")?;
        let chain = crate::tls::certificates_from_pem("forwarded client certificate", &pem_text)
            .map_err(|_| "not a PEM certificate")?;
        let leaf = chain.first().ok_or("not a PEM certificate")?;
        PeerIdentity::from_certificate(leaf).map_err(|_| "not a readable X.509 certificate")
    }
}

/// Middleware: takes the forwarded certificate of a request from a trusted proxy as the
/// request's [`PeerIdentity`]; removes the header from every request. A header that is there
/// but unreadable counts as no certificate (logged without its value).
pub async fn forwarded_certificate(
    State(proxy): State<Arc<TrustedProxy>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let value = request.headers_mut().remove(&proxy.header);
    // Never an identity from elsewhere, even one the connection itself brought.
    request.extensions_mut().remove::<PeerIdentity>();
    if let (Some(peer), Some(value)) = (peer, value)
        && proxy.trusts(peer)
    {
        match TrustedProxy::identity(value.as_bytes()) {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
            }
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "the proxy's forwarded client certificate is unusable"
                );
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_headers() {
        let p = TrustedProxy::new(vec!["10.0.0.5".parse().unwrap()], "X-Client-Cert").unwrap();
        assert_eq!(p.header.as_str(), DEFAULT_HEADER);
        assert!(p.trusts("10.0.0.5".parse().unwrap()));
        assert!(p.trusts("::ffff:10.0.0.5".parse().unwrap()));
        assert!(!p.trusts("10.0.0.6".parse().unwrap()));
        assert!(TrustedProxy::new(vec![], "bad header").is_err());
        assert_eq!(
            TrustedProxy::identity(b"-----BEGIN%20CERTIFICATE-----").unwrap_err(),
            "not a PEM certificate"
        );
    }
}
