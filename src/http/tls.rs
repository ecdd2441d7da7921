//! TLS for the HTTP listener from the same `ServerTls` the gRPC port uses: the same
//! certificate chain and key and, with a client CA, the same demand for client
//! certificates. Only HTTP/1.1 is offered, the one protocol the listener serves.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

use crate::service::tls::ServerTls;

/// An acceptor for `tls`; the files were checked when `tls` was loaded, so an error
/// here is a configuration the gRPC port would have refused too.
pub fn acceptor(tls: &ServerTls) -> Result<TlsAcceptor, String> {
    let (cert, key, client_ca) = tls.pem_files();
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| "TLS key: not a PEM private key")?;
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert = cert.map_err(|e| format!("TLS client CA: {e}"))?;
                roots.add(cert).map_err(|e| format!("TLS client CA: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS client CA: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
