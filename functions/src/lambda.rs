//! What every Lambda main does: telemetry, configuration, the App (built
//! once per container), then the runtime loop.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use switchboard::{App, Config};
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
