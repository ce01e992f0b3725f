//! Reads what a handler left of a request body before its response goes out.
//!
//! A handler that refuses a body (413 over the limit, 415, 401 before reading
//! it) leaves the rest unread. When a connection closes with unread bytes in
//! its receive buffer, the kernel answers with a reset, and a client still
//! writing its body sees a broken pipe instead of the SPEC error body. Like
//! nginx's lingering close, the rest is read and dropped, within a bound in
//! bytes and in time, so the client gets its answer and keeps its connection.
//! This is the server's business, so it wraps every route the local server
//! owns a connection for; behind API Gateway the body arrives whole.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use http_body::{Frame, SizeHint};

/// Most unread bytes read for a client's sake; past it the connection closes.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// Longest wait for them.
const DRAIN_TIME: Duration = Duration::from_secs(30);

type Left = Arc<Mutex<Option<Body>>>;

/// Middleware: after the handler, reads and drops the body it did not read.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    let left = Left::default();
    let req = req.map(|body| {
        Body::new(Watched {
            body: Some(body),
            left: left.clone(),
        })
    });
    let resp = next.run(req).await;
    let unread = left.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(body) = unread.filter(|b| b.size_hint().lower() <= DRAIN_BYTES) {
        let _ = tokio::time::timeout(DRAIN_TIME, discard(body)).await;
    }
    resp
}

async fn discard(body: Body) {
    let mut data = body.into_data_stream();
    let mut read = 0u64;
    while let Some(Ok(chunk)) = data.next().await {
        read += chunk.len() as u64;
        if read > DRAIN_BYTES {
            break;
        }
    }
}

/// The request body as the handler sees it; dropped before its end, it puts
/// the rest back where the middleware finds it.
struct Watched {
    body: Option<Body>,
    left: Left,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.body = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(body) = self.body.take().filter(|b| !b.is_end_stream()) {
            *self.left.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
        }
    }
}
