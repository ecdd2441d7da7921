//! Safe defaults: the server listens on loopback unless told otherwise, and says so
//! loudly when it is reachable from other hosts without TLS or without tokens.

use std::net::SocketAddr;

/// The warnings a server listening on `addr` deserves (none on loopback).
pub fn exposure_warnings(addr: &SocketAddr, tls: bool, auth: bool) -> Vec<&'static str> {
    let mut warnings = Vec::new();
    if addr.ip().is_loopback() {
        return warnings;
    }
    if !tls {
        warnings.push(
            "listening on a non-loopback address without TLS: traffic, tokens included, can be read on the network (see --tls-cert)",
        );
    }
    if !auth {
        warnings.push(
            "listening on a non-loopback address without authentication: anyone who can connect may read, write and delete (see --auth-token-file)",
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exposed_addresses_without_protection_are_warned_about() {
        let loopback: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:50051".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        assert!(exposure_warnings(&loopback, false, false).is_empty());
        assert!(exposure_warnings(&loopback6, false, false).is_empty());
        assert!(exposure_warnings(&any, true, true).is_empty());
        let plain = exposure_warnings(&any, false, true);
        assert_eq!(plain.len(), 1);
        assert!(plain[0].contains("without TLS"));
        let open = exposure_warnings(&any, true, false);
        assert_eq!(open.len(), 1);
        assert!(open[0].contains("without authentication"));
        assert_eq!(exposure_warnings(&any, false, false).len(), 2);
    }
}
