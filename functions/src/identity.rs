//! Identity routes (SPEC §2): auth, API keys, organizations, users, settings.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, patch, post};
use switchboard::App;
use switchboard::services::{api_keys, identity};

use crate::http::Path;
use crate::http::auth::{clear_session_cookie, set_session_cookie};
use crate::http::idempotency::secret_once;
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list_slice, ok, protected};

type S = State<Arc<App>>;

/// The identity group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let public = Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/accept-invite", post(accept_invite))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::http::auth::throttle_by_address,
        ));
    let private = Router::new()
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/settings/password", post(change_password))
        .route(
            "/settings/workspace",
            get(get_settings).post(update_settings),
        )
        .route("/api-keys", get(list_keys).post(create_key))
        .route("/api-keys/{id}", delete(revoke_key))
        .route("/api-keys/{id}/regenerate", post(regenerate_key))
        .route("/organizations", get(list_orgs).post(create_org))
        .route("/organizations/{id}", patch(update_org))
        .route("/users", get(list_users))
        .route("/users/invite", post(invite))
        .route("/users/{id}/role", post(set_role))
        .route("/users/{id}", delete(remove_user));
    public.merge(protected(app, private))
}

async fn signup(State(app): S, JsonObject(body): JsonObject) -> ApiResult {
    let (data, session) = identity::signup(&app, &body).await?;
    let mut resp = created(data);
    set_session_cookie(
        &mut resp,
        &session.token,
        session.max_age,
        app.config.cookie_secure,
    );
    Ok(resp)
}

async fn login(State(app): S, JsonObject(body): JsonObject) -> ApiResult {
    let (data, session) = identity::login(&app, &body).await?;
    let mut resp = ok(data);
    set_session_cookie(
        &mut resp,
        &session.token,
        session.max_age,
        app.config.cookie_secure,
    );
    Ok(resp)
}

async fn accept_invite(State(app): S, JsonObject(body): JsonObject) -> ApiResult {
    let (data, session) = identity::accept_invite(&app, &body).await?;
    let mut resp = ok(data);
    set_session_cookie(
        &mut resp,
        &session.token,
        session.max_age,
        app.config.cookie_secure,
    );
    Ok(resp)
}

async fn logout(State(app): S, Auth(caller): Auth) -> ApiResult {
    let mut resp = ok(identity::logout(&app, &caller).await?);
    clear_session_cookie(&mut resp, app.config.cookie_secure);
    Ok(resp)
}

async fn me(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(identity::me(&app, &caller).await?))
}

async fn change_password(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(identity::change_password(&app, &caller, &body).await?))
}

async fn get_settings(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(identity::get_settings(&app, &caller).await?))
}

async fn update_settings(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(identity::update_settings(&app, &caller, &body).await?))
}

async fn list_keys(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(api_keys::list(&app, &caller).await?, &page)
}

async fn create_key(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(secret_once(created(
        api_keys::create(&app, &caller, &body).await?,
    )))
}

async fn revoke_key(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(api_keys::revoke(&app, &caller, &id).await?))
}

async fn regenerate_key(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(secret_once(ok(
        api_keys::regenerate(&app, &caller, &id).await?
    )))
}

async fn list_orgs(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(identity::list_orgs(&app, &caller).await?, &page)
}

async fn create_org(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(identity::create_org(&app, &caller, &body).await?))
}

async fn update_org(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(identity::update_org(&app, &caller, &id, &body).await?))
}

async fn list_users(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    list_slice(identity::list_users(&app, &caller).await?, &page)
}

async fn invite(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(secret_once(created(
        identity::invite(&app, &caller, &body).await?,
    )))
}

async fn set_role(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(identity::set_role(&app, &caller, &id, &body).await?))
}

async fn remove_user(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(identity::remove_user(&app, &caller, &id).await?))
}
