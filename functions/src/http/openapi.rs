//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers: each
//! handler carries `#[utoipa::path]`, and the groups register it with
//! `utoipa_axum::routes!`, which adds the route and its operation in one call,
//! so the router and the document cannot drift. This module holds what every
//! operation shares: the security schemes, the query parameters, the
//! `Idempotency-Key` header and the response sets (success envelope plus the
//! SPEC error body on every 4xx, with the request-id and rate-limit headers).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use axum::Extension;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;

use switchboard::domain::automation::{
    Action, ActionResult, Condition, ConditionField, ConditionOp, RunStatus, Trigger, TriggerEvent,
};
use switchboard::domain::call::{CallStatus, Direction};
use switchboard::domain::campaign::contact::{ContactOutcome, ContactStatus};
use switchboard::domain::campaign::{CampaignStatus, RetryOn, RetryPolicy, Schedule, Window};
use switchboard::domain::conversation::{Author, ChannelType, ConversationStatus, MessageType};
use switchboard::domain::task::{TaskEvent, TaskStatus};
use switchboard::engine::call::{CallMetrics, EndReason, Role, TranscriptEntry};
use switchboard::engine::report::{Outcome, Report, Sentiment};
use switchboard::services::analytics::{
    AnalyticsView, CallAnalytics, CampaignAnalytics, ConversationAnalytics, DayAnalytics,
    MessageAnalytics,
};
use switchboard::services::views::{
    AcceptInviteInput, AgentCreate, AgentPatch, AgentView, ApiKeyInput, ApiKeyView, AssignInput,
    AssignmentView, AutomationInput, AutomationPatch, AutomationRunView, AutomationView,
    BulkContactsInput, CallView, CampaignContactInput, CampaignContactView, CampaignCreate,
    CampaignPatch, CampaignResultsView, CampaignStats, CampaignView, ChannelCreate, ChannelPatch,
    ChannelView, ChunkView, ConnectionInfo, ContactCreate, ContactPatch, ContactResult,
    ContactView, ConversationCreate, ConversationPatch, ConversationView, DeletedView, ExecuteView,
    FlowCreate, FlowPatch, FlowSummaryView, FlowView, FlowWarning, ImportSummary, InboxSocketView,
    IngestTextInput, IngestUrlInput, InvalidContact, InviteInput, InviteView,
    KnowledgeDocumentView, KnowledgeQueryInput, LiveCallView, LiveControlView, LiveMessageInput,
    LiveTranscriptView, LoggedOutView, LoginInput, McpServerInput, McpServerView, MeView,
    MemberView, MessageInput, MessageView, NewApiKeyView, OrganizationInput,
    OrganizationPatchInput, OrganizationView, PasswordChangeInput, PasswordChangedView,
    ProcessedTranscriptView, ProviderCheckView, QueryHit, RecordingLinkView, RetryInput, RoleInput,
    SignedInView, SignupInput, StatusInput, SuggestionView, SupervisorJoinView, TagInput,
    TakeoverInput, TaskCreate, TaskPatch, TaskSecretView, TaskView, ToolCreate, ToolPatch,
    ToolTestInput, ToolTestView, ToolView, TranscriptView, UserView, VerifyProviderInput,
    WebSessionView, WebhookAttemptView, WebhookDeliveryView, WebhookInput, WebhookView,
    WorkspaceSettingsInput, WorkspaceSettingsView, WorkspaceView,
};
use utoipa::openapi::header::Header;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::schema::{AdditionalProperties, Schema};
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
    modifiers(&Security, &StrictBodies),
    security(("api_key" = []), ("session" = [])),
    components(schemas(
        ErrorBody, Meta, ListMeta, Pagination,
        AgentView, AgentCreate, AgentPatch, FlowView, FlowSummaryView, FlowWarning, FlowCreate, FlowPatch,
        ToolView, McpServerView, KnowledgeDocumentView, DeletedView, ChannelView,
        UserView, MemberView, OrganizationView, WorkspaceSettingsView, WorkspaceView,
        SignedInView, MeView, ApiKeyView, NewApiKeyView, ChunkView, QueryHit,
        ToolCreate, ToolPatch, ToolTestInput, McpServerInput, ChannelCreate, ChannelPatch, VerifyProviderInput,
        IngestTextInput, IngestUrlInput, KnowledgeQueryInput,
        TaskView, TaskCreate, TaskPatch, TaskStatus, TaskEvent, ExecuteView,
        CallView, CallStatus, Direction, EndReason, TranscriptEntry, Role, CallMetrics,
        TranscriptView, ProcessedTranscriptView, RecordingLinkView, Report, Outcome, Sentiment,
    ConnectionInfo, LiveCallView, LiveControlView, LiveMessageInput, LiveTranscriptView, SupervisorJoinView, TakeoverInput,
        WebhookView, WebhookInput, WebhookDeliveryView, WebhookAttemptView, TaskSecretView,
        ContactView, ContactCreate, ContactPatch,
        ConversationView, MessageView, ConversationCreate, ConversationPatch, StatusInput, TagInput,
        InboxSocketView,
        AssignInput, MessageInput, ChannelType, ConversationStatus, MessageType, Author, SuggestionView,
        AnalyticsView, ConversationAnalytics, MessageAnalytics, CallAnalytics, CampaignAnalytics, DayAnalytics,
        CampaignView, CampaignCreate, CampaignPatch, RetryInput, CampaignStats, CampaignStatus, Schedule, Window, RetryPolicy,
        RetryOn, CampaignContactView, CampaignContactInput, BulkContactsInput, ImportSummary,
        InvalidContact, CampaignResultsView, ContactResult, ContactStatus, ContactOutcome,
        AssignmentView, ToolTestView, ProviderCheckView, WebSessionView,
        LoggedOutView, PasswordChangedView, InviteView,
        SignupInput, LoginInput, AcceptInviteInput, PasswordChangeInput, WorkspaceSettingsInput,
        ApiKeyInput, OrganizationInput, OrganizationPatchInput, InviteInput, RoleInput,
        AutomationView, AutomationRunView, AutomationInput, AutomationPatch, Trigger, TriggerEvent,
        Condition, ConditionField, ConditionOp, Action, ActionResult, RunStatus,
    ))
)]
pub struct ApiDoc;

struct Security;

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

/// The request bodies that refuse a key their type lacks (a 422 names each
/// one, with the other bad fields), each with the keys it lets pass because
/// a read of the resource returns them (a read sent back as a PATCH works).
/// Only these say `additionalProperties: false`: a body missing here still
/// ignores unknown keys, and the document must not claim otherwise.
const STRICT_BODIES: &[(&str, &[&str])] = &[
    ("AgentCreate", &switchboard::domain::agent::ECHOED),
    ("AgentPatch", &switchboard::domain::agent::ECHOED),
    ("FlowCreate", &switchboard::services::views::FLOW_ECHOED),
    ("FlowPatch", &switchboard::services::views::FLOW_ECHOED),
    ("ChannelCreate", &switchboard::domain::channel::ECHOED),
    ("ChannelPatch", &switchboard::domain::channel::ECHOED),
    ("VerifyProviderInput", &[]),
    ("TaskCreate", &switchboard::domain::task::STORED),
    ("TaskPatch", &switchboard::domain::task::STORED),
    ("CampaignCreate", &switchboard::domain::campaign::STORED),
    ("CampaignPatch", &switchboard::domain::campaign::STORED),
    ("ContactCreate", &switchboard::domain::contact::ECHOED),
    ("ContactPatch", &switchboard::domain::contact::ECHOED),
    ("WebhookInput", &[]),
    ("AutomationInput", &switchboard::domain::automation::ECHOED),
    ("AutomationPatch", &switchboard::domain::automation::ECHOED),
    ("McpServerInput", &[]),
    ("IngestTextInput", &[]),
    ("IngestUrlInput", &[]),
    ("KnowledgeQueryInput", &[]),
    ("LiveMessageInput", &[]),
    ("TakeoverInput", &[]),
    ("ToolTestInput", &[]),
    ("ConversationCreate", &[]),
    ("ConversationPatch", &[]),
    ("StatusInput", &[]),
    ("TagInput", &[]),
    ("AssignInput", &[]),
    ("MessageInput", &[]),
    ("SignupInput", &[]),
    ("LoginInput", &[]),
    ("AcceptInviteInput", &[]),
    ("PasswordChangeInput", &[]),
    ("WorkspaceSettingsInput", &[]),
    ("ApiKeyInput", &[]),
    ("OrganizationInput", &[]),
    (
        "OrganizationPatchInput",
        &switchboard::services::views::ORGANIZATION_ECHOED,
    ),
    ("InviteInput", &[]),
    ("RoleInput", &[]),
];

/// Marks [`STRICT_BODIES`] `additionalProperties: false`, with the keys each
/// lets pass described as such.
struct StrictBodies;

impl Modify for StrictBodies {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, echoed) in STRICT_BODIES {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) else {
                continue;
            };
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            for key in *echoed {
                let mut any = Object::new();
                any.description = Some(
                    "What a read returns; accepted and ignored, so a read can be sent back.".into(),
                );
                object
                    .properties
                    .entry((*key).to_owned())
                    .or_insert(RefOr::T(Schema::Object(any)));
            }
        }
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
pub struct Item<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for Item<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(200, Envelope::<T>::schema(), "The resource.", true)
    }
}

/// 201 with the created resource `T`, after authentication.
pub struct Created<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for Created<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(201, Envelope::<T>::schema(), "Created.", true)
    }
}

/// 200 with a page of `T` and `meta.pagination`, after authentication.
pub struct List<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for List<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(
            200,
            ListEnvelope::<T>::schema(),
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

/// 200 with a WAV file, or 206 with the part a `Range` header asked for,
/// after authentication; errors as JSON, 416 for a range that is malformed
/// or past the end.
pub struct AudioFile;
impl IntoResponses for AudioFile {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut map = errors(true);
        let audio = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content("audio/wav", Content::new(Some(String::schema())))
                .header(
                    "Accept-Ranges",
                    header(Type::String, "Always `bytes`: ranges are served."),
                )
        };
        map.insert(
            "200".into(),
            audio("The whole file (16 kHz mono PCM16 WAV).")
                .build()
                .into(),
        );
        let partial = audio("The bytes the `Range` header asked for.").header(
            "Content-Range",
            header(Type::String, "`bytes <first>-<last>/<length>`."),
        );
        map.insert("206".into(), partial.build().into());
        let unsatisfiable = json(
            error_body(),
            "The `Range` header is malformed, has several ranges, or starts past the end; \
             `Content-Range: bytes */<length>` gives the length.",
            true,
        );
        map.insert("416".into(), unsatisfiable.build().into());
        map
    }
}

/// 200 with `T`, after authentication, from an operation that reaches an
/// outside service (an MCP server, a carrier): 503 when that service does not
/// answer (SPEC §1).
pub struct Reaching<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for Reaching<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut map = set(200, Envelope::<T>::schema(), "The result.", true);
        let down = json(
            error_body(),
            "The outside service could not be reached or answered badly.",
            true,
        );
        map.insert("503".into(), down.build().into());
        map
    }
}

/// 200 with a result `T`, without authentication, from an operation that
/// checks the credentials in its body (login, accept-invite): 401 when they
/// are wrong.
pub struct PublicItem<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for PublicItem<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut map = set(
            200,
            Envelope::<T>::schema(),
            "Done; the `sb_session` cookie is set.",
            false,
        );
        let refused = json(
            error_body(),
            "The e-mail and password do not match (or, accepting an invitation \
             for an existing account, its password was not given).",
            false,
        );
        map.insert("401".into(), refused.build().into());
        map
    }
}

/// 201 with the created resource `T`, without authentication.
pub struct PublicCreated<T>(PhantomData<T>);
impl<T: ToSchema> IntoResponses for PublicCreated<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set(201, Envelope::<T>::schema(), "Created.", false)
    }
}

/// Adds OpenAPI `links` from each create to what takes the created resource's
/// id: a `POST {P}` answering 201 links to every operation on `{P}/{id}` and
/// `{P}/{id}/…` (no other path parameter), with `id` from the response's
/// `data.id`. Clients learn the sequence; schemathesis' stateful phase
/// follows them (create, then read, change, act on and delete that resource).
pub fn link_creates(doc: &mut OpenApi) {
    let paths = &mut doc.paths.paths;
    let mut links = Vec::new();
    for (collection, item) in paths.iter() {
        let creates = item
            .post
            .as_ref()
            .is_some_and(|op| op.responses.responses.contains_key("201"));
        if !creates {
            continue;
        }
        let by_id = format!("{collection}/{{id}}");
        for (path, target) in paths.iter() {
            let Some(rest) = path.strip_prefix(&by_id) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('/')) || rest.contains('{') {
                continue;
            }
            let pointer = path.replace('~', "~0").replace('/', "~1");
            let mut name_of = |method: &str| {
                let tail = rest.trim_start_matches('/').replace(['/', '-'], "_");
                let name = if tail.is_empty() {
                    method.to_owned()
                } else {
                    format!("{method}_{tail}")
                };
                let link = LinkBuilder::new()
                    .operation_ref(format!("#/paths/{pointer}/{method}"))
                    .parameter("id", "$response.body#/data/id")
                    .build();
                links.push((collection.clone(), name, link));
            };
            for (method, op) in [
                ("get", &target.get),
                ("put", &target.put),
                ("patch", &target.patch),
                ("delete", &target.delete),
                ("post", &target.post),
            ] {
                if op.is_some() {
                    name_of(method);
                }
            }
        }
    }
    for (collection, name, link) in links {
        let created = paths
            .get_mut(&collection)
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.responses.responses.get_mut("201"));
        if let Some(RefOr::T(response)) = created {
            response.links.insert(name, link.into());
        }
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
    use utoipa::OpenApi as _;

    use super::*;

    /// Every strict body is a registered schema that says so (a name typed
    /// wrong in [`STRICT_BODIES`] would otherwise be skipped silently), the
    /// keys it lets pass are documented, and a body that still ignores
    /// unknown keys (a tool's) does not claim to refuse them.
    #[test]
    fn strict_bodies_refuse_unknown_keys_in_the_document() {
        let doc = ApiDoc::openapi();
        let schemas = doc.components.map(|c| c.schemas).unwrap_or_default();
        let object = |name: &str| match schemas.get(name) {
            Some(RefOr::T(Schema::Object(o))) => o.clone(),
            _ => panic!("{name} is not an object schema of the document"),
        };
        let strict = |o: &Object| {
            matches!(
                o.additional_properties.as_deref(),
                Some(AdditionalProperties::FreeForm(false))
            )
        };
        for (name, echoed) in STRICT_BODIES {
            let o = object(name);
            assert!(strict(&o), "{name} says it refuses unknown keys");
            for key in *echoed {
                assert!(o.properties.contains_key(*key), "{name} documents {key}");
            }
        }
        assert!(
            !strict(&object("ToolCreate")),
            "tool bodies still ignore unknown keys"
        );
    }

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
            ("telephony.rs", include_str!("../telephony.rs")),
            ("contacts.rs", include_str!("../contacts.rs")),
            ("conversations.rs", include_str!("../conversations.rs")),
            ("flows.rs", include_str!("../flows.rs")),
            ("identity.rs", include_str!("../identity.rs")),
            ("knowledge.rs", include_str!("../knowledge.rs")),
            ("tools.rs", include_str!("../tools.rs")),
            ("http/mod.rs", include_str!("mod.rs")),
            ("http/resource.rs", include_str!("resource.rs")),
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
