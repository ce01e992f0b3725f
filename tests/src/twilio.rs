//! A local double of Twilio: its REST API (2010-04-01) — the
//! `IncomingPhoneNumbers` list with HTTP basic auth and `next_page_uri`
//! paging, `Calls.json` create and `Calls/{sid}.json` update,
//! `Messages.json` create (with switches to be down for a while or to refuse
//! a number), recording the forms it received — in Twilio's JSON shapes; its
//! signed webhooks ([`signed_webhook`], [`sms_status`]); and its
//! media-stream client ([`MediaStream`]), so the real client, webhooks and
//! relay socket are tested offline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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

/// A form the double received, its fields in order (repeated names repeat).
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A form the double received on the Calls API.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// `None` for a create, the call SID for an update.
    pub updated: Option<String>,
    /// The form.
    pub form: Form,
}

impl CallRequest {
    /// The first value of `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.field(name)
    }

    /// Every value of `name`.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.form.fields(name)
    }
}

/// How the Calls API refuses a create: status, Twilio error code, message.
pub type Refusal = (u16, u32, String);

/// A message the Messages API took (or refused: `sid` is `None`).
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The `SM…` id it answered with.
    pub sid: Option<String>,
    /// The form.
    pub form: Form,
}

impl SentMessage {
    /// The first value of `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.field(name)
    }
}

struct Inner {
    accounts: Vec<Account>,
    page_size: usize,
    requests: AtomicUsize,
    calls: Mutex<Vec<CallRequest>>,
    refuse_calls: Mutex<Option<Refusal>>,
    messages: Mutex<Vec<SentMessage>>,
    /// Message creates still to answer with 503.
    down_for: AtomicUsize,
    refuse_messages: Mutex<Option<Refusal>>,
}

/// A running double; stops when dropped.
pub struct TwilioDouble {
    /// `http://127.0.0.1:<port>`: what `twilio_api_base` points at.
    pub base: String,
    inner: Arc<Inner>,
    _stop: oneshot::Sender<()>,
}

impl TwilioDouble {
    /// Serves one account, `sid` with `token`, that has one number.
    pub async fn one_account(sid: &str, token: &str, number: &str) -> Self {
        let account = Account {
            sid: sid.into(),
            token: token.into(),
            numbers: vec![number.into()],
        };
        TwilioDouble::spawn(vec![account], 50).await
    }

    /// Serves `accounts`, at most `page_size` numbers per page.
    pub async fn spawn(accounts: Vec<Account>, page_size: usize) -> Self {
        let inner = Arc::new(Inner {
            accounts,
            page_size: page_size.max(1),
            requests: AtomicUsize::new(0),
            calls: Mutex::default(),
            refuse_calls: Mutex::default(),
            messages: Mutex::default(),
            down_for: AtomicUsize::new(0),
            refuse_messages: Mutex::default(),
        });
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
                get(incoming_numbers),
            )
            .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create_call))
            .route("/2010-04-01/Accounts/{sid}/Calls/{call}", post(update_call))
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(create_message),
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

    /// The Calls API forms received so far (creates and updates).
    pub fn calls(&self) -> Vec<CallRequest> {
        self.inner.calls.lock().expect("calls").clone()
    }

    /// From now on, call creates are refused this way (`None`: accepted).
    pub fn refuse_calls(&self, refusal: Option<Refusal>) {
        *self.inner.refuse_calls.lock().expect("refusal") = refusal;
    }

    /// The Messages API forms received so far, taken or not.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.inner.messages.lock().expect("messages").clone()
    }

    /// The next `n` message creates answer 503 (Twilio down).
    pub fn fail_messages(&self, n: usize) {
        self.inner.down_for.store(n, Ordering::SeqCst);
    }

    /// From now on, message creates are refused this way (`None`: taken),
    /// e.g. `(400, 21211, "The 'To' number is not a valid phone number.")`.
    pub fn refuse_messages(&self, refusal: Option<Refusal>) {
        *self.inner.refuse_messages.lock().expect("refusal") = refusal;
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

/// The account whose credentials the request carries, if they are right and
/// for the account in the path; else Twilio's error (status, code, message).
fn account<'a>(
    inner: &'a Inner,
    sid: &str,
    headers: &HeaderMap,
) -> Result<&'a Account, (StatusCode, u32, &'static str)> {
    let Some((user, pass)) = basic_auth(headers) else {
        return Err((StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
    };
    let Some(account) = inner
        .accounts
        .iter()
        .find(|a| a.sid == user && a.token == pass)
    else {
        return Err((StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
    };
    if account.sid != sid {
        return Err((
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ));
    }
    Ok(account)
}

fn call_resource(account: &Account, call_sid: &str, req: &CallRequest, status: &str) -> Response {
    let body = json!({
        "sid": call_sid, "account_sid": account.sid, "status": status,
        "to": req.field("To"), "from": req.field("From"), "direction": "outbound-api",
        "uri": format!("/2010-04-01/Accounts/{}/Calls/{call_sid}.json", account.sid),
    });
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn create_call(
    State(inner): State<Arc<Inner>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let account = match account(&inner, &sid, &headers) {
        Ok(a) => a,
        Err((status, code, message)) => return twilio_error(status, code, message),
    };
    let req = CallRequest {
        updated: None,
        form: Form::parse(&body),
    };
    let n = {
        let mut calls = inner.calls.lock().expect("calls");
        calls.push(req.clone());
        calls.len()
    };
    if let Some((status, code, message)) = inner.refuse_calls.lock().expect("refusal").clone() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return twilio_error(status, code, &message);
    }
    for required in ["To", "From"] {
        if req.field(required).is_none() {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                21201,
                &format!("Required parameter {required} is missing"),
            );
        }
    }
    if req.field("Twiml").is_none() && req.field("Url").is_none() {
        return twilio_error(StatusCode::BAD_REQUEST, 21205, "Url or Twiml is required");
    }
    call_resource(account, &format!("CA{n:032x}"), &req, "queued")
}

/// `POST Messages.json`: the credentials, then the switches (down, refused),
/// then Twilio's own checks (`To`, `From`, a body), then the message
/// resource, `queued`.
async fn create_message(
    State(inner): State<Arc<Inner>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let account = match account(&inner, &sid, &headers) {
        Ok(a) => a,
        Err((status, code, message)) => return twilio_error(status, code, message),
    };
    let mut sent = SentMessage {
        sid: None,
        form: Form::parse(&body),
    };
    let record = |m: &SentMessage| inner.messages.lock().expect("messages").push(m.clone());
    let down = inner
        .down_for
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if down {
        record(&sent);
        return twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        );
    }
    if let Some((status, code, message)) = inner.refuse_messages.lock().expect("refusal").clone() {
        record(&sent);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return twilio_error(status, code, &message);
    }
    for (required, code) in [("To", 21604), ("From", 21603), ("Body", 21602)] {
        if sent.field(required).is_none_or(str::is_empty) {
            record(&sent);
            return twilio_error(
                StatusCode::BAD_REQUEST,
                code,
                &format!("A '{required}' parameter is required"),
            );
        }
    }
    let n = inner.messages.lock().expect("messages").len();
    let message_sid = format!("SM{n:032x}");
    sent.sid = Some(message_sid.clone());
    record(&sent);
    let body = json!({
        "sid": message_sid, "account_sid": account.sid, "status": "queued",
        "to": sent.field("To"), "from": sent.field("From"), "body": sent.field("Body"),
        "direction": "outbound-api", "num_segments": "1", "error_code": null, "error_message": null,
        "uri": format!("/2010-04-01/Accounts/{}/Messages/{message_sid}.json", account.sid),
    });
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn update_call(
    State(inner): State<Arc<Inner>>,
    Path((sid, call)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let account = match account(&inner, &sid, &headers) {
        Ok(a) => a,
        Err((status, code, message)) => return twilio_error(status, code, message),
    };
    let Some(call_sid) = call.strip_suffix(".json") else {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    };
    let req = CallRequest {
        updated: Some(call_sid.to_owned()),
        form: Form::parse(&body),
    };
    inner.calls.lock().expect("calls").push(req.clone());
    call_resource(account, call_sid, &req, "in-progress")
}

async fn incoming_numbers(
    State(inner): State<Arc<Inner>>,
    Path(sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let account = match account(&inner, &sid, &headers) {
        Ok(a) => a,
        Err((status, code, message)) => return twilio_error(status, code, message),
    };
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

/// Posts `params` to `url` as Twilio posts a webhook: a form, signed with
/// `auth_token` (`X-Twilio-Signature`), with `idempotency` as its
/// `I-Twilio-Idempotency-Token`.
pub fn signed_webhook(
    client: &reqwest::Client,
    url: &str,
    auth_token: &str,
    params: &[(&str, &str)],
    idempotency: &str,
) -> reqwest::RequestBuilder {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = switchboard::telephony::signature::sign(auth_token, url, &owned);
    client
        .post(url)
        .header("x-twilio-signature", signature)
        .header("i-twilio-idempotency-token", idempotency)
        .form(&owned)
}

/// Twilio's status callback for the message `message_sid` of account
/// `account_sid` (`MessageStatus`, and `ErrorCode` when one is given), signed
/// as [`signed_webhook`] signs, with a fresh idempotency token.
pub fn sms_status(
    client: &reqwest::Client,
    url: &str,
    (account_sid, auth_token): (&str, &str),
    message_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut params = vec![
        ("AccountSid", account_sid),
        ("MessageSid", message_sid),
        ("SmsSid", message_sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ApiVersion", "2010-04-01"),
    ];
    if let Some(code) = error_code {
        params.push(("ErrorCode", code));
    }
    // Each callback is its own delivery (Twilio's retry of one would repeat it).
    let idempotency = uuid::Uuid::new_v4().to_string();
    signed_webhook(client, url, auth_token, &params, &idempotency)
}

/// The value of `<Parameter name="{name}" value="…"/>` in TwiML (a stream's
/// `call_id` and `token`); `None` when it is not there.
pub fn twiml_parameter(twiml: &str, name: &str) -> Option<String> {
    let start = format!(r#"<Parameter name="{name}" value=""#);
    let rest = &twiml[twiml.find(&start)? + start.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}
