//! Query rewriting: a caller's "what about Saturdays then?" searched as the question
//! it stands for ("What are your opening hours on Saturdays?"), written by the call's
//! language model from the conversation so far.
//!
//! Only follow-ups are rewritten ([`needs_context`]): a question that stands on its own
//! is searched as said, so most turns pay no extra model round-trip. Any failure — no
//! reply within the budget, an error, an empty or rambling answer — searches the raw
//! words: rewriting can only help a lookup, never block it.

use std::time::Duration;

use crate::engine::conversation::nlu::is_question;
use crate::engine::llm::{ChatMessage, ChatModel, ChatRequest, TurnLimits, complete_turn};

/// How long a rewrite may take before the raw words are searched instead.
pub const REWRITE_BUDGET: Duration = Duration::from_millis(1_500);
/// The longest rewritten query kept (a longer answer is not a query).
const MAX_QUERY_CHARS: usize = 300;
/// How many earlier lines of the conversation the model sees.
const CONTEXT_LINES: usize = 6;

const INSTRUCTION: &str = "You rewrite a phone caller's last message as one standalone search \
query for the business's documents. Resolve what it refers to from the conversation (\"then\", \
\"that\", \"it\", \"what about …\"). Keep names, numbers and plan or product names exactly. \
Answer with the query only, on one line, without quotes.";

/// Words that make a short message lean on what came before.
const REFERRING: [&str; 14] = [
    "it", "that", "this", "those", "these", "them", "there", "then", "one", "ones", "same", "also",
    "too", "else",
];
/// Openings of a follow-up.
const FOLLOW_UP_OPENINGS: [&str; 8] = [
    "and ",
    "what about",
    "how about",
    "what if",
    "or ",
    "but ",
    "so ",
    "same for",
];

/// Whether `utterance` needs the conversation to be understood: a short message that
/// opens like a follow-up, or a short question that points back with a referring word.
/// A statement that points back ("No, that is not what I ordered.") is searched as
/// said: rewriting it would cost the caller a model round trip before the answer for
/// little the search can use.
pub fn needs_context(utterance: &str) -> bool {
    let lowered = utterance.trim().to_lowercase();
    if FOLLOW_UP_OPENINGS.iter().any(|o| lowered.starts_with(o)) {
        return true;
    }
    let words: Vec<&str> = lowered
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    is_question(&lowered) && words.len() <= 8 && words.iter().any(|w| REFERRING.contains(w))
}

/// One line of the conversation the rewrite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The caller.
    Caller,
    /// The agent.
    Agent,
}

/// Asks `model` for `utterance` as a standalone query, given the conversation before it
/// (oldest first; only the last few lines are sent). `None` when it did not answer within
/// `budget` or answered something that is not a query.
pub async fn rewrite_query(
    model: &dyn ChatModel,
    earlier: &[(Speaker, String)],
    utterance: &str,
    budget: Duration,
) -> Option<String> {
    let context: Vec<String> = earlier
        .iter()
        .rev()
        .take(CONTEXT_LINES)
        .rev()
        .map(|(who, text)| match who {
            Speaker::Caller => format!("Caller: {text}"),
            Speaker::Agent => format!("Agent: {text}"),
        })
        .collect();
    let request = ChatRequest {
        system: INSTRUCTION.to_owned(),
        messages: vec![ChatMessage::user(format!(
            "Conversation:\n{}\n\nCaller's last message: {utterance}",
            context.join("\n")
        ))],
        max_tokens: 80,
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let limits = TurnLimits {
        max_rounds: 1,
        max_tool_calls: 0,
    };
    let mut ignore = |_: &str| {};
    let turn = complete_turn(model, request, None, limits, &mut ignore);
    let reply = match tokio::time::timeout(budget, turn).await {
        Ok(Ok(turn)) => turn.text,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "query rewrite failed; searching the raw words");
            return None;
        }
        Err(_) => {
            tracing::debug!("query rewrite timed out; searching the raw words");
            return None;
        }
    };
    clean(&reply)
}

/// The model's answer as a query: first line, quotes and a `Query:` label removed.
fn clean(reply: &str) -> Option<String> {
    let line = reply.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .strip_prefix("Query:")
        .or_else(|| line.strip_prefix("query:"))
        .unwrap_or(line)
        .trim()
        .trim_matches(['"', '\'', '“', '”'])
        .trim();
    (!line.is_empty() && line.chars().count() <= MAX_QUERY_CHARS).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_need_context_and_whole_questions_do_not() {
        for follow_up in [
            "What about Saturdays then?",
            "and how much is that?",
            "Is it the same for kids?",
            "Can I pay for it monthly?",
            "How about the Fibre 900 one",
            "Tell me more about that one",
            "did that include the fitting",
        ] {
            assert!(needs_context(follow_up), "{follow_up}");
        }
        for whole in [
            "What time do you close on Fridays?",
            "How much is a filling for a child under twelve?",
            "Do you have parking near the Bond Street office?",
        ] {
            assert!(!needs_context(whole), "{whole}");
        }
        for statement in ["No, that is not what I ordered.", "I'll take that one"] {
            assert!(!needs_context(statement), "{statement}");
        }
    }

    #[test]
    fn the_answer_is_cleaned_into_one_query_or_refused() {
        assert_eq!(
            clean("Query: \"Saturday opening hours\"\n(I resolved 'then')").as_deref(),
            Some("Saturday opening hours")
        );
        assert_eq!(clean("  \n "), None);
        assert_eq!(clean(&"word ".repeat(100)), None);
    }
}
