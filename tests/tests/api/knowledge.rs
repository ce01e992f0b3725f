//! Knowledge base (SPEC §5): ingest through the queue and its worker, chunks,
//! hybrid search, assignment, deletion of every trace.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    text_documents_are_ingested_searched_and_deleted,
    chunks_are_listed_a_page_at_a_time,
    uploads_check_size_and_type,
    urls_are_fetched_through_the_guard
);

const HOURS: &str = "# Harbor Lane Dental\n\n## Opening hours\n\nWe are open Monday to Friday from 8 am to 6 pm, and on Saturdays from 9 am to 1 pm. \
We are closed on Sundays and public holidays.\n\n## Prices\n\nA check-up costs $85 and a cleaning costs $120. Whitening starts at $350. \
See https://example.com/prices for the full list.\n\n## Parking\n\nFree parking is available behind the building on Elm Street.";

/// Waits until the document leaves `processing`.
async fn settled(t: &TestApp, id: &str) -> Value {
    for _ in 0..300 {
        let (_, body) = call(t.api(Method::GET, &format!("/knowledge/{id}"))).await;
        if body["data"]["status"] != "processing" {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("document {id} stayed in processing");
}

async fn chunks_are_listed_a_page_at_a_time(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    // 25 paragraphs of ~315 estimated tokens: one chunk each.
    let content: String = (0..25)
        .map(|i| format!("Service number {i} costs {i} dollars. ").repeat(45) + "\n\n")
        .collect();
    let (status, created) = call(
        t.api(Method::POST, "/knowledge/ingest-text")
            .json(&json!({"name": "Sections", "content": content})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let doc = settled(&t, &id).await;
    assert_eq!(doc["chunk_count"], 25, "{doc}");

    let path = format!("/knowledge/{id}/chunks");
    let (status, first) = call(t.api(Method::GET, &format!("{path}?limit=10"))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 10);
    assert_eq!(first["data"][0]["index"], 0);
    assert_eq!(first["meta"]["pagination"]["total"], 25);
    assert_eq!(first["meta"]["pagination"]["limit"], 10);
    let cursor = first["meta"]["pagination"]["next_cursor"].as_str().unwrap();
    let (_, second) = call(
        t.api(Method::GET, &path)
            .query(&[("limit", "10"), ("cursor", cursor)]),
    )
    .await;
    assert_eq!(second["data"][0]["index"], 10, "{second}");
    let (_, last) = call(t.api(Method::GET, &format!("{path}?limit=10&offset=20"))).await;
    assert_eq!(last["data"].as_array().unwrap().len(), 5);
    assert_eq!(last["data"][4]["index"], 24);
    assert!(
        last["meta"]["pagination"]["next_cursor"].is_null(),
        "{last}"
    );
    for bad in ["limit=0", "limit=abc", "limit=1000", "offset=-1"] {
        let (status, body) = call(t.api(Method::GET, &format!("{path}?{bad}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_error_body(&body);
    }
}

async fn text_documents_are_ingested_searched_and_deleted(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (status, created) = call(
        t.api(Method::POST, "/knowledge/ingest-text")
            .json(&json!({"name": "Practice info", "content": HOURS})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["status"], "processing");
    assert_eq!(created["data"]["source_type"], "text");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let doc = settled(&t, &id).await;
    assert_eq!(doc["status"], "ready", "{doc}");
    assert!(doc["chunk_count"].as_u64().unwrap() >= 1);

    let (status, chunks) = call(t.api(Method::GET, &format!("/knowledge/{id}/chunks"))).await;
    assert_eq!(status, StatusCode::OK);
    let chunks = chunks["data"].as_array().unwrap().clone();
    assert_eq!(chunks.len() as u64, doc["chunk_count"].as_u64().unwrap());
    assert!(
        chunks
            .iter()
            .all(|c| c["tokens"].as_u64().unwrap() > 0 && c["text"].is_string())
    );
    assert_eq!(chunks[0]["index"], 0);

    let (status, hits) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "when are you open on saturday", "top_k": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let first = &hits["data"][0];
    assert_eq!(first["document_id"], id);
    assert_eq!(first["document_name"], "Practice info");
    assert!(
        first["text"].as_str().unwrap().contains("Saturdays"),
        "{first}"
    );
    let score = first["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "a confidence: {score}");

    // `min_score` keeps confident hits only: none for what the documents
    // do not say, and an out-of-range value is a field error.
    let (status, none) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "do you sell bicycles and tyres", "min_score": 0.99})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["data"], json!([]), "{none}");
    let (status, bad) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "hours", "min_score": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_error_body(&bad);
    assert!(bad["details"]["fields"]["min_score"].is_string(), "{bad}");

    let (_, voice) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "how much is a cleaning", "voice_mode": true})),
    )
    .await;
    for hit in voice["data"].as_array().unwrap() {
        let text = hit["text"].as_str().unwrap();
        assert!(
            !text.contains("http") && !text.contains('#'),
            "speakable: {text}"
        );
    }

    // Scoped to an agent: nothing until the document is assigned.
    let (_, agent) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Desk", "system_prompt": "p"})),
    )
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let scoped = json!({"query": "parking", "agent_id": agent_id});
    let (_, none) = call(t.api(Method::POST, "/knowledge/query").json(&scoped)).await;
    assert_eq!(
        none["data"].as_array().unwrap().len(),
        0,
        "an agent sees only its documents"
    );
    let (status, _) = call(t.api(
        Method::POST,
        &format!("/knowledge/agent/{agent_id}/assign/{id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, some) = call(t.api(Method::POST, "/knowledge/query").json(&scoped)).await;
    assert!(
        some["data"][0]["text"]
            .as_str()
            .unwrap()
            .contains("parking"),
        "{some}"
    );
    let (_, docs) = call(t.api(Method::GET, &format!("/knowledge/agent/{agent_id}"))).await;
    assert_eq!(docs["data"][0]["id"], id);

    // Another org and the sandbox see nothing of it.
    let other = t.signup("kb-other@example.com").await.0;
    let (status, _) = call(t.session(Method::GET, &format!("/knowledge/{id}"), &other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = call(
        t.session(Method::POST, "/knowledge/query", &other)
            .json(&json!({"query": "opening hours"})),
    )
    .await;
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["document_id"] != id)
    );

    let (status, body) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "", "top_k": 99})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["details"]["fields"]["query"].is_string()
            && body["details"]["fields"]["top_k"].is_string()
    );
    // Each typed body names every bad field at once, unknown keys included;
    // `null` is as good as absent.
    for (path, bad, want) in [
        (
            "query",
            json!({"query": null, "voice_mode": 1, "document_ids": [1], "agent_id": "x",
                "min_score": null, "topk": 3}),
            json!({"query": "is required", "voice_mode": "must be true or false",
                "agent_id": "must be an agent id", "topk": "is not a field of a knowledge query"}),
        ),
        (
            "ingest-text",
            json!({"name": "", "content": 5, "tags": []}),
            json!({"name": "must not be empty", "content": "must be a string",
                "tags": "is not a field of a text document"}),
        ),
        (
            "ingest-url",
            json!({"url": null, "name": 7, "depth": 2}),
            json!({"url": "is required", "name": "must be a string",
                "depth": "is not a field of a web page document"}),
        ),
    ] {
        let (status, body) = call(
            t.api(Method::POST, &format!("/knowledge/{path}"))
                .json(&bad),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_error_body(&body);
        let mut fields = body["details"]["fields"].as_object().unwrap().clone();
        if path == "query" {
            // serde's own wording, with the item's position.
            assert!(fields.remove("document_ids.[0]").is_some(), "{fields:?}");
        }
        assert_eq!(Value::Object(fields), want, "{path}");
    }

    // Reindex keeps it searchable; delete removes every trace.
    let (status, re) = call(t.api(Method::POST, &format!("/knowledge/{id}/reindex"))).await;
    assert_eq!(status, StatusCode::OK, "{re}");
    assert_eq!(settled(&t, &id).await["status"], "ready");
    let (status, _) = call(t.api(Method::DELETE, &format!("/knowledge/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(Method::GET, &format!("/knowledge/{id}/chunks"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let org = t
        .app
        .table
        .get("SYSTEM", "BOOTSTRAP")
        .await
        .unwrap()
        .unwrap()
        .data["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        t.app
            .blobs
            .list(&format!("{org}/live/kb/{id}/"))
            .await
            .unwrap()
            .is_empty(),
        "blobs are gone"
    );
    let (_, after) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "opening hours"})),
    )
    .await;
    assert!(
        after["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["document_id"] != id),
        "and so are its vectors"
    );
    let (_, docs) = call(t.api(Method::GET, &format!("/knowledge/agent/{agent_id}"))).await;
    assert_eq!(
        docs["data"].as_array().unwrap().len(),
        0,
        "and its assignments"
    );
}

async fn uploads_check_size_and_type(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let upload = |bytes: Vec<u8>, file: &str, mime: &str| {
        let part = Part::bytes(bytes)
            .file_name(file.to_owned())
            .mime_str(mime)
            .unwrap();
        t.api(Method::POST, "/knowledge/upload")
            .multipart(Form::new().part("file", part).text("name", "Price list"))
    };
    let csv = b"service,price,duration\ncheck-up,$85,30 min\ncleaning,$120,45 min\nwhitening,$350,90 min\n".to_vec();
    let (status, created) = call(upload(csv, "prices.csv", "text/csv")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["name"], "Price list");
    assert_eq!(created["data"]["mime_type"], "text/csv");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&t, &id).await["status"], "ready");
    let (_, chunks) = call(t.api(Method::GET, &format!("/knowledge/{id}/chunks"))).await;
    let text = chunks["data"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("service: cleaning") || text.contains("price: $120"),
        "rows carry their headers: {text}"
    );

    let (status, body) = call(upload(
        vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0],
        "a.exe",
        "application/x-msdownload",
    ))
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        assert_error_body(&body).contains("application/pdf"),
        "the accepted types are named"
    );

    let (status, body) = call(upload(
        vec![b'a'; 25 * 1024 * 1024 + 10],
        "big.txt",
        "text/plain",
    ))
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, broken) = call(upload(
        b"%PDF-1.7\n1 0 obj garbage".to_vec(),
        "broken.pdf",
        "application/pdf",
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let doc = settled(&t, broken["data"]["id"].as_str().unwrap()).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("PDF"),
        "a useful error: {doc}"
    );
    let (status, _) = call(
        t.api(Method::POST, "/knowledge/upload")
            .multipart(Form::new().text("name", "no file")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = call(t.api(Method::GET, "/knowledge")).await;
    assert_eq!(
        list["meta"]["pagination"]["total"], 2,
        "the refused uploads stored nothing"
    );
}

async fn urls_are_fetched_through_the_guard(backend: Backend) {
    // A page on loopback, reachable only because this test allows it.
    let page = axum::Router::new().route(
        "/hours",
        axum::routing::get(|| async {
            axum::response::Html("<html><head><title>Hours</title><script>var x=1;</script></head><body><nav>Home | About</nav>\
             <h1>Opening hours</h1><p>The workshop opens at 7 am on weekdays.</p></body></html>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, page).await });
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.outbound_allow = "127.0.0.1".into();
    let t = TestApp::spawn_with(config, dir).await;

    let (status, created) = call(
        t.api(Method::POST, "/knowledge/ingest-url")
            .json(&json!({"url": format!("http://{addr}/hours"), "name": "Workshop"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&t, &id).await["status"], "ready");
    let (_, chunks) = call(t.api(Method::GET, &format!("/knowledge/{id}/chunks"))).await;
    let text = chunks["data"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("7 am") && !text.contains("var x"),
        "readable text only: {text}"
    );

    for bad in [
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "http://10.0.0.1/",
    ] {
        let (status, body) = call(
            t.api(Method::POST, "/knowledge/ingest-url")
                .json(&json!({"url": bad})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["details"]["fields"]["url"].is_string());
    }
    // Without the test's allowance the same live page is refused: by its
    // loopback name and by its literal address, before anything is stored.
    // (Were the guard to let them through, the page above would be read.)
    let strict = TestApp::spawn(backend).await;
    for url in [
        format!("http://localhost:{}/hours", addr.port()),
        format!("http://{addr}/hours"),
        format!("http://[::ffff:127.0.0.1]:{}/hours", addr.port()),
    ] {
        let (status, body) = call(
            strict
                .api(Method::POST, "/knowledge/ingest-url")
                .json(&json!({"url": url})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        let reason = body["details"]["fields"]["url"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.contains("blocked") || reason.contains("not allowed"),
            "{url}: the refusal says why: {body}"
        );
    }
    let (_, list) = call(strict.api(Method::GET, "/knowledge")).await;
    assert_eq!(list["meta"]["pagination"]["total"], 0, "nothing was stored");
}
