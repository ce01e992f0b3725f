//! Black-box test support: spawn the whole platform on a random port, on the
//! embedded store (a fresh data directory) or on the AWS adapters (fresh
//! resources on the moto server that `scripts/test` starts), and talk to it
//! over real HTTP.

use std::sync::Arc;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use switchboard::app::MAX_RECEIVES;
use switchboard::config::{AwsResources, Backend, QUEUE_NAMES};
use switchboard::store::aws;
use switchboard::{App, Config};
use switchboard_local::{Application, ReadLimits};
use tokio::sync::oneshot;

/// The read buffer of the load tools' and the doubles' sockets, as the
/// relay's own: tungstenite zero-fills its read buffer (128 KiB by default)
/// before every read, which with hundreds of sockets made the load side,
/// not the platform, the busiest process of a benchmark.
pub const READ_BUFFER: usize = 4 * 1024;

/// A WebSocket client's configuration with [`READ_BUFFER`].
pub fn ws_client_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
}

/// A test's WebSocket client connection to the platform.
pub type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to the platform; a refused upgrade is its status and
/// body (`null` when the body is not JSON).
pub async fn ws_connect(
    request: impl tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
) -> Result<WsClient, (u16, Value)> {
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((resp.status().as_u16(), body))
        }
        Err(e) => panic!("connecting failed: {e}"),
    }
}

pub mod cloud_voice;
pub mod llm_double;
pub mod mcp;
pub mod measure;
pub mod model_double;
pub mod process;
pub mod receiver;
pub mod speech_doubles;
pub mod twilio;
pub mod twilio_media;

/// The API key every spawned platform is bootstrapped with.
pub const TEST_KEY: &str = "sb_test_bootstrap_key_0123456789";

/// Where `scripts/test` says moto listens.
pub fn moto_endpoint() -> String {
    std::env::var("SWITCHBOARD_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SWITCHBOARD_TEST_AWS_ENDPOINT is not set: the AWS-backend tests need moto's server. \
             Run them with `scripts/test` (which starts moto), or start `scripts/moto-server -H 127.0.0.1 -p 5555` \
             and export SWITCHBOARD_TEST_AWS_ENDPOINT=http://127.0.0.1:5555"
        )
    })
}

/// The fetched offline speech directory (`SWITCHBOARD_SPEECH_MODEL_DIR`, else
/// the repository's `.switchboard/models/speech`); fails loudly when the
/// model is not there: a test that needs speech never skips to green.
pub fn speech_home() -> std::path::PathBuf {
    let home = switchboard::speech::offline::repository_home();
    if let Some(missing) = switchboard::speech::offline::missing(&home) {
        panic!(
            "the offline speech model is required here and {} is missing: run scripts/fetch-speech \
             (or set SWITCHBOARD_SPEECH_MODEL_DIR)",
            missing.display()
        );
    }
    home
}

/// A configuration for `backend` with fresh storage; the returned guard keeps
/// the embedded data directory alive.
pub async fn config(backend: Backend) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(dir.path());
    config.addr = "127.0.0.1:0".into();
    config.bootstrap_api_key = Some(TEST_KEY.into());
    config.cookie_secure = true;
    if backend == Backend::Aws {
        let endpoint = moto_endpoint();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let sdk = aws::sdk_config(Some(&endpoint)).await;
        let table = format!("sb-{suffix}");
        let bucket = format!("sb-{suffix}");
        aws::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .expect("create table");
        aws::create_bucket(&aws::s3_client(&sdk), &bucket)
            .await
            .expect("create bucket");
        let mut queues = Vec::new();
        for q in QUEUE_NAMES {
            let (url, _dlq) = aws::create_queue_with_dlq(
                &aws_sdk_sqs::Client::new(&sdk),
                &format!("{q}-{suffix}"),
                MAX_RECEIVES,
            )
            .await
            .expect("create queue");
            queues.push((q.to_string(), url));
        }
        config.backend = Backend::Aws;
        config.aws = AwsResources {
            table,
            bucket,
            queues,
            endpoint: Some(endpoint),
        };
        config.encryption_key = Some(switchboard::crypto::Cipher::generate_key());
        config.signing_key = Some(switchboard::crypto::Cipher::generate_key());
    }
    (config, dir)
}

/// A running platform.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The application state (to inspect the store directly).
    pub app: Arc<App>,
    /// A client without a cookie store.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Spawns the platform on `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        let (config, dir) = config(backend).await;
        Self::spawn_with(config, dir).await
    }

    /// Spawns the platform with sim calls at `scale` times real time and a
    /// scheduler loop that stays out of the way (tests tick it themselves).
    pub async fn spawn_sim(backend: Backend, scale: f64) -> Self {
        let (mut config, dir) = config(backend).await;
        config.sim_time_scale = scale;
        config.scheduler_interval_ms = 3_600_000;
        Self::spawn_with(config, dir).await
    }

    /// Spawns the platform with a prepared configuration.
    pub async fn spawn_with(config: Config, dir: tempfile::TempDir) -> Self {
        Self::spawn_limited(config, dir, ReadLimits::default()).await
    }

    /// Spawns the platform on `backend`, waiting for slow clients only as
    /// long as `limits` say.
    pub async fn spawn_with_read_limits(backend: Backend, limits: ReadLimits) -> Self {
        let (config, dir) = config(backend).await;
        Self::spawn_limited(config, dir, limits).await
    }

    async fn spawn_limited(config: Config, dir: tempfile::TempDir, limits: ReadLimits) -> Self {
        let application = Application::build(config)
            .await
            .expect("build the application")
            .with_read_limits(limits);
        let port = application.port();
        let app = application.app();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            app,
            client,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Stops serving and returns the data directory (to restart on it).
    pub fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self._dir, dir)
    }

    /// A request to `/api/v1{path}` with the bootstrap API key.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(TEST_KEY)
    }

    /// A request to `/api/v1{path}` with no credentials.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base))
    }

    /// A request with a session cookie.
    pub fn session(&self, method: Method, path: &str, cookie: &str) -> RequestBuilder {
        self.anon(method, path)
            .header("cookie", format!("sb_session={cookie}"))
    }

    /// Signs up a new org; returns (session token, response data).
    pub async fn signup(&self, email: &str) -> (String, Value) {
        let resp = self
            .anon(Method::POST, "/auth/signup")
            .json(&serde_json::json!({"org_name": format!("Org of {email}"), "name": "Test User", "email": email, "password": "correct horse battery"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(resp.status(), StatusCode::CREATED, "signup failed");
        let token = session_cookie(&resp).expect("signup sets the session cookie");
        let body: Value = resp.json().await.expect("json");
        (token, body["data"].clone())
    }

    /// Invites `email` into the org of the admin signed in as `admin` (a
    /// session cookie) with `role`, accepts the invite and returns the new
    /// member's session cookie.
    pub async fn member(&self, admin: &str, email: &str, role: &str) -> String {
        let (status, invite) = call(
            self.session(Method::POST, "/users/invite", admin)
                .json(&serde_json::json!({"email": email, "role": role})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{invite}");
        let resp = self
            .anon(Method::POST, "/auth/accept-invite")
            .json(&serde_json::json!({"token": invite["data"]["token"], "name": "Member", "password": "member password 1"}))
            .send()
            .await
            .expect("accept the invite");
        assert_eq!(resp.status(), StatusCode::OK, "accepting the invite failed");
        session_cookie(&resp).expect("accepting sets the session cookie")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The `sb_session` value a response sets.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("sb_session=")
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
        .filter(|v| !v.is_empty())
}

/// Sends and returns status and JSON body (Null when the body is not JSON).
pub async fn call(req: RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Asserts the SPEC error body and returns its message.
pub fn assert_error_body(body: &Value) -> String {
    assert_eq!(body["success"], false, "{body}");
    let msg = body["error"]
        .as_str()
        .expect("error is a string")
        .to_owned();
    assert!(!msg.is_empty());
    assert_eq!(body["detail"], body["error"], "detail repeats error");
    assert!(
        body.get("details").is_some(),
        "details present (may be null)"
    );
    assert!(body["meta"]["request_id"].is_string());
    msg
}

/// Declares each listed async test once per backend:
/// `backend_tests!(name1, name2)` makes `embedded::name1`, `aws::name1`, ….
/// Each test function takes the [`Backend`] to spawn.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(switchboard::config::Backend::Embedded).await }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(switchboard::config::Backend::Aws).await }
            )*
        }
    };
}

/// A queue and its dead-letter queue, fresh for one test, on `t`'s backend:
/// a message moves to the second after `max_receives` receives.
pub async fn queue_with_dead_letter(
    t: &TestApp,
    max_receives: u32,
) -> (
    Arc<dyn switchboard::store::Queue>,
    Arc<dyn switchboard::store::Queue>,
) {
    use switchboard::store::embedded::{DeadLetter, EmbeddedQueue};
    let name = format!("q-{}", uuid::Uuid::new_v4().simple());
    match &t.app.embedded {
        Some(parts) => {
            let dlq = format!("{name}-dlq");
            let dead_letter = DeadLetter {
                queue: dlq.clone(),
                max_receives,
            };
            (
                Arc::new(EmbeddedQueue::new(
                    parts.db.clone(),
                    name,
                    Some(dead_letter),
                )),
                Arc::new(EmbeddedQueue::new(parts.db.clone(), dlq, None)),
            )
        }
        None => {
            let sdk = aws::sdk_config(Some(&moto_endpoint())).await;
            let client = aws_sdk_sqs::Client::new(&sdk);
            let (url, dlq_url) = aws::create_queue_with_dlq(&client, &name, max_receives)
                .await
                .expect("create queue");
            (
                Arc::new(aws::SqsQueue::new(client.clone(), url)),
                Arc::new(aws::SqsQueue::new(client, dlq_url)),
            )
        }
    }
}
