//! Per-node `data` and per-edge `condition` checks: everything that can be judged by looking
//! at one node or one edge (plus the flow's variables and the tool list).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use serde_json::{Map, Value};

use super::FlowContext;
use super::NodeDoc;
use super::model::{
    Ask, Comparison, EdgeCondition, NodeKind, NodeType, Op, Pattern, Validation, VariableOrigin,
};
use super::template::{Piece, is_variable_name, scan};

/// Namespaces the caller fills in at call start; any path under them is accepted.
const EXTERNAL: [&str; 4] = ["contact", "context", "agent", "call"];
/// The warning for a variable no node sets.
pub(super) fn unset_variable(name: &str) -> String {
    format!(
        "variable '{name}' is not set by any node: the call must supply it (a contact field or a key of the task's context_data, also readable as context.{name}), or it reads as empty"
    )
}

/// Variables the engine always provides.
const BUILT_IN: [&str; 2] = ["now", "today"];
/// Upper bound for `ask.retries`: more re-asks than this only frustrates a caller.
const MAX_RETRIES: u64 = 10;
/// Re-asks when the flow author does not say.
const DEFAULT_RETRIES: u32 = 2;

/// Which variables a flow sets and where, gathered from the raw documents before any node is
/// checked, so one broken node does not make its variable "unknown" everywhere else.
#[derive(Debug, Default)]
pub(super) struct Scope {
    set_by: BTreeMap<String, Vec<String>>,
}

impl Scope {
    /// Collects `ask.variable`, `tool.save_as` and `knowledge.save_as` (default `knowledge`).
    pub(super) fn from_docs(nodes: &[NodeDoc]) -> Scope {
        let mut scope = Scope::default();
        for node in nodes.iter().filter(|n| !n.id.is_empty()) {
            let field = |key: &str| node.data.get(key).and_then(Value::as_str);
            let name = match NodeType::parse(node.node_type.trim()) {
                Some(NodeType::Ask) => field("variable"),
                Some(NodeType::Tool) => field("save_as"),
                Some(NodeType::Knowledge) => field("save_as")
                    .filter(|s| !s.trim().is_empty())
                    .or(Some("knowledge")),
                _ => None,
            };
            if let Some(name) = name.map(str::trim).filter(|n| is_variable_name(n)) {
                let ids = scope.set_by.entry(name.to_string()).or_default();
                if !ids.contains(&node.id) {
                    ids.push(node.id.clone());
                }
            }
        }
        scope
    }

    /// Explains a variable, or `None` when nothing in or around the flow provides it.
    /// Linear in the length of `name` and the number of related setters: the variable's
    /// dotted prefixes are looked up, then the variables nested under it.
    pub(super) fn origin(&self, name: &str) -> Option<VariableOrigin> {
        // `order.status` is set by the node saving `order` (or `order.status` itself);
        // `order` is set by a node saving `order.status`.
        let prefixes = name
            .match_indices('.')
            .map(|(i, _)| &name[..i])
            .chain(std::iter::once(name))
            .filter_map(|prefix| self.set_by.get(prefix));
        let nested = format!("{name}.");
        let below = self
            .set_by
            .range::<str, _>((Bound::Included(nested.as_str()), Bound::Unbounded))
            .take_while(|(set, _)| set.starts_with(&nested))
            .map(|(_, ids)| ids);
        let mut set_by: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for id in prefixes.chain(below).flatten() {
            if seen.insert(id.as_str()) {
                set_by.push(id.clone());
            }
        }
        if !set_by.is_empty() {
            return Some(VariableOrigin::Flow { set_by });
        }
        let namespace = name.split('.').next().unwrap_or(name);
        if EXTERNAL.contains(&namespace) {
            return Some(VariableOrigin::External {
                namespace: namespace.to_string(),
            });
        }
        BUILT_IN.contains(&name).then_some(VariableOrigin::BuiltIn)
    }

    /// Checks one variable read. A variable nothing in the flow sets is allowed (contact
    /// fields and the task's `context_data` are variables only a call knows, SPEC §4), but
    /// it is worth a warning: it may be a typo.
    pub(super) fn check(&self, name: &str) -> Result<(), String> {
        match self.origin(name) {
            Some(_) => Ok(()),
            None => Err(unset_variable(name)),
        }
    }

    /// Every variable the flow sets, with its setters.
    pub(super) fn set_variables(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.set_by.iter()
    }
}

/// The outcome of checking one node's `data`.
pub(super) struct NodeCheck {
    /// The settings, when every field was usable.
    pub(super) kind: Option<NodeKind>,
    /// Messages for the node's error key.
    pub(super) problems: Vec<String>,
    /// Variables its templates read, for `FlowGraph::variables`.
    pub(super) reads: Vec<String>,
    /// Messages that do not stop the flow from being saved (unset variables).
    pub(super) warnings: Vec<String>,
}

/// Reads typed fields out of `data`, collecting every problem rather than stopping.
struct Reader<'a> {
    data: &'a Map<String, Value>,
    scope: &'a Scope,
    problems: Vec<String>,
    reads: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    fn raw(&self, key: &str) -> Option<&'a Value> {
        self.data.get(key).filter(|v| !v.is_null())
    }

    fn text(&mut self, key: &str, required: bool) -> Option<String> {
        match self.raw(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) | None => {
                if required {
                    self.problems.push(format!("{key} is required"));
                }
                None
            }
            Some(_) => {
                self.problems.push(format!("{key} must be a string"));
                None
            }
        }
    }

    fn template(&mut self, key: &str, required: bool) -> Option<String> {
        let text = self.text(key, required)?;
        self.check_template(key, &text);
        Some(text)
    }

    fn check_template(&mut self, field: &str, text: &str) {
        for piece in scan(text) {
            match piece {
                Piece::Var(name) => {
                    if let Err(message) = self.scope.check(name) {
                        self.warnings.push(message);
                    }
                    self.reads.push(name.to_string());
                }
                Piece::Malformed(raw) => self.problems.push(format!(
                    "{field} has a malformed placeholder '{raw}': use {{{{name}}}} or {{{{contact.name}}}}"
                )),
                Piece::Text(_) => {}
            }
        }
    }

    fn check_templates_in(&mut self, field: &str, value: &Value) {
        match value {
            Value::String(s) => self.check_template(field, s),
            Value::Array(items) => items.iter().for_each(|v| self.check_templates_in(field, v)),
            Value::Object(map) => {
                for (k, v) in map {
                    self.check_templates_in(&format!("{field}.{k}"), v);
                }
            }
            _ => {}
        }
    }

    fn variable_name(&mut self, key: &str, required: bool) -> Option<String> {
        let name = self.text(key, required)?.trim().to_string();
        if !is_variable_name(&name) {
            self.problems.push(format!(
                "{key} '{name}' is not a valid variable name (letters, digits and _, dots for nesting)"
            ));
            return None;
        }
        if BUILT_IN.contains(&name.as_str()) {
            self.problems
                .push(format!("{key} '{name}' is built in; choose another name"));
            return None;
        }
        Some(name)
    }

    fn ask(&mut self) -> Option<NodeKind> {
        let question = self.template("question", true);
        let variable = self.variable_name("variable", true);
        let validation = self.validation();
        let retries = match self.raw("retries") {
            None => Some(DEFAULT_RETRIES),
            Some(v) => match v.as_u64().filter(|n| *n <= MAX_RETRIES) {
                Some(n) => u32::try_from(n).ok(),
                None => {
                    self.problems.push(format!(
                        "retries must be a whole number from 0 to {MAX_RETRIES}"
                    ));
                    None
                }
            },
        };
        Some(NodeKind::Ask(Ask {
            question: question?,
            variable: variable?,
            validation: validation?,
            retries: retries?,
        }))
    }

    fn validation(&mut self) -> Option<Validation> {
        let name = match self.raw("validation") {
            None => return Some(Validation::Free),
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(_) => {
                self.problems
                    .push("validation must be a string".to_string());
                return None;
            }
        };
        match name.as_str() {
            "" | "none" => Some(Validation::Free),
            "number" => Some(Validation::Number),
            "date" => Some(Validation::Date),
            "yes_no" => Some(Validation::YesNo),
            "regex" => {
                let source = self.text("pattern", true)?;
                match Pattern::full(&source) {
                    Ok(p) => Some(Validation::Regex(p)),
                    Err(e) => {
                        self.problems.push(format!(
                            "pattern is not a valid regex: {}",
                            regex_reason(&e)
                        ));
                        None
                    }
                }
            }
            "choice" => self.options().map(Validation::Choice),
            other => {
                self.problems.push(format!(
                    "validation '{other}' is not one of regex, number, date, yes_no, choice"
                ));
                None
            }
        }
    }

    fn options(&mut self) -> Option<Vec<String>> {
        let Some(Value::Array(items)) = self.raw("options") else {
            self.problems
                .push("options is required for choice validation: a list of strings".to_string());
            return None;
        };
        let mut options: Vec<String> = Vec::new();
        for item in items {
            match item.as_str().map(str::trim).filter(|s| !s.is_empty()) {
                Some(o) if options.iter().any(|p| p.eq_ignore_ascii_case(o)) => {
                    self.problems.push(format!("option '{o}' is listed twice"));
                    return None;
                }
                Some(o) => options.push(o.to_string()),
                None => {
                    self.problems
                        .push("options must be non-empty strings".to_string());
                    return None;
                }
            }
        }
        if options.is_empty() {
            self.problems
                .push("options must list at least one choice".to_string());
            return None;
        }
        Some(options)
    }

    fn tool(&mut self, ctx: &dyn FlowContext) -> Option<NodeKind> {
        let tool_id = self.text("tool_id", true).map(|t| t.trim().to_string());
        if let Some(id) = &tool_id
            && !ctx.tool_exists(id)
        {
            self.problems.push(format!("tool '{id}' does not exist"));
        }
        let args = match self.raw("args") {
            None => Some(Map::new()),
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    self.check_templates_in(&format!("args.{key}"), value);
                }
                Some(map.clone())
            }
            Some(_) => {
                self.problems.push("args must be an object".to_string());
                None
            }
        };
        // An invalid save_as is reported by `variable_name`, which makes the node unusable.
        let save_as = self.variable_name("save_as", false);
        Some(NodeKind::Tool {
            tool_id: tool_id?,
            args: args?,
            save_as,
        })
    }

    fn send_dtmf(&mut self) -> Option<NodeKind> {
        let digits = self.text("digits", true)?.trim().to_string();
        if digits.contains("{{") {
            self.check_template("digits", &digits);
        } else if let Err(reason) = crate::domain::dtmf::check_digits(&digits) {
            self.problems.push(format!("digits '{digits}' {reason}"));
            return None;
        }
        Some(NodeKind::SendDtmf { digits })
    }

    fn transfer(&mut self) -> Option<NodeKind> {
        let number = self.text("number", true)?.trim().to_string();
        if number.contains("{{") {
            self.check_template("number", &number);
        } else if !is_e164(&number) {
            self.problems.push(format!(
                "number '{number}' is not an E.164 phone number (like +14155550100) or a {{{{template}}}}"
            ));
            return None;
        }
        Some(NodeKind::Transfer { number })
    }
}

/// Checks one node's `data` for its declared type.
pub(super) fn check_node(
    doc: &NodeDoc,
    node_type: NodeType,
    scope: &Scope,
    ctx: &dyn FlowContext,
) -> NodeCheck {
    let empty = Map::new();
    let mut problems = Vec::new();
    let data = match &doc.data {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => {
            problems.push("data must be an object".to_string());
            &empty
        }
    };
    let mut r = Reader {
        data,
        scope,
        problems,
        reads: Vec::new(),
        warnings: Vec::new(),
    };
    let kind = match node_type {
        NodeType::Start => Some(NodeKind::Start),
        NodeType::Condition => Some(NodeKind::Condition),
        NodeType::Say => r.template("text", true).map(|text| NodeKind::Say { text }),
        NodeType::Ask => r.ask(),
        NodeType::Llm => {
            let prompt = r.template("prompt", true);
            let exit_condition = r.template("exit_condition", true);
            prompt
                .zip(exit_condition)
                .map(|(prompt, exit_condition)| NodeKind::Llm {
                    prompt,
                    exit_condition,
                })
        }
        NodeType::Tool => r.tool(ctx),
        NodeType::Knowledge => {
            let query_template = r.template("query_template", true);
            // Absent or blank means the default; an invalid name is reported (and voids the node).
            let save_as = r
                .variable_name("save_as", false)
                .unwrap_or_else(|| "knowledge".to_string());
            query_template.map(|query_template| NodeKind::Knowledge {
                query_template,
                save_as,
            })
        }
        NodeType::SendDtmf => r.send_dtmf(),
        NodeType::Transfer => r.transfer(),
        NodeType::End => Some(NodeKind::End {
            text: r.template("text", false),
        }),
    };
    // Any problem makes the node unusable, even when a value could be salvaged.
    let kind = if r.problems.is_empty() { kind } else { None };
    NodeCheck {
        kind,
        problems: r.problems,
        reads: r.reads,
        warnings: r.warnings,
    }
}

/// Reads an edge's raw `condition` (shapes documented on [`EdgeCondition`]).
pub(super) fn parse_condition(raw: Option<&Value>) -> Result<EdgeCondition, String> {
    const SHAPES: &str = "use \"default\", {\"on\": \"invalid\"}, {\"intent\": [...]} or {\"variable\": ..., \"op\": ..., \"value\": ...}";
    let map = match raw {
        None | Some(Value::Null) => return Ok(EdgeCondition::Always),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("default") => {
            return Ok(EdgeCondition::Default);
        }
        Some(Value::Object(map)) => map,
        Some(other) => return Err(format!("condition {other} is not understood: {SHAPES}")),
    };
    let has = |k: &str| map.contains_key(k);
    let kinds = [
        has("default"),
        has("on"),
        has("intent"),
        has("variable") || has("op"),
    ]
    .into_iter()
    .filter(|present| *present)
    .count();
    if kinds > 1 {
        return Err(format!("condition mixes several kinds: {SHAPES}"));
    }
    if let Some(d) = map.get("default") {
        return match d {
            Value::Bool(true) => Ok(EdgeCondition::Default),
            _ => Err("default must be true (remove it for a normal edge)".to_string()),
        };
    }
    if let Some(on) = map.get("on") {
        return match on.as_str() {
            Some("invalid") => Ok(EdgeCondition::OnInvalid),
            _ => Err("on must be \"invalid\", the only event an edge can wait for".to_string()),
        };
    }
    if let Some(intent) = map.get("intent") {
        let intents: Vec<String> = match intent {
            Value::String(s) => vec![s.trim().to_string()],
            Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(|s| s.trim().to_string()))
                .collect(),
            _ => Vec::new(),
        };
        let complete = matches!(intent, Value::String(_))
            || intent.as_array().is_some_and(|a| a.len() == intents.len());
        if intents.is_empty() || !complete || intents.iter().any(String::is_empty) {
            return Err("intent must be a non-empty list of intent names".to_string());
        }
        return Ok(EdgeCondition::Intent(intents));
    }
    if has("variable") || has("op") {
        return comparison(map).map(EdgeCondition::Compare);
    }
    if map.is_empty() {
        return Ok(EdgeCondition::Always);
    }
    Err(format!("condition is not understood: {SHAPES}"))
}

fn comparison(map: &Map<String, Value>) -> Result<Comparison, String> {
    let variable = match map.get("variable").and_then(Value::as_str).map(str::trim) {
        Some(v) if is_variable_name(v) => v.to_string(),
        Some(v) => return Err(format!("variable '{v}' is not a valid variable name")),
        None => return Err("variable is required (the name to compare)".to_string()),
    };
    let op_name = map.get("op").and_then(Value::as_str).unwrap_or_default();
    let op = Op::parse(op_name).ok_or_else(|| {
        format!(
            "op '{op_name}' is not one of eq, ne, gt, gte, lt, lte, contains, exists, in, matches"
        )
    })?;
    let value = map.get("value");
    let mut pattern = None;
    let value = match (op, value) {
        (Op::Exists, None | Some(Value::Null)) => Value::Bool(true),
        (Op::Exists, Some(Value::Bool(b))) => Value::Bool(*b),
        (Op::Exists, Some(_)) => return Err("value of exists must be true or false".to_string()),
        (Op::In, Some(Value::Array(items))) => Value::Array(items.clone()),
        (Op::In, _) => return Err("value of in must be a list".to_string()),
        (Op::Matches, Some(Value::String(s))) => {
            let compiled = Pattern::search(s)
                .map_err(|e| format!("value is not a valid regex: {}", regex_reason(&e)))?;
            pattern = Some(compiled);
            Value::String(s.clone())
        }
        (Op::Matches, _) => return Err("value of matches must be a regex string".to_string()),
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Some(v @ (Value::Number(_) | Value::String(_)))) => {
            v.clone()
        }
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, _) => {
            return Err(format!("value of {op_name} must be a number or a string"));
        }
        (_, Some(v)) => v.clone(),
        (_, None) => return Err(format!("value is required for op {op_name}")),
    };
    Ok(Comparison {
        variable,
        op,
        value,
        pattern,
    })
}

/// Variables an edge condition reads: its variable plus placeholders in string values.
pub(super) fn condition_reads(condition: &EdgeCondition) -> Vec<String> {
    let EdgeCondition::Compare(c) = condition else {
        return Vec::new();
    };
    let mut reads = vec![c.variable.clone()];
    let strings: Vec<&str> = match (&c.value, c.op) {
        (_, Op::Matches) => Vec::new(),
        (Value::String(s), _) => vec![s.as_str()],
        (Value::Array(items), _) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for s in strings {
        for piece in scan(s) {
            if let Piece::Var(name) = piece {
                reads.push(name.to_string());
            }
        }
    }
    reads
}

/// E.164: `+`, a non-zero digit, 7 to 15 digits in all.
pub(super) fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The one-line reason inside a regex error (its Display spans several lines).
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error:").map(str::trim))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}
