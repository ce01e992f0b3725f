//! Single byte ranges (RFC 9110 §14): `Range: bytes=a-b`, `bytes=a-`,
//! `bytes=-n`, answered with 206 and `Content-Range`; anything else a client
//! sends there (another unit, several ranges, garbage, a range past the end)
//! is a 416 in the SPEC error body with `Content-Range: bytes */<length>`.

use std::ops::RangeInclusive;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard::Error;

use super::ApiError;

/// The byte range a `Range` header value selects in a file of `len` bytes.
pub fn parse(value: &str, len: u64) -> Result<RangeInclusive<u64>, Error> {
    let bad = |why: &str| Error::RangeNotSatisfiable(format!("Range {why}"));
    let spec = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| bad("must be in bytes: bytes=<first>-<last>"))?;
    if spec.contains(',') {
        return Err(bad("must be a single range (several are not supported)"));
    }
    let (first, last) = spec
        .split_once('-')
        .ok_or_else(|| bad("must be bytes=<first>-<last>, bytes=<first>- or bytes=-<suffix>"))?;
    let number = |s: &str| {
        let s = s.trim();
        // `u64::parse` takes a leading `+`; the grammar is digits only.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("positions must be non-negative integers"));
        }
        s.parse::<u64>()
            .map_err(|_| bad("positions must be non-negative integers"))
    };
    let past_end = || bad(&format!("selects nothing of the {len} bytes"));
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => return Err(bad("needs a first position or a suffix length")),
        (true, false) => {
            let suffix = number(last)?;
            if suffix == 0 || len == 0 {
                return Err(past_end());
            }
            len.saturating_sub(suffix)..=len - 1
        }
        (false, open) => {
            let start = number(first)?;
            let end = if open { u64::MAX } else { number(last)? };
            if end < start {
                return Err(bad("has its last position before its first"));
            }
            if start >= len {
                return Err(past_end());
            }
            start..=end.min(len - 1)
        }
    };
    Ok(range)
}

/// The whole file (200), or the part its `Range` header asks for (206), of
/// `content_type`; both say `Accept-Ranges: bytes`.
pub fn respond(headers: &HeaderMap, bytes: Bytes, content_type: &str) -> Response {
    let len = bytes.len() as u64;
    let Some(value) = headers.get(header::RANGE) else {
        return with_ranges((StatusCode::OK, body(content_type, bytes)).into_response());
    };
    let parsed = value
        .to_str()
        .map_err(|_| Error::RangeNotSatisfiable("Range must be ASCII".into()))
        .and_then(|v| parse(v, len));
    match parsed {
        Ok(range) => {
            let content_range = format!("bytes {}-{}/{len}", range.start(), range.end());
            let part = bytes.slice(*range.start() as usize..=*range.end() as usize);
            let mut resp = (StatusCode::PARTIAL_CONTENT, body(content_type, part)).into_response();
            if let Ok(v) = HeaderValue::from_str(&content_range) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            with_ranges(resp)
        }
        Err(e) => {
            let mut resp = ApiError(e).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            with_ranges(resp)
        }
    }
}

fn body(content_type: &str, bytes: Bytes) -> ([(header::HeaderName, String); 1], Body) {
    (
        [(header::CONTENT_TYPE, content_type.to_owned())],
        Body::from(bytes),
    )
}

fn with_ranges(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn single_ranges_parse_and_clamp_to_the_file() {
        assert_eq!(parse("bytes=0-99", 1000).unwrap(), 0..=99);
        assert_eq!(parse("bytes=990-2000", 1000).unwrap(), 990..=999);
        assert_eq!(parse("bytes=500-", 1000).unwrap(), 500..=999);
        assert_eq!(parse("bytes=-100", 1000).unwrap(), 900..=999);
        assert_eq!(parse("bytes=-5000", 1000).unwrap(), 0..=999);
        assert_eq!(parse(" bytes=7-7 ", 1000).unwrap(), 7..=7);
    }

    #[test]
    fn anything_else_is_not_satisfiable() {
        for bad in [
            "bytes=1000-",
            "bytes=1000-1001",
            "bytes=5-4",
            "bytes=-0",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes 0-1",
            "bytes=18446744073709551616-",
        ] {
            let e = parse(bad, 1000).unwrap_err();
            assert!(
                matches!(e, switchboard::Error::RangeNotSatisfiable(_)),
                "{bad}: {e:?}"
            );
        }
        assert!(parse("bytes=-1", 0).is_err(), "an empty file has no bytes");
    }
}
