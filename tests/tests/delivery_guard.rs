//! The delivery-time target guard and the sender, driven directly: a real `Sender` (awc with
//! the guarded resolver) posting to a `TestReceiver` on 127.0.0.1. Names are resolved by a
//! scripted lookup (`FixedAnswer`, a stand-in for a name server: none runs here), whose
//! answers only ever hold loopback and documentation addresses, and a private address comes
//! first, so even a broken guard could connect to nothing off this machine.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use packhooks_delivery::guard::{GuardedResolver, Lookup};
use packhooks_delivery::sender::{Sender, Target};
use packhooks_domain::delivery::{AttemptOutcome, FailureCode};
use packhooks_domain::webhook::{Secret, Secrets, UrlPolicy, WebhookUrl};
use packhooks_tests::receiver::TestReceiver;

const OPEN: UrlPolicy = UrlPolicy { allow_private_targets: true };
const STRICT: UrlPolicy = UrlPolicy { allow_private_targets: false };

fn target(url: &str) -> Target {
    let url = WebhookUrl::parse(url, &OPEN).expect("a valid webhook url").as_url().clone();
    Target::new(url, Secrets { current: Secret::from_bytes(&[7; 32]), version: 1, previous: None })
}

fn sender(policy: UrlPolicy) -> Sender {
    Sender::new(policy, Duration::from_secs(5), 1, "packhooks/test".to_owned())
}

/// A name server that answers every name with the same addresses, counting the lookups.
struct FixedAnswer {
    ips: Vec<IpAddr>,
    asked: AtomicUsize,
}

impl FixedAnswer {
    fn new(ips: &[&str]) -> Arc<Self> {
        Arc::new(FixedAnswer { ips: ips.iter().map(|ip| ip.parse().expect("a test address")).collect(), asked: AtomicUsize::new(0) })
    }
}

impl Lookup for FixedAnswer {
    fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let answer = self.ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        Box::pin(std::future::ready(Ok(answer)))
    }
}

fn sender_resolving_with(policy: UrlPolicy, dns: Arc<FixedAnswer>) -> Sender {
    Sender::with_resolver(GuardedResolver::with_lookup(policy, dns), Duration::from_secs(5), 1, "packhooks/test".to_owned())
}

/// The connection goes to the address the guard checked: a name only the scripted lookup
/// knows is delivered to, so nothing else resolved it on the way to the socket.
#[actix_rt::test]
async fn a_name_is_connected_to_at_the_address_its_checked_lookup_answered() {
    let receiver = TestReceiver::start();
    let dns = FixedAnswer::new(&["127.0.0.1"]);
    let url = format!("http://hooks.invalid:{}/named", receiver.addr().port());
    let report = sender_resolving_with(OPEN, dns.clone())
        .send(&target(&url), "msg_named", Bytes::from_static(b"{}"), chrono::Utc::now())
        .await;
    assert!(matches!(report.outcome, AttemptOutcome::Success { status: 200 }), "{:?}", report.outcome);
    assert_eq!(receiver.requests_to("/named").len(), 1);
    assert_eq!(dns.asked.load(Ordering::SeqCst), 1);
}

/// DNS rebinding at delivery time: the webhook's name, saved when it looked public, now
/// answers a private address among public ones. The whole answer is refused and nothing is
/// sent, though the private address (the receiver) would have answered.
#[actix_rt::test]
async fn a_name_answering_a_private_address_among_public_ones_is_refused_and_nothing_is_sent() {
    let receiver = TestReceiver::start();
    let dns = FixedAnswer::new(&["127.0.0.1", "192.0.2.10", "2001:db8::10"]);
    let url = format!("http://rebound.invalid:{}/rebound", receiver.addr().port());
    let report = sender_resolving_with(STRICT, dns.clone())
        .send(&target(&url), "msg_rebound", Bytes::from_static(b"{}"), chrono::Utc::now())
        .await;
    match &report.outcome {
        AttemptOutcome::Failure { code: FailureCode::RefusedTarget, detail, .. } => {
            assert!(detail.contains("rebound.invalid") && detail.contains("127.0.0.1"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.count(), 0, "nothing reached the private address");
    assert_eq!(dns.asked.load(Ordering::SeqCst), 1);
}

/// awc hands the resolver an IPv6 literal bracketed (`[::ffff:7f00:1]`, as in the URL); the
/// guarded resolver passed that to a name lookup, which never resolves it, so every attempt
/// to an IPv6 literal URL failed with `dns`. The address here is 127.0.0.1 written as an
/// IPv4-mapped IPv6 literal, so the receiver on 127.0.0.1 answers.
#[actix_rt::test]
async fn an_ipv6_literal_target_is_sent_to_without_a_name_lookup() {
    let receiver = TestReceiver::start();
    let url = format!("http://[::ffff:127.0.0.1]:{}/v6", receiver.addr().port());
    let report = sender(OPEN).send(&target(&url), "msg_v6", Bytes::from_static(b"{}"), chrono::Utc::now()).await;
    assert!(matches!(report.outcome, AttemptOutcome::Success { status: 200 }), "{:?}", report.outcome);
    assert_eq!(receiver.requests_to("/v6").len(), 1);
}

/// The same literal is still judged by the policy: refused, and nothing is sent.
#[actix_rt::test]
async fn an_ipv6_literal_of_a_private_address_is_refused_under_the_strict_policy() {
    let receiver = TestReceiver::start();
    let url = format!("http://[::ffff:127.0.0.1]:{}/v6", receiver.addr().port());
    let report = sender(STRICT).send(&target(&url), "msg_v6", Bytes::from_static(b"{}"), chrono::Utc::now()).await;
    assert!(
        matches!(report.outcome, AttemptOutcome::Failure { code: FailureCode::RefusedTarget, .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(receiver.count(), 0);
}

/// A redirect is an answer, not a new target: a 302 to another address is a failed attempt
/// with status 302, and nothing is sent where it points (a public endpoint could otherwise
/// redirect deliveries to an internal one, past the guard).
#[actix_rt::test]
async fn a_redirect_is_a_failed_attempt_and_is_not_followed() {
    use std::io::{BufRead as _, BufReader, Write as _};

    let receiver = TestReceiver::start();
    let redirector = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener on 127.0.0.1");
    let port = redirector.local_addr().expect("its address").port();
    let location = receiver.url("/landed");
    // Answers one request (the attempt) with a 302 to the receiver.
    let server = std::thread::spawn(move || {
        let (stream, _) = redirector.accept().expect("the attempt connects");
        let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("a request line");
        let mut line = String::new();
        while reader.read_line(&mut line).expect("a header line") > 2 {
            line.clear();
        }
        let answer = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
        (&stream).write_all(answer.as_bytes()).expect("the answer is written");
        request_line
    });
    let url = format!("http://127.0.0.1:{port}/moved");
    let report = sender(OPEN).send(&target(&url), "msg_r", Bytes::from_static(b"{}"), chrono::Utc::now()).await;
    assert!(
        matches!(report.outcome, AttemptOutcome::Failure { code: FailureCode::Status, status: Some(302), .. }),
        "{:?}",
        report.outcome
    );
    assert!(server.join().expect("the redirector ran").starts_with("POST /moved "));
    assert_eq!(receiver.count(), 0, "the redirect was not followed");
}
