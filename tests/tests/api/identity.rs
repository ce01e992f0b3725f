//! Sign-up, sessions, API keys, organizations, users and settings (SPEC §2).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, session_cookie};

backend_tests!(
    signup_login_logout,
    api_keys_are_shown_once_and_revoked_at_once,
    session_only_endpoints_refuse_api_keys,
    invites_roles_and_the_last_admin,
    organizations_are_isolated,
    workspace_settings_keep_provider_keys_secret,
    password_change_ends_other_sessions,
);

async fn signup_login_logout(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let resp = t
        .anon(Method::POST, "/auth/signup")
        .json(&json!({"org_name": "Acme", "name": "Ada", "email": "Ada@Example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie_header = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie_header.contains(attr), "{attr} in {cookie_header}");
    }
    let token = session_cookie(&resp).unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["user"]["email"], "ada@example.com");
    assert!(
        body["data"]["user"].get("password_hash").is_none(),
        "the hash never leaves the core"
    );
    assert_eq!(body["data"]["organization"]["name"], "Acme");

    let (status, me) = call(t.session(Method::GET, "/auth/me", &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["role"], "admin");

    let (status, err) = call(t.anon(Method::POST, "/auth/signup").json(&json!({"org_name": "Other", "name": "Ada", "email": "ada@example.com", "password": "another long one"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let (status, err) =
        call(t.anon(Method::POST, "/auth/signup").json(
            &json!({"org_name": "", "email": "nope", "password": "short", "organisation": "A"}),
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["org_name", "name", "email", "password"] {
        assert!(err["details"]["fields"][f].is_string(), "{f}: {err}");
    }
    assert_eq!(
        err["details"]["fields"]["organisation"],
        "is not a signup field"
    );
    let (status, err) = call(
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "ada@example.com", "pasword": "a typo"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err["details"]["fields"]["password"].is_string(), "{err}");
    assert_eq!(err["details"]["fields"]["pasword"], "is not a login field");

    let (status, err) = call(
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "ada@example.com", "password": "wrong password!"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong_password = assert_error_body(&err);
    let (status, err) = call(
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "nobody@example.com", "password": "wrong password!"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        assert_error_body(&err),
        wrong_password,
        "no account enumeration"
    );

    let resp = t
        .anon(Method::POST, "/auth/login")
        .json(&json!({"email": "ADA@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let second = session_cookie(&resp).unwrap();
    let resp = t
        .session(Method::POST, "/auth/logout", &second)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = call(t.session(Method::GET, "/auth/me", &second)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "logged-out session is dead"
    );
    let (status, _) = call(t.session(Method::GET, "/auth/me", &token)).await;
    assert_eq!(status, StatusCode::OK, "other sessions live on");
}

async fn api_keys_are_shown_once_and_revoked_at_once(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (session, _) = t.signup("keys@example.com").await;
    let (status, created) = call(
        t.session(Method::POST, "/api-keys", &session)
            .json(&json!({"name": "CI"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sb_"));
    assert_eq!(created["data"]["last4"], &key[key.len() - 4..]);
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    let (_, list) = call(t.session(Method::GET, "/api-keys", &session)).await;
    let listed = &list["data"][0];
    assert!(listed.get("key").is_none(), "never shown again: {listed}");
    assert!(!list.to_string().contains(&key));
    assert_eq!(listed["prefix"], &key[..8]);

    let use_key = |k: String| t.anon(Method::GET, "/agents").bearer_auth(k);
    assert_eq!(
        use_key(key.clone()).send().await.unwrap().status(),
        StatusCode::OK
    );
    let (_, list) = call(t.session(Method::GET, "/api-keys", &session)).await;
    assert!(
        list["data"][0]["last_used_at"].is_string(),
        "use is recorded"
    );

    let (status, regen) = call(t.session(
        Method::POST,
        &format!("/api-keys/{id}/regenerate"),
        &session,
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let new_key = regen["data"]["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(regen["data"]["id"], id.as_str());
    assert_eq!(
        use_key(key).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "old secret revoked"
    );
    assert_eq!(
        use_key(new_key.clone()).send().await.unwrap().status(),
        StatusCode::OK
    );

    let (status, _) = call(t.session(Method::DELETE, &format!("/api-keys/{id}"), &session)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        use_key(new_key).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    let (status, _) = call(t.session(Method::DELETE, &format!("/api-keys/{id}"), &session)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn session_only_endpoints_refuse_api_keys(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    for (method, path) in [
        (Method::GET, "/api-keys"),
        (Method::POST, "/api-keys"),
        (Method::GET, "/organizations"),
        (Method::POST, "/organizations"),
        (Method::GET, "/users"),
        (Method::POST, "/users/invite"),
    ] {
        let (status, body) = call(
            t.api(method.clone(), path)
                .json(&json!({"name": "x", "email": "a@b.co"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert!(assert_error_body(&body).contains("session"));
    }
}

async fn invites_roles_and_the_last_admin(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (admin, data) = t.signup("boss@example.com").await;
    let admin_id = data["user"]["id"].as_str().unwrap().to_owned();
    let (status, inv) = call(
        t.session(Method::POST, "/users/invite", &admin)
            .json(&json!({"email": "helper@example.com", "role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let token = inv["data"]["token"].as_str().unwrap().to_owned();
    assert!(inv["data"]["invite_url"].as_str().unwrap().contains(&token));

    let resp = t
        .anon(Method::POST, "/auth/accept-invite")
        .json(&json!({"token": token, "name": "Helper", "password": "helper password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let agent = session_cookie(&resp).unwrap();
    let (status, _) = call(
        t.anon(Method::POST, "/auth/accept-invite")
            .json(&json!({"token": token, "name": "Again", "password": "helper password 1"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an invite works once"
    );

    // The agent role reads but does not administer.
    let (status, _) = call(t.session(Method::GET, "/agents", &agent)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        t.session(Method::POST, "/agents", &agent)
            .json(&json!({"name": "A", "system_prompt": "p"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = call(
        t.session(Method::POST, "/users/invite", &agent)
            .json(&json!({"email": "x@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        t.session(Method::POST, &format!("/users/{admin_id}/role"), &agent)
            .json(&json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        t.session(Method::POST, "/settings/workspace", &agent)
            .json(&json!({"timezone": "Europe/Paris"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, users) = call(t.session(Method::GET, "/users", &admin)).await;
    let users = users["data"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let helper_id = users
        .iter()
        .find(|u| u["email"] == "helper@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The only admin can neither step down nor be removed.
    let (status, body) = call(
        t.session(Method::POST, &format!("/users/{admin_id}/role"), &admin)
            .json(&json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(assert_error_body(&body).contains("at least one admin"));
    let (status, _) = call(t.session(Method::DELETE, &format!("/users/{admin_id}"), &admin)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, err) = call(
        t.session(Method::POST, &format!("/users/{helper_id}/role"), &admin)
            .json(&json!({"role": "owner", "rights": "all"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["role"].is_string(), "{err}");
    assert_eq!(
        err["details"]["fields"]["rights"],
        "is not a role change field"
    );

    // With a second admin, the first may step down.
    let (status, _) = call(
        t.session(Method::POST, &format!("/users/{helper_id}/role"), &admin)
            .json(&json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        t.session(Method::POST, &format!("/users/{admin_id}/role"), &admin)
            .json(&json!({"role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.session(Method::DELETE, &format!("/users/{admin_id}"), &agent)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the promoted helper removes the old admin"
    );
    let (status, _) = call(t.session(Method::GET, "/auth/me", &admin)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a removed member's session no longer reaches the org"
    );
}

async fn organizations_are_isolated(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (a, _) = t.signup("a@example.com").await;
    let (b, b_data) = t.signup("b@example.com").await;
    let (_, agent) = call(
        t.session(Method::POST, "/agents", &a)
            .json(&json!({"name": "Secret", "system_prompt": "p"})),
    )
    .await;
    let id = agent["data"]["id"].as_str().unwrap();
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "Stolen"}))),
        (Method::DELETE, None),
    ] {
        let mut req = t.session(method.clone(), &format!("/agents/{id}"), &b);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let (status, err) = call(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {err}");
        assert!(!err.to_string().contains("Secret"));
    }
    let (_, still) = call(t.session(Method::GET, &format!("/agents/{id}"), &a)).await;
    assert_eq!(still["data"]["name"], "Secret");
    let (_, b_list) = call(t.session(Method::GET, "/agents", &b)).await;
    assert_eq!(b_list["data"].as_array().unwrap().len(), 0);

    // B cannot pick A's org with the org header, nor rename it.
    let a_org = call(t.session(Method::GET, "/auth/me", &a)).await.1["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = call(
        t.session(Method::GET, "/agents", &b)
            .header("x-organization-id", &a_org),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        t.session(Method::PATCH, &format!("/organizations/{a_org}"), &b)
            .json(&json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // B creates a second org and works in it with the header.
    let (status, org2) = call(
        t.session(Method::POST, "/organizations", &b)
            .json(&json!({"name": "B Two"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let org2 = org2["data"]["id"].as_str().unwrap().to_owned();
    let (_, orgs) = call(t.session(Method::GET, "/organizations", &b)).await;
    assert_eq!(orgs["data"].as_array().unwrap().len(), 2);
    let (status, _) = call(
        t.session(Method::POST, "/agents", &b)
            .header("x-organization-id", &org2)
            .json(&json!({"name": "In two", "system_prompt": "p"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, in_home) = call(t.session(Method::GET, "/agents", &b)).await;
    assert_eq!(
        in_home["data"].as_array().unwrap().len(),
        0,
        "home org {} unchanged",
        b_data["organization"]["id"]
    );
    let (status, renamed) = call(
        t.session(Method::PATCH, &format!("/organizations/{org2}"), &b)
            .json(&json!({"name": "B Renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["data"]["name"], "B Renamed");
    // What a read returns (`id`, `created_at`, … included) is a valid PATCH;
    // a typo is named, not lost.
    let (status, echoed) = call(
        t.session(Method::PATCH, &format!("/organizations/{org2}"), &b)
            .json(&renamed["data"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["data"]["name"], "B Renamed");
    let (status, err) = call(
        t.session(Method::PATCH, &format!("/organizations/{org2}"), &b)
            .json(&json!({"nane": "typo"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["details"]["fields"]["nane"],
        "is not an organization field"
    );
}

async fn workspace_settings_keep_provider_keys_secret(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let secret = "sk-live-0123456789abcdefSECRET";
    let (status, body) = call(t.api(Method::POST, "/settings/workspace").json(&json!({
        "name": "Renamed Co", "timezone": "Europe/London", "default_language": "en-GB",
        "business_hours": {"mon": [{"start": "09:00", "end": "17:00"}]},
        "rate_limit_per_minute": 500, "provider_keys": {"openai": secret}
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["provider_keys"]["openai"], "••••CRET");
    assert!(!body.to_string().contains(secret));
    let (_, got) = call(t.api(Method::GET, "/settings/workspace")).await;
    assert_eq!(got["data"]["name"], "Renamed Co");
    assert_eq!(got["data"]["timezone"], "Europe/London");
    assert_eq!(got["data"]["rate_limit_per_minute"], 500);
    assert!(!got.to_string().contains(secret));

    // Encrypted at rest: the stored org item does not hold the key in clear.
    let org_id = call(t.api(Method::GET, "/auth/me")).await.1["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = t
        .app
        .table
        .get(&format!("ORG#{org_id}"), "ORG")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.data.to_string().contains(secret));
    let clear = switchboard::services::identity::provider_key(&t.app, &org_id, "openai")
        .await
        .unwrap();
    assert_eq!(clear.as_deref(), Some(secret));

    // Reads mask from the hint stored beside the key and never open it: a
    // ciphertext no key opens still reads `••••CRET`.
    assert_eq!(
        stored.data["settings"]["provider_keys"]["openai"]["hint"],
        "CRET"
    );
    let mut broken = stored.clone();
    broken.data["settings"]["provider_keys"]["openai"]["sealed"] = json!("v1:not-a-ciphertext");
    t.app
        .table
        .put(broken.clone(), switchboard::store::Condition::None)
        .await
        .unwrap();
    let (_, got) = call(t.api(Method::GET, "/settings/workspace")).await;
    assert_eq!(got["data"]["provider_keys"]["openai"], "••••CRET");
    // A read sent back is a valid update, and its masked key keeps the stored one.
    let (status, echoed) = call(
        t.api(Method::POST, "/settings/workspace")
            .json(&got["data"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    let kept = t
        .app
        .table
        .get(&format!("ORG#{org_id}"), "ORG")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.data["settings"]["provider_keys"]["openai"],
        broken.data["settings"]["provider_keys"]["openai"]
    );

    let (status, err) = call(t.api(Method::POST, "/settings/workspace").json(&json!({
        "timezone": "not a zone", "rate_limit_per_minute": 0, "business_hours": {"mon": [{"start": "18:00", "end": "09:00"}]},
        "provider_keys": {"openai": 5}, "time_zone": "UTC"
    })))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["details"]["fields"]["time_zone"],
        "is not a workspace setting"
    );
    for f in [
        "timezone",
        "rate_limit_per_minute",
        "business_hours.mon.0",
        "provider_keys.openai",
    ] {
        assert!(err["details"]["fields"][f].is_string(), "{f}: {err}");
    }
    let (_, unchanged) = call(t.api(Method::GET, "/settings/workspace")).await;
    assert_eq!(
        unchanged["data"]["timezone"], "Europe/London",
        "a rejected update changes nothing"
    );
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (first, _) = t.signup("pw@example.com").await;
    let login = |password: &'static str| {
        t.anon(Method::POST, "/auth/login")
            .json(&json!({"email": "pw@example.com", "password": password}))
    };
    let other = session_cookie(&login("correct horse battery").send().await.unwrap()).unwrap();
    let (status, err) = call(
        t.session(Method::POST, "/settings/password", &first)
            .json(&json!({"current_password": "wrong one", "new_password": "brand new password"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, body) = call(t.session(Method::POST, "/settings/password", &first).json(
        &json!({"current_password": "correct horse battery", "new_password": "brand new password"}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["other_sessions_ended"], 1);
    assert_eq!(
        call(t.session(Method::GET, "/auth/me", &first)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(t.session(Method::GET, "/auth/me", &other)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("correct horse battery")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("brand new password").send().await.unwrap().status(),
        StatusCode::OK
    );
}
