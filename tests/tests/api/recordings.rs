//! Call recordings (SPEC §10) over HTTP: the sandbox's sim calls spoken by
//! the offline voice; a real `Recorder` records one of them in-process (the
//! pipeline's part), then the routes serve it: 404 while recordings are off,
//! the call's `recording_url`, a signed link that downloads the WAV, the
//! stream with single byte ranges (206) and 416 for the rest, other orgs and
//! modes kept out, and the retention and layout settings.

use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::calls::recording::Recorder;
use switchboard::speech::audio;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(a_recorded_call_is_linked_streamed_and_ranged);

async fn a_recorded_call_is_linked_streamed_and_ranged(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    let org_id = me["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant = Tenant {
        org_id,
        mode: Mode::Test,
    };
    let (status, calls) = call(t.api(Method::GET, "/calls?mode=test&status=completed")).await;
    assert_eq!(status, StatusCode::OK, "{calls}");
    let id = calls["data"][0]["id"]
        .as_str()
        .expect("the sandbox has finished calls")
        .to_owned();
    let link_path = format!("/calls/{id}/recording?mode=test");
    let stream_path = format!("/calls/{id}/recording/stream?mode=test");

    // The sandbox's calls ran on the simulated carrier, so they have no
    // audio of their own: each is offered a recording, which the offline
    // voice speaks from its transcript the first time it is asked for.
    let sim = calls["data"][1]["id"].as_str().unwrap();
    let (_, got) = call(t.api(Method::GET, &format!("/calls/{sim}?mode=test"))).await;
    let transcript = got["data"]["transcript"].as_array().unwrap();
    let last_ms = transcript.last().unwrap()["at_ms"].as_u64().unwrap() as usize;
    let url = got["data"]["recording_url"].as_str().expect("offered");
    assert!(
        url.ends_with(&format!("/calls/{sim}/recording/stream?mode=test")),
        "{url}"
    );
    let resp = t
        .api(
            Method::GET,
            &format!("/calls/{sim}/recording/stream?mode=test"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "audio/wav");
    let spoken = audio::read_wav(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(spoken.rate, 16_000);
    assert!(
        spoken.samples.len() > last_ms * 16,
        "{} samples for a transcript whose last line is at {last_ms} ms",
        spoken.samples.len()
    );
    assert!(
        switchboard::speech::vad::level_db(&spoken.samples[..16_000]) > -35.0,
        "the agent's greeting is heard"
    );

    // A workspace that keeps no recordings gets no sim audio made either:
    // both routes are 404 with the SPEC body.
    let retention = |days: u32| set_workspace(&t, "recording_retention_days", json!(days));
    assert_eq!(retention(0).await.0, StatusCode::OK);
    for path in [&link_path, &stream_path] {
        let (status, body) = call(t.api(Method::GET, path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(assert_error_body(&body), "recording not found");
    }
    assert_eq!(retention(30).await.0, StatusCode::OK);

    // The pipeline's part: one second of caller audio, the agent over half of it.
    let mut recorder = Recorder::start(t.app.clone(), tenant.clone(), &id)
        .await
        .expect("recordings are on by default");
    recorder.caller(&vec![100; 16_000]);
    recorder.agent(250, &vec![1_000; 8_000]);
    recorder.flush().await;
    recorder.finish().await.unwrap();

    let (_, got) = call(t.api(Method::GET, &format!("/calls/{id}?mode=test"))).await;
    let url = got["data"]["recording_url"]
        .as_str()
        .expect("recording_url set");
    assert!(
        url.ends_with(&format!("/api/v1/calls/{id}/recording/stream?mode=test")),
        "{url}"
    );

    // The stream: the whole WAV, then single ranges.
    let resp = t.api(Method::GET, &stream_path).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "audio/wav");
    assert_eq!(resp.headers()[ACCEPT_RANGES], "bytes");
    let wav = resp.bytes().await.unwrap();
    let pcm = audio::read_wav(&wav).unwrap();
    assert_eq!((pcm.rate, pcm.samples.len()), (16_000, 16_000));
    assert_eq!(
        (pcm.samples[3_999], pcm.samples[4_000], pcm.samples[12_000]),
        (100, 1_100, 100)
    );
    let len = wav.len();
    for (range, first, last) in [
        ("bytes=0-3", 0, 3),
        ("bytes=-4", len - 4, len - 1),
        ("bytes=40-", 40, len - 1),
    ] {
        let resp = t
            .api(Method::GET, &stream_path)
            .header(RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            resp.headers()[CONTENT_RANGE],
            format!("bytes {first}-{last}/{len}").as_str()
        );
        assert_eq!(
            resp.bytes().await.unwrap(),
            wav.slice(first..=last),
            "{range}"
        );
    }
    for range in [
        format!("bytes={len}-"),
        "bytes=0-1,4-5".into(),
        "seconds=1-2".into(),
    ] {
        let resp = t
            .api(Method::GET, &stream_path)
            .header(RANGE, &range)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            resp.headers()[CONTENT_RANGE],
            format!("bytes */{len}").as_str()
        );
        let body = resp.json().await.unwrap();
        assert!(assert_error_body(&body).starts_with("Range "), "{body}");
    }

    // The signed link downloads the same file with no other credentials.
    let (status, link) = call(t.api(Method::GET, &link_path)).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert!(link["data"]["expires_at"].is_string(), "{link}");
    let signed = link["data"]["url"].as_str().unwrap();
    let download = t.client.get(signed).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK, "{signed}");
    assert_eq!(download.bytes().await.unwrap(), wav);
    let head = t
        .client
        .get(signed)
        .header(RANGE, "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.status(),
        StatusCode::PARTIAL_CONTENT,
        "links serve ranges, as S3's do"
    );
    assert_eq!(head.bytes().await.unwrap(), wav.slice(0..4));
    let tampered = signed.replacen("call.wav", "call.wav.x", 1);
    let refused = t.client.get(&tampered).send().await.unwrap();
    assert!(
        refused.status().is_client_error(),
        "{tampered}: {}",
        refused.status()
    );

    // Live mode and another org never see it.
    let (status, body) = call(t.api(Method::GET, &format!("/calls/{id}/recording"))).await;
    assert_eq!(
        (status, assert_error_body(&body)),
        (StatusCode::NOT_FOUND, "call not found".into())
    );
    let (other, _) = t.signup("other-recordings@example.com").await;
    for path in [&link_path, &stream_path] {
        let (status, body) = call(t.session(Method::GET, path, &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(assert_error_body(&body), "call not found");
    }

    // Retention: 30 days by default, validated, and 0 turns recording off.
    let (_, settings) = call(t.api(Method::GET, "/settings/workspace")).await;
    assert_eq!(
        settings["data"]["recording_retention_days"], 30,
        "{settings}"
    );
    refuses(
        &t,
        "recording_retention_days",
        [json!(-1), json!(3651), json!("7")],
    )
    .await;
    let (status, body) = retention(0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["recording_retention_days"], 0);
    assert!(Recorder::start(t.app.clone(), tenant, &id).await.is_none());

    // The layout: one mixed track by default, or one track per side.
    assert_eq!(
        settings["data"]["recording_channels"], "mixed",
        "{settings}"
    );
    refuses(&t, "recording_channels", [json!("stereo"), json!(2)]).await;
    let (status, body) = set_workspace(&t, "recording_channels", json!("dual")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["recording_channels"], "dual");
}

/// Posts `{field: value}` to the workspace settings.
async fn set_workspace(t: &TestApp, field: &str, value: Value) -> (StatusCode, Value) {
    let body = Value::Object([(field.to_owned(), value)].into_iter().collect());
    call(t.api(Method::POST, "/settings/workspace").json(&body)).await
}

/// Each of `bad` for `field` is a 422 that names the field.
async fn refuses<const N: usize>(t: &TestApp, field: &str, bad: [Value; N]) {
    for value in bad {
        let (status, body) = set_workspace(t, field, value.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}: {body}");
        assert!(body["details"]["fields"][field].is_string(), "{body}");
    }
}
