//! Lambda: contacts (the CRM) and the inbox's conversations.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard_functions::lambda::serve_http(|app| {
        switchboard_functions::contacts::router(app)
            .merge(switchboard_functions::conversations::router(app))
    })
    .await
}
