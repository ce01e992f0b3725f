//! The local server's HTTP/1 connections, with read deadlines so that slow
//! or silent clients cannot pin connections (slowloris): a request head must
//! arrive within [`ReadLimits::header`], and a body may go no longer than
//! [`ReadLimits::body_idle`] without a byte nor longer than
//! [`ReadLimits::body_total`] in all. A body that misses a deadline ends in
//! an error, which the extractors turn into a 400 in the SPEC body (and
//! which ends [`crate::drain`]'s reading of what a handler left).
//! Behind API Gateway the body arrives whole, so this is the local server's
//! business only.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long the local server waits for a client.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// From the connection's first byte (or the end of the previous
    /// response) to the end of the request head.
    pub header: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_idle: Duration,
    /// Longest time to receive a whole body (a 25 MB upload at ~100 KB/s).
    pub body_total: Duration,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body_idle: Duration::from_secs(15),
            body_total: Duration::from_secs(300),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, lets each connection finish its request in flight and waits
/// for them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ReadLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors and the like: let the system breathe.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        connections.spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ReadLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(|body| Body::new(TimedBody::new(body, limits)));
        // The peer address feeds per-client limits (public sessions, sign-in).
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        // A client that closes its side after a short body still gets its
        // 400, rather than a connection closed without an answer.
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => {
            if let Err(e) = done {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Why a body was cut off.
#[derive(Debug, thiserror::Error)]
enum BodyTimeout {
    #[error("no part of the request body arrived for {0:?}")]
    Idle(Duration),
    #[error("the request body took longer than {0:?}")]
    Total(Duration),
}

/// A request body with the idle and total deadlines of [`ReadLimits`].
/// The idle clock runs only while someone waits for the body.
struct TimedBody {
    body: Incoming,
    limits: ReadLimits,
    total: Pin<Box<Sleep>>,
    idle: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(body: Incoming, limits: ReadLimits) -> Self {
        Self {
            body,
            limits,
            total: Box::pin(tokio::time::sleep(limits.body_total)),
            idle: None,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.idle = None;
            return Poll::Ready(frame.map(|f| f.map_err(axum::Error::new)));
        }
        if this.total.as_mut().poll(cx).is_ready() {
            let e = BodyTimeout::Total(this.limits.body_total);
            return Poll::Ready(Some(Err(axum::Error::new(e))));
        }
        let idle_for = this.limits.body_idle;
        let idle = this
            .idle
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + idle_for)));
        ready!(idle.as_mut().poll(cx));
        Poll::Ready(Some(Err(axum::Error::new(BodyTimeout::Idle(idle_for)))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
