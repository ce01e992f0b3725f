//! Lambda: webhooks.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(switchboard_functions::webhooks::router).await
}
