//! Lambda: identity (auth, API keys, organizations, users, settings).
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(switchboard_functions::identity::router).await
}
