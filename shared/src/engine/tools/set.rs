//! Several [`ToolRunner`]s offered as one: a call's saved tools and the tools of each
//! MCP server it reached.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{ToolError, ToolOutput, ToolRunner, ToolSpec};

/// Runners asked in order: a name belongs to the first runner that knows it, so a saved
/// tool wins over an MCP tool of the same name, and the model is offered each name once.
#[derive(Clone, Default)]
pub struct ToolSet {
    runners: Vec<Arc<dyn ToolRunner>>,
}

impl ToolSet {
    /// The runners, in the order a name is looked up.
    pub fn new(runners: Vec<Arc<dyn ToolRunner>>) -> ToolSet {
        ToolSet { runners }
    }

    /// Whether no runner was given.
    pub fn is_empty(&self) -> bool {
        self.runners.is_empty()
    }
}

impl std::fmt::Debug for ToolSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSet")
            .field("runners", &self.runners.len())
            .finish()
    }
}

#[async_trait]
impl ToolRunner for ToolSet {
    async fn call(&self, name: &str, args: Value) -> Result<ToolOutput, ToolError> {
        for runner in &self.runners {
            match runner.call(name, args.clone()).await {
                Err(ToolError::UnknownTool(_)) => continue,
                other => return other,
            }
        }
        Err(ToolError::UnknownTool(name.to_owned()))
    }

    fn tools(&self) -> Vec<ToolSpec> {
        let mut seen = BTreeSet::new();
        let mut specs = Vec::new();
        for spec in self.runners.iter().flat_map(|r| r.tools()) {
            if seen.insert(spec.name.clone()) {
                specs.push(spec);
            } else {
                tracing::warn!(tool = %spec.name, "a second tool of this name is not offered");
            }
        }
        specs
    }
}
