//! The report written by the agent's model: one structured-output request whose JSON
//! Schema is built from the agent's `data_extraction` fields, and a reply that is checked
//! and coerced before it becomes a [`Report`] (a model is not trusted to follow a schema:
//! a field of the wrong type becomes `null`; a reply without a summary or a known outcome
//! is refused, and the caller falls back to the offline analyser).

use serde_json::{Map, Value, json};

use super::{Outcome, Report, Sentiment};
use crate::domain::agent::{Agent, ExtractionField, ExtractionType};
use crate::engine::call::{CallOutcome, Role};
use crate::engine::llm::{
    ChatMessage, ChatModel, ChatRequest, LlmError, TurnLimits, complete_turn,
};

/// The transcript sent is cut to this many characters (its start and its end kept).
const MAX_TRANSCRIPT_CHARS: usize = 60_000;
/// The reply's length bound.
const MAX_REPORT_TOKENS: u32 = 1500;

const OUTCOMES: [&str; 11] = [
    "interested",
    "not_interested",
    "callback_requested",
    "do_not_call",
    "transfer_requested",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "hung_up",
    "completed",
];

/// The JSON Schema of the report `agent`'s calls get: `extracted_data` has one nullable
/// property per `data_extraction` field, typed as the field says.
pub fn report_schema(agent: &Agent) -> Value {
    let fields: Map<String, Value> = agent
        .data_extraction
        .iter()
        .map(|f| (f.name.clone(), field_schema(f)))
        .collect();
    let names: Vec<&str> = agent
        .data_extraction
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "Two or three sentences on what happened."},
            "outcome": {"type": "string", "enum": OUTCOMES},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "success": {"type": "boolean", "description": "Whether the call achieved the agent's goal."},
            "next_steps": {"type": "array", "items": {"type": "string"}},
            "extracted_data": {
                "type": "object",
                "properties": fields,
                "required": names,
                "additionalProperties": false,
            },
        },
        "required": ["summary", "outcome", "sentiment", "success", "next_steps", "extracted_data"],
        "additionalProperties": false,
    })
}

fn field_schema(field: &ExtractionField) -> Value {
    let mut schema = match field.kind {
        ExtractionType::String => json!({"type": ["string", "null"]}),
        ExtractionType::Number => json!({"type": ["number", "null"]}),
        ExtractionType::Boolean => json!({"type": ["boolean", "null"]}),
        ExtractionType::Date => json!({"type": ["string", "null"], "format": "date"}),
        ExtractionType::Enum => {
            let mut options: Vec<Value> = field
                .options
                .iter()
                .flatten()
                .map(|o| Value::String(o.clone()))
                .collect();
            options.push(Value::Null);
            json!({"type": ["string", "null"], "enum": options})
        }
    };
    let description = match &field.description {
        Some(d) => format!("{d} (null if the call did not reveal it)"),
        None => "null if the call did not reveal it".to_owned(),
    };
    schema["description"] = Value::String(description);
    schema
}

/// Asks `model` for the report of `call`, made by `agent`.
pub async fn analyse_with_model(
    model: &dyn ChatModel,
    agent: &Agent,
    call: &CallOutcome,
) -> Result<Report, LlmError> {
    let request = ChatRequest {
        model: String::new(),
        system: format!(
            "You analyse a finished phone call made by the AI agent \"{}\". Answer only with \
             the JSON object the schema describes. Use null for any extracted field the call \
             did not reveal; dates are YYYY-MM-DD.\n\nThe agent's instructions were:\n{}",
            agent.name, agent.system_prompt
        ),
        messages: vec![ChatMessage::user(call_text(call))],
        tools: Vec::new(),
        max_tokens: MAX_REPORT_TOKENS,
        temperature: Some(0.0),
        response_schema: Some(report_schema(agent)),
    };
    let limits = TurnLimits {
        max_rounds: 1,
        max_tool_calls: 0,
    };
    let turn = complete_turn(model, request, None, limits, &mut |_| {}).await?;
    parse_report(agent, &turn.text)
}

/// How the call went and its transcript, as the model reads them.
fn call_text(call: &CallOutcome) -> String {
    let reason = serde_json::to_value(call.end_reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut text = format!(
        "Answered: {}. Ended: {reason}. Duration: {} s.",
        call.answered,
        call.duration_ms / 1000
    );
    if !call.intents.is_empty() {
        text.push_str(&format!(" Recognised: {}.", call.intents.join(", ")));
    }
    if let Some(to) = &call.transferred_to {
        text.push_str(&format!(" Transferred to {to}."));
    }
    if call.variables.as_object().is_some_and(|v| !v.is_empty()) {
        text.push_str(&format!(" Collected: {}.", call.variables));
    }
    text.push_str("\n\nTranscript:\n");
    let lines: Vec<String> = call
        .transcript
        .iter()
        .map(|e| {
            let who = match e.role {
                Role::Agent => "agent",
                Role::User => "callee",
                Role::Supervisor => "supervisor",
                Role::System => "note",
                Role::Tool => "tool",
            };
            let cut = if e.interrupted { " [interrupted]" } else { "" };
            format!("{who}: {}{cut}\n", e.text)
        })
        .collect();
    let total: usize = lines.iter().map(String::len).sum();
    if total <= MAX_TRANSCRIPT_CHARS {
        lines.iter().for_each(|l| text.push_str(l));
        return text;
    }
    // Keep the opening and as much of the end as fits: both say most about the outcome.
    let (mut head, mut used) = (0, 0);
    while head < lines.len() && used + lines[head].len() <= MAX_TRANSCRIPT_CHARS / 3 {
        used += lines[head].len();
        head += 1;
    }
    let mut tail = lines.len();
    while tail > head && used + lines[tail - 1].len() <= MAX_TRANSCRIPT_CHARS {
        tail -= 1;
        used += lines[tail].len();
    }
    lines[..head].iter().for_each(|l| text.push_str(l));
    text.push_str(&format!("[… {} lines left out …]\n", tail - head));
    lines[tail..].iter().for_each(|l| text.push_str(l));
    text
}

/// Reads the model's reply: a JSON object (inside a code fence or prose, for servers
/// without structured output), coerced to the schema.
fn parse_report(agent: &Agent, text: &str) -> Result<Report, LlmError> {
    let unusable = |why: &str| LlmError::InvalidResponse(format!("the report reply {why}"));
    let json = match (text.find('{'), text.rfind('}')) {
        (Some(start), Some(end)) if start < end => &text[start..=end],
        _ => return Err(unusable("holds no JSON object")),
    };
    let reply: Map<String, Value> =
        serde_json::from_str(json).map_err(|_| unusable("is not a JSON object"))?;
    let summary = reply
        .get("summary")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unusable("has no summary"))?;
    let outcome: Outcome = reply
        .get("outcome")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .ok_or_else(|| unusable("has no known outcome"))?;
    let sentiment: Sentiment = reply
        .get("sentiment")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or(Sentiment::Neutral);
    let next_steps = reply
        .get("next_steps")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let extracted = reply.get("extracted_data").and_then(Value::as_object);
    let extracted_data = agent
        .data_extraction
        .iter()
        .map(|field| {
            let value = extracted
                .and_then(|e| e.get(&field.name))
                .map_or(Value::Null, |v| coerce(field, v));
            (field.name.clone(), value)
        })
        .collect();
    Ok(Report {
        summary: summary.to_owned(),
        outcome,
        sentiment,
        extracted_data,
        success: reply
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        next_steps,
    })
}

/// `value` if it has `field`'s type (an enum value matched to its option's spelling, a
/// date checked as a calendar date), else `null`.
fn coerce(field: &ExtractionField, value: &Value) -> Value {
    match (field.kind, value) {
        (ExtractionType::String, Value::String(s)) if !s.trim().is_empty() => {
            Value::String(s.trim().to_owned())
        }
        (ExtractionType::Number, Value::Number(_)) | (ExtractionType::Boolean, Value::Bool(_)) => {
            value.clone()
        }
        (ExtractionType::Date, Value::String(s)) => {
            match chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                Ok(date) => Value::String(date.format("%Y-%m-%d").to_string()),
                Err(_) => Value::Null,
            }
        }
        (ExtractionType::Enum, Value::String(s)) => field
            .options
            .iter()
            .flatten()
            .find(|o| o.eq_ignore_ascii_case(s.trim()))
            .map_or(Value::Null, |o| Value::String(o.clone())),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: ExtractionType, options: Option<&[&str]>) -> ExtractionField {
        ExtractionField {
            name: name.into(),
            kind,
            description: None,
            options: options.map(|o| o.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn wrong_types_become_null_and_enums_take_their_spelling() {
        let plan = field("plan", ExtractionType::Enum, Some(&["Basic", "Pro"]));
        assert_eq!(coerce(&plan, &json!("pro")), json!("Pro"));
        assert_eq!(coerce(&plan, &json!("gold")), Value::Null);
        let day = field("day", ExtractionType::Date, None);
        assert_eq!(coerce(&day, &json!("2026-02-28")), json!("2026-02-28"));
        assert_eq!(coerce(&day, &json!("2026-02-30")), Value::Null);
        assert_eq!(coerce(&day, &json!("next monday")), Value::Null);
        let n = field("n", ExtractionType::Number, None);
        assert_eq!(coerce(&n, &json!(3.5)), json!(3.5));
        assert_eq!(coerce(&n, &json!("3")), Value::Null);
        let b = field("b", ExtractionType::Boolean, None);
        assert_eq!(coerce(&b, &json!("yes")), Value::Null);
        let s = field("s", ExtractionType::String, None);
        assert_eq!(coerce(&s, &json!(12)), Value::Null);
    }

    #[test]
    fn enum_fields_are_nullable_enums_in_the_schema() {
        let plan = field("plan", ExtractionType::Enum, Some(&["Basic", "Pro"]));
        let schema = field_schema(&plan);
        assert_eq!(schema["enum"], json!(["Basic", "Pro", null]));
        let day = field_schema(&field("d", ExtractionType::Date, None));
        assert_eq!(day["format"], "date");
    }
}
