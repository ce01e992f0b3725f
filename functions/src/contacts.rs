//! Contact routes (SPEC §12, the CRM): contacts with a unique phone and
//! e-mail per org, search and filters, and the do-not-call flag.

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::contacts::{self, ContactFilter};
use switchboard::services::views::{ContactCreate, ContactPatch, ContactView, DeletedView};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, Json, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The contacts group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_contacts, create_contact))
            .routes(routes!(get_contact, update_contact, delete_contact)),
    )
}

/// The filters of `GET /contacts`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ContactFilterParams {
    /// Contacts whose phone starts with these digits (`+1415`, `415 555` is
    /// read as `+415555`), whose e-mail starts with this text (when it has an
    /// `@`), or whose name has words starting with each of these words
    /// (`ada lov`). Results come in key order (phone, e-mail or name word).
    #[param(max_length = 200)]
    search: Option<String>,
    /// Only contacts with this tag.
    #[param(max_length = 50)]
    tag: Option<String>,
    /// Only do-not-call contacts (`true`) or the others (`false`).
    do_not_call: Option<bool>,
}

/// List the contacts, newest first, or search them.
#[utoipa::path(get, path = "/contacts", tag = "contacts",
    params(PageParams, ContactFilterParams, ModeParam), responses(List<ContactView>))]
async fn list_contacts(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    let filter = ContactFilter {
        search: params
            .get("search")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        tag: params
            .get("tag")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        do_not_call: params.bool("do_not_call")?,
    };
    Ok(list(contacts::list(&app, &caller, &filter, &page).await?))
}

/// Create a contact: 409 when another contact has its phone or e-mail.
#[utoipa::path(post, path = "/contacts", tag = "contacts", params(ModeParam, IdempotencyKey),
    request_body = ContactCreate, responses(Created<ContactView>))]
async fn create_contact(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<ContactCreate>,
) -> ApiResult {
    Ok(created(contacts::create(&app, &caller, body).await?))
}

/// Get a contact.
#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ModeParam), responses(Item<ContactView>))]
async fn get_contact(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(contacts::get(&app, &caller, &id).await?))
}

/// Update a contact: the fields sent are changed (`null` clears one), the
/// others kept; 409 when another contact has the new phone or e-mail.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ModeParam),
    request_body = ContactPatch, responses(Item<ContactView>))]
async fn update_contact(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<ContactPatch>,
) -> ApiResult {
    Ok(ok(contacts::update(&app, &caller, &id, body).await?))
}

/// Delete a contact (admin).
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_contact(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(contacts::remove(&app, &caller, &id).await?))
}
