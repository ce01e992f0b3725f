//! Lambda: webhooks and automations.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(|app| {
        switchboard_functions::webhooks::router(app)
            .merge(switchboard_functions::automations::router(app))
    })
    .await
}
