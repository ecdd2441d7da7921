//! Test material for the security tests: a certificate authority with a server and a
//! client certificate (and a second, untrusted CA with its own client certificate),
//! written as PEM files; a token file; and client connections with options.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use eventlog::client::{Client, ConnectError, ConnectOptions};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// Tokens of the token file written by [`write_tokens`], one per role.
pub const ADMIN_TOKEN: &str = "admin-4f1c9a2e7b5d8c30";
/// A producer token.
pub const PRODUCER_TOKEN: &str = "producer-9d2e6b1a4c7f3e85";
/// A consumer token.
pub const CONSUMER_TOKEN: &str = "consumer-3b8f5a7c1e9d2f64";

/// PEM files of a test PKI, in a temporary directory that lives as long as this.
pub struct Pki {
    /// The directory holding the files.
    pub dir: tempfile::TempDir,
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server's certificate (localhost and 127.0.0.1) and key, signed by the CA.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// A client certificate signed by the CA.
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// A client certificate signed by another CA the server does not trust.
    pub stranger_cert: PathBuf,
    /// Its key.
    pub stranger_key: PathBuf,
}

/// Generates the PKI.
pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ca = ca_issuer("eventlog test CA");
    let other_ca = ca_issuer("untrusted CA");
    let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], &ca);
    let (client_cert, client_key) = leaf(&["client.test"], &ca);
    let (stranger_cert, stranger_key) = leaf(&["stranger.test"], &other_ca);
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server_cert),
        server_key: write("server-key.pem", server_key),
        client_cert: write("client.pem", client_cert),
        client_key: write("client-key.pem", client_key),
        stranger_cert: write("stranger.pem", stranger_cert),
        stranger_key: write("stranger-key.pem", stranger_key),
        dir,
    }
}

fn ca_issuer(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` signed by `issuer`, and its key, as PEM.
fn leaf(names: &[&str], issuer: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// Options that trust the CA, optionally presenting `identity` (cert, key) files.
    pub fn options(&self, identity: Option<(&Path, &Path)>) -> ConnectOptions {
        ConnectOptions {
            tls_ca: Some(std::fs::read(&self.ca).unwrap()),
            tls_identity: identity
                .map(|(cert, key)| (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())),
            ..ConnectOptions::default()
        }
    }
}

/// Writes a token file with one token per role (and a comment and a blank line).
pub fn write_tokens(dir: &Path) -> PathBuf {
    let path = dir.join("tokens");
    let text = format!(
        "# tokens for the tests\n{ADMIN_TOKEN}\n\n{PRODUCER_TOKEN} producer\n{CONSUMER_TOKEN} consumer\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Options carrying `token` (no TLS).
pub fn with_token(token: &str) -> ConnectOptions {
    ConnectOptions {
        token: Some(token.to_string()),
        ..ConnectOptions::default()
    }
}

/// Connects with `options`, retrying briefly while the server starts.
pub async fn connect(url: &str, options: &ConnectOptions) -> Client {
    let mut last_error: Option<ConnectError> = None;
    for _ in 0..100 {
        match Client::connect_with(url, options).await {
            Ok(client) => return client,
            Err(err) => last_error = Some(err),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("cannot connect to {url}: {last_error:?}");
}
