//! The inputs a call handles the same way with or without a model: the time limit, a
//! caller who interrupts or stays silent, voicemail, supervisors, transfers and keypad
//! digits.

use super::nlu::Intent;
use super::{Action, Conversation, reply};
use crate::engine::call::{EndReason, Role};
use crate::engine::llm::ChatMessage;

impl Conversation {
    pub(super) fn time_limit(&mut self, out: &mut (dyn FnMut(Action) + Send)) {
        self.speak(reply::TIME_LIMIT, out);
        self.finish(EndReason::MaxDuration, out);
    }

    pub(super) fn interrupted(&mut self, heard: String) {
        self.flush();
        if let Some(last) = self
            .transcript
            .iter_mut()
            .rev()
            .find(|e| e.role == Role::Agent)
        {
            last.text = heard.trim().to_owned();
            last.interrupted = true;
        }
    }

    pub(super) fn supervisor(&mut self, text: String) {
        self.record(Role::Supervisor, text.clone());
        self.history.push(ChatMessage::user(format!(
            "(A supervisor said to the caller: {text})"
        )));
    }

    /// The agent says a supervisor's `text` now, as its own line after whatever it was
    /// saying (the transport has cut that short), whether or not the call is taken over.
    pub(super) fn barge(&mut self, text: String, out: &mut (dyn FnMut(Action) + Send)) {
        self.flush();
        self.speak(&text, out);
    }

    pub(super) fn silence(&mut self, out: &mut (dyn FnMut(Action) + Send)) {
        if self.paused {
            return;
        }
        self.silences += 1;
        if self.silences >= 2 {
            self.speak(reply::SILENCE_END, out);
            self.finish(EndReason::SilenceTimeout, out);
            return;
        }
        let again = match &self.last_question {
            Some(q) => format!("{} {q}", reply::SILENCE_PROMPT),
            None => format!("{} How can I help you?", reply::SILENCE_PROMPT),
        };
        self.speak(&again, out);
    }

    pub(super) fn voicemail(&mut self, greeting: String, out: &mut (dyn FnMut(Action) + Send)) {
        use crate::domain::agent::VoicemailAction;
        if !greeting.trim().is_empty() {
            self.record(Role::User, greeting.trim().to_owned());
        }
        let leave = self
            .setup
            .agent
            .voicemail
            .as_ref()
            .filter(|v| v.action == VoicemailAction::LeaveMessage)
            .map(|v| {
                v.message
                    .as_deref()
                    .map(|m| crate::domain::flow::render(m, &self.vars))
                    .unwrap_or_else(|| reply::default_voicemail(&self.setup.agent.name))
            });
        match leave {
            Some(message) => {
                self.record(
                    Role::System,
                    "Voicemail detected: leaving a message.".into(),
                );
                self.speak(&message, out);
            }
            None => self.record(Role::System, "Voicemail detected: hanging up.".into()),
        }
        self.finish(EndReason::Voicemail, out);
    }

    /// Hands the call to `number`, or to the agent's transfer number; with neither, says so
    /// and ends the call (a caller is never left waiting for a transfer that cannot happen).
    /// Presses `digits` (already rendered) if they are valid keypad digits; a bad
    /// sequence is logged and skipped, never sent.
    pub(super) fn press(&mut self, digits: &str, out: &mut (dyn FnMut(Action) + Send)) {
        let digits = digits.trim();
        if let Err(reason) = crate::domain::dtmf::check_digits(digits) {
            tracing::warn!(call_id = %self.setup.call_id, digits, reason, "DTMF not sent");
            return;
        }
        self.record(Role::System, format!("Pressed {digits}."));
        out(Action::SendDtmf(digits.to_owned()));
    }

    pub(super) fn transfer(
        &mut self,
        number: Option<String>,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        self.note_intent(Intent::Transfer);
        let number = number.or_else(|| {
            self.setup
                .agent
                .transfer_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
        });
        match number {
            Some(number) => {
                self.speak(reply::TRANSFERRING, out);
                self.record(Role::System, format!("Transferred to {number}."));
                self.transferred_to = Some(number.clone());
                out(Action::Transfer { number });
                self.finish(EndReason::Transferred, out);
            }
            None => {
                self.speak(reply::NO_TRANSFER, out);
                self.finish(EndReason::AgentHungUp, out);
            }
        }
    }

    pub(super) async fn dtmf(&mut self, digit: char, out: &mut (dyn FnMut(Action) + Send)) {
        use crate::domain::agent::DtmfAction;
        self.record(Role::User, format!("(pressed {digit})"));
        if self.paused {
            // The supervisor holds the call: the digit is heard, the agent does nothing.
            return;
        }
        let rule = self
            .setup
            .agent
            .dtmf_rules
            .iter()
            .find(|r| r.digit.chars().eq(std::iter::once(digit)))
            .cloned();
        let Some(rule) = rule else {
            // No rule: the digit is an answer ("press 1 for yes" flows, numbers by keypad).
            self.answer(digit.to_string(), out).await;
            return;
        };
        match rule.action {
            DtmfAction::Transfer => self.transfer(rule.value, out),
            DtmfAction::EndCall => {
                self.speak(reply::GOODBYE, out);
                self.finish(EndReason::AgentHungUp, out);
            }
            DtmfAction::Say => {
                let text = rule.value.unwrap_or_default();
                let text = crate::domain::flow::render(&text, &self.vars);
                self.speak(&text, out);
            }
            DtmfAction::SendToNode => match (self.setup.flow.clone(), rule.value) {
                (Some(graph), Some(node)) if graph.node(&node).is_some() => {
                    self.attempt = 0;
                    self.run_flow(&graph, node, out).await;
                }
                _ => self.speak(reply::CANNOT_DO, out),
            },
        }
    }
}
