//! `model_for`: the provider from `llm_model`, the key and base URL from the workspace.

use super::*;

/// The platform on the embedded store, allowed to reach doubles on 127.0.0.1.
async fn platform(allow_loopback: bool) -> TestApp {
    let (mut config, dir) = config(Backend::Embedded).await;
    if allow_loopback {
        config.outbound_allow = "127.0.0.1".into();
    }
    TestApp::spawn_with(config, dir).await
}

async fn live_tenant(app: &TestApp) -> Tenant {
    let (_, me) = call(app.api(Method::GET, "/auth/me")).await;
    Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .expect("an org")
            .to_owned(),
        mode: Mode::Live,
    }
}

fn env_at(double: &LlmDouble) -> ProviderEnv {
    ProviderEnv {
        openai_base_url: Some(format!("{}/v1", double.base)),
        anthropic_base_url: Some(double.base.clone()),
        gemini_base_url: Some(format!("{}/v1", double.base)),
        transport: fast(),
        ..ProviderEnv::default()
    }
}

#[tokio::test]
async fn model_for_picks_the_provider_and_key_of_the_workspace() {
    let app = platform(true).await;
    let tenant = live_tenant(&app).await;
    let double = LlmDouble::start().await;
    let env = env_at(&double);

    // No key anywhere: a clear error naming the setting and the variable.
    let err = model_for_with(&app.app, &tenant, "gpt-4o-mini", &env)
        .await
        .err()
        .expect("no key");
    let message = err.to_string();
    assert!(
        message.contains("provider_keys.openai") && message.contains("OPENAI_API_KEY"),
        "{message}"
    );

    // Test mode and offline never get a model.
    let test_tenant = Tenant {
        mode: Mode::Test,
        ..tenant.clone()
    };
    assert!(
        model_for_with(&app.app, &test_tenant, "gpt-4o-mini", &env)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        model_for_with(&app.app, &tenant, "offline", &env)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        model_for_with(&app.app, &tenant, "llama3", &env)
            .await
            .is_err()
    );

    let (status, _) = call(app.api(Method::POST, "/settings/workspace").json(&json!({
        "provider_keys": {"openai": "sk-workspace-openai", "anthropic": "sk-ant-workspace", "gemini": "AIza-workspace"}
    })))
    .await;
    assert_eq!(status, 200);
    let with_env_key = ProviderEnv {
        openai_api_key: Some("sk-from-env".into()),
        ..env.clone()
    };
    for (name, path, header, expected) in [
        (
            "gpt-4o-mini",
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-workspace-openai",
        ),
        (
            "openai:gpt-x",
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-workspace-openai",
        ),
        (
            "claude-3-5-haiku-latest",
            "/v1/messages",
            "x-api-key",
            "sk-ant-workspace",
        ),
        (
            "gemini-2.5-flash",
            "/v1/chat/completions",
            "authorization",
            "Bearer AIza-workspace",
        ),
    ] {
        let model = model_for_with(&app.app, &tenant, name, &with_env_key)
            .await
            .expect("resolves")
            .expect("a model");
        assert_eq!(model.name(), name);
        let (events, error) = collect(&*model, request("hi")).await;
        assert_eq!(
            (texts(&events).concat(), error),
            ("Hello there.".to_owned(), None),
            "{name}"
        );
        let got = double.received().pop().expect("a request");
        assert_eq!(
            (got.path.as_str(), got.header(header)),
            (path, Some(expected)),
            "{name}"
        );
        let bare = name.split_once(':').map_or(name, |(_, m)| m);
        assert_eq!(
            got.body["model"], bare,
            "the provider gets the name without its prefix"
        );
    }
    let gemini = double.received().pop().expect("the gemini request");
    assert_eq!(gemini.body["max_tokens"], 200, "Gemini reads max_tokens");
}

#[tokio::test]
async fn an_environment_key_is_the_fallback() {
    let app = platform(true).await;
    let tenant = live_tenant(&app).await;
    let double = LlmDouble::start().await;
    let env = ProviderEnv {
        anthropic_api_key: Some("sk-ant-env".into()),
        ..env_at(&double)
    };
    let model = model_for_with(&app.app, &tenant, "anthropic:claude-x", &env)
        .await
        .expect("resolves")
        .expect("a model");
    let (_, error) = collect(&*model, request("hi")).await;
    assert_eq!(error, None);
    assert_eq!(double.received()[0].header("x-api-key"), Some("sk-ant-env"));
}

#[tokio::test]
async fn an_openai_compatible_base_url_is_a_guarded_workspace_setting() {
    // Without the development allowance, a loopback base URL is refused when saved.
    let guarded = platform(false).await;
    let (status, body) = call(
        guarded
            .api(Method::POST, "/settings/workspace")
            .json(&json!({"openai_compatible_base_url": "http://127.0.0.1:9/v1"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"]["fields"]["openai_compatible_base_url"]
            .as_str()
            .is_some_and(|m| m.contains("loopback")),
        "{body}"
    );
    let (status, _) = call(
        guarded
            .api(Method::POST, "/settings/workspace")
            .json(&json!({"openai_compatible_base_url": "ftp://models.example.com"})),
    )
    .await;
    assert_eq!(status, 422);

    let app = platform(true).await;
    let tenant = live_tenant(&app).await;
    let double = LlmDouble::start().await;
    let env = env_at(&double);
    let missing = model_for_with(&app.app, &tenant, "openai-compatible:llama3.1:8b", &env).await;
    assert!(
        missing
            .err()
            .is_some_and(|e| e.to_string().contains("openai_compatible_base_url")),
        "no base URL configured"
    );
    let (status, body) = call(app.api(Method::POST, "/settings/workspace").json(&json!({
        "openai_compatible_base_url": format!("{}/v1/", double.base)
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["openai_compatible_base_url"],
        format!("{}/v1", double.base)
    );
    let model = model_for_with(&app.app, &tenant, "openai-compatible:llama3.1:8b", &env)
        .await
        .expect("resolves")
        .expect("a model");
    let (_, error) = collect(&*model, request("hi")).await;
    assert_eq!(error, None);
    let got = &double.received()[0];
    assert_eq!(got.body["model"], "llama3.1:8b");
    assert_eq!(
        got.header("authorization"),
        None,
        "no key configured, none sent"
    );
    assert_eq!(got.body["max_tokens"], 200);
}
