//! A local HTTP double on 127.0.0.1:0 for the outbound client's and the tools' tests: it
//! echoes, redirects, stalls and sends oversized bodies on demand.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::HostResolver;

/// A running double.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl TestServer {
    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The same server under a host name (resolved by a [`FixedResolver`]).
    pub(crate) fn url_as(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    /// How many requests reached the server.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(hits): State<Arc<AtomicUsize>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    match uri.path() {
        "/echo" => {
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), Value::from(v.to_str().ok()?))))
                .collect();
            let body_text = String::from_utf8_lossy(&body).into_owned();
            let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Json(json!({
                "method": method.as_str(),
                "path": uri.path(),
                "raw_query": uri.query(),
                "query": query,
                "headers": headers,
                "body": body_text,
                "json": body_json,
            }))
            .into_response()
        }
        "/text" => ([(header::CONTENT_TYPE, "text/plain")], "hello there").into_response(),
        "/status" => {
            let code = query
                .get("code")
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            (code, Json(json!({"code": code.as_u16()}))).into_response()
        }
        "/redirect" => {
            let to = query.get("to").cloned().unwrap_or_else(|| "/echo".into());
            let code = query
                .get("code")
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::FOUND);
            (code, [(header::LOCATION, to)]).into_response()
        }
        "/loop" => (StatusCode::FOUND, [(header::LOCATION, "/loop")]).into_response(),
        "/big" => vec![b'x'; 2 * 1024 * 1024].into_response(),
        "/stream-big" => {
            // No Content-Length: the cap must be enforced while reading.
            let chunks =
                (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 32 * 1024])));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            "late".into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the double on 127.0.0.1:0; it lives as long as the test's runtime.
pub(crate) async fn start() -> TestServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(any(handle)).with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { addr, hits }
}

/// A resolver with a fixed table, standing in for DNS (there is no network here).
pub(crate) struct FixedResolver(pub(crate) HashMap<String, Vec<IpAddr>>);

impl FixedResolver {
    pub(crate) fn new(entries: &[(&str, &[&str])]) -> Arc<FixedResolver> {
        Arc::new(FixedResolver(
            entries
                .iter()
                .map(|(name, ips)| {
                    (
                        name.to_string(),
                        ips.iter()
                            .map(|ip| ip.parse().expect("an address"))
                            .collect(),
                    )
                })
                .collect(),
        ))
    }
}

#[async_trait]
impl HostResolver for FixedResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0
            .get(host)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
    }
}
