//! Clients that stall mid-request: a whole request must arrive within
//! `PACKHOOKS_REQUEST_TIMEOUT`, and stalled clients do not keep others from being served.

use std::time::{Duration, Instant};

use packhooks_tests::app::{interest_body, spawn_app_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Short, so the test waits for it and nothing more.
const BOUND: Duration = Duration::from_millis(700);
const STALLED: usize = 300;

/// Connects and sends a request head promising `declared` body bytes, then `sent` of them.
async fn stall(port: u16, head: &str, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("head sent");
    stream.write_all(sent).await.expect("part of the body sent");
    stream
}

/// Reads until the server closes; what it answered.
async fn until_closed(mut stream: TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(BOUND * 10, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server still holds the stalled connection {:?} after the bound", BOUND * 10);
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn stalled_bodies_are_timed_out_and_closed_while_other_requests_are_served() {
    let app = spawn_app_with(|s| s.request_timeout = BOUND).await;
    let body = interest_body("acc_1").to_string();
    let declared = body.len();
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n",
            app.token
        )
    };
    let started = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for i in 0..STALLED {
        stalled.push(stall(app.port, &head(&format!("/v1/packs/pk_{i}/interest")), &body.as_bytes()[..10]).await);
    }
    // A head without its end stalls too.
    for _ in 0..10 {
        stalled.push(stall(app.port, "POST /v1/packs/pk_1/interest HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"").await);
    }

    // Meanwhile the server answers everyone else.
    for i in 0..20 {
        let response = app.submit_interest(&format!("pk_ok{i}"), &interest_body("acc_1"), None).await;
        assert_eq!(response.status(), 202);
    }

    let answers = futures::future::join_all(stalled.into_iter().map(until_closed)).await;
    assert!(started.elapsed() >= BOUND, "nothing was closed before the bound");
    let timed_out = answers.iter().filter(|a| a.starts_with("HTTP/1.1 408")).count();
    assert!(timed_out >= STALLED, "{timed_out} of the stalled bodies were answered 408: {:?}", answers.first());
    let problem = answers.iter().find(|a| a.contains("application/problem+json")).expect("a problem+json answer");
    assert!(problem.contains(r#""code":"request_timeout""#), "{problem}");
    for i in 0..STALLED {
        assert!(app.stream_events(&format!("pack-pk_{i}")).await.is_empty(), "a stalled submission was stored");
    }
    assert_eq!(app.submit_interest("pk_after", &interest_body("acc_1"), None).await.status(), 202);
    app.stop().await;
}

#[actix_web::test]
async fn a_body_trickling_in_is_cut_off_at_the_bound() {
    let app = spawn_app_with(|s| s.request_timeout = BOUND).await;
    let body = interest_body("acc_1").to_string();
    let head = format!(
        "POST /v1/packs/pk_1/interest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token,
        body.len()
    );
    let mut stream = stall(app.port, &head, b"").await;
    let started = Instant::now();
    let mut answer = Vec::new();
    // One byte every tenth of the bound: never idle long, never done in time.
    for byte in body.as_bytes() {
        if stream.write_all(&[*byte]).await.is_err() || started.elapsed() > BOUND * 3 / 2 {
            break;
        }
        tokio::time::sleep(BOUND / 10).await;
    }
    let read = tokio::time::timeout(BOUND * 10, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    assert!(started.elapsed() < BOUND * 3, "cut off at the bound, not when the client stopped");
    app.stop().await;
}
