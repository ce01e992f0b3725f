//! Lambda: the campaigns queue's worker (SQS, partial batch failures).
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = switchboard_functions::lambda::app().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        switchboard_functions::campaigns_worker::handle(app.clone(), event)
    }))
    .await
}
