//! Campaign routes (SPEC §9).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use switchboard::domain::campaign::contact::{ContactOutcome, ContactStatus};
use switchboard::domain::campaign::{Action, CampaignStatus};
use switchboard::services::campaigns::{self, contacts, csv_import};
use switchboard::services::views::{
    BulkContactsInput, CampaignContactInput, CampaignContactView, CampaignCreate, CampaignPatch,
    CampaignResultsView, CampaignView, ImportSummary,
};
use switchboard::{App, Error};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::openapi::{Created, CsvFile, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::resource::resource_routes;
use crate::http::{ApiError, ApiResult, Auth, Json, NoBody, Params, created, list, ok};
use crate::http::{Multipart, Path, protected};

type S = State<Arc<App>>;

/// Room for 10,000 contacts with their variables in one JSON body.
const BULK_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The campaign group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    let (schemas, paths, bulk) = routes!(add_bulk);
    let bulk = bulk.layer(DefaultBodyLimit::max(BULK_BODY_LIMIT));
    let (csv_schemas, csv_paths, csv) = routes!(upload_csv);
    let csv = csv.layer(DefaultBodyLimit::max(csv_import::MAX_CSV_BYTES + 64 * 1024));
    protected(
        app,
        resource_router()
            .routes(routes!(start))
            .routes(routes!(pause))
            .routes(routes!(resume))
            .routes(routes!(cancel))
            .routes(routes!(list_contacts, add_contact))
            .routes((schemas, paths, bulk))
            .routes((csv_schemas, csv_paths, csv))
            .routes(routes!(results))
            .routes(routes!(export)),
    )
}

/// The filter of `GET /campaigns`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CampaignFilter {
    /// Only campaigns in this status.
    #[param(inline)]
    status: Option<CampaignStatus>,
}

/// The filters of `GET /campaigns/{id}/contacts`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ContactFilter {
    /// Only contacts in this status.
    #[param(inline)]
    status: Option<ContactStatus>,
    /// Only contacts with this outcome.
    #[param(inline)]
    outcome: Option<ContactOutcome>,
}

/// The multipart form of a CSV upload.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CsvForm {
    /// The CSV (header row first; `phone` required; `name`, `email`; other
    /// columns become variables; `,` or `;`; at most 10,000 rows, 8 MB).
    #[schema(format = Binary, content_media_type = "text/csv")]
    file: String,
}

fn parsed<T>(
    params: &Params,
    key: &str,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, Error> {
    match params.get(key).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(s)
            .map(Some)
            .ok_or_else(|| Error::field(key, format!("must be {what}"))),
    }
}

resource_routes! {
    service: campaigns, tag: "campaigns",
    collection: "/campaigns", item: "/campaigns/{id}",
    view: CampaignView, input: CampaignCreate, patch: CampaignPatch, body: typed,
    list: list_campaigns(PageParams, CampaignFilter, ModeParam) -> CampaignView
        "List the campaigns, newest first."
        |app, caller, params, page| {
            let status = parsed(
                &params,
                "status",
                CampaignStatus::parse,
                "draft, running, paused, completed or cancelled",
            )?;
            campaigns::list(&app, &caller, status, &page)
        },
    create: create_campaign "Create a campaign (a draft).",
    get: get_campaign "Get a campaign with its live statistics.",
    update: update_campaign(patch) "Update a campaign that has not ended: the fields sent change.",
    delete: delete_campaign "Delete a campaign that is not running, with its contacts.",
}

async fn act(
    app: &App,
    caller: &switchboard::services::Caller,
    id: &str,
    action: Action,
) -> ApiResult {
    Ok(ok(campaigns::act(app, caller, id, action).await?))
}

/// Start a draft campaign: dialing begins inside its windows.
#[utoipa::path(post, path = "/campaigns/{id}/start", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CampaignView>))]
async fn start(State(app): S, Auth(caller): Auth, Path(id): Path<String>, _: NoBody) -> ApiResult {
    act(&app, &caller, &id, Action::Start).await
}

/// Pause a running campaign: calls in progress finish, no new ones start.
#[utoipa::path(post, path = "/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CampaignView>))]
async fn pause(State(app): S, Auth(caller): Auth, Path(id): Path<String>, _: NoBody) -> ApiResult {
    act(&app, &caller, &id, Action::Pause).await
}

/// Resume a paused campaign.
#[utoipa::path(post, path = "/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CampaignView>))]
async fn resume(State(app): S, Auth(caller): Auth, Path(id): Path<String>, _: NoBody) -> ApiResult {
    act(&app, &caller, &id, Action::Resume).await
}

/// Cancel a campaign: dialing stops at once; contacts not yet called
/// (again) become `cancelled`.
#[utoipa::path(post, path = "/campaigns/{id}/cancel", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CampaignView>))]
async fn cancel(State(app): S, Auth(caller): Auth, Path(id): Path<String>, _: NoBody) -> ApiResult {
    act(&app, &caller, &id, Action::Cancel).await
}

/// List a campaign's contacts.
#[utoipa::path(get, path = "/campaigns/{id}/contacts", tag = "campaigns",
    params(("id" = String, Path), PageParams, ContactFilter, ModeParam),
    responses(List<CampaignContactView>))]
async fn list_contacts(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    let status = parsed(
        &params,
        "status",
        ContactStatus::parse,
        "a contact status such as pending or completed",
    )?;
    let outcome = parsed(
        &params,
        "outcome",
        ContactOutcome::parse,
        "an outcome such as interested or no_answer",
    )?;
    Ok(list(
        contacts::list(&app, &caller, &id, status, outcome, &page).await?,
    ))
}

/// Add one contact (409 when the campaign has its phone already).
#[utoipa::path(post, path = "/campaigns/{id}/contacts", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = CampaignContactInput, responses(Created<CampaignContactView>))]
async fn add_contact(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<CampaignContactInput>,
) -> ApiResult {
    Ok(created(contacts::add_one(&app, &caller, &id, body).await?))
}

/// Add up to 10,000 contacts (413 above): the valid ones are added, the
/// others listed with their position and why.
#[utoipa::path(post, path = "/campaigns/{id}/contacts/bulk", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = BulkContactsInput, responses(Created<ImportSummary>))]
async fn add_bulk(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<BulkContactsInput>,
) -> ApiResult {
    Ok(created(contacts::add_bulk(&app, &caller, &id, body).await?))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge(format!(
            "the file is over the {} MB limit",
            csv_import::MAX_CSV_BYTES / (1024 * 1024)
        ))
        .into()
    } else {
        Error::BadRequest(format!("malformed multipart body: {e}")).into()
    }
}

/// Upload contacts as a CSV file (multipart, field `file`): refused rows are
/// listed with their row number (the header is row 1).
#[utoipa::path(post, path = "/campaigns/{id}/contacts/upload-csv", tag = "campaigns",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body(content = CsvForm, content_type = "multipart/form-data"),
    responses(Created<ImportSummary>))]
async fn upload_csv(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Multipart(mut form): Multipart,
) -> ApiResult {
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            file = Some(field.bytes().await.map_err(multipart_error)?);
        }
    }
    let Some(bytes) = file else {
        return Err(Error::field("file", "is required (a multipart part named `file`)").into());
    };
    let rows = csv_import::parse(&bytes)?;
    Ok(created(contacts::import(&app, &caller, &id, rows).await?))
}

/// The results: outcome breakdown, interested contacts, extracted data.
#[utoipa::path(get, path = "/campaigns/{id}/results", tag = "campaigns",
    params(("id" = String, Path), ModeParam), responses(Item<CampaignResultsView>))]
async fn results(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(contacts::results(&app, &caller, &id).await?))
}

/// Every contact with its result, as CSV (cells a spreadsheet would run as
/// a formula start with `'`).
#[utoipa::path(get, path = "/campaigns/{id}/results/export", tag = "campaigns",
    params(("id" = String, Path), ModeParam), responses(CsvFile))]
async fn export(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    let csv = contacts::export(&app, &caller, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"campaign-{id}-results.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
