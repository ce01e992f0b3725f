//! Hostile documents (issue 17): a burst of files built to burn CPU, memory
//! or stack, uploaded at once by one org, while another org uploads a normal
//! document. The server stays up, each bad file settles (`failed` with a
//! clear error, or `ready` when it is valid after all) within its bound, and
//! the other org's document does not wait for them. What the org stored
//! before the burst (an agent, a ready document) is unchanged after it.

use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::{TestApp, backend_tests, call};

#[path = "../../../shared/tests/support/pdf.rs"]
mod pdf;

backend_tests!(a_hostile_burst_fails_alone_and_does_not_delay_other_orgs);

/// An expected status meaning "either outcome, as long as it is bounded".
const ANY: &str = "ready or failed";

/// The extraction deadline of this test's server.
const EXTRACT_DEADLINE: Duration = Duration::from_secs(20);
/// Longest any one document may take to settle here (debug build): its
/// deadline, then storing the chunks or the failure.
const BOUND: Duration = Duration::from_secs(45);

fn upload(req: RequestBuilder, bytes: Vec<u8>, file: &str, mime: &str) -> RequestBuilder {
    let part = Part::bytes(bytes)
        .file_name(file.to_owned())
        .mime_str(mime)
        .unwrap();
    req.multipart(Form::new().part("file", part))
}

/// A DOCX whose `word/document.xml` is `head`, then `repeat` MB of `a`,
/// then `tail`: deflate turns each MB into about a kilobyte.
fn docx(head: &str, repeat_mb: usize, tail: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(head.as_bytes()).unwrap();
    let mb = vec![b'a'; 1024 * 1024];
    for _ in 0..repeat_mb {
        zip.write_all(&mb).unwrap();
    }
    zip.write_all(tail.as_bytes()).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

/// Polls a document until it leaves `processing`; its view and when.
async fn settle(req: impl Fn() -> RequestBuilder, started: Instant) -> (Value, Duration) {
    while started.elapsed() < BOUND {
        let (status, body) = call(req()).await;
        assert_eq!(status, StatusCode::OK, "the server still answers: {body}");
        if body["data"]["status"] != "processing" {
            return (body["data"].clone(), started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a document stayed in processing past {BOUND:?}");
}

async fn a_hostile_burst_fails_alone_and_does_not_delay_other_orgs(backend: Backend) {
    let (mut config, dir) = switchboard_tests::config(backend).await;
    // The deadline every document is read within, short enough that the
    // slowest input here (10,000 pages, a debug build) meets it.
    config.knowledge_extract_timeout = EXTRACT_DEADLINE;
    let t = TestApp::spawn_with(config, dir).await;
    let (cookie, _) = t.signup("hostile-neighbour@example.com").await;

    // What the org already has: an agent and a ready document.
    let (status, agent) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "Front desk", "system_prompt": "Answer from the documents."
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let (status, kept) = call(upload(
        t.api(Method::POST, "/knowledge/upload"),
        b"Parking: the garage behind the shop is free for customers.".to_vec(),
        "parking.txt",
        "text/plain",
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let kept_id = kept["data"]["id"].as_str().unwrap().to_owned();
    let get_kept = || t.api(Method::GET, &format!("/knowledge/{kept_id}"));
    let (kept_before, _) = settle(get_kept, Instant::now()).await;
    assert_eq!(kept_before["status"], "ready", "{kept_before}");
    let get_agent = || t.api(Method::GET, &format!("/agents/{agent_id}"));
    let (_, agent_before) = call(get_agent()).await;
    let word = "<w:document><w:body><w:p><w:r><w:t>";
    let end = "</w:t></w:r></w:p></w:body></w:document>";
    let mut csv = b"name,notes\nann,\"never closed ".to_vec();
    while csv.len() < 1024 * 1024 {
        csv.extend_from_slice(b"more words, and commas\n");
    }
    let deep_html = format!(
        "{}deep text{}",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    let page = vec!["Delivery within ten miles of the shop.".to_owned()];
    let many_pages = pdf::pdf_from_pages(&vec![page; 10_000]);
    // (file, media type, bytes, expected status, what its error names)
    let hostile: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        (
            "word.txt",
            "text/plain",
            vec![b'x'; 25 * 1024 * 1024 - 4096],
            "ready",
            "",
        ),
        (
            "broken.pdf",
            "application/pdf",
            [
                &b"%PDF-1.7\n1 0 obj << /Kids [1 0 R] "[..],
                &[b'['; 200_000],
            ]
            .concat(),
            "failed",
            "PDF",
        ),
        (
            "deep.html",
            "text/html",
            deep_html.into_bytes(),
            "ready",
            "",
        ),
        (
            "bomb.docx",
            "application/octet-stream",
            docx(word, 40, end),
            "failed",
            "too large",
        ),
        (
            "one-word.docx",
            "application/octet-stream",
            docx(word, 1, end),
            "ready",
            "",
        ),
        ("quote.csv", "text/csv", csv, "ready", ""),
        // Read within its budget, or failed for spending it: either way bounded.
        (
            "pages.pdf",
            "application/pdf",
            many_pages,
            ANY,
            "took longer",
        ),
    ];
    let started = Instant::now();
    let uploads = hostile.iter().map(|(file, mime, bytes, _, _)| {
        call(upload(
            t.api(Method::POST, "/knowledge/upload"),
            bytes.clone(),
            file,
            mime,
        ))
    });
    // Pages that cannot be fetched (a name that never resolves), in the same burst.
    let unreachable = [
        "http://unreachable.invalid/",
        "https://nowhere.invalid/hours",
    ]
    .map(|url| {
        call(
            t.api(Method::POST, "/knowledge/ingest-url")
                .json(&json!({"url": url})),
        )
    });
    let (created, fetches) = futures::future::join(
        futures::future::join_all(uploads),
        futures::future::join_all(unreachable),
    )
    .await;
    let mut ids = Vec::new();
    for ((file, ..), (status, body)) in hostile.iter().zip(&created) {
        assert_eq!(status, &StatusCode::CREATED, "{file}: {body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut url_ids = Vec::new();
    for (status, body) in &fetches {
        assert_eq!(status, &StatusCode::CREATED, "{body}");
        url_ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }

    // The other org's ordinary document, queued behind the whole burst.
    let normal = b"Opening hours: Monday to Friday, 9 am to 5 pm.".to_vec();
    let (status, body) = call(upload(
        t.session(Method::POST, "/knowledge/upload", &cookie)
            .header("origin", &t.base),
        normal,
        "hours.txt",
        "text/plain",
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let normal_id = body["data"]["id"].as_str().unwrap().to_owned();
    let (doc, normal_took) = settle(
        || t.session(Method::GET, &format!("/knowledge/{normal_id}"), &cookie),
        Instant::now(),
    )
    .await;
    assert_eq!(doc["status"], "ready", "{doc}");

    let mut slowest = Duration::ZERO;
    for ((file, _, _, status, error), id) in hostile.iter().zip(&ids) {
        let (doc, took) = settle(|| t.api(Method::GET, &format!("/knowledge/{id}")), started).await;
        slowest = slowest.max(took);
        if *status == ANY {
            assert!(
                doc["status"] == "ready"
                    || doc["error"].as_str().unwrap_or_default().contains(error),
                "{file}: read or failed with a clear error: {doc}"
            );
            continue;
        }
        assert_eq!(doc["status"], *status, "{file}: {doc}");
        if *status == "failed" {
            let message = doc["error"].as_str().unwrap_or_default();
            assert!(message.contains(error), "{file}: a clear error: {doc}");
        } else {
            assert!(doc["chunk_count"].as_u64().unwrap() >= 1, "{file}: {doc}");
        }
    }
    for id in &url_ids {
        let (doc, took) = settle(|| t.api(Method::GET, &format!("/knowledge/{id}")), started).await;
        slowest = slowest.max(took);
        assert_eq!(doc["status"], "failed", "{doc}");
        assert!(
            doc["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{doc}"
        );
    }
    assert!(
        normal_took < Duration::from_secs(15),
        "the other org's document waited {normal_took:?} (the burst took {slowest:?})"
    );
    // Still serving, and nothing stored before was lost or changed.
    let (status, _) = call(t.api(Method::GET, "/knowledge")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, agent_after) = call(get_agent()).await;
    assert_eq!(agent_after["data"], agent_before["data"]);
    let (kept_after, _) = settle(get_kept, Instant::now()).await;
    assert_eq!(kept_after, kept_before);
    let (status, found) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "is the parking garage free", "document_ids": [kept_id]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(
        found.to_string().contains("garage behind the shop"),
        "{found}"
    );
}
