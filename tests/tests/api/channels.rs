//! Channels (SPEC §7): CRUD with sealed credentials, provider verification
//! against a Twilio double, web sessions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::channels::web::{sign_web_session_token, verify_web_session_token};
use switchboard_tests::twilio::{Account, TwilioDouble};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

backend_tests!(
    channel_crud_with_every_field,
    credentials_are_write_only_and_patched_by_name,
    reads_mask_credentials_without_decrypting,
    validation_names_every_bad_field,
    other_orgs_and_test_mode_cannot_see_channels,
    twilio_verification_lists_every_page_of_numbers,
    twilio_verification_failures_are_clear,
    web_sessions_issue_tokens_the_relay_can_verify,
    public_sessions_check_public_origin_and_rate,
);

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth_token_super_secret_42";

async fn tenant(t: &TestApp, mode: Mode) -> Tenant {
    let org_id = call(t.api(Method::GET, "/auth/me")).await.1["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant { org_id, mode }
}

async fn agent(t: &TestApp) -> String {
    let (_, a) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Line agent", "system_prompt": "p"})),
    )
    .await;
    a["data"]["id"].as_str().unwrap().to_owned()
}

async fn stored(t: &TestApp, tenant: &Tenant, id: &str) -> Value {
    t.app
        .table
        .get(&tenant.pk(), &format!("CHANNEL#{id}"))
        .await
        .unwrap()
        .expect("stored channel")
        .data
}

/// A Twilio channel with [`SID`] and [`TOKEN`]: the created body and its id.
async fn twilio_line(t: &TestApp) -> (Value, String) {
    let (_, created) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Line", "type": "twilio", "credentials": {"account_sid": SID, "auth_token": TOKEN}
    })))
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    (created, id)
}

async fn channel_crud_with_every_field(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let agent_id = agent(&t).await;
    let full = json!({
        "name": "Main line", "type": "twilio",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
        "phone_numbers": ["+14155550100", "+14155550101"],
        "default_agent_id": agent_id,
        "config": {"region": "us1", "record_calls": true}
    });
    let (status, created) = call(t.api(Method::POST, "/channels").json(&full)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let c = &created["data"];
    let id = c["id"].as_str().unwrap().to_owned();
    for k in [
        "name",
        "type",
        "phone_numbers",
        "default_agent_id",
        "config",
    ] {
        assert_eq!(c[k], full[k], "field {k}");
    }
    assert_eq!(c["credentials"]["account_sid"], "••••cdef");
    assert_eq!(c["credentials"]["auth_token"], "••••t_42");
    assert!(!created.to_string().contains(TOKEN));
    assert!(c["created_at"].is_string() && c["updated_at"].is_string());

    let (_, got) = call(t.api(Method::GET, &format!("/channels/{id}"))).await;
    assert_eq!(got["data"], *c);
    let (_, listed) = call(t.api(Method::GET, "/channels")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["meta"]["pagination"]["total"], 1);
    assert!(!listed.to_string().contains(TOKEN));
    let (_, web_only) = call(t.api(Method::GET, "/channels?type=web")).await;
    assert_eq!(web_only["data"].as_array().unwrap().len(), 0);
    let (status, _) = call(t.api(Method::GET, "/channels?type=fax")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"name": "Renamed", "phone_numbers": ["+14155550199"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["name"], "Renamed");
    assert_eq!(patched["data"]["phone_numbers"], json!(["+14155550199"]));
    assert_eq!(patched["data"]["default_agent_id"], json!(agent_id));
    assert_eq!(patched["data"]["credentials"], c["credentials"]);
    assert_eq!(patched["data"]["created_at"], c["created_at"]);
    // What a read returns (`id`, `created_at`, … included) is a valid PATCH,
    // and its masked credentials keep the stored ones.
    let (status, echoed) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&patched["data"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["data"]["name"], "Renamed");
    assert_eq!(echoed["data"]["credentials"], c["credentials"]);

    let (status, _) = call(t.api(Method::DELETE, &format!("/channels/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(t.api(Method::GET, &format!("/channels/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    let pointer = t
        .app
        .table
        .get(&format!("CHANNEL#{id}"), "CHANNEL")
        .await
        .unwrap();
    assert!(
        pointer.is_none(),
        "the global pointer goes with the channel"
    );
    let (_, listed) = call(t.api(Method::GET, "/channels")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 0);
    for bad in ["nope", "00000000-0000-0000-0000-000000000000"] {
        let (status, _) = call(t.api(Method::DELETE, &format!("/channels/{bad}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

async fn credentials_are_write_only_and_patched_by_name(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t, Mode::Live).await;
    let (created, id) = twilio_line(&t).await;

    let data = stored(&t, &live, &id).await;
    let sealed = data["credentials"]["auth_token"]["sealed"]
        .as_str()
        .unwrap();
    assert!(sealed.starts_with("v1:"), "sealed at rest: {sealed}");
    // The hint a read masks from is stored beside it: the last 4, no more.
    assert_eq!(data["credentials"]["auth_token"]["hint"], "t_42");
    assert_eq!(created["data"]["credentials"]["auth_token"], "••••t_42");
    assert!(
        !data.to_string().contains(TOKEN),
        "no plaintext in the table"
    );
    assert!(!data.to_string().contains(SID));
    assert_eq!(t.app.cipher.open(sealed).unwrap(), TOKEN);
    let pointer = t
        .app
        .table
        .get(&format!("CHANNEL#{id}"), "CHANNEL")
        .await
        .unwrap()
        .expect("pointer written with the channel");
    assert_eq!(pointer.data["org_id"], json!(live.org_id));

    // Only the credential sent changes; the other stays.
    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"credentials": {"auth_token": "rotated_token_value_77"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(!patched.to_string().contains("rotated_token_value_77"));
    let data = stored(&t, &live, &id).await;
    let open = |k: &str| {
        t.app
            .cipher
            .open(data["credentials"][k]["sealed"].as_str().unwrap())
            .unwrap()
    };
    assert_eq!(open("auth_token"), "rotated_token_value_77");
    assert_eq!(open("account_sid"), SID);

    // Removing a required one is refused; an extra one can come and go.
    let (status, err) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"credentials": {"auth_token": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["credentials.auth_token"].is_string());
    let (_, p) = call(
        t.api(Method::PUT, &format!("/channels/{id}"))
            .json(&json!({"credentials": {"api_key_sid": "SK0000000000000000"}})),
    )
    .await;
    assert!(p["data"]["credentials"]["api_key_sid"].is_string());
    let (_, p) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"credentials": {"api_key_sid": null}})),
    )
    .await;
    assert!(p["data"]["credentials"].get("api_key_sid").is_none());

    // Another carrier starts afresh: the old keys mean nothing to it.
    let (status, err) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"type": "telnyx"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["credentials.api_key"].is_string());
    let (status, p) = call(
        t.api(Method::PATCH, &format!("/channels/{id}"))
            .json(&json!({"type": "telnyx", "credentials": {"api_key": "KEY0123456789"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        p["data"]["credentials"].as_object().unwrap().len(),
        1,
        "{p}"
    );
}

/// Reads mask from the stored hint and never open a credential: a ciphertext
/// no key opens reads the same, and one stored before hints existed (a bare
/// ciphertext) reads fully masked.
async fn reads_mask_credentials_without_decrypting(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t, Mode::Live).await;
    let (_, id) = twilio_line(&t).await;
    let sk = format!("CHANNEL#{id}");
    let mut item = t.app.table.get(&live.pk(), &sk).await.unwrap().unwrap();
    item.data["credentials"]["auth_token"]["sealed"] = json!("v1:not-a-ciphertext");
    item.data["credentials"]["account_sid"] = json!(t.app.cipher.seal(SID));
    t.app
        .table
        .put(item, switchboard::store::Condition::None)
        .await
        .unwrap();
    let (status, got) = call(t.api(Method::GET, &format!("/channels/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["data"]["credentials"]["auth_token"], "••••t_42");
    assert_eq!(got["data"]["credentials"]["account_sid"], "••••");
    let (_, listed) = call(t.api(Method::GET, "/channels")).await;
    assert_eq!(listed["data"][0]["credentials"], got["data"]["credentials"]);
}

async fn validation_names_every_bad_field(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let cases = [
        (
            json!({"type": "fax", "phone_number": "+14155550100"}),
            vec!["name", "type", "phone_number"],
        ),
        (
            json!({"name": "T", "type": "twilio", "credentials": {"account_sid": "XX12"}, "phone_numbers": ["4155550100"]}),
            vec![
                "credentials.account_sid",
                "credentials.auth_token",
                "phone_numbers.0",
            ],
        ),
        (
            json!({"name": "P", "type": "plivo", "credentials": {"auth_id": ""}, "config": []}),
            vec!["credentials.auth_id", "credentials.auth_token", "config"],
        ),
        (
            json!({"name": "V", "type": "vonage", "credentials": {"api_key": "k"}}),
            vec!["credentials.api_secret"],
        ),
        (
            json!({"name": "E", "type": "exotel", "credentials": {"api_key": "k", "api_token": "t"}}),
            vec!["credentials.sid"],
        ),
        (
            json!({"name": "W", "type": "web", "phone_numbers": ["+14155550100"],
                   "config": {"allowed_origins": ["https://ok.example", "https://bad.example/path"], "public": "yes", "font": "x"}}),
            vec![
                "phone_numbers",
                "config.allowed_origins.1",
                "config.public",
                "config.font",
            ],
        ),
        (
            json!({"name": "W", "type": "web", "config": {"public": true}}),
            vec!["config.allowed_origins"],
        ),
        (
            json!({"name": "S", "type": "sim", "default_agent_id": uuid::Uuid::now_v7()}),
            vec!["default_agent_id"],
        ),
    ];
    for (body, fields) in cases {
        let (status, err) = call(t.api(Method::POST, "/channels").json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {err}");
        assert_error_body(&err);
        for f in fields {
            assert!(
                err["details"]["fields"][f].is_string(),
                "{f} missing for {body}: {err}"
            );
        }
    }
    let (_, listed) = call(t.api(Method::GET, "/channels")).await;
    assert_eq!(
        listed["meta"]["pagination"]["total"], 0,
        "nothing was stored"
    );
}

async fn other_orgs_and_test_mode_cannot_see_channels(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, created) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Sim", "type": "sim", "phone_numbers": ["+15555550111"]
    })))
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (cookie, _) = t.signup("other@example.com").await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let mut req = t.session(method.clone(), &format!("/channels/{id}"), &cookie);
        if method == Method::PATCH {
            req = req.json(&json!({"name": "Mine now"}));
        }
        let (status, _) = call(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    let (_, theirs) = call(t.session(Method::GET, "/channels", &cookie)).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 0);

    // Test mode: its own partition, seeded with the simulated carrier.
    let (_, sandbox) = call(t.api(Method::GET, "/channels?mode=test")).await;
    let list = sandbox["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{sandbox}");
    assert_eq!(list[0]["type"], "sim");
    assert!(
        list[0]["default_agent_id"].is_string(),
        "answered by the demo agent"
    );
    let (status, _) = call(t.api(Method::GET, &format!("/channels/{id}?mode=test"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let test_id = list[0]["id"].as_str().unwrap();
    let (status, _) = call(t.api(Method::GET, &format!("/channels/{test_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, live) = call(t.api(Method::GET, "/channels")).await;
    assert_eq!(live["data"].as_array().unwrap().len(), 1);
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1415555{:04}", 100 + i)).collect()
}

async fn spawn_with_twilio(backend: Backend, base: &str) -> TestApp {
    let (mut cfg, dir) = config(backend).await;
    cfg.twilio_api_base = base.to_owned();
    TestApp::spawn_with(cfg, dir).await
}

async fn twilio_verification_lists_every_page_of_numbers(backend: Backend) {
    let twilio = TwilioDouble::spawn(
        vec![Account {
            sid: SID.into(),
            token: TOKEN.into(),
            numbers: numbers(5),
        }],
        2,
    )
    .await;
    let t = spawn_with_twilio(backend, &twilio.base).await;
    let (status, body) = call(t.api(Method::POST, "/channels/providers/verify").json(
        &json!({"type": "twilio", "credentials": {"account_sid": SID, "auth_token": TOKEN}}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["valid"], true);
    assert_eq!(body["data"]["phone_numbers"], json!(numbers(5)));
    assert_eq!(twilio.requests(), 3, "three pages of two");
    assert!(!body.to_string().contains(TOKEN));

    let (_, body) = call(t.api(Method::POST, "/channels/providers/verify").json(
        &json!({"type": "twilio", "credentials": {"account_sid": SID, "auth_token": "wrong_token"}}),
    ))
    .await;
    assert_eq!(body["data"], json!({"valid": false, "phone_numbers": []}));
    let other_sid = "ACffffffffffffffffffffffffffffffff";
    let (_, body) = call(t.api(Method::POST, "/channels/providers/verify").json(
        &json!({"type": "twilio", "credentials": {"account_sid": other_sid, "auth_token": TOKEN}}),
    ))
    .await;
    assert_eq!(body["data"]["valid"], false);
}

async fn twilio_verification_failures_are_clear(backend: Backend) {
    // A Twilio that hangs up on every connection. The port stays held for the whole test: a
    // port freed and left empty can be taken by another test's server in the meantime (one
    // answered 401 here, which reads as "credentials wrong" instead of "Twilio unreachable").
    let hang_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}", hang_up.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((connection, _)) = hang_up.accept().await {
            drop(connection);
        }
    });
    let t = spawn_with_twilio(backend, &down).await;
    let verify = |body: Value| {
        t.api(Method::POST, "/channels/providers/verify")
            .json(&body)
    };
    let (status, err) = call(verify(
        json!({"type": "twilio", "credentials": {"account_sid": SID, "auth_token": TOKEN}}),
    ))
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{err}");
    assert!(assert_error_body(&err).contains("Twilio"));

    let (status, err) = call(verify(
        json!({"type": "plivo", "credentials": {"auth_id": "MA1", "auth_token": "t"}}),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["details"]["fields"]["type"]
            .as_str()
            .unwrap()
            .contains("verification for plivo is not supported yet"),
        "{err}"
    );
    let (status, err) = call(verify(json!({"type": "twilio", "creds": {}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["credentials"].is_string(), "{err}");
    assert_eq!(
        err["details"]["fields"]["creds"], "is not a field of a provider check",
        "{err}"
    );
    let (status, err) = call(verify(
        json!({"type": "twilio", "credentials": {"account_sid": "AC../../x", "auth_token": "t"}}),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["credentials.account_sid"].is_string());
    let (status, err) = call(verify(json!({"type": "web", "credentials": {}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["type"].is_string());
}

async fn web_channel(t: &TestApp, mode: &str, public: bool) -> String {
    let (status, created) = call(
        t.api(Method::POST, &format!("/channels?mode={mode}"))
            .json(&json!({
                "name": "Website", "type": "web",
                "config": {"allowed_origins": ["https://shop.example", "http://localhost:3000"], "public": public,
                           "greeting": "Hi! How can we help?", "theme": {"color": "#0055ff"}}
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["id"].as_str().unwrap().to_owned()
}

async fn web_sessions_issue_tokens_the_relay_can_verify(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t, Mode::Live).await;
    let id = web_channel(&t, "live", false).await;
    let (_, got) = call(t.api(Method::GET, &format!("/channels/{id}"))).await;
    assert_eq!(
        got["data"]["config"],
        json!({"allowed_origins": ["https://shop.example", "http://localhost:3000"], "public": false,
               "greeting": "Hi! How can we help?", "theme": {"color": "#0055ff"}})
    );

    let (status, s) = call(t.api(Method::POST, &format!("/channels/web/{id}/session"))).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let s = &s["data"];
    let session_id = s["session_id"].as_str().unwrap();
    assert_eq!(
        s["websocket_url"],
        json!(format!("{}/ws/web/{session_id}", t.app.config.relay_url))
    );
    let claims = verify_web_session_token(&t.app, s["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.org_id, live.org_id);
    assert_eq!(claims.mode, Mode::Live);
    assert_eq!(claims.channel_id, id);
    assert_eq!(claims.session_id, session_id);
    assert!(!claims.public);
    let expires = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((500..=600).contains(&left), "short-lived: {left} s");

    // A token altered in any way is refused.
    let token = s["token"].as_str().unwrap();
    let mut forged = token.to_owned();
    forged.insert(10, 'x');
    assert!(verify_web_session_token(&t.app, &forged).is_err());
    assert!(verify_web_session_token(&t.app, "wst1.e30.AAAA").is_err());
    let mut expired = claims.clone();
    expired.exp = chrono::Utc::now().timestamp() - 1;
    let stale = sign_web_session_token(&t.app, &expired);
    assert!(verify_web_session_token(&t.app, &stale).is_err(), "expired");
    expired.exp += 120;
    let fresh = sign_web_session_token(&t.app, &expired);
    assert_eq!(verify_web_session_token(&t.app, &fresh).unwrap(), expired);

    // Only web channels of the caller's tenant have sessions.
    let (_, sim) = call(
        t.api(Method::POST, "/channels")
            .json(&json!({"name": "Sim", "type": "sim"})),
    )
    .await;
    let sim_id = sim["data"]["id"].as_str().unwrap();
    let (status, _) = call(t.api(Method::POST, &format!("/channels/web/{sim_id}/session"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(t.api(
        Method::POST,
        &format!("/channels/web/{id}/session?mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(t.anon(Method::POST, &format!("/channels/web/{id}/session"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn public_sessions_check_public_origin_and_rate(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let public_id = web_channel(&t, "live", true).await;
    let private_id = web_channel(&t, "live", false).await;
    let public = |id: &str, origin: Option<&str>| {
        let req = t.anon(Method::POST, &format!("/channels/web/{id}/public-session"));
        match origin {
            Some(o) => req.header("origin", o),
            None => req,
        }
    };

    let resp = public(&public_id, Some("https://shop.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let body: Value = resp.json().await.unwrap();
    let claims = verify_web_session_token(&t.app, body["data"]["token"].as_str().unwrap()).unwrap();
    assert!(claims.public);
    assert_eq!(claims.channel_id, public_id);

    let (status, err) = call(public(&public_id, Some("https://evil.example"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(assert_error_body(&err).contains("https://evil.example"));
    let (status, _) = call(public(&public_id, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(public(&private_id, Some("https://shop.example"))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "private channels do not show"
    );
    let (status, _) = call(public(
        &uuid::Uuid::now_v7().to_string(),
        Some("https://shop.example"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // CORS preflight: only allowed origins get the headers.
    let pre = t
        .anon(
            Method::OPTIONS,
            &format!("/channels/web/{public_id}/public-session"),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let pre = t
        .anon(
            Method::OPTIONS,
            &format!("/channels/web/{public_id}/public-session"),
        )
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());

    // A test-mode channel is found from its id alone, in its own partition.
    let sandbox_id = web_channel(&t, "test", true).await;
    let (status, body) = call(public(&sandbox_id, Some("https://shop.example"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let claims = verify_web_session_token(&t.app, body["data"]["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.mode, Mode::Test);

    // 30 a minute per address and channel (3 used above); a minute boundary
    // during the loop can reset the window once, hence up to 61 tries.
    let mut limited = None;
    for _ in 0..61 {
        let resp = public(&public_id, Some("https://shop.example"))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let resp = limited.expect("the rate limit answers 429");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error_body(&resp.json().await.unwrap());
    // Another channel has its own budget.
    let (status, _) = call(public(&sandbox_id, Some("https://shop.example"))).await;
    assert_eq!(status, StatusCode::CREATED);
}
