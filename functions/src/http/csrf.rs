//! Cross-site request forgery defence for cookie-authenticated writes.
//!
//! `SameSite=Lax` keeps the `sb_session` cookie off cross-site POSTs in
//! current browsers, but not off same-site ones (a sibling subdomain) nor in
//! browsers that predate it. So a write (POST, PUT, PATCH, DELETE) that
//! authenticates with the cookie must come from the server's own origin:
//! `Sec-Fetch-Site` must be `same-origin` or `none` (typed by the user) when
//! the browser sends it, else `Origin` must be the configured public origin
//! or the origin of the `Host` the request was sent to. Browsers send one or
//! the other on every cross-origin write, so a request with neither is not a
//! browser's forgery (curl, a server) and passes. Bearer-key clients are not
//! concerned: a browser never adds their key on its own.

use axum::http::{HeaderMap, Method, header};
use switchboard::Error;

/// Whether `method` changes state.
fn is_write(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// `scheme://host[:port]` of a URL, lower-cased, without a default port.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let host = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let host = match (scheme.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => host,
    };
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Refuses (403) a cookie-authenticated write that a browser sent from
/// another site.
pub fn check(method: &Method, headers: &HeaderMap, public_url: &str) -> Result<(), Error> {
    if !is_write(method) {
        return Ok(());
    }
    let refuse = |why: String| {
        Err(Error::Forbidden(format!(
            "cross-site request refused: {why}; a session cookie only works from this site \
             (other clients use an API key)"
        )))
    };
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return match site.to_ascii_lowercase().as_str() {
            "same-origin" | "none" => Ok(()),
            other => refuse(format!("Sec-Fetch-Site is {other}")),
        };
    }
    let Some(origin) = text(header::ORIGIN) else {
        return Ok(());
    };
    let Some(origin) = origin_of(origin) else {
        return refuse(format!("Origin {origin} is not this site"));
    };
    let own = origin_of(public_url);
    let host = text(header::HOST).map(str::to_ascii_lowercase);
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, h)| host.as_deref() == Some(h));
    if own.as_deref() == Some(origin.as_str()) || same_host {
        Ok(())
    } else {
        refuse(format!("Origin {origin} is not this site"))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const OWN: &str = "https://app.example:8443/";

    #[test]
    fn same_origin_writes_pass_and_cross_site_ones_do_not() {
        let post = Method::POST;
        let ok = |h| check(&post, &headers(h), OWN).is_ok();
        assert!(ok(&[]), "no browser headers: not a forgery");
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
        assert!(ok(&[("sec-fetch-site", "none")]));
        assert!(!ok(&[("sec-fetch-site", "same-site")]));
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(ok(&[("origin", "https://APP.example:8443")]));
        assert!(!ok(&[("origin", "https://app.example")]));
        assert!(!ok(&[("origin", "https://evil.example")]));
        assert!(!ok(&[("origin", "null")]));
        assert!(ok(&[
            ("origin", "http://localhost:3000"),
            ("host", "localhost:3000")
        ]));
        assert!(!ok(&[
            ("origin", "http://evil.example"),
            ("host", "localhost:3000")
        ]));
        // Sec-Fetch-Site, when sent, decides.
        assert!(!ok(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://app.example:8443")
        ]));
        // Reads are not writes.
        assert!(
            check(
                &Method::GET,
                &headers(&[("origin", "https://evil.example")]),
                OWN
            )
            .is_ok()
        );
    }

    #[test]
    fn default_ports_do_not_count() {
        assert_eq!(
            origin_of("https://a.example:443/x").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            origin_of("http://a.example:8080").as_deref(),
            Some("http://a.example:8080")
        );
        assert_eq!(origin_of("null"), None);
    }
}
