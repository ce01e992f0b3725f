//! Inbox routes (SPEC §12): conversations with filters and search, their
//! status, tags, assignee and AI switch, their messages, reply suggestions
//! and the analytics. Served by the contacts function (the CRM and the inbox
//! share one Lambda).

use std::sync::Arc;

use axum::extract::State;
use switchboard::domain::conversation::{ChannelType, ConversationStatus};
use switchboard::services::analytics::{self, AnalyticsView};
use switchboard::services::conversations::{self, ConversationFilter};
use switchboard::services::page::PageRequest;
use switchboard::services::views::{
    AssignInput, ConversationCreate, ConversationPatch, ConversationView, InboxSocketView,
    MessageInput, MessageView, StatusInput, SuggestionView, TagInput,
};
use switchboard::{App, Error};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, Json, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The inbox group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_conversations, create_conversation))
            .routes(routes!(get_live))
            .routes(routes!(get_conversation, update_conversation))
            .routes(routes!(set_status))
            .routes(routes!(add_tag))
            .routes(routes!(remove_tag))
            .routes(routes!(assign))
            .routes(routes!(list_messages, post_message))
            .routes(routes!(ai_suggest))
            .routes(routes!(analytics)),
    )
}

/// `page`/`per_page`, the other way to page the conversation lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageNumberParams {
    /// Page number from 1 (with `per_page`; not with `limit`/`offset`).
    #[param(minimum = 1)]
    page: Option<u32>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

/// The filters of `GET /conversations`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ConversationFilterParams {
    /// Only conversations in this status.
    #[param(inline)]
    status: Option<ConversationStatus>,
    /// Only conversations on this kind of channel.
    #[param(inline)]
    channel_type: Option<ChannelType>,
    /// Only conversations with this tag.
    #[param(max_length = 50)]
    tag: Option<String>,
    /// Only conversations assigned to this user (`none`: unassigned).
    #[param(max_length = 64)]
    assignee_id: Option<String>,
    /// Conversations whose contact's name or phone, or one of whose
    /// messages, has every one of these words.
    #[param(max_length = 200)]
    search: Option<String>,
}

/// The page a list asks for, by `limit`/`offset`/`cursor` or `page`/`per_page`.
fn page_of(params: &Params) -> Result<PageRequest, Error> {
    PageRequest::numbered(
        params.get("page"),
        params.get("per_page"),
        params.get("limit"),
        params.get("offset"),
        params.get("cursor"),
    )
}

/// A filter value, if given and not empty.
fn given(params: &Params, key: &str) -> Option<String> {
    params.get(key).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// List the conversations the caller may see, newest activity first,
/// filtered or searched.
#[utoipa::path(get, path = "/conversations", tag = "inbox",
    params(PageParams, PageNumberParams, ConversationFilterParams, ModeParam),
    responses(List<ConversationView>))]
async fn list_conversations(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = page_of(&params)?;
    let status = match given(&params, "status") {
        None => None,
        Some(s) => Some(
            ConversationStatus::parse(&s)
                .ok_or_else(|| Error::field("status", ConversationStatus::expected()))?,
        ),
    };
    let channel_type = match given(&params, "channel_type") {
        None => None,
        Some(s) => Some(
            ChannelType::parse(&s)
                .ok_or_else(|| Error::field("channel_type", ChannelType::expected()))?,
        ),
    };
    let filter = ConversationFilter {
        status,
        channel_type,
        tag: given(&params, "tag"),
        assignee_id: given(&params, "assignee_id"),
        search: given(&params, "search"),
    };
    Ok(list(
        conversations::list(&app, &caller, &filter, &page).await?,
    ))
}

/// Start a conversation with a contact.
#[utoipa::path(post, path = "/conversations", tag = "inbox", params(ModeParam, IdempotencyKey),
    request_body = ConversationCreate, responses(Created<ConversationView>))]
async fn create_conversation(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<ConversationCreate>,
) -> ApiResult {
    Ok(created(conversations::create(&app, &caller, body).await?))
}

/// Get the inbox socket (`/ws/inbox` on the relay) with a token for it,
/// valid 5 minutes: it pushes `conversation.created`,
/// `conversation.updated` and `message.created` of the conversations the
/// caller may see.
#[utoipa::path(get, path = "/conversations/live", tag = "inbox",
    params(ModeParam), responses(Item<InboxSocketView>))]
async fn get_live(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(conversations::socket::live(&app, &caller)))
}

/// Get a conversation; the caller has now read it (`unread_count` 0).
#[utoipa::path(get, path = "/conversations/{id}", tag = "inbox",
    params(("id" = String, Path), ModeParam), responses(Item<ConversationView>))]
async fn get_conversation(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(conversations::get(&app, &caller, &id).await?))
}

/// Turn the AI on or off for a conversation (`{ai_enabled}`).
#[utoipa::path(patch, path = "/conversations/{id}", tag = "inbox",
    params(("id" = String, Path), ModeParam),
    request_body = ConversationPatch, responses(Item<ConversationView>))]
async fn update_conversation(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<ConversationPatch>,
) -> ApiResult {
    Ok(ok(conversations::update(&app, &caller, &id, body).await?))
}

/// Change a conversation's status.
#[utoipa::path(post, path = "/conversations/{id}/status", tag = "inbox",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = StatusInput, responses(Item<ConversationView>))]
async fn set_status(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<StatusInput>,
) -> ApiResult {
    Ok(ok(
        conversations::set_status(&app, &caller, &id, body).await?
    ))
}

/// Add a tag to a conversation.
#[utoipa::path(post, path = "/conversations/{id}/tags", tag = "inbox",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = TagInput, responses(Item<ConversationView>))]
async fn add_tag(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<TagInput>,
) -> ApiResult {
    Ok(ok(conversations::add_tag(&app, &caller, &id, body).await?))
}

/// Remove a tag from a conversation (404 `tag` when it does not have it).
#[utoipa::path(delete, path = "/conversations/{id}/tags/{tag}", tag = "inbox",
    params(("id" = String, Path), ("tag" = String, Path), ModeParam),
    responses(Item<ConversationView>))]
async fn remove_tag(
    State(app): S,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        conversations::remove_tag(&app, &caller, &id, &tag).await?
    ))
}

/// Assign a conversation to a user of the org, or unassign it (`null`).
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "inbox",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = AssignInput, responses(Item<ConversationView>))]
async fn assign(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<AssignInput>,
) -> ApiResult {
    Ok(ok(conversations::assign(&app, &caller, &id, body).await?))
}

/// A conversation's messages, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "inbox",
    params(("id" = String, Path), PageParams, PageNumberParams, ModeParam),
    responses(List<MessageView>))]
async fn list_messages(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = page_of(&params)?;
    Ok(list(
        conversations::list_messages(&app, &caller, &id, &page).await?,
    ))
}

/// Write in a conversation: a `text` reply (it pauses the AI there) or a
/// private `note`.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "inbox",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = MessageInput, responses(Created<MessageView>))]
async fn post_message(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<MessageInput>,
) -> ApiResult {
    Ok(created(
        conversations::post_message(&app, &caller, &id, body).await?,
    ))
}

/// The `conversation_id` of `GET /ai-suggest`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SuggestParams {
    /// The conversation to draft the next reply of.
    #[param(required = true, max_length = 64)]
    conversation_id: String,
}

/// Draft the next reply of a conversation for a person to review and send,
/// from the conversation so far and the knowledge base (the passages used
/// are in `sources`). The conversation's agent drafts it with its model; in
/// test mode, or with no model, it is drafted offline from the best passage.
#[utoipa::path(get, path = "/ai-suggest", tag = "inbox",
    params(SuggestParams, ModeParam), responses(Item<SuggestionView>))]
async fn ai_suggest(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let id = given(&params, "conversation_id")
        .ok_or_else(|| Error::field("conversation_id", "is required"))?;
    Ok(ok(conversations::suggest(&app, &caller, &id).await?))
}

/// The window of `GET /analytics`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AnalyticsParams {
    /// Days up to today, in the workspace's time zone (1–366, default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
}

/// The workspace's figures over the last `days` days (admins): conversations
/// by status and channel, messages, calls by status, outcome and day,
/// campaigns, AI containment, first-response and resolution times, turn
/// latency. Read from counters kept as things happen.
#[utoipa::path(get, path = "/analytics", tag = "inbox",
    params(AnalyticsParams, ModeParam), responses(Item<AnalyticsView>))]
async fn analytics(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let days = match given(&params, "days") {
        None => None,
        Some(d) => Some(d.parse::<u32>().map_err(|_| {
            Error::field(
                "days",
                format!(
                    "must be a whole number between 1 and {}",
                    analytics::MAX_DAYS
                ),
            )
        })?),
    };
    Ok(ok(analytics::get(&app, &caller, days).await?))
}
