//! Identity routes (SPEC §2): auth, API keys, organizations, users, settings.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use switchboard::App;
use switchboard::services::identity::NewSession;
use switchboard::services::views::{
    AcceptInviteInput, ApiKeyInput, ApiKeyView, DeletedView, InviteInput, InviteView,
    LoggedOutView, LoginInput, MeView, MemberView, NewApiKeyView, OrganizationInput,
    OrganizationPatchInput, OrganizationView, PasswordChangeInput, PasswordChangedView, RoleInput,
    SignedInView, SignupInput, WorkspaceSettingsInput, WorkspaceView,
};
use switchboard::services::{api_keys, identity};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::auth::{clear_session_cookie, set_session_cookie};
use crate::http::idempotency::secret_once;
use crate::http::openapi::{
    Created, IdempotencyKey, Item, List, ModeParam, PageParams, PublicCreated, PublicItem,
};
use crate::http::{ApiResult, Auth, Json, Params, created, list_slice, ok, protected};

type S = State<Arc<App>>;

/// The identity group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    let public = OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(accept_invite))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::http::auth::throttle_by_address,
        ));
    let private = OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(regenerate_key))
        .routes(routes!(list_orgs, create_org))
        .routes(routes!(update_org))
        .routes(routes!(list_users))
        .routes(routes!(invite))
        .routes(routes!(set_role))
        .routes(routes!(remove_user));
    public.merge(protected(app, private))
}

/// `resp` with the cookie of the session it started.
fn signed_in(app: &App, mut resp: Response, session: &NewSession) -> Response {
    set_session_cookie(
        &mut resp,
        &session.token,
        session.max_age,
        app.config.cookie_secure,
    );
    resp
}

/// Create an organization and its first user (the admin); sets `sb_session`.
#[utoipa::path(post, path = "/auth/signup", tag = "auth", security(()),
    request_body = SignupInput, responses(PublicCreated<SignedInView>))]
async fn signup(State(app): S, Json(body): Json<SignupInput>) -> ApiResult {
    let (data, session) = identity::signup(&app, body).await?;
    Ok(signed_in(&app, created(data), &session))
}

/// Sign in with e-mail and password; sets `sb_session`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()),
    request_body = LoginInput, responses(PublicItem<SignedInView>))]
async fn login(State(app): S, Json(body): Json<LoginInput>) -> ApiResult {
    let (data, session) = identity::login(&app, body).await?;
    Ok(signed_in(&app, ok(data), &session))
}

/// Accept an invitation (token and password); sets `sb_session`.
#[utoipa::path(post, path = "/auth/accept-invite", tag = "auth", security(()),
    request_body = AcceptInviteInput, responses(PublicItem<SignedInView>))]
async fn accept_invite(State(app): S, Json(body): Json<AcceptInviteInput>) -> ApiResult {
    let (data, session) = identity::accept_invite(&app, body).await?;
    Ok(signed_in(&app, ok(data), &session))
}

/// End the session and clear `sb_session`.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    params(ModeParam, IdempotencyKey),
    responses(Item<LoggedOutView>)
)]
async fn logout(State(app): S, Auth(caller): Auth) -> ApiResult {
    let mut resp = ok(identity::logout(&app, &caller).await?);
    clear_session_cookie(&mut resp, app.config.cookie_secure);
    Ok(resp)
}

/// The caller: user, organization, role.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    params(ModeParam),
    responses(Item<MeView>)
)]
async fn me(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(identity::me(&app, &caller).await?))
}

/// Change the signed-in user's password.
#[utoipa::path(post, path = "/settings/password", tag = "settings",
    params(ModeParam, IdempotencyKey),
    request_body = PasswordChangeInput, responses(Item<PasswordChangedView>))]
async fn change_password(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<PasswordChangeInput>,
) -> ApiResult {
    Ok(ok(identity::change_password(&app, &caller, body).await?))
}

/// The workspace settings.
#[utoipa::path(
    get,
    path = "/settings/workspace",
    tag = "settings",
    params(ModeParam),
    responses(Item<WorkspaceView>)
)]
async fn get_settings(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(identity::get_settings(&app, &caller).await?))
}

/// Change the workspace settings.
#[utoipa::path(post, path = "/settings/workspace", tag = "settings",
    params(ModeParam, IdempotencyKey),
    request_body = WorkspaceSettingsInput, responses(Item<WorkspaceView>))]
async fn update_settings(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<WorkspaceSettingsInput>,
) -> ApiResult {
    Ok(ok(identity::update_settings(&app, &caller, body).await?))
}

/// List the API keys (secrets masked).
#[utoipa::path(
    get,
    path = "/api-keys",
    tag = "api-keys",
    params(ModeParam, PageParams),
    responses(List<ApiKeyView>)
)]
async fn list_keys(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(api_keys::list(&app, &caller).await?, &page)
}

/// Create an API key; the secret is shown once, here.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", params(ModeParam, IdempotencyKey),
    request_body = ApiKeyInput, responses(Created<NewApiKeyView>))]
async fn create_key(State(app): S, Auth(caller): Auth, Json(body): Json<ApiKeyInput>) -> ApiResult {
    Ok(secret_once(created(
        api_keys::create(&app, &caller, body).await?,
    )))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn revoke_key(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(api_keys::revoke(&app, &caller, &id).await?))
}

/// Replace an API key's secret; the new one is shown once, here.
#[utoipa::path(post, path = "/api-keys/{id}/regenerate", tag = "api-keys",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<NewApiKeyView>))]
async fn regenerate_key(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(secret_once(ok(
        api_keys::regenerate(&app, &caller, &id).await?
    )))
}

/// The organizations the caller belongs to.
#[utoipa::path(
    get,
    path = "/organizations",
    tag = "organizations",
    params(ModeParam, PageParams),
    responses(List<OrganizationView>)
)]
async fn list_orgs(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(identity::list_orgs(&app, &caller).await?, &page)
}

/// Create an organization (the caller becomes its admin).
#[utoipa::path(post, path = "/organizations", tag = "organizations",
    params(ModeParam, IdempotencyKey),
    request_body = OrganizationInput, responses(Created<OrganizationView>))]
async fn create_org(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<OrganizationInput>,
) -> ApiResult {
    Ok(created(identity::create_org(&app, &caller, body).await?))
}

/// Rename an organization.
#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path), ModeParam),
    request_body = OrganizationPatchInput, responses(Item<OrganizationView>))]
async fn update_org(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<OrganizationPatchInput>,
) -> ApiResult {
    Ok(ok(identity::update_org(&app, &caller, &id, body).await?))
}

/// The organization's members.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(ModeParam, PageParams),
    responses(List<MemberView>)
)]
async fn list_users(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(identity::list_users(&app, &caller).await?, &page)
}

/// Invite someone to the organization.
#[utoipa::path(post, path = "/users/invite", tag = "users", params(ModeParam, IdempotencyKey),
    request_body = InviteInput, responses(Created<InviteView>))]
async fn invite(State(app): S, Auth(caller): Auth, Json(body): Json<InviteInput>) -> ApiResult {
    Ok(secret_once(created(
        identity::invite(&app, &caller, body).await?,
    )))
}

/// Change a member's role.
#[utoipa::path(post, path = "/users/{id}/role", tag = "users",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = RoleInput, responses(Item<MemberView>))]
async fn set_role(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<RoleInput>,
) -> ApiResult {
    Ok(ok(identity::set_role(&app, &caller, &id, body).await?))
}

/// Remove a member from the organization.
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn remove_user(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(identity::remove_user(&app, &caller, &id).await?))
}
