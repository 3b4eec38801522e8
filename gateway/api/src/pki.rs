//! A small PKI for tests and the sandbox: one CA ("Knooppunt sandbox CA"), server certificates
//! and PKIoverheid-style client certificates (subject `serialNumber` = the institution's OIN,
//! `O` = its name), made with rcgen on ring.
//!
//! The pattern, in tests:
//!
//! ```no_run
//! # use knooppunt_api::{pki::{self, Pki}, tls};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pki = Pki::generate()?;
//! let server = pki.server_cert(&["localhost", "127.0.0.1"])?;
//! let config = tls::server_config_from_pem(&server.cert_pem, &server.key_pem, &pki.ca_pem())?;
//! // … serve with `api::server::serve(listener, app, Some(config), shutdown)` …
//! let oin = "0000000700025BE00000".parse()?;
//! let client_cert = pki.client_cert(&oin, "ROC Voorbeeld")?;
//! let client = reqwest::Client::builder()
//!     .use_preconfigured_tls(pki::client_tls_config(
//!         &pki.ca_pem(),
//!         &client_cert.cert_pem,
//!         &client_cert.key_pem,
//!     )?)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! For the sandbox, [`Pki::write_sandbox`] writes the CA, a server certificate for `localhost`
//! and `127.0.0.1`, and a client certificate per institution to a directory (key files with
//! mode 0600); point `[api.tls]` (see [`super::tls::TlsSettings`]) at `server.pem`,
//! `server.key` and `ca.pem`, and give each institution its `<oin>.pem` and `<oin>.key`.
//!
//! Nothing here is for production: production certificates come from PKIoverheid.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::Datelike;
use knooppunt_registry::ids::Oin;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use super::tls::{self, TlsError};

/// The common name of the sandbox CA.
pub const CA_NAME: &str = "Knooppunt sandbox CA";

/// The X.520 `serialNumber` attribute (OID 2.5.4.5), which holds the OIN in a PKIoverheid
/// organisation certificate.
const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];

/// What went wrong making certificates or writing the sandbox files.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen could not make a key or a certificate (`what` says which).
    #[error("cannot make the {what}: {source}")]
    Generate {
        /// E.g. `"CA certificate"`, `"server certificate"`.
        what: &'static str,
        /// The rcgen error.
        source: rcgen::Error,
    },
    /// A name given for a server certificate is not a DNS name or IP address.
    #[error("server certificate name #{position}: not a DNS name or IP address ({reason})")]
    Name {
        /// 1-based position of the name in the list.
        position: usize,
        /// Why.
        reason: String,
    },
    /// The sandbox directory is not private to this user.
    #[error("{} {reason}", path.display())]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A sandbox file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A certificate and its private key, both PEM. `Debug` does not show the key.
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A CA that issues server and client certificates for tests and the sandbox.
pub struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("ca", &CA_NAME)
            .finish_non_exhaustive()
    }
}

/// The paths [`Pki::write_sandbox`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFiles {
    /// The CA certificate (`ca.pem`): the client CA of the server and the root clients trust.
    pub ca_pem: PathBuf,
    /// The server certificate (`server.pem`), for `localhost` and `127.0.0.1`.
    pub server_pem: PathBuf,
    /// The server's private key (`server.key`, mode 0600).
    pub server_key: PathBuf,
    /// Per institution, in the order given: its OIN, `<oin>.pem` and `<oin>.key` (mode 0600).
    pub clients: Vec<ClientFiles>,
}

/// One institution's client certificate files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// The OIN in the certificate subject.
    pub oin: Oin,
    /// `<oin>.pem`.
    pub cert_pem: PathBuf,
    /// `<oin>.key` (mode 0600).
    pub key_pem: PathBuf,
}

impl Pki {
    /// Makes a fresh CA ("Knooppunt sandbox CA") with a new ECDSA P-256 key.
    pub fn generate() -> Result<Self, PkiError> {
        let what = "CA certificate";
        let key = KeyPair::generate().map_err(|source| PkiError::Generate { what, source })?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "NL");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Knooppunt sandbox");
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, 10);
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Generate { what, source })?;
        Ok(Self {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// A server certificate with `names` (DNS names or IP addresses) as subject alternative
    /// names; an empty list means `localhost` and `127.0.0.1`.
    pub fn server_cert(&self, names: &[&str]) -> Result<CertifiedKey, PkiError> {
        let what = "server certificate";
        let names: Vec<&str> = if names.is_empty() {
            vec!["localhost", "127.0.0.1"]
        } else {
            names.to_vec()
        };
        let mut params = CertificateParams::default();
        for (i, name) in names.iter().enumerate() {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => {
                    let name_err = |reason: String| PkiError::Name {
                        position: i + 1,
                        reason,
                    };
                    rustls::pki_types::DnsName::try_from(*name)
                        .map_err(|e| name_err(e.to_string()))?;
                    rcgen::SanType::DnsName(
                        (*name)
                            .try_into()
                            .map_err(|e: rcgen::Error| name_err(e.to_string()))?,
                    )
                }
            };
            params.subject_alt_names.push(san);
        }
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Knooppunt sandbox");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(what, params)
    }

    /// A client certificate in the PKIoverheid style: subject `C=NL`, `O=organisation`,
    /// `serialNumber=oin`, `CN=organisation`; extended key usage client authentication.
    pub fn client_cert(&self, oin: &Oin, organisation: &str) -> Result<CertifiedKey, PkiError> {
        let what = "client certificate";
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "NL");
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        // An OIN is digits and upper-case letters, so it is always a valid PrintableString,
        // the type X.520 prescribes for serialNumber.
        let serial = DnValue::PrintableString(
            oin.to_string()
                .try_into()
                .map_err(|source| PkiError::Generate { what, source })?,
        );
        params
            .distinguished_name
            .push(DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()), serial);
        params
            .distinguished_name
            .push(DnType::CommonName, organisation);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(what, params)
    }

    /// Makes a new CA and writes the sandbox files to `dir` (created if missing): `ca.pem`,
    /// `server.pem` and `server.key` (for `localhost` and `127.0.0.1`), and per institution
    /// `<oin>.pem` and `<oin>.key` with the organisation name as `O`. Key files get mode 0600.
    pub fn write_sandbox(
        dir: &Path,
        institutions: &[(Oin, String)],
    ) -> Result<SandboxFiles, PkiError> {
        let pki = Self::generate()?;
        private_dir(dir)?;
        let ca_pem = dir.join("ca.pem");
        write_file(&ca_pem, &pki.ca_pem, false)?;
        let server = pki.server_cert(&["localhost", "127.0.0.1"])?;
        let server_pem = dir.join("server.pem");
        let server_key = dir.join("server.key");
        write_file(&server_pem, &server.cert_pem, false)?;
        write_file(&server_key, &server.key_pem, true)?;
        let mut clients = Vec::with_capacity(institutions.len());
        for (oin, organisation) in institutions {
            let cert = pki.client_cert(oin, organisation)?;
            let files = ClientFiles {
                oin: oin.clone(),
                cert_pem: dir.join(format!("{oin}.pem")),
                key_pem: dir.join(format!("{oin}.key")),
            };
            write_file(&files.cert_pem, &cert.cert_pem, false)?;
            write_file(&files.key_pem, &cert.key_pem, true)?;
            clients.push(files);
        }
        Ok(SandboxFiles {
            ca_pem,
            server_pem,
            server_key,
            clients,
        })
    }

    fn sign(
        &self,
        what: &'static str,
        params: CertificateParams,
    ) -> Result<CertifiedKey, PkiError> {
        let mut params = params;
        set_validity(&mut params, 2);
        let key = KeyPair::generate().map_err(|source| PkiError::Generate { what, source })?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|source| PkiError::Generate { what, source })?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A client configuration for tests and sandbox clients: trusts `ca_pem` only, presents the
/// client certificate `cert_pem` with `key_pem`, offers ALPN `h2` and `http/1.1`, ring provider.
///
/// Returned by value because that is what `reqwest::ClientBuilder::use_preconfigured_tls`
/// accepts (it does not recognise an `Arc<ClientConfig>`); wrap it in an `Arc` for
/// tokio-rustls.
pub fn client_tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<rustls::ClientConfig, TlsError> {
    let chain = tls::certificates_from_pem("client cert_pem", cert_pem)?;
    let key = tls::private_key_from_pem("client key_pem", key_pem)?;
    let mut config = client_builder(ca_pem)?
        .with_client_auth_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            setting: "client key_pem",
            source,
        })?;
    config.alpn_protocols = tls::ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Like [`client_tls_config`], without a client certificate (for the public endpoints).
pub fn client_tls_config_without_cert(ca_pem: &str) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = client_builder(ca_pem)?.with_no_client_auth();
    config.alpn_protocols = tls::ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn client_builder(
    ca_pem: &str,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, TlsError>
{
    let mut roots = rustls::RootCertStore::empty();
    for (i, ca) in tls::certificates_from_pem("client ca_pem", ca_pem)?
        .into_iter()
        .enumerate()
    {
        roots.add(ca).map_err(|e| TlsError::ClientCa {
            reason: format!("certificate {} is not a usable trust anchor: {e}", i + 1),
        })?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(tls::ring_provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                setting: "client",
                source,
            })?
            .with_root_certificates(roots),
    )
}

/// Valid from the start of last year until `years` years after the start of this one.
fn set_validity(params: &mut CertificateParams, years: i32) {
    let year = chrono::Utc::now().year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 1, 1);
}

/// Creates `dir` readable by this user only (0700), or checks that an existing one is a real
/// directory (not a symbolic link) closed to other users. The sandbox writes private keys into
/// it, by default under the shared temporary directory, where another user could have made the
/// path first.
fn private_dir(dir: &Path) -> Result<(), PkiError> {
    let write_err = |source| PkiError::Write {
        path: dir.to_owned(),
        source,
    };
    let unsafe_dir = |reason| PkiError::UnsafeDirectory {
        path: dir.to_owned(),
        reason,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    if let Err(e) = std::fs::symlink_metadata(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(write_err(e));
        }
        builder.create(dir).map_err(write_err)?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(write_err)?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("is a symbolic link; give a private directory"));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            // Others could have put files or links in it.
            return Err(unsafe_dir(
                "is writable by other users; give a private directory",
            ));
        }
        if mode & 0o077 != 0 {
            // Readable by others (an earlier version made it so) but written only by its owner:
            // tightened, which succeeds only when it is ours.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                |_| unsafe_dir("is readable by other users and not ours to make private"),
            )?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), PkiError> {
    let write_err = |source| PkiError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(write_err)?;
    // `mode` only applies to a new file; an existing key file is tightened as well.
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_err)?;
    }
    std::io::Write::write_all(&mut file, contents.as_bytes()).map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_carry_the_oin_and_chain_to_the_ca() {
        let pki = Pki::generate().unwrap();
        let oin: Oin = "00000001800866472000".parse().unwrap();
        let cert = pki.client_cert(&oin, "DUO").unwrap();
        let der = tls::certificates_from_pem("t", &cert.cert_pem).unwrap();
        assert_eq!(tls::oin_from_certificate(&der[0]).unwrap(), Some(oin));
        // The client config accepts the pair (key matches certificate).
        client_tls_config(&pki.ca_pem(), &cert.cert_pem, &cert.key_pem).unwrap();
        assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_bad_server_name_is_a_typed_error() {
        let pki = Pki::generate().unwrap();
        let err = pki.server_cert(&["localhost", "not a name!"]).unwrap_err();
        assert!(matches!(err, PkiError::Name { position: 2, .. }), "{err}");
    }

    #[test]
    fn the_sandbox_is_written_with_private_key_files() {
        let dir = std::env::temp_dir().join(format!("knooppunt-pki-{}", uuid::Uuid::new_v4()));
        let oin: Oin = "0000000700025BE00000".parse().unwrap();
        let files = Pki::write_sandbox(&dir, &[(oin.clone(), "ROC Voorbeeld".to_owned())]).unwrap();
        assert_eq!(files.ca_pem, dir.join("ca.pem"));
        assert_eq!(files.clients.len(), 1);
        assert_eq!(
            files.clients[0].key_pem,
            dir.join("0000000700025BE00000.key")
        );
        let settings = tls::TlsSettings {
            cert_pem_path: files.server_pem.clone(),
            key_pem_path: files.server_key.clone(),
            client_ca_pem_path: files.ca_pem.clone(),
        };
        tls::server_config(&settings).unwrap();
        let client_pem = std::fs::read_to_string(&files.clients[0].cert_pem).unwrap();
        let der = tls::certificates_from_pem("t", &client_pem).unwrap();
        assert_eq!(tls::oin_from_certificate(&der[0]).unwrap(), Some(oin));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [&files.server_key, &files.clients[0].key_pem] {
                let mode = std::fs::metadata(key).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", key.display());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_sandbox_directory_is_private_and_never_a_link_or_shared() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("kp-pki-dir-{}", uuid::Uuid::new_v4()));
        // Made fresh: 0700.
        let fresh = base.join("sandbox");
        private_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Open to others (as another user could have left it): refused, named.
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&open).unwrap_err().to_string();
        assert!(e.contains("writable by other users"), "{e}");
        // Only readable by others, and ours: made private.
        let readable = base.join("readable");
        std::fs::create_dir(&readable).unwrap();
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&readable).unwrap();
        let mode = std::fs::metadata(&readable).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A symbolic link (to a private directory even): refused.
        let link = base.join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let e = private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(matches!(
            Pki::write_sandbox(&link, &[]),
            Err(PkiError::UnsafeDirectory { .. })
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
