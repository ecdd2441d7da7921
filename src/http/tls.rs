//! TLS for the HTTP listener from the same `ServerTls` the gRPC port uses: the same
//! certificate chain and key and, with a client CA, the same demand for client
//! certificates. Only HTTP/1.1 is offered, the one protocol the listener serves.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::service::tls::ServerTls;

/// An acceptor for `tls`; the files were checked when `tls` was loaded, so an error
/// here is a configuration the gRPC port would have refused too.
pub fn acceptor(tls: &ServerTls) -> Result<TlsAcceptor, String> {
    let mut config = tls.rustls_config()?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
