//! Hostile input at the HTTP edge (issue 17 §3, issue 10 §3): malformed
//! paths and queries, slow and truncated bodies, cross-site writes, and
//! floods of the public sign-in routes. Every answer is the SPEC error body,
//! and no test waits longer than a few seconds.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::services::auth_limits::{ADDRESS_LIMIT, EMAIL_FAILURES, HASH_GATE};
use switchboard_local::ReadLimits;
use switchboard_tests::{TEST_KEY, TestApp, assert_error_body, backend_tests, call};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

backend_tests!(
    bad_path_parameters_get_the_spec_body_on_every_route,
    multipart_without_a_boundary_gets_the_spec_body,
    slow_clients_cannot_pin_a_connection,
    a_truncated_upload_is_refused_and_not_stored,
    every_list_parses_pagination_alike_and_pages,
    repeated_query_parameters_are_refused,
    web_session_takes_no_body,
    foreign_preflights_get_no_grant,
    cookie_writes_must_come_from_this_site,
    failed_logins_for_one_email_are_throttled,
    sign_in_routes_are_throttled_per_address,
);
async fn bad_path_parameters_get_the_spec_body_on_every_route(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    // Every operation with a path parameter, as the OpenAPI document lists
    // them (so a route added later is covered without touching this test),
    // plus the public-session preflight.
    let (status, doc) = call(t.anon(Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let mut routes = vec![(
        Method::OPTIONS,
        "/channels/web/{id}/public-session".to_owned(),
    )];
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(route) = path.strip_prefix("/api/v1").filter(|p| p.contains('{')) else {
            continue;
        };
        for method in item.as_object().unwrap().keys() {
            if let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                routes.push((method, route.to_owned()));
            }
        }
    }
    assert!(routes.len() > 60, "{} routes with parameters", routes.len());
    for (method, route) in routes {
        let path = route
            .split('/')
            .map(|s| if s.starts_with('{') { "%FF%FE" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let (status, body) = call(
            t.api(method.clone(), &path)
                .header("origin", "https://shop.example")
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        let msg = assert_error_body(&body);
        assert!(msg.contains("UTF-8"), "{method} {path}: {msg}");
    }
}

async fn multipart_without_a_boundary_gets_the_spec_body(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    for (content_type, want) in [
        ("multipart/form-data", StatusCode::BAD_REQUEST),
        ("multipart/form-data; boundary=", StatusCode::BAD_REQUEST),
        ("text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let (status, body) = call(
            t.api(Method::POST, "/knowledge/upload")
                .header("content-type", content_type)
                .body("--x\r\n\r\nhello\r\n--x--\r\n"),
        )
        .await;
        assert_eq!(status, want, "{content_type}: {body}");
        assert_error_body(&body);
    }
    let (status, body) = call(t.api(Method::POST, "/knowledge/upload")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_error_body(&body);
}

/// Writes `request` on a fresh connection, then reads until the server
/// answers and closes or `bound` passes; returns what was read and whether
/// the server ended the connection within the bound.
async fn raw(t: &TestApp, request: &[u8], close_write: bool, bound: Duration) -> (String, bool) {
    let addr = t.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if close_write {
        stream.shutdown().await.unwrap();
    }
    let mut got = Vec::new();
    let ended = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), ended)
}

/// The status and JSON body of a raw HTTP/1.1 response.
fn parse_response(text: &str) -> (u16, Value) {
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const SHORT: ReadLimits = ReadLimits {
    header: Duration::from_secs(1),
    body_idle: Duration::from_secs(1),
    body_total: Duration::from_secs(3),
};

async fn slow_clients_cannot_pin_a_connection(backend: Backend) {
    let t = TestApp::spawn_with_read_limits(backend, SHORT).await;
    let bound = Duration::from_secs(8);
    let auth = format!("Authorization: Bearer {TEST_KEY}\r\n");

    // A head that never ends: the connection is closed.
    let (_, ended) = raw(
        &t,
        b"GET /api/v1/agents HTTP/1.1\r\nHost: x\r\n",
        false,
        bound,
    )
    .await;
    assert!(ended, "a half-sent head is dropped");
    let (_, ended) = raw(&t, b"", false, bound).await;
    assert!(ended, "a silent connection is dropped");

    // A chunk announced as 2^64-1 bytes, and a body shorter than its
    // Content-Length: each gets a 400 in the SPEC body, in bounded time.
    let chunked = format!(
        "POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{{\"na"
    );
    let short = format!(
        "POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"name\":"
    );
    // A body that trickles a byte at a time stays within no deadline either.
    for request in [chunked, short] {
        let started = std::time::Instant::now();
        let (text, ended) = raw(&t, request.as_bytes(), false, bound).await;
        assert!(ended, "the connection is not held: {text}");
        let (status, body) = parse_response(&text);
        if status != 0 {
            assert!((400..500).contains(&status), "{text}");
            assert_error_body(&body);
        }
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    let addr = t.base.trim_start_matches("http://").to_owned();
    let trickle = async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/v1/agents HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..20 {
            if s.write_all(b" ").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut buf = [0u8; 1024];
        matches!(s.read(&mut buf).await, Ok(n) if n > 0)
    };
    let answered = tokio::time::timeout(Duration::from_secs(15), trickle)
        .await
        .expect("bounded");
    assert!(
        answered,
        "a trickling body is cut off at the total deadline"
    );

    // The server still serves.
    let (status, _) = call(t.api(Method::GET, "/agents")).await;
    assert_eq!(status, StatusCode::OK);
}

fn upload_request(declared_extra: usize) -> Vec<u8> {
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                Content-Type: text/plain\r\n\r\nhello there, general knowledge\r\n--XyZ--\r\n";
    format!(
        "POST /api/v1/knowledge/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TEST_KEY}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{body}",
        body.len() + declared_extra
    )
    .into_bytes()
}

async fn a_truncated_upload_is_refused_and_not_stored(backend: Backend) {
    let t = TestApp::spawn_with_read_limits(backend, SHORT).await;
    let bound = Duration::from_secs(8);
    // Whole multipart form, Content-Length 100 bytes more; then the client
    // closes its side, or just stops.
    for close in [true, false] {
        let (text, ended) = raw(&t, &upload_request(100), close, bound).await;
        assert!(ended, "answered in bounded time");
        let (status, body) = parse_response(&text);
        assert_eq!(status, 400, "close={close}: {text}");
        assert!(assert_error_body(&body).contains("whole request body"));
    }
    let (_, list) = call(t.api(Method::GET, "/knowledge")).await;
    assert_eq!(list["data"], json!([]), "nothing stored: {list}");
    // The same form, whole, is stored.
    let (text, _) = raw(&t, &upload_request(0), true, bound).await;
    assert_eq!(parse_response(&text).0, 201, "{text}");
}

async fn every_list_parses_pagination_alike_and_pages(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    // A signed-in admin: `/users` and `/organizations` are a person's lists.
    let (me, _) = t.signup("pager@example.com").await;
    let get = |path: &str| t.session(Method::GET, path, &me);
    let (_, agent) = call(
        t.session(Method::POST, "/agents", &me)
            .json(&json!({"name": "A", "system_prompt": "You help."})),
    )
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let lists = [
        "/agents".to_owned(),
        "/flows".to_owned(),
        "/tools".to_owned(),
        "/channels".to_owned(),
        "/knowledge".to_owned(),
        "/tools/mcp/servers".to_owned(),
        "/api-keys".to_owned(),
        "/users".to_owned(),
        "/organizations".to_owned(),
        format!("/tools/agent/{agent_id}"),
        format!("/tools/agent/{agent_id}/mcp"),
        format!("/knowledge/agent/{agent_id}"),
    ];
    for list in &lists {
        for bad in ["limit=-1", "limit=abc", "limit=1e9", "limit=0", "offset=-3"] {
            let (status, body) = call(get(&format!("{list}?{bad}"))).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{list}?{bad}: {body}"
            );
            assert_error_body(&body);
        }
        let (status, body) = call(get(&format!("{list}?limit=1"))).await;
        assert_eq!(status, StatusCode::OK, "{list}: {body}");
        assert_eq!(body["meta"]["pagination"]["limit"], 1, "{list}: {body}");
        assert!(
            body["data"].as_array().unwrap().len() <= 1,
            "{list}: {body}"
        );
    }
    // The lists read whole really page, by offset and by cursor.
    for i in 0..3 {
        let (status, _) = call(
            t.session(Method::POST, "/api-keys", &me)
                .json(&json!({"name": format!("k{i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, all) = call(get("/api-keys")).await;
    let ids: Vec<Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].clone())
        .collect();
    let n = ids.len();
    assert!(n >= 3, "{all}");
    assert_eq!(all["meta"]["pagination"]["total"], n);
    let (_, first) = call(get(&format!("/api-keys?limit={}", n - 1))).await;
    assert_eq!(first["data"].as_array().unwrap().len(), n - 1);
    let cursor = first["meta"]["pagination"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rest) = call(get(&format!("/api-keys?limit={}&cursor={cursor}", n - 1))).await;
    assert_eq!(rest["data"], json!([all["data"][n - 1]]), "{rest}");
    assert_eq!(rest["meta"]["pagination"]["next_cursor"], Value::Null);
    let (_, skip) = call(get("/api-keys?limit=1&offset=2")).await;
    assert_eq!(skip["data"][0]["id"], ids[2]);
    let (status, body) = call(get("/api-keys?cursor=nonsense")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn repeated_query_parameters_are_refused(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    for path in [
        "/agents?mode=test&mode=live",
        "/agents?mode=live&mode=live",
        "/agents?limit=1&limit=2",
    ] {
        let (status, body) = call(t.api(Method::GET, path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            assert_error_body(&body).contains("more than once"),
            "{body}"
        );
    }
    // Nothing landed in the sandbox on the way.
    let (status, _) = call(t.api(Method::GET, "/agents?mode=test")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn web_channel(t: &TestApp) -> String {
    let (status, body) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Web", "type": "web",
        "config": {"public": true, "allowed_origins": ["https://shop.example"]}
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn web_session_takes_no_body(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let id = web_channel(&t).await;
    let path = format!("/channels/web/{id}/session");
    let (status, body) = call(t.api(Method::POST, &path)).await;
    assert_eq!(status, StatusCode::CREATED, "no body: {body}");
    let (status, body) = call(t.api(Method::POST, &path).json(&json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "empty object: {body}");
    for (content_type, payload, want) in [
        (
            "application/json",
            "{\"metadata\": 1}",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("application/json", "[1, 2]", StatusCode::BAD_REQUEST),
        ("application/json", "{\"a\":", StatusCode::BAD_REQUEST),
        ("text/plain", "hello", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let (status, body) = call(
            t.api(Method::POST, &path)
                .header("content-type", content_type)
                .body(payload),
        )
        .await;
        assert_eq!(status, want, "{payload}: {body}");
        assert_error_body(&body);
    }
}

async fn foreign_preflights_get_no_grant(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let id = web_channel(&t).await;
    let preflight = |origin: &'static str| {
        t.anon(
            Method::OPTIONS,
            &format!("/channels/web/{id}/public-session"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let foreign = preflight("https://evil.example").await.unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        foreign
            .headers()
            .get("access-control-allow-methods")
            .is_none()
    );
    assert_error_body(&foreign.json().await.unwrap());
}

async fn cookie_writes_must_come_from_this_site(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (cookie, _) = t.signup("csrf@example.com").await;
    let agent = json!({"name": "Forged", "system_prompt": "You help."});
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let (status, body) = call(
            t.session(Method::POST, "/agents", &cookie)
                .header(header, value)
                .json(&agent),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{header}: {value}: {body}");
        assert!(assert_error_body(&body).contains("cross-site"));
    }
    let (_, list) = call(t.session(Method::GET, "/agents", &cookie)).await;
    assert_eq!(list["data"], json!([]), "nothing was created: {list}");
    // Reads are not refused; the site itself and non-browser clients write.
    let (status, _) = call(
        t.session(Method::GET, "/agents", &cookie)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for req in [
        t.session(Method::POST, "/agents", &cookie)
            .header("origin", t.base.as_str()),
        t.session(Method::POST, "/agents", &cookie)
            .header("sec-fetch-site", "same-origin"),
        t.session(Method::POST, "/agents", &cookie),
        // An API key is never sent by a browser on its own: Origin is moot.
        t.api(Method::POST, "/agents")
            .header("origin", "https://evil.example"),
    ] {
        let (status, body) = call(req.json(&agent)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // A JSON body needs its content type, from every client.
    for req in [
        t.api(Method::POST, "/agents"),
        t.session(Method::POST, "/agents", &cookie),
    ] {
        let (status, body) = call(req.body(agent.to_string())).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert_error_body(&body);
    }
}

/// Waits out the last seconds of a fixed `window` (in seconds), so that a
/// test's burst is counted in one window.
async fn within_one_window(window: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = window - now % window;
    if left < 10 {
        tokio::time::sleep(Duration::from_secs(left)).await;
    }
}

async fn failed_logins_for_one_email_are_throttled(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    within_one_window(15 * 60).await;
    t.signup("target@example.com").await;
    let login = |password: &str| {
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "target@example.com", "password": password}))
            .send()
    };
    for _ in 0..EMAIL_FAILURES {
        let resp = login("wrong password!").await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    for password in ["wrong password!", "correct horse battery"] {
        let resp = login(password).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "locked for now"
        );
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=15 * 60).contains(&retry), "{retry}");
        assert_error_body(&resp.json().await.unwrap());
    }
    // Another e-mail is not locked out with it (ten more attempts from this
    // address are still within its budget).
    let (status, _) = call(
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "other@example.com", "password": "whatever it is"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn sign_in_routes_are_throttled_per_address(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    within_one_window(60).await;
    // A flood of concurrent logins, each for its own e-mail: past the
    // address budget they are 429, and never more hashes run at once than
    // the gate allows.
    let attempts = (ADDRESS_LIMIT + 10) as usize;
    let mut flood = Vec::new();
    for i in 0..attempts {
        let req = t
            .anon(Method::POST, "/auth/login")
            .json(&json!({"email": format!("u{i}@example.com"), "password": "not the password"}));
        flood.push(tokio::spawn(req.send()));
    }
    let mut limited = 0;
    for f in flood {
        let resp = f.await.unwrap().unwrap();
        match resp.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(resp.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited >= 10, "{limited} of {attempts} limited");
    assert!(HASH_GATE.peak() <= HASH_GATE.size(), "hashing bound held");
    // Signup is counted on its own budget, and is throttled as well.
    within_one_window(60).await;
    let mut statuses = Vec::new();
    for i in 0..=ADDRESS_LIMIT {
        let (status, _) = call(
            t.anon(Method::POST, "/auth/signup")
                .json(&json!({"email": format!("s{i}@example.com")})),
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}
