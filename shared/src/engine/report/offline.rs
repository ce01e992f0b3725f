//! The offline analyser: a report from how the call ended, the intents the engine
//! recognised, the flow's collected variables and the transcript — no model, deterministic.
//! Typed extraction reads answers with the flow's own answer rules (dates, numbers,
//! yes/no, choices) so an `ask` node and the report agree.

use serde_json::{Map, Value};

use super::{Outcome, Report, Sentiment};
use crate::domain::agent::{Agent, ExtractionField, ExtractionType};
use crate::domain::flow::{Validation, Variables};
use crate::engine::call::{CallOutcome, EndReason, Role, TranscriptEntry};
use crate::engine::conversation::nlu::{self, normalise};
use crate::engine::knowledge::terms;

/// Words that make a caller's turn read positive or negative.
const POSITIVE: &[&str] = &[
    "great",
    "thanks",
    "thank",
    "wonderful",
    "perfect",
    "interested",
    "sure",
    "yes",
    "love",
    "excellent",
    "happy",
    "good",
];
const NEGATIVE: &[&str] = &[
    "stop",
    "annoying",
    "angry",
    "never",
    "not",
    "no",
    "busy",
    "don't",
    "hate",
    "terrible",
    "bad",
    "complaint",
];

pub(super) fn analyse(agent: &Agent, call: &CallOutcome) -> Report {
    let intents: Vec<&str> = call.intents.iter().map(String::as_str).collect();
    let said_anything = call.transcript.iter().any(|e| e.role == Role::User);
    let outcome = outcome(call.end_reason, &intents, said_anything);
    let vars = Variables::from(call.variables.as_object().cloned().unwrap_or_default());
    let extracted: Map<String, Value> = agent
        .data_extraction
        .iter()
        .map(|f| (f.name.clone(), extract(f, &vars, &call.transcript)))
        .collect();
    let all_found = extracted.values().all(|v| !v.is_null());
    let success = match outcome {
        Outcome::Interested => true,
        Outcome::Completed => {
            said_anything && all_found && call.end_reason == EndReason::AgentHungUp
        }
        _ => false,
    };
    Report {
        summary: summary(agent, call, outcome, &extracted),
        outcome,
        sentiment: sentiment(outcome, &call.transcript),
        next_steps: next_steps(outcome, call, &vars),
        extracted_data: extracted,
        success,
    }
}

/// The end reason decides for calls that never became a conversation; otherwise the
/// strongest intent heard (a do-not-call request outweighs everything else).
fn outcome(end: EndReason, intents: &[&str], said_anything: bool) -> Outcome {
    match end {
        EndReason::Busy => return Outcome::Busy,
        EndReason::NoAnswer => return Outcome::NoAnswer,
        EndReason::Voicemail => return Outcome::Voicemail,
        EndReason::CarrierError
        | EndReason::Error
        | EndReason::RunnerLost
        | EndReason::Cancelled => {
            return Outcome::Failed;
        }
        _ => {}
    }
    let heard = |name: &str| intents.contains(&name);
    if heard("do_not_call") {
        Outcome::DoNotCall
    } else if heard("callback") {
        Outcome::CallbackRequested
    } else if heard("transfer") || end == EndReason::Transferred {
        Outcome::TransferRequested
    } else if heard("not_interested") {
        Outcome::NotInterested
    } else if heard("interested") {
        Outcome::Interested
    } else if !said_anything {
        // Answered but never spoke (a silent line, an immediate hang-up): worth a retry.
        if end == EndReason::CalleeHungUp {
            Outcome::HungUp
        } else {
            Outcome::NoAnswer
        }
    } else if end == EndReason::CalleeHungUp {
        Outcome::HungUp
    } else {
        Outcome::Completed
    }
}

fn sentiment(outcome: Outcome, transcript: &[TranscriptEntry]) -> Sentiment {
    match outcome {
        Outcome::DoNotCall => return Sentiment::Negative,
        Outcome::Interested => return Sentiment::Positive,
        _ => {}
    }
    let mut score = 0i32;
    for entry in transcript.iter().filter(|e| e.role == Role::User) {
        let norm = normalise(&entry.text);
        for word in norm.split_whitespace() {
            if POSITIVE.contains(&word) {
                score += 1;
            } else if NEGATIVE.contains(&word) {
                score -= 1;
            }
        }
    }
    match score {
        s if s >= 2 => Sentiment::Positive,
        s if s <= -2 => Sentiment::Negative,
        _ => Sentiment::Neutral,
    }
}

fn summary(
    agent: &Agent,
    call: &CallOutcome,
    outcome: Outcome,
    data: &Map<String, Value>,
) -> String {
    if !call.answered {
        let why = match call.end_reason {
            EndReason::Busy => "the line was busy",
            EndReason::NoAnswer => "nobody answered",
            EndReason::CarrierError => "the carrier failed before it rang",
            EndReason::Cancelled => "it was cancelled",
            _ => "it failed",
        };
        return format!("{}'s call did not connect: {why}.", agent.name);
    }
    let user_turns = call
        .transcript
        .iter()
        .filter(|e| e.role == Role::User)
        .count();
    let seconds = call.duration_ms.div_ceil(1000);
    let mut text = format!(
        "{} spoke with the callee for {seconds} seconds; the callee took {user_turns} turns.",
        agent.name
    );
    text.push(' ');
    text.push_str(match outcome {
        Outcome::Interested => "The callee was interested.",
        Outcome::NotInterested => "The callee declined politely.",
        Outcome::CallbackRequested => "The callee asked to be called back.",
        Outcome::DoNotCall => "The callee asked not to be called again.",
        Outcome::TransferRequested if call.transferred_to.is_some() => {
            "The callee asked for a person and was transferred."
        }
        Outcome::TransferRequested => {
            "The callee asked for a person, but no one could take the call."
        }
        Outcome::Voicemail => "The call reached voicemail.",
        Outcome::HungUp => "The callee hung up early.",
        Outcome::NoAnswer => "The callee never spoke.",
        _ => match call.end_reason {
            EndReason::MaxDuration => "The call reached its time limit.",
            EndReason::SilenceTimeout => "The call ended after a long silence.",
            _ => "The conversation ran its course.",
        },
    });
    let found: Vec<String> = data
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(s) => format!("{} {s}", k.replace('_', " ")),
            other => format!("{} {other}", k.replace('_', " ")),
        })
        .collect();
    if !found.is_empty() {
        text.push_str(&format!(" Collected: {}.", found.join(", ")));
    }
    text
}

fn next_steps(outcome: Outcome, call: &CallOutcome, vars: &Variables) -> Vec<String> {
    let step = match outcome {
        Outcome::DoNotCall => {
            "Add the contact to the do-not-call list; do not call again.".to_owned()
        }
        Outcome::CallbackRequested => match vars.get("callback_when").and_then(Value::as_str) {
            Some(when) => format!("Call the contact back {when}."),
            None => "Call the contact back later.".to_owned(),
        },
        Outcome::TransferRequested if call.transferred_to.is_none() => {
            "Have a person call the contact back.".to_owned()
        }
        Outcome::Interested => "Follow up with the offer or confirm the booking.".to_owned(),
        Outcome::Voicemail | Outcome::NoAnswer | Outcome::Busy => {
            "Try the call again later.".to_owned()
        }
        Outcome::Failed => "Check the number and the channel, then retry.".to_owned(),
        Outcome::HungUp => "Consider one more attempt at another time.".to_owned(),
        _ => return Vec::new(),
    };
    vec![step]
}

/// A field's value: from the flow variable of the same name when the flow collected it,
/// else read from the caller's answer to the agent's question about it, else `null`.
fn extract(field: &ExtractionField, vars: &Variables, transcript: &[TranscriptEntry]) -> Value {
    if let Some(value) = vars.get(&field.name).filter(|v| !v.is_null())
        && let Some(typed) = coerce(field, value, vars)
    {
        return typed;
    }
    answers_about(field, transcript)
        .into_iter()
        .rev()
        .find_map(|text| read(field, text, vars))
        .unwrap_or(Value::Null)
}

/// The caller's replies to the agent's lines that mention the field (its name's or
/// description's words), in call order; every caller line when none does, for the types
/// that can only match a fitting answer (dates, options). Not numbers: "the pro one" would
/// read as 1.
fn answers_about<'a>(field: &ExtractionField, transcript: &'a [TranscriptEntry]) -> Vec<&'a str> {
    let mut keys = terms(&field.name.replace('_', " "));
    keys.extend(terms(field.description.as_deref().unwrap_or_default()));
    let mut replies = Vec::new();
    for (i, entry) in transcript.iter().enumerate() {
        if entry.role != Role::Agent {
            continue;
        }
        let said = terms(&entry.text);
        if !keys.iter().any(|k| said.contains(k)) {
            continue;
        }
        if let Some(reply) = transcript[i + 1..]
            .iter()
            .take_while(|e| e.role != Role::Agent)
            .find(|e| e.role == Role::User)
        {
            replies.push(reply.text.as_str());
        }
    }
    let type_checked = matches!(field.kind, ExtractionType::Date | ExtractionType::Enum);
    if replies.is_empty() && type_checked {
        replies = transcript
            .iter()
            .filter(|e| e.role == Role::User)
            .map(|e| e.text.as_str())
            .collect();
    }
    replies
}

/// Reads a field's type from a caller's words.
fn read(field: &ExtractionField, text: &str, vars: &Variables) -> Option<Value> {
    match field.kind {
        ExtractionType::String => {
            let wants_name = field.name.contains("name");
            let value = if wants_name {
                nlu::extract_name(text)?
            } else {
                text.trim().trim_end_matches(['.', '!', '?']).to_owned()
            };
            (!value.is_empty()).then_some(Value::String(value))
        }
        ExtractionType::Number => nlu::read_as(&Validation::Number, text, vars),
        ExtractionType::Boolean => nlu::read_as(&Validation::YesNo, text, vars),
        ExtractionType::Date => nlu::read_as(&Validation::Date, text, vars),
        ExtractionType::Enum => {
            let options = field.options.clone().unwrap_or_default();
            nlu::read_as(&Validation::Choice(options), text, vars)
        }
    }
}

/// A collected variable as the field's type (`"42"` → 42 for a number, `"yes"` → true).
fn coerce(field: &ExtractionField, value: &Value, vars: &Variables) -> Option<Value> {
    match (field.kind, value) {
        (ExtractionType::String, Value::String(_)) => Some(value.clone()),
        (ExtractionType::String, Value::Number(_) | Value::Bool(_)) => {
            Some(Value::String(value.to_string()))
        }
        (ExtractionType::Number, Value::Number(_)) | (ExtractionType::Boolean, Value::Bool(_)) => {
            Some(value.clone())
        }
        (_, Value::String(text)) => read(field, text, vars),
        _ => None,
    }
}
