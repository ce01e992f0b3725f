//! What a person finds on the local server besides the API: `GET /` says
//! where things are, `GET /docs` renders the OpenAPI document with Swagger UI.
//! Swagger UI's files are compiled into the binary (the `vendored` build of
//! `utoipa-swagger-ui`), so the page works with no network.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the document is served (by the API router).
const DOCUMENT: &str = "/api/v1/openapi.json";

/// `GET /` and `GET /docs`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let docs: Router<S> = SwaggerUi::new("/docs")
        .config(Config::new([DOCUMENT]))
        .into();
    Router::new().route("/", get(index)).merge(docs)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>Switchboard</h1>
<p>This is a local Switchboard server.</p>
<ul>
<li>API: <code>/api/v1</code> (authenticate with <code>Authorization: Bearer sb_…</code> or sign in)</li>
<li>API reference: <a href="/docs">/docs</a></li>
<li>OpenAPI 3.1 document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></li>
<li>Health: <a href="/health">/health</a></li>
</ul>
</body></html>
"#;

async fn index(headers: HeaderMap) -> Response {
    if wants_json(&headers) {
        let body = serde_json::json!({
            "name": "switchboard",
            "api": "/api/v1",
            "docs": "/docs",
            "openapi": DOCUMENT,
            "health": "/health",
        });
        let mut resp = body.to_string().into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    } else {
        Html(PAGE).into_response()
    }
}
