//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers: each
//! handler carries `#[utoipa::path]`, and the groups register it with
//! `utoipa_axum::routes!`, which adds the route and its operation in one call,
//! so the router and the document cannot drift. This module holds what every
//! operation shares: the security schemes, the query parameters, the
//! `Idempotency-Key` header and the response sets (success envelope plus the
//! SPEC error body on every 4xx, with the request-id and rate-limit headers).

use std::any::TypeId;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;

use serde_json::Value;
use switchboard::domain::call::{CallStatus, Direction};
use switchboard::domain::campaign::contact::{ContactOutcome, ContactStatus};
use switchboard::domain::campaign::{CampaignStatus, RetryOn, RetryPolicy, Schedule, Window};
use switchboard::domain::task::{TaskEvent, TaskStatus};
use switchboard::engine::call::{CallMetrics, EndReason, Role, TranscriptEntry};
use switchboard::engine::report::{Outcome, Report, Sentiment};
use switchboard::services::views::{
    AgentInput, AgentView, ApiKeyView, BulkContactsInput, CallView, CampaignContactInput,
    CampaignContactView, CampaignInput, CampaignResultsView, CampaignStats, CampaignView,
    ChannelInput, ChannelView, ChunkView, ConnectionInfo, ContactInput, ContactResult, ContactView,
    DeletedView, ExecuteView, FlowInput, FlowSummaryView, FlowView, FlowWarning, ImportSummary,
    IngestTextInput, IngestUrlInput, InvalidContact, KnowledgeDocumentView, KnowledgeQueryInput,
    LiveTranscriptView, McpServerInput, McpServerView, MeView, MemberView, NewApiKeyView,
    OrganizationView, ProcessedTranscriptView, QueryHit, SignedInView, TaskInput, TaskSecretView,
    TaskView, ToolInput, ToolTestInput, ToolView, TranscriptView, UserView, VerifyProviderInput,
    WebhookAttemptView, WebhookDeliveryView, WebhookInput, WebhookView, WorkspaceSettingsView,
    WorkspaceView,
};
use utoipa::openapi::header::Header;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Object, OpenApi, Ref, RefOr, Response, ResponseBuilder, Type};
use utoipa::{IntoParams, IntoResponses, Modify, PartialSchema, ToSchema};

use super::response::{Envelope, ErrorBody, ListEnvelope, ListMeta, Meta, Pagination};

/// Name of the API-key security scheme in the document.
pub const BEARER: &str = "api_key";
/// Name of the session-cookie security scheme in the document.
pub const SESSION: &str = "session";

/// The document's fixed part: info, the security schemes (required on every
/// operation unless it says `security(())`), and the shared schemas.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "The Switchboard REST API (SPEC.md). Every body is JSON: \
            `{success, data, meta}` on success, `{success: false, error, detail, details, meta}` \
            on error. Authenticate with an API key (`Authorization: Bearer sb_…`) or the \
            `sb_session` cookie that login sets. `?mode=test` selects the org's sandbox.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security, &UntypedEnvelopes),
    security(("api_key" = []), ("session" = [])),
    components(schemas(
        ErrorBody, Meta, ListMeta, Pagination,
        AgentView, AgentInput, FlowView, FlowSummaryView, FlowWarning, FlowInput,
        ToolView, McpServerView, KnowledgeDocumentView, DeletedView, ChannelView,
        UserView, MemberView, OrganizationView, WorkspaceSettingsView, WorkspaceView,
        SignedInView, MeView, ApiKeyView, NewApiKeyView, ChunkView, QueryHit,
        ToolInput, ToolTestInput, McpServerInput, ChannelInput, VerifyProviderInput,
        IngestTextInput, IngestUrlInput, KnowledgeQueryInput,
        TaskView, TaskInput, TaskStatus, TaskEvent, ExecuteView,
        CallView, CallStatus, Direction, EndReason, TranscriptEntry, Role, CallMetrics,
        TranscriptView, ProcessedTranscriptView, Report, Outcome, Sentiment,
        LiveTranscriptView, ConnectionInfo,
        WebhookView, WebhookInput, WebhookDeliveryView, WebhookAttemptView, TaskSecretView,
        ContactView, ContactInput,
        CampaignView, CampaignInput, CampaignStats, CampaignStatus, Schedule, Window, RetryPolicy,
        RetryOn, CampaignContactView, CampaignContactInput, BulkContactsInput, ImportSummary,
        InvalidContact, CampaignResultsView, ContactResult, ContactStatus, ContactOutcome,
    ))
)]
pub struct ApiDoc;

struct Security;

/// Adds the untyped envelopes, named, for the routes whose `data` has no
/// view yet (their responses refer to them; typed ones inline their envelope).
struct UntypedEnvelopes;

impl Modify for UntypedEnvelopes {
    fn modify(&self, doc: &mut OpenApi) {
        let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
        // Their `data` refers to `Value` by name: any JSON value.
        schemas.insert("Value".into(), Value::schema());
        schemas.insert(UNTYPED.into(), Envelope::<Value>::schema());
        schemas.insert(UNTYPED_LIST.into(), ListEnvelope::<Value>::schema());
    }
}

impl Modify for Security {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("sb_… API key".into());
        bearer.description = Some(
            "An API key (`sb_live_…`, or `sb_test_…` for the sandbox), from POST /api/v1/api-keys."
                .into(),
        );
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sb_session",
                "The session cookie set by signup, login and accept-invite.",
            ))),
        );
    }
}

/// `?mode=`: which of the org's two worlds a request works in.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ModeName {
    /// Real data (the default).
    Live,
    /// The org's sandbox: seeded demo data, simulated carrier, offline AI.
    Test,
}

/// The query parameter every authenticated operation takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ModeParam {
    /// `live` (default) or `test`.
    #[param(inline)]
    mode: Option<ModeName>,
}

/// `limit`/`offset`/`cursor` (SPEC §1) of a paginated list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Items to skip, 0 to 10,000; use `cursor` for deeper pages.
    #[param(minimum = 0, maximum = 10000)]
    offset: Option<u32>,
    /// `meta.pagination.next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The `enabled` filter of the agent and tool lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EnabledFilter {
    /// Only enabled (`true`) or disabled (`false`) items.
    enabled: Option<bool>,
}

/// The header that makes a POST safe to retry (SPEC §1).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// Any string you choose per intended request: a retry with the same key
    /// and body replays the first response (24 h); the same key with another
    /// body is a 409.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

fn header(kind: Type, description: &str) -> Header {
    let mut h = Header::new(Object::with_type(kind));
    h.description = Some(description.into());
    h
}

fn json(schema: RefOr<Schema>, description: &str, rate_limited: bool) -> ResponseBuilder {
    let mut r = ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(schema)))
        .header(
            "X-Request-Id",
            header(
                Type::String,
                "The request's id (yours if you sent a sane one).",
            ),
        );
    if rate_limited {
        r = r
            .header(
                "X-RateLimit-Limit",
                header(Type::Integer, "Requests allowed per window (API keys)."),
            )
            .header(
                "X-RateLimit-Remaining",
                header(Type::Integer, "Requests left in this window (API keys)."),
            )
            .header(
                "X-RateLimit-Reset",
                header(Type::Integer, "When the window resets (Unix seconds)."),
            );
    }
    r
}

/// The 4xx a request may meet, each with the SPEC error body.
fn errors(authenticated: bool) -> BTreeMap<String, RefOr<Response>> {
    let mut map = BTreeMap::new();
    let mut add = |status: u16, description: &str| {
        map.insert(
            status.to_string(),
            json(error_body(), description, authenticated)
                .build()
                .into(),
        );
    };
    add(400, "Malformed request (bad JSON, bad query string).");
    if authenticated {
        add(401, "Missing, invalid or revoked credentials.");
        add(403, "Authenticated, but the role may not do this.");
    }
    add(404, "No such resource in the caller's organization.");
    add(
        409,
        "Conflict: duplicate, wrong state, or an Idempotency-Key reused with another body.",
    );
    add(413, "The body is over the limit.");
    add(415, "The body is not application/json.");
    add(422, "Invalid fields; `details.fields` says which and why.");
    let limited = json(
        error_body(),
        "Too many requests; retry after `Retry-After` seconds.",
        authenticated,
    )
    .header(
        "Retry-After",
        header(Type::Integer, "Seconds to wait before retrying."),
    );
    map.insert("429".into(), limited.build().into());
    map
}

fn error_body() -> RefOr<Schema> {
    Ref::from_schema_name("ErrorBody").into()
}

/// Name of the envelope schema whose `data` is any JSON value.
const UNTYPED: &str = "Envelope";
/// Name of the list envelope schema whose items are any JSON value.
const UNTYPED_LIST: &str = "ListEnvelope";

/// The body schema of a success with `data: T`: the named untyped envelope
/// when `T` is a bare JSON value, else the envelope with `T`'s schema in it.
fn envelope_of<T: ToSchema + 'static>() -> RefOr<Schema> {
    if TypeId::of::<T>() == TypeId::of::<Value>() {
        Ref::from_schema_name(UNTYPED).into()
    } else {
        Envelope::<T>::schema()
    }
}

/// [`envelope_of`] for a page of `T`.
fn list_envelope_of<T: ToSchema + 'static>() -> RefOr<Schema> {
    if TypeId::of::<T>() == TypeId::of::<Value>() {
        Ref::from_schema_name(UNTYPED_LIST).into()
    } else {
        ListEnvelope::<T>::schema()
    }
}

fn set(
    status: u16,
    schema: RefOr<Schema>,
    description: &str,
    authenticated: bool,
) -> BTreeMap<String, RefOr<Response>> {
    let mut map = errors(authenticated);
    map.insert(
        status.to_string(),
        json(schema, description, authenticated).build().into(),
    );
    map
}

/// 200 with one resource `T` (or a result object), after authentication.
pub struct Item<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for Item<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(200, envelope_of::<T>(), "The resource.", true)
    }
}

/// 201 with the created resource `T`, after authentication.
pub struct Created<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for Created<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(201, envelope_of::<T>(), "Created.", true)
    }
}

/// 200 with a page of `T` and `meta.pagination`, after authentication.
pub struct List<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for List<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(
            200,
            list_envelope_of::<T>(),
            "A page of the collection.",
            true,
        )
    }
}

/// 200 with a CSV download (`text/csv`), after authentication; errors as JSON.
pub struct CsvFile;
impl IntoResponses for CsvFile {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut map = errors(true);
        let csv = ResponseBuilder::new()
            .description("The file, as CSV (UTF-8, a header row first).")
            .content("text/csv", Content::new(Some(String::schema())));
        map.insert("200".into(), csv.build().into());
        map
    }
}

/// 200 with `T`, after authentication, from an operation that reaches an
/// outside service (an MCP server, a carrier): 503 when that service does not
/// answer (SPEC §1).
pub struct Reaching<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for Reaching<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut map = set(200, envelope_of::<T>(), "The result.", true);
        let down = json(
            error_body(),
            "The outside service could not be reached or answered badly.",
            true,
        );
        map.insert("503".into(), down.build().into());
        map
    }
}

/// 200 with a result `T`, without authentication (login, accept-invite).
pub struct PublicItem<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for PublicItem<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(
            200,
            envelope_of::<T>(),
            "Done; the `sb_session` cookie is set.",
            false,
        )
    }
}

/// 201 with the created resource `T`, without authentication.
pub struct PublicCreated<T = Value>(PhantomData<T>);
impl<T: ToSchema + 'static> IntoResponses for PublicCreated<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(201, envelope_of::<T>(), "Created.", false)
    }
}

/// The document, serialized once, for `GET /api/v1/openapi.json`.
#[derive(Clone)]
pub struct Document(Bytes);

impl Document {
    /// Serializes `doc`.
    pub fn new(doc: &OpenApi) -> Self {
        Self(Bytes::from(doc.to_json().unwrap_or_default()))
    }
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.",
        body = BTreeMap<String, Value>)))]
pub async fn document(Extension(Document(body)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

#[cfg(test)]
mod tests {
    /// `routes!` registers a handler on the router and its operation in the
    /// document at once; every other way to add a route (axum's `route`,
    /// `route_service`, `nest_service`) would add one
    /// the document does not describe. The black-box test
    /// `the_document_and_the_router_describe_the_same_routes` checks the rest.
    #[test]
    fn groups_register_routes_only_with_their_operation() {
        let sources = [
            ("agents.rs", include_str!("../agents.rs")),
            ("calls.rs", include_str!("../calls.rs")),
            ("campaigns.rs", include_str!("../campaigns.rs")),
            ("tasks.rs", include_str!("../tasks.rs")),
            ("channels.rs", include_str!("../channels.rs")),
            ("contacts.rs", include_str!("../contacts.rs")),
            ("flows.rs", include_str!("../flows.rs")),
            ("identity.rs", include_str!("../identity.rs")),
            ("knowledge.rs", include_str!("../knowledge.rs")),
            ("tools.rs", include_str!("../tools.rs")),
            ("http/mod.rs", include_str!("mod.rs")),
        ];
        for (file, source) in sources {
            for escape in [".route(", ".route_service(", ".nest_service("] {
                assert!(
                    !source.contains(escape),
                    "{file} adds a route with `{escape}`: use `.routes(routes!(handler))`"
                );
            }
        }
    }
}
