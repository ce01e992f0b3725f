//! Switchboard's inbound adapters for AWS Lambda. Each resource group is a
//! module with `router(app)`; `src/bin/<group>.rs` runs it with `lambda_http`,
//! and the local server merges every group into one API on one port.

pub mod agents;
pub mod automations;
pub mod calls;
pub mod campaigns;
pub mod campaigns_worker;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod events_worker;
pub mod flows;
pub mod http;
pub mod identity;
pub mod ingest_worker;
pub mod knowledge;
pub mod lambda;
pub mod live_space;
pub mod tasks;
pub mod telemetry;
pub mod telephony;
pub mod tools;
pub mod webhook_worker;
pub mod webhooks;

use std::sync::Arc;

/// mimalloc for every binary that serves the API (the functions, the local
/// server, the tests): per-request JSON makes many small allocations, and
/// glibc's malloc took ~17% of a GET's CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use switchboard::App;
use utoipa_axum::router::OpenApiRouter;

/// Every HTTP group, as the local server (and API Gateway, in sum) serves them.
pub fn all_groups(app: &Arc<App>) -> Vec<OpenApiRouter<Arc<App>>> {
    vec![
        identity::router(app),
        agents::router(app),
        flows::router(app),
        tools::router(app),
        channels::router(app),
        contacts::router(app),
        conversations::router(app),
        knowledge::router(app),
        tasks::router(app),
        calls::router(app),
        live_space::router(app),
        campaigns::router(app),
        webhooks::router(app),
        automations::router(app),
    ]
}

/// The OpenAPI document of the whole `/api/v1` API, generated from the
/// handlers that serve it.
pub fn openapi(app: &Arc<App>) -> utoipa::openapi::OpenApi {
    http::v1(all_groups(app)).1
}

/// The whole `/api/v1` API.
pub fn api_router(app: Arc<App>) -> Router {
    let (routes, document) = http::v1(all_groups(&app));
    http::api(app, routes, &document)
}
