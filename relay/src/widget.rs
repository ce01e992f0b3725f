//! `GET /widget.js`: the embeddable chat widget (relay/assets/widget.js),
//! built into the binary, so any page can load it from the relay with one
//! `<script>` tag and no build step.
//!
//! Any site may load it (`Access-Control-Allow-Origin: *`,
//! `Cross-Origin-Resource-Policy: cross-origin`): who may chat is decided by
//! the channel's `allowed_origins` when a session is opened, not here. It is
//! cached briefly (the URL is not versioned, so a new release must reach pages
//! soon) and revalidated by its `ETag`; gzip is served to clients that accept it.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::Write;

/// The widget's source.
pub const SOURCE: &str = include_str!("../assets/widget.js");
/// How long browsers and CDNs may reuse it before revalidating.
const CACHE_CONTROL: &str = "public, max-age=300, stale-while-revalidate=86400";

/// The widget as served: its ETag and its gzipped bytes, computed once.
struct Asset {
    etag: HeaderValue,
    gzipped: Vec<u8>,
}

static ASSET: LazyLock<Asset> = LazyLock::new(|| {
    let digest = Sha256::digest(SOURCE.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    Asset {
        etag: HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
        gzipped: gzip(SOURCE.as_bytes()),
    }
});

/// `bytes` gzipped at the best compression (done once per process).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// The widget route.
pub fn router() -> Router {
    Router::new().route("/widget.js", get(widget))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

async fn widget(headers: HeaderMap) -> Response {
    let asset = &*ASSET;
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == asset.etag)
        });
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(&headers) {
        let mut resp = asset.gzipped.clone().into_response();
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        resp
    } else {
        SOURCE.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widget_stays_small_gzipped() {
        let size = gzip(SOURCE.as_bytes()).len();
        assert!(size < 30 * 1024, "widget.js is {size} bytes gzipped");
    }

    #[test]
    fn gzip_is_served_only_when_accepted() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
