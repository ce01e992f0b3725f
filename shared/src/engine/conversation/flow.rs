//! Driving the agent's flow: the engine runs each node (speaks a `say`, asks an `ask`,
//! calls a `tool`, searches `knowledge`) and lets [`FlowGraph::next`] decide where to go,
//! so routing stays in the one pure walker the flow editor's tests cover.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::nlu::{self, Heard, Intent};
use super::{Action, Conversation, reply, tool_line};
use crate::domain::flow::{FlowGraph, NodeKind, Step, TurnInput, Validation, render, render_value};
use crate::engine::call::{EndReason, Role};

/// Nodes one turn may run before it must wait for the caller. A checked flow cannot dead
/// end, but it can loop through `say`/`condition` nodes; this stops such a loop with an
/// apology instead of a hung call.
const MAX_STEPS_PER_TURN: usize = 64;

impl Conversation {
    /// Runs the flow from node `at` until it must wait for the caller (an `ask` or `llm`
    /// node) or the call ends.
    pub(super) async fn run_flow(
        &mut self,
        graph: &Arc<FlowGraph>,
        mut at: String,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        for _ in 0..MAX_STEPS_PER_TURN {
            let Some(node) = graph.node(&at) else {
                return self.flow_failed(out);
            };
            let input = match &node.kind {
                NodeKind::Ask(ask) => {
                    let question = render(&ask.question, &self.vars);
                    self.ask(&question, out);
                    self.at = Some(at);
                    self.attempt = 0;
                    return;
                }
                NodeKind::Llm { .. } => {
                    self.at = Some(at);
                    return;
                }
                NodeKind::Say { text } => {
                    let text = render(text, &self.vars);
                    self.speak(&text, out);
                    TurnInput::default()
                }
                NodeKind::SendDtmf { digits } => {
                    let digits = render(digits, &self.vars);
                    self.press(&digits, out);
                    TurnInput::default()
                }
                NodeKind::Condition => self.condition_input(),
                NodeKind::Tool { tool_id, args, .. } => {
                    let args = render_value(&Value::Object(args.clone()), &self.vars);
                    TurnInput::result(self.run_tool(tool_id, args, out).await)
                }
                NodeKind::Knowledge { query_template, .. } => {
                    let query = render(query_template, &self.vars);
                    let found = self.lookup(&query).await;
                    TurnInput::result(match found {
                        Some(answer) => json!({"found": true, "answer": answer}),
                        None => json!({"found": false, "answer": Value::Null}),
                    })
                }
                NodeKind::Start | NodeKind::Transfer { .. } | NodeKind::End { .. } => {
                    TurnInput::default()
                }
            };
            match graph.next(&at, &input, &mut self.vars) {
                Ok(Step::Goto(next)) => at = next,
                Ok(step) => return self.flow_step(step, out),
                Err(e) => {
                    tracing::warn!(call_id = %self.setup.call_id, error = %e, "flow walk failed");
                    return self.flow_failed(out);
                }
            }
        }
        tracing::warn!(call_id = %self.setup.call_id, "flow looped without waiting for the caller");
        self.flow_failed(out);
    }

    /// The caller answered while the call waits at flow node `self.at`.
    pub(super) async fn flow_answer(
        &mut self,
        graph: &Arc<FlowGraph>,
        heard: Heard,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        let Some(at) = self.at.clone() else {
            // The flow has not started (no greeting yet) or has nothing left to wait for.
            return self.script_answer(heard, out).await;
        };
        let Some(node) = graph.node(&at) else {
            return self.flow_failed(out);
        };
        match &node.kind {
            NodeKind::Ask(ask) => {
                let utterance = match &ask.validation {
                    Validation::Free if ask.variable.contains("name") => {
                        nlu::extract_name(&heard.text).unwrap_or_else(|| heard.text.clone())
                    }
                    _ => heard.text.clone(),
                };
                let input = TurnInput::said(utterance)
                    .with_intents(heard.intent_names())
                    .at_attempt(self.attempt);
                let invalid = !matches!(
                    graph.next(&at, &input, &mut self.vars.clone()),
                    Ok(Step::Goto(_))
                );
                if invalid && heard.has(Intent::NotInterested) {
                    return self.close_not_interested(out);
                }
                if invalid && heard.has(Intent::Goodbye) {
                    self.speak(reply::GOODBYE, out);
                    return self.finish(EndReason::AgentHungUp, out);
                }
                if invalid && heard.question {
                    // Answer the caller's question, then ask ours again.
                    self.knowledge_reply(&heard.text, out).await;
                    if self.ended.is_none() && !self.offer_pending {
                        let question = render(&ask.question, &self.vars);
                        self.ask(&question, out);
                    }
                    return;
                }
                match graph.next(&at, &input, &mut self.vars) {
                    Ok(Step::Goto(next)) => {
                        self.at = None;
                        self.attempt = 0;
                        self.run_flow(graph, next, out).await;
                    }
                    Ok(Step::Reprompt {
                        attempt, reason, ..
                    }) => {
                        self.attempt = attempt;
                        let again = format!(
                            "{} {}",
                            reply::reprompt(reason),
                            render(&ask.question, &self.vars)
                        );
                        self.ask(&again, out);
                    }
                    Ok(step) => self.flow_step(step, out),
                    Err(_) => self.flow_failed(out),
                }
            }
            NodeKind::Llm {
                prompt,
                exit_condition,
            } => {
                let (prompt, exit_condition) = (prompt.clone(), exit_condition.clone());
                let exit = if self.setup.model.is_some() {
                    self.model_turn(Some(&prompt), Some(&exit_condition), &heard, out)
                        .await
                } else {
                    self.offline_llm_turn(&exit_condition, &heard, out).await
                };
                if self.ended.is_some() || !exit {
                    return;
                }
                match graph.next(&at, &TurnInput::exited(), &mut self.vars) {
                    Ok(Step::Goto(next)) => {
                        self.at = None;
                        self.run_flow(graph, next, out).await;
                    }
                    Ok(step) => self.flow_step(step, out),
                    Err(_) => self.flow_failed(out),
                }
            }
            _ => self.script_answer(heard, out).await,
        }
    }

    /// A condition node routes on the last utterance and its intents.
    fn condition_input(&self) -> TurnInput {
        let heard = &self.last_heard;
        TurnInput {
            utterance: (!heard.text.is_empty()).then(|| heard.text.clone()),
            intents: heard.intent_names(),
            ..TurnInput::default()
        }
    }

    /// Carries out a step that leaves the flow's normal course.
    fn flow_step(&mut self, step: Step, out: &mut (dyn FnMut(Action) + Send)) {
        match step {
            Step::Transfer { number } => self.transfer(Some(number), out),
            Step::End { text } => {
                if let Some(text) = text {
                    self.speak(&text, out);
                }
                self.finish(EndReason::AgentHungUp, out);
            }
            Step::Reprompt { node, .. } | Step::Goto(node) => {
                // `next` only reprompts for ask nodes, handled by the caller.
                tracing::warn!(call_id = %self.setup.call_id, node, "unexpected flow step");
                self.flow_failed(out);
            }
            Step::Stay => {}
        }
    }

    /// The flow cannot go on (an edited flow, a bad transfer template): apologise and hand
    /// the caller to a person when possible, rather than leave them in silence.
    fn flow_failed(&mut self, out: &mut (dyn FnMut(Action) + Send)) {
        self.speak(reply::TROUBLE, out);
        if self.setup.agent.transfer_number.is_some() {
            self.transfer(None, out);
        } else {
            self.speak(reply::GOODBYE, out);
            self.finish(EndReason::Error, out);
        }
    }

    /// Runs a flow tool node through the call's tool runner; a failure becomes
    /// `{"error": …}` so the flow can branch on it.
    async fn run_tool(
        &mut self,
        tool: &str,
        args: Value,
        out: &mut (dyn FnMut(Action) + Send),
    ) -> Value {
        let Some(runner) = self.setup.tools.clone() else {
            let result = json!({"error": format!("no tool named {tool} is available")});
            self.record(
                Role::Tool,
                format!("{tool}({args}) failed: no tools on this call"),
            );
            return result;
        };
        out(Action::RunTool {
            name: tool.to_owned(),
        });
        let started = Instant::now();
        let result = runner.call(tool, args.clone()).await;
        self.provider += started.elapsed();
        match result {
            Ok(output) => {
                let line = tool_line(tool, &args, &output.output.to_string(), false);
                self.record(Role::Tool, line);
                output.output
            }
            Err(e) => {
                let line = tool_line(tool, &args, &e.to_string(), true);
                self.record(Role::Tool, line);
                json!({"error": e.to_string()})
            }
        }
    }

    /// Closes the call politely for a caller who declined.
    pub(super) fn close_not_interested(&mut self, out: &mut (dyn FnMut(Action) + Send)) {
        self.speak(reply::NOT_INTERESTED, out);
        self.finish(EndReason::AgentHungUp, out);
    }
}
