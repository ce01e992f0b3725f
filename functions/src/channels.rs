//! Channel routes (SPEC §7): channel CRUD, provider verification and web
//! sessions. The public-session route takes no credentials: the channel id
//! leads to its org, and the channel's own settings decide who may enter.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard::services::channels::{self, web};
use switchboard::services::views::{
    ChannelCreate, ChannelPatch, ChannelView, ProviderCheckView, VerifyProviderInput,
    WebSessionView,
};
use switchboard::{App, Error};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{
    Created, IdempotencyKey, ModeParam, PageParams, PublicCreated, Reaching,
};
use crate::http::resource::resource_routes;
use crate::http::{ApiError, ApiResult, Auth, ClientAddress, Json, NoBody, created, ok, protected};

type S = State<Arc<App>>;

/// The channels group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    let private = resource_router()
        .routes(routes!(verify_provider))
        .routes(routes!(web_session));
    let public = OpenApiRouter::new().routes(routes!(public_session, public_session_preflight));
    public
        .merge(crate::telephony::router())
        .merge(protected(app, private))
}

/// The `type` filter of the channel list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct TypeFilter {
    /// Only channels of this type (e.g. `web`, `phone`).
    r#type: Option<String>,
}

resource_routes! {
    service: channels, tag: "channels",
    collection: "/channels", item: "/channels/{id}",
    view: ChannelView, input: ChannelCreate, patch: ChannelPatch, body: typed,
    list: list_channels(PageParams, TypeFilter, ModeParam) -> ChannelView
        "List the channels."
        |app, caller, params, page| channels::list(&app, &caller, params.get("type"), &page),
    create: create_channel "Create a channel.",
    get: get_channel "Get a channel.",
    update: update_channel(patch, put) "Update a channel: the fields sent are changed, the others kept.",
    delete: delete_channel "Delete a channel.",
}

/// Check a telephony provider's credentials.
#[utoipa::path(post, path = "/channels/providers/verify", tag = "channels",
    params(ModeParam, IdempotencyKey),
    request_body = VerifyProviderInput, responses(Reaching<ProviderCheckView>))]
async fn verify_provider(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<VerifyProviderInput>,
) -> ApiResult {
    Ok(ok(channels::verify_provider(&app, &caller, body).await?))
}

/// Start a web-call session on a web channel (for the dashboard). Takes no
/// body, or an empty JSON object (SPEC §7); anything else is refused.
#[utoipa::path(post, path = "/channels/web/{id}/session", tag = "channels",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Created<WebSessionView>))]
async fn web_session(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    let session = web::session(&app, &caller, &id).await?;
    Ok(created(session_view(session)?))
}

/// A session as the document describes it. `web::session` and
/// `web::public_session` build it as JSON; reading it back here makes a
/// drift from [`WebSessionView`] fail at once, in every test that opens one.
fn session_view(session: serde_json::Value) -> Result<WebSessionView, ApiError> {
    serde_json::from_value(session)
        .map_err(|e| Error::Internal(format!("web session body: {e}")).into())
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
#[utoipa::path(post, path = "/channels/web/{id}/public-session", tag = "channels",
    security(()), params(("id" = String, Path)), responses(PublicCreated<WebSessionView>))]
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
    let mut resp = created(session_view(session.body)?);
    allow_origin(&mut resp, &session.origin);
    Ok(resp)
}

/// CORS preflight for pages that post JSON: allowed origins get a 204 with
/// the headers; a missing or foreign origin gets a 403 with no grant (the
/// browser then refuses).
#[utoipa::path(options, path = "/channels/web/{id}/public-session", tag = "channels",
    security(()), params(("id" = String, Path)),
    responses(
        (status = 204, description = "CORS preflight from an allowed origin: the CORS headers."),
        (status = 403, description = "A missing or foreign origin: no CORS grant.", body = crate::http::response::ErrorBody),
    ))]
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
