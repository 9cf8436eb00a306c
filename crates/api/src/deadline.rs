//! A bound on how long a request body may take to arrive. actix-web bounds the request head
//! (`client_request_timeout`), but a client that sends the head and then part of a body would
//! hold its connection (and a handler) for ever. [`limit_body`] puts the body behind a
//! deadline: once it passes, reading the body fails with [`BodyTimedOut`], which the JSON
//! extractor answers as 408 `request_timeout`; with the body unfinished, the HTTP layer then
//! closes the connection.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use futures::Stream;

/// How long a request may take to arrive, registered as an [`crate::ApiState`] extension by
/// the binary (`PACKHOOKS_REQUEST_TIMEOUT`); [`RequestTimeout::DEFAULT`] without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

impl RequestTimeout {
    pub const DEFAULT: RequestTimeout = RequestTimeout(Duration::from_secs(30));
}

/// The cause inside the `io::Error` of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// Puts `req`'s body, if it has one, behind a deadline `timeout` from now.
pub fn limit_body(req: &mut ServiceRequest, timeout: Duration) {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        return;
    }
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(Deadline { body: payload, timer: Some(Box::pin(tokio::time::sleep(timeout))), timeout });
    req.set_payload(Payload::from(stream));
}

struct Deadline {
    body: Payload,
    /// `None` once the deadline passed and the error was given.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(timer) = self.timer.as_mut() else { return Poll::Ready(None) };
        if timer.as_mut().poll(cx).is_ready() {
            self.timer = None;
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, BodyTimedOut(self.timeout));
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// The deadline of a body error, when the error is that the deadline passed.
pub fn timed_out(error: &PayloadError) -> Option<Duration> {
    match error {
        PayloadError::Io(io) => io.get_ref()?.downcast_ref::<BodyTimedOut>().map(|t| t.0),
        _ => None,
    }
}
