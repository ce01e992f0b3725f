//! A local double of Twilio's REST API (2010-04-01): the
//! `IncomingPhoneNumbers` list with HTTP basic auth and `next_page_uri`
//! paging, in Twilio's JSON shapes, so the real client is tested offline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::sync::oneshot;

/// One account the double knows.
#[derive(Debug, Clone)]
pub struct Account {
    /// `AC…`.
    pub sid: String,
    /// The auth token.
    pub token: String,
    /// Its incoming numbers (E.164).
    pub numbers: Vec<String>,
}

struct Inner {
    accounts: Vec<Account>,
    page_size: usize,
    requests: AtomicUsize,
}

/// A running double; stops when dropped.
pub struct TwilioDouble {
    /// `http://127.0.0.1:<port>`: what `twilio_api_base` points at.
    pub base: String,
    inner: Arc<Inner>,
    _stop: oneshot::Sender<()>,
}

impl TwilioDouble {
    /// Serves `accounts`, at most `page_size` numbers per page.
    pub async fn spawn(accounts: Vec<Account>, page_size: usize) -> Self {
        let inner = Arc::new(Inner {
            accounts,
            page_size: page_size.max(1),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                get(incoming_numbers),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Twilio double");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            base,
            inner,
            _stop: stop,
        }
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()}).to_string(),
    )
        .into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

async fn incoming_numbers(
    State(inner): State<Arc<Inner>>,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let Some((user, pass)) = basic_auth(&headers) else {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    let Some(account) = inner
        .accounts
        .iter()
        .find(|a| a.sid == user && a.token == pass)
    else {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    };
    if account.sid != sid {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let asked: usize = q.get("PageSize").and_then(|p| p.parse().ok()).unwrap_or(50);
    let size = asked.min(inner.page_size);
    let page: usize = q.get("Page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let start = page * size;
    let numbers: Vec<_> = account
        .numbers
        .iter()
        .enumerate()
        .skip(start)
        .take(size)
        .map(|(i, n)| {
            json!({
                "sid": format!("PN{:032x}", i), "account_sid": account.sid, "friendly_name": n,
                "phone_number": n, "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false},
                "status": "in-use", "voice_url": null,
            })
        })
        .collect();
    let uri = |p: usize| {
        format!(
            "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize={size}&Page={p}&PageToken=PT{p}"
        )
    };
    let more = start + size < account.numbers.len();
    let body = json!({
        "first_page_uri": format!("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize={size}&Page=0"),
        "end": start + numbers.len().saturating_sub(1),
        "incoming_phone_numbers": numbers,
        "next_page_uri": if more { json!(uri(page + 1)) } else { json!(null) },
        "page": page,
        "page_size": size,
        "previous_page_uri": if page > 0 { json!(uri(page - 1)) } else { json!(null) },
        "start": start,
        "uri": uri(page),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
