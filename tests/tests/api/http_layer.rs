//! The behaviour every endpoint shares (SPEC §1).

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard_tests::{TEST_KEY, TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    envelope_and_request_ids,
    credentials_are_required,
    bad_input_gets_the_spec_error_body,
    refused_bodies_leave_the_connection_open,
    rate_limit_is_counted_in_the_table,
    idempotency_key_replays_or_conflicts,
    test_mode_is_a_separate_partition,
    pagination_with_offset_and_cursor,
);

async fn envelope_and_request_ids(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let health = t
        .client
        .get(format!("{}/health", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let resp = t
        .api(Method::GET, "/agents")
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-chosen-42");
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(resp.headers().contains_key(h), "missing {h}");
    }
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["meta"]["request_id"], "client-chosen-42");
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["meta"]["timestamp"].as_str().unwrap()).is_ok()
    );
    assert_eq!(body["meta"]["pagination"]["limit"], 50);

    let resp = t.api(Method::GET, "/agents").send().await.unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated).is_ok(),
        "a UUID is generated: {generated}"
    );

    let (status, body) = call(t.api(Method::GET, "/no-such-thing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    let (status, body) = call(t.api(Method::DELETE, "/agents")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_body(&body);
}

async fn credentials_are_required(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (status, body) = call(t.anon(Method::GET, "/agents")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(assert_error_body(&body).contains("credentials"));
    let (status, _) = call(
        t.anon(Method::GET, "/agents")
            .bearer_auth("sb_not_a_real_key_at_all_000000"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        t.anon(Method::GET, "/agents")
            .header("cookie", "sb_session=forged"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn bad_input_gets_the_spec_error_body(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (status, body) = call(
        t.api(Method::POST, "/agents")
            .header("content-type", "application/json")
            .body("{\"name\": "),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(assert_error_body(&body).contains("malformed JSON"));

    let (status, body) = call(
        t.api(Method::POST, "/agents")
            .json(&json!(["not", "an", "object"])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_body(&body);

    let (status, body) = call(
        t.api(Method::POST, "/agents")
            .header("content-type", "text/plain")
            .body("hi"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error_body(&body);

    let huge = json!({"name": "x", "system_prompt": "y".repeat(2 * 1024 * 1024)});
    let (status, body) = call(t.api(Method::POST, "/agents").json(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_body(&body);

    let (status, body) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"system_prompt": 5, "max_duration_seconds": -1})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_body(&body);
    let fields = &body["details"]["fields"];
    for f in ["name", "system_prompt", "max_duration_seconds"] {
        assert!(fields[f].is_string(), "{f} named in {fields}");
    }

    for bad in [
        "?limit=0",
        "?limit=101",
        "?offset=-1",
        "?limit=abc",
        "?enabled=maybe",
        "?cursor=garbage",
        "?mode=prod",
    ] {
        let (status, body) = call(t.api(Method::GET, &format!("/agents{bad}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_error_body(&body);
    }
    // Nothing stored was harmed by the bad requests.
    let (_, body) = call(t.api(Method::GET, "/agents")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
}

/// A body the server refuses unread (too large, wrong type, no credentials)
/// is still read off the socket, so the client gets the error body, not a
/// reset, and its connection stays open for the next request.
async fn refused_bodies_leave_the_connection_open(backend: Backend) {
    use http_body_util::{BodyExt, Full};
    use hyper::client::conn::http1;
    use hyper_util::rt::TokioIo;

    let t = TestApp::spawn(backend).await;
    let stream = tokio::net::TcpStream::connect(t.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let big =
        Bytes::from(json!({"name": "x", "system_prompt": "y".repeat(3 * 1024 * 1024)}).to_string());
    let cases = [
        ("application/json", true, StatusCode::PAYLOAD_TOO_LARGE),
        ("text/plain", true, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/json", false, StatusCode::UNAUTHORIZED),
    ];
    for (content_type, authorised, expected) in cases {
        let mut req = http::Request::post("/api/v1/agents")
            .header("host", "switchboard.test")
            .header("content-type", content_type);
        if authorised {
            req = req.header("authorization", format!("Bearer {TEST_KEY}"));
        }
        sender.ready().await.expect("the connection is still open");
        let resp = sender
            .send_request(req.body(Full::new(big.clone())).unwrap())
            .await
            .expect("the response, not a reset");
        assert_eq!(resp.status(), expected);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_error_body(&serde_json::from_slice(&body).unwrap());
    }
    sender.ready().await.expect("the connection is still open");
    let resp = sender
        .send_request(
            http::Request::get("/health")
                .header("host", "switchboard.test")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn rate_limit_is_counted_in_the_table(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (status, _) = call(
        t.api(Method::POST, "/settings/workspace")
            .json(&json!({"rate_limit_per_minute": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The settings call above was this key's first request of the window.
    let resp = t.api(Method::GET, "/agents").send().await.unwrap();
    let limit = resp.headers()["x-ratelimit-limit"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(limit, "3");
    let mut last = None;
    for _ in 0..3 {
        last = Some(t.api(Method::GET, "/agents").send().await.unwrap());
    }
    let resp = last.unwrap();
    // Requests 1..3 of the window pass (unless the minute rolled over mid-test).
    if resp.status() == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
        assert!(resp.headers().contains_key("retry-after"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(assert_error_body(&body).contains("rate limit"));
    } else {
        // Window rolled over between requests: the next two must hit the limit.
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(t.api(Method::GET, "/agents").send().await.unwrap().status());
        }
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
    }
    // Another instance of the platform on the same store (another Lambda
    // container) sees the same count: it lives in the table, not in memory.
    let other = switchboard::App::build(t.app.config.clone()).await.unwrap();
    let (_, state) = switchboard::services::api_keys::authenticate(
        &other,
        switchboard_tests::TEST_KEY,
        Default::default(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        !state.allowed,
        "the other instance shares the exhausted window"
    );
}

async fn idempotency_key_replays_or_conflicts(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let body = json!({"name": "Once", "system_prompt": "p"});
    let first = t
        .api(Method::POST, "/agents")
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let second = t
        .api(Method::POST, "/agents")
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(
        first["data"]["id"], second["data"]["id"],
        "the same response is replayed"
    );
    let (_, list) = call(t.api(Method::GET, "/agents")).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "the agent was created once"
    );

    let (status, err) = call(
        t.api(Method::POST, "/agents")
            .header("idempotency-key", "k-1")
            .json(&json!({"name": "Other", "system_prompt": "p"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(assert_error_body(&err).contains("different request"));

    // A failed validation is a final answer too, and replays as such.
    let (status, _) = call(
        t.api(Method::POST, "/agents")
            .header("idempotency-key", "k-2")
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn test_mode_is_a_separate_partition(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, test_list) = call(t.api(Method::GET, "/agents?mode=test")).await;
    let demo = test_list["data"].as_array().unwrap();
    assert_eq!(
        demo.len(),
        1,
        "test mode is seeded with a demo agent: {test_list}"
    );
    assert_eq!(demo[0]["name"], "Demo Receptionist");
    let demo_id = demo[0]["id"].as_str().unwrap().to_owned();

    let (_, live_list) = call(t.api(Method::GET, "/agents")).await;
    assert_eq!(
        live_list["data"].as_array().unwrap().len(),
        0,
        "live mode does not see demo data"
    );
    let (status, _) = call(t.api(Method::GET, &format!("/agents/{demo_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, live) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Live", "system_prompt": "p"})),
    )
    .await;
    let live_id = live["data"]["id"].as_str().unwrap();
    let (status, _) = call(t.api(Method::GET, &format!("/agents/{live_id}?mode=test"))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "test mode does not see live data"
    );
    let (status, _) = call(t.api(Method::DELETE, &format!("/agents/{live_id}?mode=test"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Seeding happens once.
    let (_, again) = call(t.api(Method::GET, "/agents?mode=test")).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 1);
}

async fn pagination_with_offset_and_cursor(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (status, b) =
            call(t.api(Method::POST, "/agents").json(
                &json!({"name": format!("A{i}"), "system_prompt": "p", "enabled": i % 2 == 0}),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(b["data"]["id"].as_str().unwrap().to_owned());
    }
    ids.reverse(); // newest first
    let (_, p1) = call(t.api(Method::GET, "/agents?limit=3")).await;
    let got: Vec<&str> = p1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..3].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(p1["meta"]["pagination"]["total"], 7);
    let (_, p2) = call(t.api(Method::GET, "/agents?limit=3&offset=3")).await;
    assert_eq!(p2["data"][0]["id"], ids[3].as_str());

    // Walk the whole list by cursor: every agent once, in order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/agents?limit=2&cursor={c}"),
            None => "/agents?limit=2".to_owned(),
        };
        let (_, page) = call(t.api(Method::GET, &q)).await;
        walked.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned()),
        );
        match page["meta"]["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, ids);

    let (_, enabled) = call(t.api(Method::GET, "/agents?enabled=true&limit=2")).await;
    let page: Vec<_> = enabled["data"].as_array().unwrap().iter().collect();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|a| a["enabled"] == true));
    let next = enabled["meta"]["pagination"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, rest) = call(t.api(
        Method::GET,
        &format!("/agents?enabled=true&limit=10&cursor={next}"),
    ))
    .await;
    assert_eq!(
        rest["data"].as_array().unwrap().len(),
        2,
        "4 enabled agents in all"
    );
}
