//! The platform as a child process (the `platform` test binary) on a data
//! directory that several of them may share: for tests that kill a process
//! (crash recovery) or run two side by side (a call held by one, steered
//! through the other). Killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder};

use crate::TEST_KEY;

/// A running `platform` process.
pub struct PlatformProcess {
    /// The process (tests kill it to crash the platform).
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    client: reqwest::Client,
}

impl PlatformProcess {
    /// Starts `platform` (the binary at `exe`) on `dir` and `port` with the
    /// bootstrap API key and the lexical embedder, plus `env`; returns once
    /// it answers `/health` (at most 30 s).
    pub async fn start(exe: &str, dir: &Path, port: u16, env: &[(&str, String)]) -> Self {
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(exe)
            .env("SWITCHBOARD_DATA_DIR", dir)
            .env("SWITCHBOARD_ADDR", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_PUBLIC_URL", &base)
            .env("SWITCHBOARD_BOOTSTRAP_API_KEY", TEST_KEY)
            .env("SWITCHBOARD_EMBEDDER", "lexical")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the platform");
        let p = PlatformProcess {
            child,
            base,
            client: reqwest::Client::new(),
        };
        let start = Instant::now();
        while p
            .client
            .get(format!("{}/health", p.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the platform did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p
    }

    /// A request to `/api/v1{path}` with the bootstrap API key.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(TEST_KEY)
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PlatformProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("its address")
        .port()
}
