//! Walking a parsed flow: a pure step function the conversation engine drives.
//!
//! The engine runs the node it is at (speaks a `say`, asks an `ask`, converses in an `llm`,
//! calls the tool of a `tool`, ...), gathers what happened into a [`TurnInput`] and calls
//! [`FlowGraph::next`], which updates the variables and says where to go. Nothing here does
//! I/O or reads the clock, so a whole call can be replayed in a test.

use std::cmp::Ordering;

use serde_json::Value;

use super::FlowGraph;
use super::answer::{self, InvalidAnswer};
use super::fields::is_e164;
use super::model::{Comparison, EdgeCondition, NodeKind, Op, Route};
use super::template::{Variables, render, render_value, to_text};

/// What happened while the engine ran the current node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnInput {
    /// The caller's transcribed words (ask answers); `None` for silence.
    pub utterance: Option<String>,
    /// Intents the engine detected in the last utterance (condition nodes route on them).
    pub intents: Vec<String>,
    /// For llm nodes: the engine judged the exit condition met.
    pub exit: bool,
    /// For tool and knowledge nodes: what the tool or search returned. On failure pass
    /// something like `{"error": "..."}` so a later condition can branch on `x.error exists`.
    pub result: Option<Value>,
    /// For ask nodes: invalid answers already given at this node, i.e. the `attempt` of the
    /// last [`Step::Reprompt`] (0 on the first answer). The engine keeps it between turns so
    /// the walker stays stateless.
    pub attempt: u32,
}

impl TurnInput {
    /// The caller said `text`.
    pub fn said(text: impl Into<String>) -> TurnInput {
        TurnInput {
            utterance: Some(text.into()),
            ..TurnInput::default()
        }
    }

    /// The llm node's exit condition is met.
    pub fn exited() -> TurnInput {
        TurnInput {
            exit: true,
            ..TurnInput::default()
        }
    }

    /// A tool or knowledge node produced `value`.
    pub fn result(value: Value) -> TurnInput {
        TurnInput {
            result: Some(value),
            ..TurnInput::default()
        }
    }

    /// Adds detected intents.
    pub fn with_intents<S: Into<String>>(
        mut self,
        intents: impl IntoIterator<Item = S>,
    ) -> TurnInput {
        self.intents = intents.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the number of invalid answers already given at this ask node.
    pub fn at_attempt(mut self, attempt: u32) -> TurnInput {
        self.attempt = attempt;
        self
    }
}

/// Where the call goes after a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run this node next.
    Goto(String),
    /// The answer was invalid and retries remain: ask `node` again, telling the caller why.
    /// Pass `attempt` back in [`TurnInput::attempt`] with the next answer.
    Reprompt {
        /// The ask node to repeat.
        node: String,
        /// Invalid answers so far (1 after the first).
        attempt: u32,
        /// What was wrong with the answer.
        reason: InvalidAnswer,
    },
    /// The llm node goes on: keep conversing and call `next` again after the next turn.
    Stay,
    /// Transfer the call to this E.164 number.
    Transfer {
        /// The rendered, checked number.
        number: String,
    },
    /// Hang up, after speaking `text` if there is one. Also where an ask whose retries ran
    /// out goes when it has no `on: invalid` edge.
    End {
        /// Rendered closing sentence.
        text: Option<String>,
    },
}

/// Mistakes in how the engine drives the walk (the graph itself is already checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// The engine named a node that is not in this flow (stale state after an edit?).
    #[error("the flow has no node '{0}'")]
    UnknownNode(String),
    /// A tool or knowledge node that stores its result was walked without one.
    #[error("node '{node}' stores its result but TurnInput::result is empty")]
    MissingResult {
        /// The tool or knowledge node.
        node: String,
    },
    /// A templated transfer number did not render to a phone number during this call.
    #[error("transfer node '{node}' rendered '{number}', which is not an E.164 phone number")]
    InvalidTransferNumber {
        /// The transfer node.
        node: String,
        /// What the template rendered to.
        number: String,
    },
}

impl FlowGraph {
    /// Decides the next step after the engine ran node `at`, storing answers and results in
    /// `vars`. Semantics per node type:
    ///
    /// - start, say, send_dtmf: follow the single edge.
    /// - ask: validate `input.utterance`; valid → store the typed value under `variable`
    ///   and follow the edge; invalid → [`Step::Reprompt`] while `input.attempt < retries`,
    ///   then the `on: invalid` edge if any, else [`Step::End`].
    /// - llm: [`Step::Stay`] until `input.exit`, then follow the edge.
    /// - condition: the first outgoing edge (editor order) whose condition holds, else the
    ///   default edge.
    /// - tool, knowledge: store `input.result` under `save_as`, then follow the edge.
    /// - transfer: [`Step::Transfer`] with the rendered number; end: [`Step::End`].
    pub fn next(
        &self,
        at: &str,
        input: &TurnInput,
        vars: &mut Variables,
    ) -> Result<Step, WalkError> {
        let i = *self
            .index
            .get(at)
            .ok_or_else(|| WalkError::UnknownNode(at.to_string()))?;
        let (node, route) = match (self.nodes.get(i), self.routes.get(i)) {
            (Some(node), Some(route)) => (node, route),
            _ => return Err(WalkError::UnknownNode(at.to_string())),
        };
        let goto = |t: usize| {
            self.nodes
                .get(t)
                .map(|n| Step::Goto(n.id.clone()))
                .ok_or_else(|| WalkError::UnknownNode(format!("#{t}")))
        };
        match route {
            Route::Terminal => match &node.kind {
                NodeKind::Transfer { number } => {
                    let rendered = render(number, vars);
                    let compact: String = rendered
                        .chars()
                        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
                        .collect();
                    if is_e164(&compact) {
                        Ok(Step::Transfer { number: compact })
                    } else {
                        Err(WalkError::InvalidTransferNumber {
                            node: node.id.clone(),
                            number: rendered,
                        })
                    }
                }
                NodeKind::End { text } => Ok(Step::End {
                    text: text.as_ref().map(|t| render(t, vars)),
                }),
                _ => Ok(Step::End { text: None }),
            },
            Route::Ask { ok, invalid } => {
                let NodeKind::Ask(ask) = &node.kind else {
                    return goto(*ok);
                };
                match answer::check(&ask.validation, input.utterance.as_deref(), vars) {
                    Ok(value) => {
                        vars.set(&ask.variable, value);
                        goto(*ok)
                    }
                    Err(reason) if input.attempt < ask.retries => Ok(Step::Reprompt {
                        node: node.id.clone(),
                        attempt: input.attempt + 1,
                        reason,
                    }),
                    Err(_) => match invalid {
                        Some(t) => goto(*t),
                        None => Ok(Step::End { text: None }),
                    },
                }
            }
            Route::Branch { arms, default } => {
                let chosen = arms
                    .iter()
                    .find(|(e, _)| {
                        self.edges
                            .get(*e)
                            .is_some_and(|edge| holds(&edge.condition, input, vars))
                    })
                    .map_or(*default, |(_, t)| *t);
                goto(chosen)
            }
            Route::Next(t) => match &node.kind {
                NodeKind::Llm { .. } if !input.exit => Ok(Step::Stay),
                NodeKind::Tool {
                    save_as: Some(name),
                    ..
                }
                | NodeKind::Knowledge { save_as: name, .. } => {
                    let result = input
                        .result
                        .clone()
                        .ok_or_else(|| WalkError::MissingResult {
                            node: node.id.clone(),
                        })?;
                    vars.set(name, result);
                    goto(*t)
                }
                _ => goto(*t),
            },
        }
    }
}

/// Whether a condition-node edge is taken.
fn holds(condition: &EdgeCondition, input: &TurnInput, vars: &Variables) -> bool {
    match condition {
        EdgeCondition::Intent(wanted) => input
            .intents
            .iter()
            .any(|got| wanted.iter().any(|w| w.eq_ignore_ascii_case(got.trim()))),
        EdgeCondition::Compare(c) => compare(c, vars),
        EdgeCondition::Always | EdgeCondition::Default => true,
        EdgeCondition::OnInvalid => false,
    }
}

/// Evaluates `{variable, op, value}`. A variable that is missing, null or blank text counts
/// as absent (CSV imports leave empty cells as ""): only `ne` and `exists: false` hold then.
fn compare(c: &Comparison, vars: &Variables) -> bool {
    let left = vars.get(&c.variable).filter(|v| match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    });
    let right = render_value(&c.value, vars);
    let ordered =
        |want: fn(Ordering) -> bool| left.and_then(|l| order(l, &right)).is_some_and(want);
    match c.op {
        Op::Exists => left.is_some() == right.as_bool().unwrap_or(true),
        Op::Eq => left.is_some_and(|l| loose_eq(l, &right)),
        Op::Ne => !left.is_some_and(|l| loose_eq(l, &right)),
        Op::Gt => ordered(Ordering::is_gt),
        Op::Gte => ordered(Ordering::is_ge),
        Op::Lt => ordered(Ordering::is_lt),
        Op::Lte => ordered(Ordering::is_le),
        Op::Contains => left.is_some_and(|l| contains(l, &right)),
        Op::In => right
            .as_array()
            .is_some_and(|items| left.is_some_and(|l| items.iter().any(|r| loose_eq(l, r)))),
        Op::Matches => {
            left.is_some_and(|l| c.pattern.as_ref().is_some_and(|p| p.is_match(&to_text(l))))
        }
    }
}

/// A number, or text that is one ("42", " 3.5 "); flows compare answers and CSV data that
/// arrive as text.
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// A boolean, or text that clearly is one ("true", "yes", "no").
fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Equality across the types answers and context data come in: booleans with yes/no text,
/// numbers with numeric text, text case-insensitively; anything else structurally.
fn loose_eq(a: &Value, b: &Value) -> bool {
    if a.is_boolean() || b.is_boolean() {
        return matches!((as_bool(a), as_bool(b)), (Some(x), Some(y)) if x == y);
    }
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x == y;
    }
    match (a, b) {
        (Value::String(_) | Value::Number(_), Value::String(_) | Value::Number(_)) => {
            to_text(a).trim().to_lowercase() == to_text(b).trim().to_lowercase()
        }
        _ => a == b,
    }
}

/// Numbers order numerically, other text lexically (case-insensitive, so ISO dates order
/// by time); mixed kinds do not order at all.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        (None, None) => match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
            _ => None,
        },
        _ => None,
    }
}

/// Substring of text (case-insensitive), element of a list, or key of an object.
fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::String(s) => s.to_lowercase().contains(&to_text(needle).to_lowercase()),
        Value::Array(items) => items.iter().any(|item| loose_eq(item, needle)),
        Value::Object(map) => needle.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}
