//! TLS material read from PEM files: the server's certificate chain and key, and the
//! CA that client certificates must chain to (mutual TLS). The client reuses the
//! readers for its own CA, certificate and key.
//!
//! Everything is read and checked when the server starts, before it listens, so a bad
//! file is a one-line error that names it rather than failed handshakes later.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// Longest a TLS handshake may take: a peer that connects and stays silent must not
/// hold a handshake task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reading or checking a PEM file failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// The file could not be read.
    #[error("cannot read {what} {}: {error}", path.display())]
    Read {
        /// What the file should hold, e.g. "TLS certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`, so it prints once).
        error: std::io::Error,
    },
    /// The file is not valid PEM or holds nothing of the expected kind.
    #[error("invalid {what} {}: {reason}", path.display())]
    Invalid {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The files are each valid but do not work together (for example a key that does
    /// not belong to the certificate).
    #[error("TLS certificate {} and key {} are not usable together: {reason}", cert.display(), key.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The TLS library's reason.
        reason: String,
    },
}

/// Reads a PEM file holding one or more certificates; returns the PEM text.
pub fn read_certificates(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let pem = read(what, path)?;
    let invalid = |reason: String| TlsFileError::Invalid {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certificates.is_empty() {
        return Err(invalid("no \"BEGIN CERTIFICATE\" section found".into()));
    }
    Ok(pem)
}

/// Reads a PEM file holding a private key (PKCS#8, PKCS#1 or SEC1); returns the PEM text.
pub fn read_private_key(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    let pem = read(what, path)?;
    // The parser's own messages could quote the file; keep key material out of errors.
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsFileError::Invalid {
        what,
        path: path.to_path_buf(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no private key section found".into(),
            _ => "not a PEM private key".into(),
        },
    })?;
    Ok(pem)
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|error| TlsFileError::Read {
        what,
        path: path.to_path_buf(),
        error,
    })
}

/// The server's TLS settings, loaded and checked.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerTls {
    cert_path: PathBuf,
    key_path: PathBuf,
    client_ca_path: Option<PathBuf>,
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl ServerTls {
    /// Reads the certificate chain, its key and, for mutual TLS, the CA that client
    /// certificates must chain to, and checks that they form a working configuration.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsFileError> {
        let tls = ServerTls {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            client_ca_path: client_ca.map(Path::to_path_buf),
            cert: read_certificates("TLS certificate", cert)?,
            key: read_private_key("TLS key", key)?,
            client_ca: client_ca
                .map(|path| read_certificates("TLS client CA", path))
                .transpose()?,
        };
        // Build the acceptor once now, so a key that does not match the certificate
        // stops the start instead of every handshake.
        Server::builder()
            .tls_config(tls.tonic_config())
            .map_err(|e| TlsFileError::Mismatch {
                cert: tls.cert_path.clone(),
                key: tls.key_path.clone(),
                // Skip tonic's own "transport error": the cause is what helps.
                reason: std::error::Error::source(&e).map_or_else(|| e.to_string(), error_chain),
            })?;
        Ok(tls)
    }

    /// The same configuration for a rustls listener (the HTTP API, the Kafka
    /// listener): the certificate chain and key, and with a client CA, the demand for
    /// client certificates. The files were checked at [`ServerTls::load`], so an error
    /// here is one the gRPC port would have refused too.
    pub fn rustls_config(&self) -> Result<rustls::ServerConfig, String> {
        use rustls::server::WebPkiClientVerifier;
        use rustls::{RootCertStore, ServerConfig, crypto};
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("TLS certificate: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|_| "TLS key: not a PEM private key")?;
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca) {
                    let cert = cert.map_err(|e| format!("TLS client CA: {e}"))?;
                    roots.add(cert).map_err(|e| format!("TLS client CA: {e}"))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("TLS client CA: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca.is_some()
    }

    /// The configuration for tonic's server builder.
    pub fn tonic_config(&self) -> ServerTlsConfig {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        config
    }
}

impl fmt::Debug for ServerTls {
    // Paths only: the key must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .field("client_ca", &self.client_ca_path)
            .finish()
    }
}

/// An error and its causes on one line, each said once: tonic's own message is only
/// "transport error", and layers below it often repeat their cause's text.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
