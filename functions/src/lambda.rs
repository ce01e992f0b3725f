//! What every Lambda main does: telemetry, configuration, the App (built
//! once per container), then the runtime loop.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use switchboard::{App, Config};
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;

use crate::http;

/// Builds the App from the environment.
pub async fn app() -> Result<Arc<App>, lambda_http::Error> {
    crate::telemetry::init();
    let config = Config::from_env()?;
    Ok(Arc::new(
        App::build(config).await.map_err(|e| e.to_string())?,
    ))
}

/// Serves one HTTP group behind API Gateway (HTTP API, payload v2), and the
/// whole API's OpenAPI document (API Gateway routes that path to identity).
pub async fn serve_http(
    group: fn(&Arc<App>) -> OpenApiRouter<Arc<App>>,
) -> Result<(), lambda_http::Error> {
    let app = app().await?;
    let (routes, _) = http::v1([group(&app)]);
    let document = crate::openapi(&app);
    lambda_http::run(http::api(app, routes, &document)).await
}

/// The partial batch response of an SQS-triggered worker: the ids of the
/// messages that failed, so only those come back.
pub fn batch_failures(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Runs `handle` on every message body of an SQS batch at once, each in a span
/// with its worker's name and message id, and answers the partial batch
/// response: the messages whose `handle` failed come back, the others are done.
pub async fn each_message<F, Fut>(
    worker: &'static str,
    event: LambdaEvent<SqsEvent>,
    handle: F,
) -> Result<SqsBatchResponse, lambda_runtime::Error>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let handle = &handle;
    let results =
        futures::future::join_all(event.payload.records.into_iter().map(|record| async move {
            let id = record.message_id.unwrap_or_default();
            let span = tracing::info_span!("sqs_message", worker, message_id = %id);
            let body = record.body.unwrap_or_default();
            handle(body).instrument(span).await.err().map(|_| id)
        }))
        .await;
    Ok(batch_failures(results.into_iter().flatten()))
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::sqs::SqsMessage;

    use super::*;

    #[tokio::test]
    async fn only_the_failed_messages_of_a_batch_come_back() {
        let mut payload = SqsEvent::default();
        payload.records = ["ok-1", "bad", "ok-2"]
            .into_iter()
            .map(|body| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("id-{body}"));
                m.body = Some(body.to_owned());
                m
            })
            .collect();
        let event = LambdaEvent::new(payload, lambda_runtime::Context::default());
        let response = each_message("test", event, |body| async move {
            if body == "bad" {
                Err("no".to_owned())
            } else {
                Ok(())
            }
        })
        .await
        .expect("a response");
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["id-bad"]);
    }
}
