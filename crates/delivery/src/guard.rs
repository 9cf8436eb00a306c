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
//!
//! The lookup itself is a [`Lookup`]: the system's resolver ([`SystemLookup`]) in the
//! product, a scripted one in tests, so an answer that changes between lookups (DNS
//! rebinding) or mixes public and private addresses can be played without a DNS server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use actix_tls::connect::Resolve;
use futures::future::{BoxFuture, LocalBoxFuture};
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

/// Where a host name's addresses come from.
pub trait Lookup: Send + Sync {
    /// Every address `host` resolves to, with `port`.
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver (tokio's `lookup_host`).
#[derive(Clone, Copy, Debug)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// Resolves with a [`Lookup`] and applies the policy to its whole answer.
#[derive(Clone)]
pub struct GuardedResolver {
    pub policy: UrlPolicy,
    lookup: Arc<dyn Lookup>,
}

impl std::fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedResolver").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// With the system's resolver.
    pub fn new(policy: UrlPolicy) -> Self {
        GuardedResolver::with_lookup(policy, Arc::new(SystemLookup))
    }

    /// With another source of answers (tests).
    pub fn with_lookup(policy: UrlPolicy, lookup: Arc<dyn Lookup>) -> Self {
        GuardedResolver { policy, lookup }
    }

    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let addrs: Vec<SocketAddr> = match literal_ip(host) {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => self
                .lookup
                .lookup(host, port)
                .await
                .map_err(|source| TargetError::Dns { host: host.to_owned(), source: Some(source) })?,
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
    const OPEN: UrlPolicy = UrlPolicy { allow_private_targets: true };

    /// A name server that gives the scripted answers in turn (the last one again once they
    /// run out), counting the lookups: what a DNS rebinding attacker controls.
    struct Scripted {
        answers: Vec<Vec<IpAddr>>,
        asked: std::sync::atomic::AtomicUsize,
    }

    impl Scripted {
        fn new(answers: &[&[&str]]) -> Arc<Self> {
            let answers = answers
                .iter()
                .map(|answer| answer.iter().map(|ip| ip.parse().expect("a test address")).collect())
                .collect();
            Arc::new(Scripted { answers, asked: Default::default() })
        }
    }

    impl Lookup for Scripted {
        fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
            let n = self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = &self.answers[n.min(self.answers.len() - 1)];
            Box::pin(std::future::ready(Ok(answer.iter().map(|ip| SocketAddr::new(*ip, port)).collect())))
        }
    }

    /// DNS rebinding: a name answers a public address, then (its TTL run out) a private one.
    /// Every connection resolves again and judges that answer, so the second is refused.
    #[tokio::test]
    async fn a_name_rebound_to_a_private_address_is_refused_at_the_lookup_that_answers_it() {
        let dns = Scripted::new(&[&["93.184.216.34"], &["127.0.0.1"], &["169.254.169.254"]]);
        let resolver = GuardedResolver::with_lookup(STRICT, dns.clone());
        let first = resolver.resolve("rebind.example", 443).await.expect("a public answer is permitted");
        assert_eq!(first, vec!["93.184.216.34:443".parse::<SocketAddr>().expect("socket address")]);
        for private in ["127.0.0.1", "169.254.169.254"] {
            match resolver.resolve("rebind.example", 443).await {
                Err(TargetError::Refused { host, ip }) => {
                    assert_eq!((host.as_str(), ip), ("rebind.example", private.parse::<IpAddr>().expect("an address")))
                }
                other => panic!("rebound to {private}: {other:?}"),
            }
        }
        assert_eq!(dns.asked.load(std::sync::atomic::Ordering::SeqCst), 3, "no answer is reused");
    }

    /// An answer mixing public and private addresses is refused whole, wherever the private
    /// one stands (the connector would try them in turn), IPv4-mapped IPv6 forms included.
    #[tokio::test]
    async fn an_answer_mixing_public_and_private_addresses_is_refused_whole() {
        for (answer, private) in [
            (&["93.184.216.34", "10.0.0.7"][..], "10.0.0.7"),
            (&["10.0.0.7", "93.184.216.34"][..], "10.0.0.7"),
            (&["2606:2800:220:1::1", "::ffff:192.168.1.1"][..], "::ffff:192.168.1.1"),
            (&["93.184.216.34", "2606:2800:220:1::1", "fe80::1"][..], "fe80::1"),
        ] {
            let resolver = GuardedResolver::with_lookup(STRICT, Scripted::new(&[answer]));
            match resolver.resolve("mixed.example", 443).await {
                Err(TargetError::Refused { ip, .. }) => assert_eq!(ip, private.parse::<IpAddr>().expect("an address")),
                other => panic!("{answer:?}: {other:?}"),
            }
            // Allowed private targets take the whole answer, in its order.
            let open = GuardedResolver::with_lookup(OPEN, Scripted::new(&[answer]));
            assert_eq!(open.resolve("mixed.example", 443).await.expect("permitted").len(), answer.len());
        }
    }

    /// An empty answer is a DNS failure, not a connection to nothing.
    #[tokio::test]
    async fn an_empty_answer_is_a_dns_failure() {
        let resolver = GuardedResolver::with_lookup(STRICT, Scripted::new(&[&[]]));
        assert!(matches!(resolver.resolve("empty.example", 443).await, Err(TargetError::Dns { source: None, .. })));
    }

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
        let strict = GuardedResolver::new(STRICT);
        assert!(matches!(strict.resolve("[::1]", 80).await, Err(TargetError::Refused { .. })));
        let open = GuardedResolver::new(OPEN);
        let addrs = open.resolve("[::ffff:7f00:1]", 8080).await.expect("a literal needs no lookup");
        assert_eq!(addrs, vec!["[::ffff:127.0.0.1]:8080".parse::<SocketAddr>().expect("socket address")]);
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let strict = GuardedResolver::new(STRICT);
        assert!(matches!(strict.resolve("localhost", 80).await, Err(TargetError::Refused { .. })));
        let open = GuardedResolver::new(OPEN);
        let addrs = open.resolve("localhost", 80).await.expect("localhost resolves");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
