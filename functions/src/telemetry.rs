//! Logging set-up, once per process: `RUST_LOG` filters; JSON without
//! timestamps on Lambda (CloudWatch stamps each line), plain text elsewhere.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (a second call does nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if on_lambda {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
}
