//! problem+json for the requests that never reach the application.
//!
//! actix-http answers a request its parser refuses (a broken request line, a control byte in a
//! header) with a bodiless `400`, and a head over its limit with a bodiless `431`, then closes
//! the connection; no middleware or route sees them. [`ProblemAnswers`] wraps each connection
//! and recognises exactly those two answers as they are written: the status line followed by
//! `content-length: 0`, which no answer of the application has (every error of ours carries a
//! problem+json body). It writes the same answer with the problem+json body of
//! [`ApiError::MalformedRequest`] or [`ApiError::HeadTooLarge`] instead, keeping the parser's
//! other headers (`connection: close`, `date`). Everything else passes through untouched.
//!
//! An answer's head is recognised only when one write holds it whole, which is how the
//! dispatcher writes it (its last write before closing); if a socket ever took it in pieces,
//! the client gets the parser's bodiless answer, as before.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ApiError;

/// How one of the parser's answers begins, and the error it stands for.
type BareAnswer = (&'static [u8], fn() -> ApiError);

/// The parser's answers, as actix-http writes their first lines.
const BARE_ANSWERS: [BareAnswer; 2] = [
    (b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n", || ApiError::MalformedRequest),
    (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n", || ApiError::HeadTooLarge),
];

const HEAD_END: &[u8] = b"\r\n\r\n";

/// A connection whose parser-made error answers are rewritten to problem+json.
pub struct ProblemAnswers<T> {
    io: T,
    /// An answer taken from the dispatcher in place of the bare one, and how much of it the
    /// socket took so far.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ProblemAnswers<T> {
    pub fn new(io: T) -> Self {
        ProblemAnswers { io, pending: None }
    }
}

/// Where in `buf` a bare answer starts, and its error.
fn find_bare_answer(buf: &[u8]) -> Option<(usize, ApiError)> {
    BARE_ANSWERS
        .iter()
        .filter_map(|(start, error)| find(buf, start).map(|at| (at, error())))
        .min_by_key(|(at, _)| *at)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The answer to write instead of `head` (a bare answer's whole head, ending in a blank line).
fn with_problem_body(head: &[u8], error: &ApiError) -> Vec<u8> {
    let (status_line_end, rest_start) = match find(head, b"\r\n") {
        Some(at) => (at + 2, find(head, b"content-length: 0\r\n").map_or(at + 2, |cl| cl + b"content-length: 0\r\n".len())),
        None => (head.len(), head.len()),
    };
    let body = error.problem_json();
    let mut answer = Vec::with_capacity(head.len() + body.len() + 64);
    answer.extend_from_slice(&head[..status_line_end]);
    answer.extend_from_slice(b"content-type: application/problem+json\r\n");
    answer.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    answer.extend_from_slice(&head[rest_start..]);
    answer.extend_from_slice(&body);
    answer
}

impl<T: AsyncWrite + Unpin> ProblemAnswers<T> {
    /// Writes what is pending; ready once all of it is written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.pending {
            if *written == answer.len() {
                self.pending = None;
                break;
            }
            match ready!(Pin::new(&mut self.io).poll_write(cx, &answer[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemAnswers<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemAnswers<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        match find_bare_answer(buf) {
            // What comes before a bare answer goes out first, as it is.
            Some((at, _)) if at > 0 => Pin::new(&mut this.io).poll_write(cx, &buf[..at]),
            Some((_, error)) => match find(buf, HEAD_END) {
                Some(end) => {
                    let head = &buf[..end + HEAD_END.len()];
                    this.pending = Some((with_problem_body(head, &error), 0));
                    // The head is taken: what the socket does not take now, flush writes.
                    let _ = this.poll_pending(cx)?;
                    Poll::Ready(Ok(head.len()))
                }
                None => Pin::new(&mut this.io).poll_write(cx, buf),
            },
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const BARE_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: Tue, 08 Dec 2026 03:49:17 GMT\r\n\r\n";
    const OURS: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";

    /// Writes `writes` one after the other through the wrapper; what the other end read.
    async fn through(writes: &[&[u8]]) -> String {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut wrapped = ProblemAnswers::new(server);
        for write in writes {
            wrapped.write_all(write).await.unwrap();
        }
        wrapped.shutdown().await.unwrap();
        drop(wrapped);
        let mut read = String::new();
        let mut client = client;
        client.read_to_string(&mut read).await.unwrap();
        read
    }

    fn split_answer(text: &str) -> (&str, serde_json::Value) {
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        (head, serde_json::from_str(body).expect("a JSON body"))
    }

    #[tokio::test]
    async fn the_parsers_bare_400_goes_out_as_problem_json_with_its_other_headers() {
        let read = through(&[BARE_400]).await;
        let (head, body) = split_answer(&read);
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"), "{head}");
        assert!(head.contains("connection: close") && head.contains("date: Tue, 08 Dec 2026"), "{head}");
        let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
        assert_eq!(length, read.len() - head.len() - 4, "the length is the body's");
        assert_eq!((body["status"].as_u64(), body["code"].as_str()), (Some(400), Some("malformed_request")));
    }

    #[tokio::test]
    async fn a_431_becomes_header_too_large() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let read = through(&[bare]).await;
        let (head, body) = split_answer(&read);
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert_eq!(body["code"], "header_too_large");
    }

    #[tokio::test]
    async fn answers_of_the_application_pass_untouched_also_before_a_bare_one_in_the_same_write() {
        assert_eq!(through(&[OURS]).await.as_bytes(), OURS);
        let both = [OURS, BARE_400].concat();
        let read = through(&[&both]).await;
        assert!(read.starts_with(std::str::from_utf8(OURS).unwrap()), "{read}");
        let (_, body) = split_answer(&read[OURS.len()..]);
        assert_eq!(body["code"], "malformed_request");
    }

    #[tokio::test]
    async fn a_400_of_the_application_with_its_body_is_not_mistaken_for_the_parsers() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 17\r\ncontent-type: application/problem+json\r\n\r\n{\"code\":\"x\"}     ";
        assert_eq!(through(&[ours]).await.as_bytes(), ours);
    }
}
