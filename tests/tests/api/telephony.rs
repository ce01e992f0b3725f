//! Telephony over Twilio (SPEC §7, §14): signed webhooks, inbound calls
//! streamed to the relay, outbound calls through the REST API with status
//! callbacks, and the media stream that holds a call — against the Twilio
//! double (REST, webhook signing, a media-stream client).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::twilio::{TwilioDouble, signed_webhook, twiml_parameter};
use switchboard_tests::twilio_media::{Heard, MediaStream};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

backend_tests!(
    webhooks_need_twilios_signature_once,
    inbound_calls_stream_to_the_relay_and_unknown_numbers_hear_why,
    outbound_calls_go_through_twilio_and_status_callbacks_end_them,
    carrier_refusals_fail_the_call_without_revealing_the_token,
    the_media_stream_holds_the_call_and_takes_keypad_digits,
);

pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "auth_token_super_secret_42";
pub(crate) const NUMBER: &str = "+14155550100";
pub(crate) const CALLER: &str = "+14155559999";
const HOURS: &str = "We are open from nine to five.";
const PERSON: &str = "+14155550111";

pub(crate) async fn spawn(backend: Backend, twilio: Option<&TwilioDouble>) -> TestApp {
    let (mut cfg, dir) = config(backend).await;
    if let Some(twilio) = twilio {
        cfg.twilio_api_base = twilio.base.clone();
    }
    TestApp::spawn_with(cfg, dir).await
}

pub(crate) async fn double() -> TwilioDouble {
    TwilioDouble::one_account(SID, TOKEN, NUMBER).await
}

/// An agent with keypad rules and a Twilio channel answering [`NUMBER`]
/// with it: the channel's id.
pub(crate) async fn line(t: &TestApp) -> String {
    let (status, agent) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "Front desk", "system_prompt": "You answer the phone for a shop.",
        "dtmf_rules": [
            {"digit": "5", "action": "say", "value": HOURS},
            {"digit": "9", "action": "end_call"},
            {"digit": "0", "action": "transfer", "value": PERSON},
        ],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let (status, channel) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Shop line", "type": "twilio",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
        "phone_numbers": [NUMBER], "default_agent_id": agent["data"]["id"],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    channel["data"]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn hook(t: &TestApp, channel: &str, which: &str) -> String {
    format!("{}/api/v1/telephony/twilio/{channel}/{which}", t.base)
}

pub(crate) fn inbound<'a>(call_sid: &'a str, to: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", SID),
        ("CallSid", call_sid),
        ("From", CALLER),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
}

/// Posts a signed webhook; status, content type and body text.
pub(crate) async fn post(
    t: &TestApp,
    url: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let idem = uuid::Uuid::new_v4().to_string();
    let resp = signed_webhook(&t.client, url, TOKEN, params, &idem)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, resp.text().await.unwrap())
}

/// The value of `<Parameter name="{name}" value="…"/>` in TwiML.
pub(crate) fn parameter(twiml: &str, name: &str) -> String {
    twiml_parameter(twiml, name).unwrap_or_else(|| panic!("{name} in {twiml}"))
}

/// Polls `GET /api/v1{path}` until `done(data)`.
pub(crate) async fn until(t: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (_, body) = call(t.api(Method::GET, path)).await;
        if done(&body["data"]) {
            return body["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{path} never got there: {}",
        call(t.api(Method::GET, path)).await.1
    );
}

async fn webhooks_need_twilios_signature_once(backend: Backend) {
    let t = spawn(backend, None).await;
    let channel = line(&t).await;
    let url = hook(&t, &channel, "voice");
    let params = inbound("CA01", NUMBER);
    let expect_refusal = |status: StatusCode, body: &str, says: &str| {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let body: Value = serde_json::from_str(body).expect("the SPEC error body");
        let msg = assert_error_body(&body);
        assert!(msg.contains(says), "{msg}");
        assert!(!msg.contains(TOKEN), "{msg}");
    };
    // Unsigned.
    let resp = t.client.post(&url).form(&params).send().await.unwrap();
    let status = resp.status();
    expect_refusal(status, &resp.text().await.unwrap(), "no X-Twilio-Signature");
    // Signed with another token; signed for another URL.
    for (token, signed_url) in [
        ("not_the_token", url.clone()),
        (TOKEN, format!("{url}?x=1")),
    ] {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let sig = switchboard::telephony::signature::sign(token, &signed_url, &owned);
        let resp = t
            .client
            .post(&url)
            .header("x-twilio-signature", sig)
            .form(&params)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        expect_refusal(status, &resp.text().await.unwrap(), "does not verify");
    }
    // A changed field after signing: the signature no longer matches.
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let sig = switchboard::telephony::signature::sign(TOKEN, &url, &owned);
    let mut tampered = params.clone();
    tampered[2] = ("From", "+14155550666");
    let resp = t
        .client
        .post(&url)
        .header("x-twilio-signature", sig)
        .form(&tampered)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    expect_refusal(status, &resp.text().await.unwrap(), "does not verify");
    // A channel that does not exist looks the same as a bad signature.
    let nowhere = hook(&t, "0190d9a8-0000-7000-8000-000000000000", "voice");
    let (status, _, body) = post(&t, &nowhere, &params).await;
    expect_refusal(status, &body, "does not verify");
    // Right signature, another account's AccountSid.
    let mut other = params.clone();
    other[0] = ("AccountSid", "AC99999999999999999999999999999999");
    let (status, _, body) = post(&t, &url, &other).await;
    expect_refusal(status, &body, "another Twilio account");
    // Signed: answered once; the same delivery again is a replay.
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let send = || {
        t.client
            .post(&url)
            .header(
                "x-twilio-signature",
                switchboard::telephony::signature::sign(TOKEN, &url, &owned),
            )
            .header("i-twilio-idempotency-token", "idem-1")
            .form(&params)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let again = send().await.unwrap();
    let status = again.status();
    expect_refusal(status, &again.text().await.unwrap(), "replayed");
}

async fn inbound_calls_stream_to_the_relay_and_unknown_numbers_hear_why(backend: Backend) {
    let t = spawn(backend, None).await;
    let channel = line(&t).await;
    let (status, kind, twiml) =
        post(&t, &hook(&t, &channel, "voice"), &inbound("CA02", NUMBER)).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert!(kind.starts_with("text/xml"), "{kind}");
    let relay = t.base.replacen("http", "ws", 1);
    assert!(
        twiml.contains(&format!(
            r#"<Connect><Stream url="{relay}/ws/media/twilio">"#
        )),
        "{twiml}"
    );
    let call_id = parameter(&twiml, "call_id");
    assert!(parameter(&twiml, "token").starts_with("mst1."), "{twiml}");
    let (status, got) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let c = &got["data"];
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["status"], "initiated");
    assert_eq!(c["from"], CALLER);
    assert_eq!(c["to"], NUMBER);
    assert_eq!(c["channel_id"], channel.as_str());

    // A number the channel does not have: told politely, no call made.
    let (status, _, twiml) = post(
        &t,
        &hook(&t, &channel, "voice"),
        &inbound("CA03", "+14155550199"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert!(
        twiml.contains("<Say>") && twiml.contains("<Hangup/>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Stream"), "{twiml}");
    let (_, calls) = call(t.api(Method::GET, "/calls")).await;
    assert_eq!(calls["data"].as_array().unwrap().len(), 1, "{calls}");

    // The caller hangs up before the stream: the status callback ends it.
    let status_url = hook(&t, &channel, "status");
    let mut params = inbound("CA02", NUMBER);
    params[4] = ("CallStatus", "completed");
    let (status, _, body) = post(&t, &status_url, &params).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "failed"
    })
    .await;
    assert_eq!(ended["end_reason"], "callee_hung_up");
    // A status Twilio does not have, and a call the channel never had.
    params[4] = ("CallStatus", "exploded");
    let (status, _, body) = post(&t, &status_url, &params).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut unknown = inbound("CA77", NUMBER);
    unknown[4] = ("CallStatus", "completed");
    let (status, _, body) = post(&t, &status_url, &unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Executes a task to `to` on the line; the call's id.
pub(crate) async fn execute(t: &TestApp, to: &str) -> String {
    let (_, agents) = call(t.api(Method::GET, "/agents")).await;
    let agent = agents["data"][0]["id"].clone();
    let (status, task) = call(
        t.api(Method::POST, "/tasks")
            .json(&json!({"agent_id": agent, "to_number": to})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let id = task["data"]["id"].as_str().unwrap();
    let (status, started) = call(t.api(Method::POST, &format!("/tasks/{id}/execute"))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    started["data"]["call_id"].as_str().unwrap().to_owned()
}

/// Posts Twilio's status callback `status` for `call_sid`, waiting for the
/// call's SID to be recorded (right after Twilio accepted the call).
pub(crate) async fn report(
    t: &TestApp,
    url: &str,
    call_sid: &str,
    status: &str,
) -> (StatusCode, String) {
    let params = [
        ("AccountSid", SID),
        ("CallSid", call_sid),
        ("CallStatus", status),
    ];
    for _ in 0..100 {
        let (status, _, body) = post(t, url, &params).await;
        if status != StatusCode::NOT_FOUND {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the call's SID was never recorded");
}

async fn outbound_calls_go_through_twilio_and_status_callbacks_end_them(backend: Backend) {
    let twilio = double().await;
    let t = spawn(backend, Some(&twilio)).await;
    let channel = line(&t).await;
    let call_id = execute(&t, "+14155550123").await;
    for _ in 0..200 {
        if !twilio.calls().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let placed = twilio.calls();
    assert_eq!(placed.len(), 1, "{placed:?}");
    let req = &placed[0];
    assert_eq!(req.updated, None);
    assert_eq!(req.field("To"), Some("+14155550123"));
    assert_eq!(req.field("From"), Some(NUMBER));
    let twiml = req.field("Twiml").unwrap();
    assert!(twiml.contains("/ws/media/twilio"), "{twiml}");
    assert_eq!(parameter(twiml, "call_id"), call_id);
    let status_url = hook(&t, &channel, "status");
    assert_eq!(req.field("StatusCallback"), Some(status_url.as_str()));
    assert_eq!(
        req.fields("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(req.field("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(req.field("AsyncAmd"), Some("true"));

    let call_sid = format!("CA{:032x}", 1);
    let (status, body) = report(&t, &status_url, &call_sid, "ringing").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, c) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert_eq!(c["data"]["status"], "initiated", "{c}");
    // The asynchronous answering-machine result carries no CallStatus: noted.
    let amd = [
        ("AccountSid", SID),
        ("CallSid", call_sid.as_str()),
        ("AnsweredBy", "human"),
    ];
    let (status, _, body) = post(&t, &status_url, &amd).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = report(&t, &status_url, &call_sid, "no-answer").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "failed"
    })
    .await;
    assert_eq!(ended["end_reason"], "no_answer");
}

async fn carrier_refusals_fail_the_call_without_revealing_the_token(backend: Backend) {
    let twilio = double().await;
    twilio.refuse_calls(Some((
        400,
        21211,
        "The 'To' number +14155550124 is not a valid phone number.".into(),
    )));
    let t = spawn(backend, Some(&twilio)).await;
    line(&t).await;
    let call_id = execute(&t, "+14155550124").await;
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "failed"
    })
    .await;
    assert_eq!(ended["end_reason"], "carrier_error");
    assert_eq!(twilio.calls().len(), 1);
    let (_, everything) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert!(!everything.to_string().contains(TOKEN));
}

async fn the_media_stream_holds_the_call_and_takes_keypad_digits(backend: Backend) {
    let twilio = double().await;
    let t = spawn(backend, Some(&twilio)).await;
    let channel = line(&t).await;
    let (_, _, twiml) = post(&t, &hook(&t, &channel, "voice"), &inbound("CA05", NUMBER)).await;
    let call_id = parameter(&twiml, "call_id");
    let token = parameter(&twiml, "token");
    let relay = t.base.replacen("http", "ws", 1);

    // A stream whose token is not this call's is closed before anything happens.
    let (_, _, other) = post(&t, &hook(&t, &channel, "voice"), &inbound("CA06", NUMBER)).await;
    let foreign = parameter(&other, "token");
    for bad in ["mst1.forged.token", foreign.as_str()] {
        let mut stream =
            MediaStream::start(&relay, "CA05", &[("call_id", &call_id), ("token", bad)]).await;
        match stream.heard(Duration::from_secs(10)).await {
            Some(Heard::Closed(1008, reason)) => assert!(reason.contains("token"), "{reason}"),
            other => panic!("not refused: {other:?}"),
        }
    }
    let (_, c) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert_eq!(c["data"]["status"], "initiated", "{c}");

    // Twilio's stream: the call is answered and the agent greets.
    let mut stream =
        MediaStream::start(&relay, "CA05", &[("call_id", &call_id), ("token", &token)]).await;
    until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "in_progress"
    })
    .await;
    // Half a second of the caller's line (μ-law silence), in real time.
    stream.play(&[0xff; 4_000]).await;
    stream.dtmf('5').await;
    let said = |c: &Value| {
        c["transcript"]
            .as_array()
            .is_some_and(|t| t.iter().any(|e| e["text"] == HOURS && e["role"] == "agent"))
    };
    until(&t, &format!("/calls/{call_id}/transcript"), said).await;
    stream.stop().await;
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["end_reason"], "callee_hung_up");

    // A keypad rule that ends the call closes the stream.
    let (_, _, twiml) = post(&t, &hook(&t, &channel, "voice"), &inbound("CA07", NUMBER)).await;
    let second = parameter(&twiml, "call_id");
    let token = parameter(&twiml, "token");
    let mut stream =
        MediaStream::start(&relay, "CA07", &[("call_id", &second), ("token", &token)]).await;
    until(&t, &format!("/calls/{second}"), |c| {
        c["status"] == "in_progress"
    })
    .await;
    stream.dtmf('9').await;
    loop {
        match stream.heard(Duration::from_secs(10)).await {
            Some(Heard::Closed(code, _)) => {
                assert_eq!(code, 1000);
                break;
            }
            Some(Heard::Message(_)) => continue,
            None => panic!("the stream stayed open after the agent ended the call"),
        }
    }
    let ended = until(&t, &format!("/calls/{second}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["end_reason"], "agent_hung_up");

    // A keypad rule that transfers: Twilio's call is updated to dial the person.
    let (_, _, twiml) = post(&t, &hook(&t, &channel, "voice"), &inbound("CA08", NUMBER)).await;
    let third = parameter(&twiml, "call_id");
    let token = parameter(&twiml, "token");
    let mut stream =
        MediaStream::start(&relay, "CA08", &[("call_id", &third), ("token", &token)]).await;
    until(&t, &format!("/calls/{third}"), |c| {
        c["status"] == "in_progress"
    })
    .await;
    stream.dtmf('0').await;
    let ended = until(&t, &format!("/calls/{third}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["end_reason"], "transferred");
    let updates: Vec<_> = twilio
        .calls()
        .into_iter()
        .filter(|c| c.updated.is_some())
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].updated.as_deref(), Some("CA08"));
    let dial = updates[0].field("Twiml").unwrap();
    assert!(dial.contains(&format!("<Dial>{PERSON}</Dial>")), "{dial}");
}
