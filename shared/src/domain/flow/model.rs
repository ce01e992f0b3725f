//! The parsed shape of a flow: what the engine may rely on after `FlowGraph::parse`.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::{Map, Value};

/// Node types the engine knows, so type checks are exhaustive matches instead of strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Entry point of every call.
    Start,
    /// Speak a text.
    Say,
    /// Ask a question and store the checked answer.
    Ask,
    /// Free LLM conversation until the engine judges the exit condition met.
    Llm,
    /// Branch on variables or intents.
    Condition,
    /// Call an organisation tool.
    Tool,
    /// Search the knowledge base.
    Knowledge,
    /// Press keypad digits (an automated menu on the other side).
    SendDtmf,
    /// Hand the call to a phone number.
    Transfer,
    /// Hang up, optionally after a last sentence.
    End,
}

impl NodeType {
    /// Every type, in the order error messages list them.
    pub const ALL: [NodeType; 10] = [
        NodeType::Start,
        NodeType::Say,
        NodeType::Ask,
        NodeType::Llm,
        NodeType::Condition,
        NodeType::Tool,
        NodeType::Knowledge,
        NodeType::SendDtmf,
        NodeType::Transfer,
        NodeType::End,
    ];

    /// Reads the wire name; `None` lets the checker report the unknown name.
    pub fn parse(name: &str) -> Option<NodeType> {
        NodeType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The wire name, as used in `NodeDoc::node_type` and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Start => "start",
            NodeType::Say => "say",
            NodeType::Ask => "ask",
            NodeType::Llm => "llm",
            NodeType::Condition => "condition",
            NodeType::Tool => "tool",
            NodeType::Knowledge => "knowledge",
            NodeType::SendDtmf => "send_dtmf",
            NodeType::Transfer => "transfer",
            NodeType::End => "end",
        }
    }

    /// Terminal nodes finish the call, so they must have no outgoing edge and need none.
    pub fn is_terminal(self) -> bool {
        matches!(self, NodeType::End | NodeType::Transfer)
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked node. Text fields are still templates: render them with the call's variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The editor's id, used in [`super::Step::Goto`].
    pub id: String,
    /// What the node does, with its checked settings.
    pub kind: NodeKind,
}

impl Node {
    /// Shortcut for matching on the type without destructuring settings.
    pub fn node_type(&self) -> NodeType {
        self.kind.node_type()
    }
}

/// Settings per node type; every field here has passed the checks described on the type.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// Entry point; carries no settings.
    Start,
    /// Speak `text` (a template), then continue.
    Say {
        /// Template to speak.
        text: String,
    },
    /// Ask a question and validate the answer.
    Ask(Ask),
    /// Let the LLM converse until the engine decides `exit_condition` holds.
    Llm {
        /// System prompt template for this part of the call.
        prompt: String,
        /// Template describing when to move on; the engine judges it and reports `exit`.
        exit_condition: String,
    },
    /// Branch along the first matching outgoing edge, else the default edge.
    Condition,
    /// Call a tool; the engine runs it and hands the result to `next`.
    Tool {
        /// Id of an existing organisation tool.
        tool_id: String,
        /// Arguments; every string inside is a template (see [`super::render_value`]).
        args: Map<String, Value>,
        /// Variable that receives the tool result; `None` discards it.
        save_as: Option<String>,
    },
    /// Search the knowledge base; the engine runs the query and hands the result to `next`.
    Knowledge {
        /// Template rendered into the search query.
        query_template: String,
        /// Variable that receives the result (default `knowledge`).
        save_as: String,
    },
    /// Press `digits` (a template rendering to `0-9`, `*`, `#`, and `w` for a half-second
    /// pause), then continue.
    SendDtmf {
        /// Digits or a template rendering to them.
        digits: String,
    },
    /// Transfer the call; the template must render to an E.164 number.
    Transfer {
        /// E.164 number or a template rendering to one.
        number: String,
    },
    /// Hang up, optionally saying `text` first.
    End {
        /// Last sentence template, if any.
        text: Option<String>,
    },
}

impl NodeKind {
    /// The wire type of these settings.
    pub fn node_type(&self) -> NodeType {
        match self {
            NodeKind::Start => NodeType::Start,
            NodeKind::Say { .. } => NodeType::Say,
            NodeKind::Ask(_) => NodeType::Ask,
            NodeKind::Llm { .. } => NodeType::Llm,
            NodeKind::Condition => NodeType::Condition,
            NodeKind::Tool { .. } => NodeType::Tool,
            NodeKind::Knowledge { .. } => NodeType::Knowledge,
            NodeKind::SendDtmf { .. } => NodeType::SendDtmf,
            NodeKind::Transfer { .. } => NodeType::Transfer,
            NodeKind::End { .. } => NodeType::End,
        }
    }
}

/// Settings of an `ask` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// Question template.
    pub question: String,
    /// Variable that receives the typed answer.
    pub variable: String,
    /// How the answer is checked and typed.
    pub validation: Validation,
    /// How many times the question is asked again after an invalid answer (0..=10, default 2).
    pub retries: u32,
}

/// How an `ask` answer is checked, and which JSON type it is stored as.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// No check: any non-empty answer is stored as a string.
    Free,
    /// The whole answer must match the pattern; stored as a string.
    Regex(Pattern),
    /// A number in digits ("42", "1,200.5") or words ("forty two"); stored as a JSON number.
    Number,
    /// A calendar date, absolute or relative to the `today` variable; stored as "YYYY-MM-DD".
    Date,
    /// Yes or no in everyday words; stored as a boolean.
    YesNo,
    /// One of the options (case-insensitive, or mentioned alone); stored as the option text.
    Choice(Vec<String>),
}

impl Validation {
    /// Wire name, for messages and editor previews.
    pub fn as_str(&self) -> &'static str {
        match self {
            Validation::Free => "none",
            Validation::Regex(_) => "regex",
            Validation::Number => "number",
            Validation::Date => "date",
            Validation::YesNo => "yes_no",
            Validation::Choice(_) => "choice",
        }
    }
}

/// A user-supplied regular expression, compiled once at parse time with a size cap so a
/// hostile pattern cannot eat memory; two patterns are equal when source and anchoring are.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Largest compiled program accepted, in bytes; generous for real-world patterns.
    const SIZE_LIMIT: usize = 1 << 20;

    /// Compiles for whole-text matching, as `ask` validation requires.
    pub fn full(source: &str) -> Result<Pattern, regex::Error> {
        Pattern::build(source, &format!("^(?:{source})$"))
    }

    /// Compiles for matching anywhere in the text, as the `matches` condition op does.
    pub fn search(source: &str) -> Result<Pattern, regex::Error> {
        Pattern::build(source, source)
    }

    fn build(source: &str, compiled: &str) -> Result<Pattern, regex::Error> {
        let regex = RegexBuilder::new(compiled)
            .size_limit(Pattern::SIZE_LIMIT)
            .build()?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `text` matches (whole text or anywhere, as chosen at construction).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str()
    }
}

/// A checked edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The editor's id.
    pub id: String,
    /// Node the edge leaves.
    pub source: String,
    /// Node the edge enters.
    pub target: String,
    /// When the edge is taken.
    pub condition: EdgeCondition,
}

/// When an edge is taken. On the wire (`EdgeDoc::condition`):
///
/// | wire                                      | meaning                                   |
/// |-------------------------------------------|-------------------------------------------|
/// | absent, `null` or `{}`                    | [`EdgeCondition::Always`]                 |
/// | `"default"` or `{"default": true}`        | [`EdgeCondition::Default`]                |
/// | `{"on": "invalid"}`                       | [`EdgeCondition::OnInvalid`]              |
/// | `{"variable": "x", "op": "gt", "value": 3}` | [`EdgeCondition::Compare`]              |
/// | `{"intent": ["billing", "refund"]}`       | [`EdgeCondition::Intent`]                 |
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeCondition {
    /// The single way on from a non-branching node.
    Always,
    /// Taken by a condition node when no other edge matches; exactly one per condition node.
    Default,
    /// Taken by an ask node when the answer stayed invalid after all retries. Without it the
    /// call ends, because looping forever on a caller who cannot answer is worse.
    OnInvalid,
    /// Taken by a condition node when the comparison holds.
    Compare(Comparison),
    /// Taken by a condition node when any listed intent was detected (case-insensitive).
    Intent(Vec<String>),
}

/// A `{variable, op, value}` edge condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Dotted variable path to read.
    pub variable: String,
    /// How to compare.
    pub op: Op,
    /// Right-hand side; a string value is itself a template. For `exists` an optional
    /// boolean (`false` means "is missing").
    pub value: Value,
    /// `value` compiled for the `matches` op; `None` for the other ops.
    pub pattern: Option<Pattern>,
}

/// Comparison operators. Numbers and numeric strings compare as numbers ("10" > 9), other
/// strings case-insensitively for equality and lexically for ordering (so ISO dates order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (`==` accepted).
    Eq,
    /// Not equal (`!=`); also true when the variable is missing.
    Ne,
    /// Greater than (`>`).
    Gt,
    /// Greater or equal (`>=`).
    Gte,
    /// Less than (`<`).
    Lt,
    /// Less or equal (`<=`).
    Lte,
    /// Substring (case-insensitive) of a string, or element of an array.
    Contains,
    /// Variable set, not null and not blank text (value `false` inverts: "is missing").
    Exists,
    /// Variable equals one element of the array value.
    In,
    /// Regex found anywhere in the variable's text (anchor it yourself for a full match).
    Matches,
}

impl Op {
    /// Reads an op name or its symbol alias.
    pub fn parse(name: &str) -> Option<Op> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "eq" | "==" | "=" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            "gt" | ">" => Op::Gt,
            "gte" | ">=" => Op::Gte,
            "lt" | "<" => Op::Lt,
            "lte" | "<=" => Op::Lte,
            "contains" => Op::Contains,
            "exists" => Op::Exists,
            "in" => Op::In,
            "matches" => Op::Matches,
            _ => return None,
        })
    }
}

/// Where one variable of a flow comes from, and where it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariableSource {
    /// Dotted variable name as written in templates.
    pub name: String,
    /// Who provides the value.
    pub origin: VariableOrigin,
    /// Paths (`nodes.<id>` / `edges.<id>`) that read it; empty when only set.
    pub used_in: Vec<String>,
}

/// Who provides a variable's value during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VariableOrigin {
    /// Set during the call by these ask/tool/knowledge nodes (for `order.status`, by the
    /// node that saves `order`).
    Flow {
        /// Ids of the setting nodes.
        set_by: Vec<String>,
    },
    /// Supplied by the caller: `contact`, `context` (task/campaign data), `agent` or `call`.
    External {
        /// The namespace (first path segment).
        namespace: String,
    },
    /// Filled in by the engine: `now` (RFC 3339) and `today` (YYYY-MM-DD).
    BuiltIn,
    /// Set by no node: only the call can supply it (a contact field or a key of the task's
    /// `context_data`); the flow's save reports it as a warning in case it is a typo.
    Call,
}

impl fmt::Display for VariableOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariableOrigin::Flow { set_by } => write!(f, "set by node '{}'", set_by.join("', '")),
            VariableOrigin::External { namespace } => write!(f, "external: {namespace}"),
            VariableOrigin::BuiltIn => f.write_str("built-in"),
            VariableOrigin::Call => f.write_str("supplied by the call"),
        }
    }
}

/// How the walker leaves a node; node and edge positions are indices into the graph.
/// Built only by the parser, so a walk never meets a missing or ambiguous edge.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    /// End and transfer: no way on.
    Terminal,
    /// The single way on.
    Next(usize),
    /// Ask: where a valid answer goes, and where exhausted retries go (if anywhere).
    Ask {
        /// Target of the plain edge.
        ok: usize,
        /// Target of the `on: invalid` edge.
        invalid: Option<usize>,
    },
    /// Condition: `(edge, target)` pairs tried in order, then the default target.
    Branch {
        /// Non-default edges in editor order.
        arms: Vec<(usize, usize)>,
        /// Target of the default edge.
        default: usize,
    },
}
