//! The one-process local platform (`cargo run`): first-start bootstrap,
//! data that survives a restart.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard_local::Application;
use switchboard_tests::{TEST_KEY, TestApp, call};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_bootstraps_once_and_data_survives_a_restart() {
    let (mut config, dir) = switchboard_tests::config(Backend::Embedded).await;
    config.bootstrap_api_key = None;
    let mut first = Application::build(config.clone()).await.unwrap();
    let boot = first.take_bootstrap().expect("bootstrap report");
    assert!(boot.created, "a fresh data directory is set up");
    let key = boot
        .api_key
        .clone()
        .expect("a ready API key is printed once");
    assert!(key.starts_with("sb_"));
    assert!(boot.password.is_some(), "and the admin's password");
    drop(first);

    // The printed key works, and SWITCHBOARD_BOOTSTRAP_API_KEY adds a chosen one.
    config.bootstrap_api_key = Some(TEST_KEY.into());
    let mut again = Application::build(config.clone()).await.unwrap();
    let boot2 = again.take_bootstrap().unwrap();
    assert!(
        !boot2.created && boot2.api_key.is_none() && boot2.password.is_none(),
        "nothing is shown twice"
    );
    assert_eq!(boot2.org_id, boot.org_id);
    drop(again);

    let t = TestApp::spawn_with(config.clone(), dir).await;
    let (status, _) = call(t.anon(Method::GET, "/agents").bearer_auth(&key)).await;
    assert_eq!(status, StatusCode::OK, "the first-start key is valid");
    let (status, created) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Keeper", "system_prompt": "p"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let dir = t.stop();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let t = TestApp::spawn_with(config, dir).await;
    let (status, got) = call(t.api(Method::GET, &format!("/agents/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "data survives a restart");
    assert_eq!(got["data"]["name"], "Keeper");
    let health = t
        .client
        .get(format!("{}/health", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
