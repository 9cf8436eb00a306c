//! Webhook URLs: parsed once, when a webhook is created or changed, into a [`WebhookUrl`]
//! that is known to be an http(s) URL packhooks may send to.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::error::{DomainError, UrlRefusal};
use crate::ip_policy::is_public_ip;

/// Which targets are allowed. Policy is data: it comes from settings
/// (`PACKHOOKS_ALLOW_PRIVATE_TARGETS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allow private, loopback, link-local, … addresses and `localhost` names. Off in
    /// production, so a customer cannot point packhooks at the internal network; tests and
    /// local demos turn it on to reach 127.0.0.1.
    pub allow_private_targets: bool,
}

impl UrlPolicy {
    /// Whether a (resolved or literal) address may be sent to.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private_targets || is_public_ip(ip)
    }
}

/// An http(s) URL with a host, no user info, at most [`WebhookUrl::MAX_LEN`] characters,
/// and (unless the policy allows) no literal non-public address or `localhost` name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str, policy: &UrlPolicy) -> Result<Self, DomainError> {
        Self::check(raw, policy).map_err(DomainError::InvalidUrl)
    }

    fn check(raw: &str, policy: &UrlPolicy) -> Result<Self, UrlRefusal> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err(UrlRefusal::TooLong { max: Self::MAX_LEN });
        }
        let url = Url::parse(raw).map_err(|e| match e {
            url::ParseError::EmptyHost => UrlRefusal::NoHost,
            other => UrlRefusal::Malformed(other),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Userinfo);
        }
        // Normalisation (punycode, percent-encoding) may lengthen what was given.
        if url.as_str().len() > Self::MAX_LEN {
            return Err(UrlRefusal::TooLong { max: Self::MAX_LEN });
        }
        if url.port() == Some(0) {
            return Err(UrlRefusal::PortZero);
        }
        let ip = match url.host() {
            None => return Err(UrlRefusal::NoHost),
            Some(Host::Ipv6(_)) if url.scheme() == "https" => return Err(UrlRefusal::HttpsToIpv6Literal),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                if !policy.allow_private_targets && is_localhost_name(name) {
                    return Err(UrlRefusal::LocalHostName);
                }
                None
            }
        };
        if let Some(ip) = ip {
            if !policy.permits(ip) {
                return Err(UrlRefusal::PrivateAddress);
            }
        }
        Ok(WebhookUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> String {
        url.0.into()
    }
}

/// `localhost`, `*.localhost` (RFC 6761 reserves both for loopback), with or without the
/// trailing root dot. The url crate has already lower-cased the name.
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy { allow_private_targets: false };
    const LAX: UrlPolicy = UrlPolicy { allow_private_targets: true };

    fn refusal(raw: &str, policy: &UrlPolicy) -> &'static str {
        match WebhookUrl::parse(raw, policy) {
            Err(DomainError::InvalidUrl(r)) => r.reason(),
            other => panic!("{raw}: expected an invalid_url refusal, got {other:?}"),
        }
    }

    #[test]
    fn accepts_public_http_and_https_urls_and_normalises_them() {
        let url = WebhookUrl::parse("HTTPS://Hooks.Example.COM/in?x=1", &STRICT).expect("valid");
        assert_eq!(url.as_str(), "https://hooks.example.com/in?x=1");
        let url = WebhookUrl::parse("http://8.8.8.8:8080/hook", &STRICT).expect("valid");
        assert_eq!(url.to_string(), "http://8.8.8.8:8080/hook");
        assert!(WebhookUrl::parse("http://[2606:4700:4700::1111]/x", &STRICT).is_ok());
    }

    #[test]
    fn refuses_port_zero_and_https_to_an_ipv6_literal() {
        assert_eq!(refusal("https://example.com:0/a", &STRICT), "port_zero");
        assert_eq!(refusal("http://8.8.8.8:0/", &LAX), "port_zero");
        assert_eq!(refusal("https://[2606:4700:4700::1111]/x", &STRICT), "https_ipv6_literal");
        assert_eq!(refusal("https://[::1]:8443/x", &LAX), "https_ipv6_literal");
        assert!(WebhookUrl::parse("https://example.com:8443/a", &STRICT).is_ok());
        assert!(WebhookUrl::parse("https://8.8.8.8/a", &STRICT).is_ok());
    }

    #[test]
    fn refuses_other_schemes_userinfo_garbage_and_missing_hosts() {
        assert_eq!(refusal("ftp://example.com/", &STRICT), "scheme");
        assert_eq!(refusal("file:///etc/passwd", &STRICT), "scheme");
        assert_eq!(refusal("javascript:alert(1)", &STRICT), "scheme");
        assert_eq!(refusal("https://user:pw@example.com/", &STRICT), "userinfo");
        assert_eq!(refusal("https://user@example.com/", &STRICT), "userinfo");
        assert_eq!(refusal("https://:pw@example.com/", &LAX), "userinfo");
        assert_eq!(refusal("not a url", &STRICT), "malformed");
        assert_eq!(refusal("", &STRICT), "malformed");
        assert_eq!(refusal("http://", &STRICT), "no_host");
        assert_eq!(refusal("https://:443/path", &STRICT), "no_host");
    }

    #[test]
    fn refuses_urls_over_2048_characters() {
        let base = "https://example.com/";
        let exactly = format!("{base}{}", "a".repeat(2048 - base.len()));
        assert!(WebhookUrl::parse(&exactly, &STRICT).is_ok());
        let over = format!("{exactly}a");
        assert_eq!(refusal(&over, &STRICT), "too_long");
    }

    #[test]
    fn refuses_literal_non_public_targets_in_every_spelling() {
        for raw in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://172.16.0.1/",
            "http://192.168.0.1:8080/",
            "http://192.0.2.1/",
            "http://198.51.100.1/",
            "http://203.0.113.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://[fc00::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
        ] {
            assert_eq!(refusal(raw, &STRICT), "private_address", "{raw}");
            assert!(WebhookUrl::parse(raw, &LAX).is_ok(), "{raw} should pass when private targets are allowed");
        }
    }

    #[test]
    fn refuses_localhost_names_unless_allowed() {
        for raw in [
            "http://localhost/",
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://api.localhost/",
            "http://a.b.localhost./x",
        ] {
            assert_eq!(refusal(raw, &STRICT), "local_host_name", "{raw}");
            assert!(WebhookUrl::parse(raw, &LAX).is_ok(), "{raw} should pass when private targets are allowed");
        }
        // Names that merely contain the word are ordinary names.
        assert!(WebhookUrl::parse("https://localhost.example.com/", &STRICT).is_ok());
        assert!(WebhookUrl::parse("https://mylocalhost/", &STRICT).is_ok());
    }

    #[test]
    fn policy_permits_resolved_addresses_by_the_same_rule() {
        let private: IpAddr = "10.0.0.1".parse().expect("ip");
        let public: IpAddr = "8.8.8.8".parse().expect("ip");
        assert!(!STRICT.permits(private));
        assert!(STRICT.permits(public));
        assert!(LAX.permits(private));
    }
}
