//! Lambda: the live space.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(switchboard_functions::live_space::router).await
}
