//! Lambda: the scheduler tick (an EventBridge schedule): starts due tasks and
//! ends calls whose runner was lost.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = switchboard_functions::lambda::app().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move {
                switchboard::services::scheduler::on_schedule(&app, event.payload)
                    .await
                    .map_err(|e| lambda_runtime::Error::from(e.to_string()))
            }
        },
    ))
    .await
}
