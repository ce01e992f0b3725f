//! `Idempotency-Key` (SPEC §1, README "Idempotency"): secrets are neither
//! stored in clear nor replayed, and a crashed request's claim is a lease.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::App;
use switchboard::app::Clock;
use switchboard::config::Backend;
use switchboard::domain::{Mode, Role, Tenant};
use switchboard::services::idempotency::{self, Claim, LEASE_SECONDS, Outcome, StoredResponse};
use switchboard::services::{Caller, Principal};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, session_cookie};

backend_tests!(
    secret_bearing_creates_are_neither_repeated_nor_revealed,
    a_login_with_an_idempotency_key_is_never_replayed,
    a_crashed_request_holds_its_key_only_for_its_lease,
);

/// Every idempotency record of `principal`, as stored.
async fn stored_records(t: &TestApp, principal: &str) -> String {
    let page = t
        .app
        .table
        .query(switchboard::store::Query::partition(format!(
            "IDEM#{principal}"
        )))
        .await
        .unwrap();
    assert!(!page.items.is_empty(), "records were kept");
    page.items
        .iter()
        .map(|i| i.data.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `path` twice with one key: the first creates, the retry is a 409
/// that names what was created and shows no secret. Returns both bodies.
async fn twice(t: &TestApp, session: &str, path: &str, body: Value, key: &str) -> (Value, String) {
    let send = || {
        t.session(Method::POST, path, session)
            .header("idempotency-key", key)
            .json(&body)
    };
    let (status, first) = call(send()).await;
    assert!(status.is_success(), "{path}: {first}");
    let (status, retry) = call(send()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{path}: {retry}");
    let msg = assert_error_body(&retry);
    assert!(
        msg.contains("already succeeded") && msg.contains("shown only once"),
        "{msg}"
    );
    let id = first["data"]["id"].as_str().unwrap();
    assert!(msg.contains(id), "the retry names what was created: {msg}");
    (first, retry.to_string())
}

async fn secret_bearing_creates_are_neither_repeated_nor_revealed(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (session, data) = t.signup("keys@example.com").await;
    let user_id = data["user"]["id"].as_str().unwrap();
    let (_, before) = call(t.session(Method::GET, "/api-keys", &session)).await;
    let before = before["data"].as_array().unwrap().len();

    let (created, retry) = twice(&t, &session, "/api-keys", json!({"name": "ci"}), "key-1").await;
    let secret = created["data"]["key"].as_str().unwrap().to_owned();
    assert!(!retry.contains(&secret), "the secret is not shown again");
    let (_, after) = call(t.session(Method::GET, "/api-keys", &session)).await;
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        before + 1,
        "one key was minted"
    );

    let id = created["data"]["id"].as_str().unwrap();
    let (regenerated, retry) = twice(
        &t,
        &session,
        &format!("/api-keys/{id}/regenerate"),
        json!({}),
        "key-2",
    )
    .await;
    let new_secret = regenerated["data"]["key"].as_str().unwrap().to_owned();
    assert!(!retry.contains(&new_secret));
    let (status, _) = call(t.anon(Method::GET, "/agents").bearer_auth(&new_secret)).await;
    assert_eq!(status, StatusCode::OK, "the retry did not regenerate again");

    let (invite, retry) = twice(
        &t,
        &session,
        "/users/invite",
        json!({"email": "new@example.com", "role": "agent"}),
        "key-3",
    )
    .await;
    let token = invite["data"]["token"].as_str().unwrap().to_owned();
    assert!(!retry.contains(&token));

    // What was kept is sealed: no secret and no response body in clear.
    let records = stored_records(&t, &format!("user:{user_id}")).await;
    for s in [&secret, &new_secret, &token] {
        assert!(!records.contains(s.as_str()), "a secret is stored in clear");
    }
    for record in records.lines() {
        let record: Value = serde_json::from_str(record).unwrap();
        assert!(record.get("response").is_none(), "{record}");
        assert!(
            record["sealed"].as_str().unwrap().starts_with("v1:"),
            "{record}"
        );
    }
}

async fn a_login_with_an_idempotency_key_is_never_replayed(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    t.signup("login@example.com").await;
    let login = || async {
        let resp = t
            .anon(Method::POST, "/auth/login")
            .header("idempotency-key", "login-1")
            .json(&json!({"email": "login@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get("idempotent-replayed").is_none());
        session_cookie(&resp).expect("a fresh session cookie")
    };
    let (a, b) = (login().await, login().await);
    assert_ne!(a, b, "each login gets its own session; none is replayed");
}

/// A clock the test moves.
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

async fn a_crashed_request_holds_its_key_only_for_its_lease(backend: Backend) {
    let (config, _dir) = switchboard_tests::config(backend).await;
    let clock = Arc::new(ManualClock(Mutex::new(Utc::now())));
    let mut app = App::build(config).await.unwrap();
    app.clock = clock.clone();
    let caller = Caller {
        principal: Principal::ApiKey {
            key_id: "key-lease".into(),
            key_hash: "unused".into(),
        },
        role: Role::Admin,
        tenant: Tenant {
            org_id: "org-lease".into(),
            mode: Mode::Live,
        },
    };
    let Claim::Run(crashed) = idempotency::claim(&app, &caller, "k", "fp").await.unwrap() else {
        panic!("the first request runs");
    };
    let err = idempotency::claim(&app, &caller, "k", "fp")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in progress"), "{err}");

    *clock.0.lock().unwrap() += Duration::seconds(LEASE_SECONDS + 1);
    let Claim::Run(retry) = idempotency::claim(&app, &caller, "k", "fp").await.unwrap() else {
        panic!("a retry takes over a lapsed lease");
    };
    let late = Outcome::Response(StoredResponse {
        status: 201,
        content_type: None,
        body: "late".into(),
    });
    assert!(
        idempotency::complete(&app, &caller, "k", crashed, "fp", &late)
            .await
            .is_err(),
        "the request that lost its lease cannot overwrite the retry"
    );
    let answer = Outcome::Response(StoredResponse {
        status: 201,
        content_type: None,
        body: "retry".into(),
    });
    idempotency::complete(&app, &caller, "k", retry, "fp", &answer)
        .await
        .unwrap();
    *clock.0.lock().unwrap() += Duration::seconds(LEASE_SECONDS + 1);
    assert_eq!(
        idempotency::claim(&app, &caller, "k", "fp").await.unwrap(),
        Claim::Done(answer),
        "a finished request is replayed, however long ago its lease ran out"
    );
}
