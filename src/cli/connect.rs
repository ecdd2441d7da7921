//! Flags every client command shares to reach a secured server: a token and TLS files.

use std::fmt;
use std::path::PathBuf;

use clap::Args;

use crate::client::{Client, ConnectOptions};
use crate::service::tls::{read_certificates, read_private_key};

/// Token and TLS flags of the client commands. An `https://` server address means TLS.
#[derive(Clone, Args)]
pub struct ConnectArgs {
    /// Bearer token sent with every request (prefer the environment variable: command
    /// lines are visible to other users).
    #[arg(long, env = "EVENTLOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM certificate of the CA that signed the server's certificate (for https://).
    #[arg(long, env = "EVENTLOG_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require mutual TLS (needs --tls-key).
    /// Its variable differs from the server's EVENTLOG_TLS_CERT so both can be set.
    #[arg(long, env = "EVENTLOG_CLIENT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "EVENTLOG_CLIENT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name the server's certificate must carry, if not the host of the address.
    #[arg(long, env = "EVENTLOG_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
}

impl ConnectArgs {
    /// The connection options, with the PEM files read (errors name the file).
    pub fn options(&self) -> anyhow::Result<ConnectOptions> {
        let tls_identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((
                read_certificates("TLS client certificate", cert)?,
                read_private_key("TLS client key", key)?,
            )),
            _ => None,
        };
        Ok(ConnectOptions {
            token: self.token.clone(),
            tls_ca: self
                .tls_ca
                .as_deref()
                .map(|path| read_certificates("TLS CA certificate", path))
                .transpose()?,
            tls_identity,
            tls_server_name: self.tls_server_name.clone(),
        })
    }

    /// Connects to `server` with these options.
    pub async fn connect(&self, server: &str) -> anyhow::Result<Client> {
        if self.token.is_some() && sends_in_clear(server) {
            // Not refused: a TLS-terminating proxy on the same network segment is a
            // legitimate setup. But the user should know the token crosses the wire.
            eprintln!(
                "warning: sending the token without TLS to {server}; anyone on the path can read it (use https://)"
            );
        }
        Ok(Client::connect_with(server, &self.options()?).await?)
    }
}

/// Whether `server` is a plaintext (`http://` or scheme-less) address of another host.
fn sends_in_clear(server: &str) -> bool {
    if server.starts_with("https://") {
        return false;
    }
    let rest = server.strip_prefix("http://").unwrap_or(server);
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => rest.split([':', '/']).next().unwrap_or(rest),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

impl fmt::Debug for ConnectArgs {
    // The token must never be printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_server_name", &self.tls_server_name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::sends_in_clear;

    #[test]
    fn only_plaintext_to_other_hosts_is_in_clear() {
        assert!(sends_in_clear("http://events.internal:50051"));
        assert!(sends_in_clear("10.0.0.5:50051"));
        assert!(!sends_in_clear("https://events.internal:50051"));
        assert!(!sends_in_clear("http://127.0.0.1:50051"));
        assert!(!sends_in_clear("http://localhost:50051"));
        assert!(!sends_in_clear("http://[::1]:50051"));
    }
}
