//! One HTTP attempt: the signed POST, and what came of it as a closed outcome.
//!
//! Each webhook actor owns one [`Sender`] (an awc client with keep-alive whose connection
//! limit is that webhook's in-flight limit), so a slow endpoint cannot take connections
//! from another webhook. Redirects are never followed; every connection goes through the
//! [`GuardedResolver`].

use std::time::{Duration, Instant};

use awc::error::{ConnectError, SendRequestError};
use awc::http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use awc::http::{StatusCode, Uri};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use packhooks_domain::delivery::{AttemptOutcome, FailureCode};
use packhooks_domain::webhook::{Secrets, UrlPolicy, WebhookFormat};

use crate::guard::{check_literal_host, GuardedResolver, TargetError};
use crate::signing::{signature_header, SigningKey};

/// The first this many bytes of an answer are kept in the attempt's event.
pub const KEPT_BODY_BYTES: usize = 1024;
/// Answers are read (and thrown away) up to this size so the connection can be reused.
const DRAINED_BODY_BYTES: usize = 64 * 1024;

const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// Where and how one webhook is sent to, as of the latest lifecycle event. Built once per
/// lifecycle change, so what every attempt needs of it (the URI, the keyed signing keys) is
/// worked out here, not per attempt.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: url::Url,
    pub secrets: Secrets,
    /// The body the webhook is sent (standard unless set with [`Target::with_format`]).
    pub format: WebhookFormat,
    /// `url` as awc takes it; `None` if it does not parse as one (the attempt then fails
    /// with awc's own error, as it would from the text).
    uri: Option<Uri>,
    /// The `host` header awc would write from `uri` on every request (`host` or
    /// `host:port` when the port is not 80 or 443), worked out once.
    host: Option<HeaderValue>,
    /// The current secret's key (`None` if it does not decode: the header then has no
    /// signature from it, as before).
    current: Option<SigningKey>,
    /// The previous secret's key and the end of its overlap.
    previous: Option<(SigningKey, DateTime<Utc>)>,
}

impl Target {
    pub fn new(url: url::Url, secrets: Secrets) -> Self {
        let uri = Uri::try_from(url.as_str()).ok();
        let host = uri.as_ref().and_then(|uri| {
            let host = uri.host()?;
            let text = match uri.port_u16() {
                None | Some(80) | Some(443) => host.to_owned(),
                Some(port) => format!("{host}:{port}"),
            };
            HeaderValue::try_from(text).ok()
        });
        let current = secrets.current.key_bytes().ok().map(SigningKey::new);
        let previous = secrets
            .previous
            .as_ref()
            .and_then(|p| p.secret.key_bytes().ok().map(|key| (SigningKey::new(key), p.valid_until)));
        Target { url, secrets, format: WebhookFormat::Standard, uri, host, current, previous }
    }

    /// The same target, sent bodies of `format`.
    pub fn with_format(self, format: WebhookFormat) -> Self {
        Target { format, ..self }
    }

    /// The keys that sign at `now` (both during a rotation's overlap, as the domain's
    /// `Secrets::signing_at` says).
    pub fn keys_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SigningKey> {
        let previous = self.previous.as_ref().filter(|(_, until)| now < *until).map(|(key, _)| key);
        self.current.iter().chain(previous)
    }
}

/// What one attempt came to, with what the retry schedule needs.
#[derive(Clone, Debug)]
pub struct AttemptReport {
    pub outcome: AttemptOutcome,
    pub latency: Duration,
    pub response_body: Option<String>,
    /// The endpoint's `Retry-After` on a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl AttemptReport {
    fn failed(code: FailureCode, detail: impl std::fmt::Display, started: Instant) -> Self {
        AttemptReport {
            outcome: AttemptOutcome::Failure { code, status: None, detail: detail.to_string() },
            latency: started.elapsed(),
            response_body: None,
            retry_after: None,
        }
    }
}

/// Sends signed POSTs for one webhook.
pub struct Sender {
    client: awc::Client,
    policy: UrlPolicy,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl Sender {
    pub fn new(policy: UrlPolicy, timeout: Duration, connections: usize, user_agent: String) -> Self {
        Sender::with_resolver(GuardedResolver::new(policy), timeout, connections, user_agent)
    }

    /// With a given resolver (tests script its name lookups).
    pub fn with_resolver(resolver: GuardedResolver, timeout: Duration, connections: usize, user_agent: String) -> Self {
        let policy = resolver.policy;
        let tcp = actix_tls::connect::Connector::new(actix_tls::connect::Resolver::custom(resolver)).service();
        let connector = awc::Connector::new()
            .connector(tcp)
            .rustls_0_23(tls_config())
            .timeout(timeout)
            .limit(connections.max(1))
            .conn_keep_alive(Duration::from_secs(30));
        // No client timeout: `send` bounds the whole attempt (connect to last byte read) with
        // one timer, and awc's own would arm a second per request.
        let client = awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .disable_timeout()
            .no_default_headers()
            .finish();
        let user_agent = HeaderValue::try_from(user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(concat!("packhooks/", env!("CARGO_PKG_VERSION"))));
        Sender { client, policy, timeout, user_agent }
    }

    /// One attempt: `now` is the attempt's time (the `webhook-timestamp`).
    pub async fn send(&self, target: &Target, message_id: &str, body: Bytes, now: DateTime<Utc>) -> AttemptReport {
        let started = Instant::now();
        if let Err(refused) = check_literal_host(&target.url, self.policy) {
            return AttemptReport::failed(FailureCode::RefusedTarget, refused, started);
        }
        let timestamp = now.timestamp().to_string();
        let signature = signature_header(target.keys_at(now), message_id, &timestamp, &body);
        let mut request = match &target.uri {
            Some(uri) => self.client.post(uri.clone()),
            None => self.client.post(target.url.as_str()),
        };
        if let Some(host) = &target.host {
            request = request.insert_header((HOST, host.clone()));
        }
        let request = request
            .insert_header((WEBHOOK_ID, message_id))
            .insert_header((WEBHOOK_TIMESTAMP, timestamp))
            .insert_header((WEBHOOK_SIGNATURE, signature))
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .insert_header((USER_AGENT, self.user_agent.clone()));
        let attempt = async {
            let mut response = request.send_body(body).await.map_err(|e| classify(&e))?;
            let status = response.status();
            let retry_after = if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now))
            } else {
                None
            };
            let mut kept = Vec::new();
            let mut read = 0usize;
            while let Some(chunk) = response.next().await {
                let Ok(chunk) = chunk else { break };
                read += chunk.len();
                if kept.len() < KEPT_BODY_BYTES {
                    let take = (KEPT_BODY_BYTES - kept.len()).min(chunk.len());
                    kept.extend_from_slice(&chunk[..take]);
                }
                if read >= DRAINED_BODY_BYTES {
                    break;
                }
            }
            Ok::<_, (FailureCode, String)>((status, retry_after, kept))
        };
        match actix_rt::time::timeout(self.timeout, attempt).await {
            Err(_) => {
                AttemptReport::failed(FailureCode::Timeout, "no complete answer within the attempt timeout", started)
            }
            Ok(Err((code, detail))) => AttemptReport::failed(code, detail, started),
            Ok(Ok((status, retry_after, kept))) => {
                let code = status.as_u16();
                let outcome = if status.is_success() {
                    AttemptOutcome::Success { status: code }
                } else {
                    AttemptOutcome::Failure {
                        code: FailureCode::Status,
                        status: Some(code),
                        detail: format!("endpoint answered {status}"),
                    }
                };
                AttemptReport {
                    outcome,
                    latency: started.elapsed(),
                    response_body: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
                    retry_after,
                }
            }
        }
    }
}

/// TLS for https endpoints: rustls with the ring provider and the Mozilla root store,
/// built once per process.
fn tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            std::sync::Arc::new(config)
        })
        .clone()
}

/// Whether an I/O error is a failed TLS handshake (rustls reports those as I/O errors).
fn is_tls(error: &std::io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

/// Maps awc's error to a stable code, keeping the whole chain as operator detail.
fn classify(error: &SendRequestError) -> (FailureCode, String) {
    let code = match error {
        SendRequestError::Connect(ConnectError::Resolver(cause)) => match cause.downcast_ref::<TargetError>() {
            Some(TargetError::Refused { .. }) => FailureCode::RefusedTarget,
            _ => FailureCode::Dns,
        },
        SendRequestError::Connect(ConnectError::NoRecords | ConnectError::Unresolved) => FailureCode::Dns,
        SendRequestError::Connect(ConnectError::Timeout) | SendRequestError::Timeout => FailureCode::Timeout,
        SendRequestError::Connect(ConnectError::SslIsNotSupported) => FailureCode::Tls,
        SendRequestError::Connect(ConnectError::Io(io)) if is_tls(io) => FailureCode::Tls,
        SendRequestError::Connect(ConnectError::Io(_) | ConnectError::Disconnected) => FailureCode::Connect,
        SendRequestError::Connect(other) if other.to_string().to_ascii_lowercase().contains("ssl") => FailureCode::Tls,
        _ => FailureCode::Connect,
    };
    (code, error_chain(error))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_is_what_awc_would_write() {
        let secrets =
            || Secrets { current: packhooks_domain::webhook::Secret::from_bytes(&[7; 32]), version: 1, previous: None };
        for (url, host) in [
            ("http://127.0.0.1:8080/a", "127.0.0.1:8080"),
            ("https://example.com/hook", "example.com"),
            ("https://example.com:443/hook", "example.com"),
            ("http://example.com:80/", "example.com"),
            ("http://[::1]:9000/x", "[::1]:9000"),
        ] {
            let target = Target::new(url::Url::parse(url).expect("url"), secrets());
            assert_eq!(target.host.as_ref().and_then(|h| h.to_str().ok()), Some(host), "{url}");
            assert_eq!(target.keys_at(Utc::now()).count(), 1);
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").expect("date").with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
