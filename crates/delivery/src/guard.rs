//! The SSRF guard at delivery time.
//!
//! A webhook URL was checked when it was saved, but a name can resolve anywhere later. Every
//! connection therefore goes through [`GuardedResolver`]: it resolves the host, refuses the
//! whole answer if any address is not permitted (private, loopback, link-local, multicast,
//! unspecified, IPv4-mapped forms of those, …, per the domain's `UrlPolicy`), and hands the
//! connector exactly the addresses it checked, so nothing resolves the name a second time.
//! IPv4 literals never reach a resolver (the connector uses them as they are); IPv6 literals
//! do, bracketed as in the URL (`[::1]`), and are taken as the address they are, with no
//! lookup. [`check_literal_host`] judges both before a request is made.

use std::net::{IpAddr, SocketAddr};

use actix_tls::connect::Resolve;
use futures::future::LocalBoxFuture;
use packhooks_domain::webhook::UrlPolicy;

/// Why a target was not connected to.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The name did not resolve (or resolved to nothing).
    #[error("could not resolve {host}")]
    Dns {
        host: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// The host is or resolves to an address packhooks does not send to.
    #[error("{host} resolves to {ip}, which is not a permitted target")]
    Refused { host: String, ip: IpAddr },
}

/// Resolves with the system resolver (tokio's `lookup_host`) and applies the policy.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub policy: UrlPolicy,
}

impl GuardedResolver {
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let addrs: Vec<SocketAddr> = match literal_ip(host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|source| TargetError::Dns { host: host.to_owned(), source: Some(source) })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(TargetError::Dns { host: host.to_owned(), source: None });
        }
        if let Some(bad) = addrs.iter().find(|a| !self.policy.permits(a.ip())) {
            return Err(TargetError::Refused { host: host.to_owned(), ip: bad.ip() });
        }
        Ok(addrs)
    }
}

impl Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move { self.resolve(host, port).await.map_err(|e| Box::new(e) as Box<dyn std::error::Error>) })
    }
}

/// The address a host names literally: `10.0.0.1`, or an IPv6 address with or without the
/// brackets of a URL (`[::1]`, which no name lookup resolves).
fn literal_ip(host: &str) -> Option<IpAddr> {
    let unbracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    unbracketed.unwrap_or(host).parse().ok()
}

/// Judges a URL whose host is a literal address (which the connector does not resolve).
pub fn check_literal_host(url: &url::Url, policy: UrlPolicy) -> Result<(), TargetError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if policy.permits(ip) {
        Ok(())
    } else {
        Err(TargetError::Refused { host: url.host_str().unwrap_or_default().to_owned(), ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy { allow_private_targets: false };

    #[test]
    fn literal_private_and_mapped_addresses_are_refused() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
        ] {
            let url = url::Url::parse(url).expect("test url");
            assert!(matches!(check_literal_host(&url, STRICT), Err(TargetError::Refused { .. })), "{url}");
        }
        let public = url::Url::parse("http://93.184.216.34/").expect("test url");
        assert!(check_literal_host(&public, STRICT).is_ok());
        let local = url::Url::parse("http://127.0.0.1/").expect("test url");
        assert!(check_literal_host(&local, UrlPolicy { allow_private_targets: true }).is_ok());
    }

    #[tokio::test]
    async fn bracketed_ipv6_literals_are_judged_as_addresses_without_a_lookup() {
        let strict = GuardedResolver { policy: STRICT };
        assert!(matches!(strict.resolve("[::1]", 80).await, Err(TargetError::Refused { .. })));
        let open = GuardedResolver { policy: UrlPolicy { allow_private_targets: true } };
        let addrs = open.resolve("[::ffff:7f00:1]", 8080).await.expect("a literal needs no lookup");
        assert_eq!(addrs, vec!["[::ffff:127.0.0.1]:8080".parse::<SocketAddr>().expect("socket address")]);
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let strict = GuardedResolver { policy: STRICT };
        assert!(matches!(strict.resolve("localhost", 80).await, Err(TargetError::Refused { .. })));
        let open = GuardedResolver { policy: UrlPolicy { allow_private_targets: true } };
        let addrs = open.resolve("localhost", 80).await.expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
