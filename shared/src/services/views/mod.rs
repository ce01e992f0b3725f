//! What the API shows of each resource: one `Serialize` struct per resource,
//! built from the domain type (which keeps the invariants and the stored
//! shape), and the accepted create/patch bodies. Each derives
//! `utoipa::ToSchema`, so the OpenAPI document describes the types actually
//! serialized and schemathesis can check every field.

mod agent;
mod automation;
mod call;
mod campaign;
mod channel;
mod contact;
mod conversation;
mod flow;
mod identity;
mod knowledge;
mod live;
mod live_transcript;
mod task;
mod tool;
mod webhook;

pub use crate::domain::agent::{AgentCreate, AgentPatch};
pub use crate::domain::automation::{AutomationInput, AutomationPatch};
pub use crate::domain::campaign::{
    BulkContactsInput, CampaignContactInput, CampaignCreate, CampaignPatch, RetryInput,
};
pub use crate::domain::channel::{ChannelCreate, ChannelPatch, VerifyProviderInput};
pub use crate::domain::contact::{ContactCreate, ContactPatch};
pub use crate::domain::conversation::{
    AssignInput, ConversationCreate, ConversationPatch, MessageInput, StatusInput, TagInput,
};
pub use crate::domain::mcp::McpServerInput;
pub use crate::domain::task::{TaskCreate, TaskPatch};
pub use crate::domain::tool::{ToolCreate, ToolPatch};
pub use crate::domain::webhook::WebhookInput;
pub use agent::AgentView;
pub use automation::{AutomationRunView, AutomationView};
pub use call::{CallView, ProcessedTranscriptView, RecordingLinkView, TranscriptView};
pub use campaign::{
    CampaignContactView, CampaignResultsView, CampaignStats, CampaignView, ContactResult,
    ImportSummary, InvalidContact,
};
pub use channel::{ChannelView, ProviderCheckView, WebSessionView};
pub use contact::ContactView;
pub use conversation::{ConversationView, InboxSocketView, MessageView, SuggestionView};
pub use flow::{FLOW_ECHOED, FlowCreate, FlowPatch, FlowSummaryView, FlowView, FlowWarning};
pub use identity::{
    AcceptInviteInput, ApiKeyInput, ApiKeyView, InviteInput, InviteView, LoggedOutView, LoginInput,
    MeView, MemberView, NewApiKeyView, ORGANIZATION_ECHOED, OrganizationInput,
    OrganizationPatchInput, OrganizationView, PasswordChangeInput, PasswordChangedView, RoleInput,
    SignedInView, SignupInput, UserView, WorkspaceSettingsInput, WorkspaceSettingsView,
    WorkspaceView,
};
pub use knowledge::{
    ChunkView, IngestTextInput, IngestUrlInput, KnowledgeDocumentView, KnowledgeQueryInput,
    QueryHit,
};
pub use live::{
    LiveCallView, LiveControlView, LiveMessageInput, SupervisorJoinView, TakeoverInput,
};
pub use live_transcript::{ConnectionInfo, LiveTranscriptView};
pub use task::{ExecuteView, TaskView};
pub use tool::{McpServerView, ToolTestInput, ToolTestView, ToolView};
pub use webhook::{TaskSecretView, WebhookAttemptView, WebhookDeliveryView, WebhookView};

/// What a DELETE answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeletedView {
    /// Always `true`.
    pub deleted: bool,
    /// The id of what was deleted.
    pub id: String,
}

impl DeletedView {
    /// The answer to deleting `id`.
    pub fn of(id: &str) -> Self {
        Self {
            deleted: true,
            id: id.to_owned(),
        }
    }
}

/// What assigning (`POST`) or unassigning (`DELETE`) a tool, an MCP server or
/// a knowledge document to an agent answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// The agent.
    pub agent_id: String,
    /// The tool, MCP server or document.
    pub id: String,
    /// True after assigning, false after unassigning.
    pub assigned: bool,
}

impl AssignmentView {
    /// `id` is (`assigned`) or is no longer (`!assigned`) the agent's.
    pub fn of(agent_id: &str, id: &str, assigned: bool) -> Self {
        Self {
            agent_id: agent_id.to_owned(),
            id: id.to_owned(),
            assigned,
        }
    }
}
