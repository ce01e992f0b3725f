//! `Blobs`: files with content types, listing by prefix, signed links.

use std::time::Duration;

use bytes::Bytes;
use switchboard::config::Backend;
use switchboard_tests::{TestApp, backend_tests};

backend_tests!(
    files_round_trip_and_list_by_prefix,
    signed_links_download_without_credentials
);

fn prefix() -> String {
    format!("org-{}/live/", uuid::Uuid::new_v4().simple())
}

async fn files_round_trip_and_list_by_prefix(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let blobs = t.app.blobs.clone();
    let p = prefix();
    let pdf = Bytes::from_static(b"%PDF-1.7 not really\x00\xff binary");
    blobs
        .put(&format!("{p}docs/b.pdf"), pdf.clone(), "application/pdf")
        .await
        .unwrap();
    blobs
        .put(
            &format!("{p}docs/a.txt"),
            Bytes::from_static(b"hello"),
            "text/plain",
        )
        .await
        .unwrap();
    blobs
        .put(
            &format!("{p}rec/c.wav"),
            Bytes::from(vec![7u8; 2048]),
            "audio/wav",
        )
        .await
        .unwrap();
    blobs
        .put(
            &format!("{}x.txt", prefix()),
            Bytes::from_static(b"other org"),
            "text/plain",
        )
        .await
        .unwrap();

    let got = blobs
        .get(&format!("{p}docs/b.pdf"))
        .await
        .unwrap()
        .expect("file");
    assert_eq!(got.bytes, pdf, "bytes come back exactly");
    assert_eq!(got.content_type, "application/pdf");
    assert_eq!(blobs.get(&format!("{p}docs/none")).await.unwrap(), None);

    let listed = blobs.list(&p).await.unwrap();
    let keys: Vec<_> = listed
        .iter()
        .map(|b| b.key.trim_start_matches(&p).to_owned())
        .collect();
    assert_eq!(
        keys,
        ["docs/a.txt", "docs/b.pdf", "rec/c.wav"],
        "only this prefix, in key order"
    );
    assert_eq!(listed[2].size, 2048);
    assert_eq!(blobs.list(&format!("{p}docs/")).await.unwrap().len(), 2);

    blobs
        .put(
            &format!("{p}docs/a.txt"),
            Bytes::from_static(b"replaced"),
            "text/markdown",
        )
        .await
        .unwrap();
    let replaced = blobs.get(&format!("{p}docs/a.txt")).await.unwrap().unwrap();
    assert_eq!(
        (replaced.bytes.as_ref(), replaced.content_type.as_str()),
        (&b"replaced"[..], "text/markdown")
    );

    blobs.delete(&format!("{p}docs/a.txt")).await.unwrap();
    blobs.delete(&format!("{p}docs/a.txt")).await.unwrap();
    assert_eq!(blobs.get(&format!("{p}docs/a.txt")).await.unwrap(), None);
    assert_eq!(blobs.list(&p).await.unwrap().len(), 2);
}

async fn signed_links_download_without_credentials(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let blobs = t.app.blobs.clone();
    let key = format!("{}rec/call.wav", prefix());
    let audio = Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<_>>());
    blobs.put(&key, audio.clone(), "audio/wav").await.unwrap();
    let url = blobs
        .signed_url(&key, Duration::from_secs(300))
        .await
        .unwrap();
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    assert_eq!(resp.bytes().await.unwrap(), audio);
}

/// The embedded backend serves its own signed links (S3 checks its own): a
/// tampered or expired link is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_links_are_checked_and_expire() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let key = format!("{}docs/secret.txt", prefix());
    t.app
        .blobs
        .put(&key, Bytes::from_static(b"private"), "text/plain")
        .await
        .unwrap();
    let url = t
        .app
        .blobs
        .signed_url(&key, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    let other_key = url.replace("secret.txt", "other.txt");
    assert_eq!(
        reqwest::get(&other_key).await.unwrap().status(),
        403,
        "the signature covers the key"
    );
    let last = if url.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &url[..url.len() - 1]);
    assert_eq!(
        reqwest::get(&forged).await.unwrap().status(),
        403,
        "a changed signature is refused"
    );
    let unsigned = url.split('?').next().unwrap().to_owned();
    assert_eq!(
        reqwest::get(&unsigned).await.unwrap().status(),
        400,
        "a link needs its signature"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        403,
        "an expired link is refused"
    );
}
