//! What the API shows of each resource: one `Serialize` struct per resource,
//! built from the domain type (which keeps the invariants and the stored
//! shape), and the accepted create/patch bodies. Each derives
//! `utoipa::ToSchema`, so the OpenAPI document describes the types actually
//! serialized and schemathesis can check every field.

mod agent;
mod flow;
mod knowledge;
mod tool;
mod webhook;

pub use agent::{AgentInput, AgentView};
pub use flow::{FlowInput, FlowSummaryView, FlowView, FlowWarning};
pub use knowledge::KnowledgeDocumentView;
pub use tool::{McpServerView, ToolView};
pub use webhook::{
    TaskSecretView, WebhookAttemptView, WebhookDeliveryView, WebhookInput, WebhookView,
};

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// `schema` with no field required: the body of a PATCH, where the fields
/// sent are changed and the others kept.
fn all_optional(mut schema: RefOr<Schema>, of: &str) -> RefOr<Schema> {
    if let RefOr::T(Schema::Object(o)) = &mut schema {
        o.required.clear();
        o.description = Some(format!("A patch of {of}: every field optional."));
    }
    schema
}

/// Declares `$patch`, the PATCH body schema of the create body `$input`.
macro_rules! patch_of {
    ($patch:ident, $input:ident) => {
        #[doc = concat!("The body of a PATCH: [`", stringify!($input), "`] with every field optional.")]
        pub struct $patch;

        impl utoipa::PartialSchema for $patch {
            fn schema() -> RefOr<Schema> {
                all_optional(
                    <$input as utoipa::PartialSchema>::schema(),
                    stringify!($input),
                )
            }
        }

        impl utoipa::ToSchema for $patch {}
    };
}

patch_of!(AgentPatch, AgentInput);
patch_of!(FlowPatch, FlowInput);
