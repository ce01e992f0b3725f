//! Channel routes (SPEC §7): channel CRUD, provider verification and web
//! sessions. The public-session route takes no credentials: the channel id
//! leads to its org, and the channel's own settings decide who may enter.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use switchboard::services::channels::{self, web};
use switchboard::{App, Error};

use crate::http::Path;
use crate::http::{
    ApiError, ApiResult, Auth, ClientAddress, JsonObject, NoBody, Params, created, list, ok,
    protected,
};

type S = State<Arc<App>>;

/// The channels group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let private = Router::new()
        .route("/channels", get(list_channels).post(create_channel))
        .route(
            "/channels/{id}",
            get(get_channel)
                .patch(update_channel)
                .put(update_channel)
                .delete(delete_channel),
        )
        .route("/channels/providers/verify", post(verify_provider))
        .route("/channels/web/{id}/session", post(web_session));
    let public = Router::new().route(
        "/channels/web/{id}/public-session",
        post(public_session).options(public_session_preflight),
    );
    public.merge(protected(app, private))
}

async fn list_channels(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(
        channels::list(&app, &caller, params.get("type"), &page).await?,
    ))
}

async fn create_channel(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(created(channels::create(&app, &caller, &body).await?))
}

async fn get_channel(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(channels::get(&app, &caller, &id).await?))
}

async fn update_channel(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(channels::update(&app, &caller, &id, &body).await?))
}

async fn delete_channel(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(channels::delete(&app, &caller, &id).await?))
}

async fn verify_provider(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(channels::verify_provider(&app, &caller, &body).await?))
}

/// Takes no body, or an empty JSON object (SPEC §7); anything else is refused.
async fn web_session(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(created(web::session(&app, &caller, &id).await?))
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn allow_origin(resp: &mut Response, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// No credentials: any body is ignored, so a page can send a CORS "simple"
/// request; the answer allows exactly the page's origin.
async fn public_session(
    State(app): S,
    Path(id): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
) -> ApiResult {
    let request = web::PublicRequest {
        origin: origin(&headers),
        client_address: address.as_deref(),
    };
    let session = web::public_session(&app, &id, request).await?;
    let mut resp = created(session.body);
    allow_origin(&mut resp, &session.origin);
    Ok(resp)
}

/// CORS preflight for pages that post JSON: allowed origins get a 204 with
/// the headers; a missing or foreign origin gets a 403 with no grant (the
/// browser then refuses).
async fn public_session_preflight(
    State(app): S,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let Some(origin) = origin(&headers) else {
        return ApiError(Error::Forbidden(
            "a CORS preflight needs the page's Origin header".into(),
        ))
        .into_response();
    };
    match web::public_origin_allowed(&app, &id, origin).await {
        Ok(true) => {
            allow_origin(&mut resp, origin);
            let h = resp.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            resp
        }
        Ok(false) => ApiError(Error::Forbidden(format!(
            "origin {origin} may not open sessions on this channel"
        )))
        .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
