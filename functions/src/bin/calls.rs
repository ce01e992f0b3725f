//! Lambda: calls.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(switchboard_functions::calls::router).await
}
