//! A webhook receiver for tests and the delivery bench: a tiny HTTP server
//! on 127.0.0.1 that records every request and answers with a scripted
//! status (the first `fail_first` requests get `fail_status`, the rest 200).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Header name (lower case) → value.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Captured {
    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the delivery body is JSON")
    }
}

struct State {
    got: Mutex<Vec<Captured>>,
    fail_first: AtomicUsize,
    fail_status: u16,
    stall: Duration,
}

/// A running receiver; it stops with the test's runtime.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver answering `fail_status` to the first `fail_first`
    /// requests and 200 afterwards.
    pub async fn start(fail_first: usize, fail_status: u16) -> Receiver {
        Self::with(fail_first, fail_status, Duration::ZERO).await
    }

    /// A receiver that records each request, then holds it for `stall`
    /// before answering 200 (a slow endpoint).
    pub async fn stalling(stall: Duration) -> Receiver {
        Self::with(0, 200, stall).await
    }

    async fn with(fail_first: usize, fail_status: u16, stall: Duration) -> Receiver {
        let state = Arc::new(State {
            got: Mutex::new(Vec::new()),
            fail_first: AtomicUsize::new(fail_first),
            fail_status,
            stall,
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let headers = headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                s.got.lock().unwrap().push(Captured {
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
                tokio::time::sleep(s.stall).await;
                let failing = s
                    .fail_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    StatusCode::from_u16(s.fail_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                } else {
                    StatusCode::OK
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
        }
    }

    /// From now on, answer 200 to everything.
    pub fn recover(&self) {
        self.state.fail_first.store(0, Ordering::SeqCst);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Captured> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests within {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
