//! How `serve` secures a cluster node's calls to its peers, from its flags: with
//! `--tls-cert`, peers are reached over TLS trusting `--cluster-ca` (the node presents
//! its own certificate, for peers that require client certificates); with
//! `--auth-token-file`, it sends the token in `--cluster-token-file`, which the peers'
//! token files must grant the `node` role. `EVENTLOG_PEER_ROUTES` (fault injection)
//! replaces the addresses some peers are dialed at.

use std::path::Path;

use anyhow::Context;

use super::serve::ServeArgs;
use crate::cluster::peer_security::PeerSecurity;
use crate::service::tls;

/// The peer settings of a cluster node's arguments, checked against each other.
pub fn peer_security(args: &ServeArgs) -> anyhow::Result<PeerSecurity> {
    let mut security = PeerSecurity::default();
    match (&args.tls_cert, &args.tls_key, &args.cluster_ca) {
        (Some(cert), Some(key), Some(ca)) => {
            security.ca_pem = Some(tls::read_certificates("cluster CA", ca)?);
            let cert = tls::read_certificates("TLS certificate", cert)?;
            let key = tls::read_private_key("TLS key", key)?;
            security.identity_pem = Some((cert, key));
        }
        (Some(_), _, None) => anyhow::bail!(
            "a cluster node with --tls-cert reaches its peers over TLS: give --cluster-ca, the CA their certificates chain to"
        ),
        (None, _, Some(_)) => {
            anyhow::bail!("--cluster-ca needs --tls-cert: nodes use TLS only when they serve it")
        }
        _ => {}
    }
    match (&args.auth_token_file, &args.cluster_token_file) {
        (Some(_), Some(file)) => security.token = Some(read_token(file)?),
        (Some(_), None) => anyhow::bail!(
            "a cluster node with --auth-token-file needs --cluster-token-file: a file holding the token it sends to its peers (a `node` token in their token files)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "--cluster-token-file needs --auth-token-file: nodes send tokens only when they check them"
        ),
        (None, None) => {}
    }
    security.routes = args.peer_routes.clone().unwrap_or_default();
    if !security.routes.is_empty() {
        tracing::warn!(routes = ?security.routes, "EVENTLOG_PEER_ROUTES is set: peers are dialed at these addresses instead of their advertised ones (fault injection, not for production)");
    }
    Ok(security)
}

/// The first word of the first non-empty, non-comment line of `path`.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read cluster token file {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .and_then(|line| line.split_whitespace().next())
        .map(str::to_string)
        .with_context(|| format!("cluster token file {} holds no token", path.display()))
}
