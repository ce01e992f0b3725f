//! The HTTP layer every router shares: envelope and errors, extractors,
//! request ids, authentication with rate limits, idempotency, and the
//! assembly of a group's routes into the `/api/v1` API.

pub mod auth;
pub mod csrf;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod range;
pub mod request_id;
pub mod resource;
pub mod response;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use switchboard::{App, Error};
use utoipa_axum::router::OpenApiRouter;

pub use extract::{Auth, ClientAddress, Json, Multipart, NoBody, Params, Path};
pub use response::{ApiError, ApiResult, all, created, list, list_slice, ok};

/// Puts authentication (outer) and idempotency (inner) in front of a group's
/// protected routes. Only matched routes run them, so unknown paths are 404.
pub fn protected(app: &Arc<App>, routes: OpenApiRouter<Arc<App>>) -> OpenApiRouter<Arc<App>> {
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            idempotency::idempotency,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::authenticate,
        ))
}

async fn not_found(method: Method, uri: Uri) -> impl IntoResponse {
    tracing::debug!(%method, %uri, "no route");
    ApiError(Error::NotFound("route"))
}

async fn method_not_allowed(method: Method) -> impl IntoResponse {
    let mut resp = ApiError(Error::BadRequest(format!(
        "method {method} is not allowed on this path"
    )))
    .into_response();
    *resp.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    resp
}

/// The `/api/v1` routes of `groups` (with `GET /api/v1/openapi.json`) and
/// their OpenAPI document.
pub fn v1(
    groups: impl IntoIterator<Item = OpenApiRouter<Arc<App>>>,
) -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    let mut v1 = OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(utoipa_axum::routes!(openapi::document));
    for g in groups {
        v1 = v1.merge(g);
    }
    let (router, mut doc) = OpenApiRouter::new().nest("/api/v1", v1).split_for_parts();
    openapi::link_creates(&mut doc);
    (router, doc)
}

/// The `/api/v1` API serving `routes` (from [`v1`]), with the layers every
/// request gets, and `GET /api/v1/openapi.json` serving `document` (the whole
/// API's, even where `routes` are one Lambda function's part).
/// The local server passes every group; each Lambda function passes its own.
pub fn api(app: Arc<App>, routes: Router<Arc<App>>, document: &utoipa::openapi::OpenApi) -> Router {
    routes
        .layer(axum::Extension(openapi::Document::new(document)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::JSON_LIMIT))
        .layer(axum::middleware::from_fn(request_id::request_id))
        .with_state(app)
}
