//! `GET /ai-suggest?conversation_id=`: a reply drafted for a person of the
//! org to review and send, from the conversation so far and the knowledge
//! base, with the passages it used.
//!
//! The conversation's agent drafts it (the agent of its latest call, else
//! its channel's default agent) with its own model and prompt. Without a
//! model — test mode, the offline engine, a provider that fails — the
//! draft is put together from the best passage, so the feature works with
//! no network and no keys.

use std::time::Duration;

use super::load_visible;
use crate::App;
use crate::domain::Tenant;
use crate::domain::agent::Agent;
use crate::domain::conversation::{Author, Conversation, Message, MessageType};
use crate::engine::llm::{ChatMessage, ChatModel, ChatRequest, TurnLimits, complete_turn};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::knowledge::{QueryHit, SearchRequest};
use crate::services::table_keys::messages_prefix;
use crate::services::views::SuggestionView;
use crate::store::Query;

/// Messages of the conversation the draft is written from (the latest).
const HISTORY: usize = 20;
/// Passages looked up for it.
const SOURCES: usize = 3;
/// Longest wait for the model.
const MODEL_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest draft the model may write.
const MAX_TOKENS: u32 = 400;
/// How much of a passage the offline draft quotes.
const QUOTE_CHARS: usize = 400;

/// `GET /ai-suggest?conversation_id=`.
pub async fn suggest(app: &App, caller: &Caller, id: &str) -> Result<SuggestionView> {
    let (c, _) = load_visible(app, caller, id).await?;
    let tenant = &caller.tenant;
    let history = recent_texts(app, tenant, &c.id).await?;
    let Some(question) = history
        .iter()
        .rev()
        .find(|m| m.author == Author::Contact)
        .map(|m| m.content.clone())
    else {
        return Err(Error::field(
            "conversation_id",
            "has no message from the customer to answer yet",
        ));
    };
    let agent = agent_of(app, tenant, &c).await?;
    let sources = crate::services::knowledge::search(
        app,
        tenant,
        &SearchRequest {
            query: question.clone(),
            top_k: SOURCES,
            voice_mode: false,
            agent_id: agent.as_ref().map(|a| a.id.clone()),
            document_ids: None,
            min_score: crate::services::knowledge::min_score(app, tenant.mode).await,
        },
    )
    .await?;
    let model = match &agent {
        Some(agent) => crate::engine::llm::resolve::model_for(app, tenant, &agent.llm_model)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no model for the suggestion; drafting offline");
                None
            }),
        None => None,
    };
    if let (Some(model), Some(agent)) = (model, &agent) {
        match drafted(model.as_ref(), agent, &history, &sources).await {
            Ok(text) if !text.trim().is_empty() => {
                return Ok(SuggestionView {
                    suggestion: text.trim().to_owned(),
                    sources,
                    drafted_by: model.name().to_owned(),
                });
            }
            Ok(_) => {
                tracing::warn!(conversation = %c.id, "the model drafted nothing; drafting offline")
            }
            Err(why) => tracing::warn!(conversation = %c.id, error = %why,
                "the model could not draft the suggestion; drafting offline"),
        }
    }
    Ok(SuggestionView {
        suggestion: offline_draft(&sources),
        sources,
        drafted_by: "offline".into(),
    })
}

/// The latest text messages (notes left out), oldest first.
async fn recent_texts(app: &App, tenant: &Tenant, id: &str) -> Result<Vec<Message>> {
    let query = Query::partition(tenant.pk())
        .prefix(messages_prefix(id))
        .backward()
        .limit(HISTORY * 2);
    let page = app.table.query(query).await?;
    let mut texts: Vec<Message> = page
        .items
        .iter()
        .filter_map(|i| i.parse::<Message>().ok())
        .filter(|m| m.message_type == MessageType::Text)
        .take(HISTORY)
        .collect();
    texts.reverse();
    Ok(texts)
}

/// The agent answering in the conversation: its latest call's, else its
/// channel's default agent; none when neither exists any more.
async fn agent_of(app: &App, tenant: &Tenant, c: &Conversation) -> Result<Option<Agent>> {
    let mut agent_id = None;
    if let Some(call) = c.call_ids.last() {
        agent_id = found(crate::services::calls::load(app, tenant, call).await)?
            .map(|(call, _)| call.agent_id);
    }
    if agent_id.is_none()
        && let Some(channel) = &c.channel_id
    {
        agent_id = found(crate::services::channels::load(app, tenant, channel).await)?
            .and_then(|(channel, _)| channel.default_agent_id);
    }
    match agent_id {
        Some(id) => Ok(found(crate::services::agents::load(app, tenant, &id).await)?.map(|a| a.0)),
        None => Ok(None),
    }
}

/// `Ok(None)` for a 404.
fn found<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The agent's model writes the draft.
async fn drafted(
    model: &dyn ChatModel,
    agent: &Agent,
    history: &[Message],
    sources: &[QueryHit],
) -> std::result::Result<String, String> {
    let mut system = format!(
        "{}\n\nYou are drafting the next reply of this conversation for a person of the \
         support team, who will review it before sending it to the customer. Answer the \
         customer's latest message in the conversation's language, briefly and politely. Use \
         the knowledge passages below when they are relevant and never invent facts they do \
         not support. Write only the message text.",
        agent.system_prompt
    );
    for (n, s) in sources.iter().enumerate() {
        system.push_str(&format!("\n\n[{}] {}: {}", n + 1, s.document_name, s.text));
    }
    let messages = history
        .iter()
        .map(|m| match m.author {
            Author::Contact => ChatMessage::user(m.content.clone()),
            _ => ChatMessage::assistant(m.content.clone(), Vec::new()),
        })
        .collect();
    let request = ChatRequest {
        model: String::new(),
        system,
        messages,
        tools: Vec::new(),
        max_tokens: MAX_TOKENS,
        temperature: Some(0.3),
        response_schema: None,
    };
    let mut ignore = |_: &str| {};
    let turn = complete_turn(model, request, None, TurnLimits::default(), &mut ignore);
    match tokio::time::timeout(MODEL_TIMEOUT, turn).await {
        Ok(Ok(result)) => Ok(result.text),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", MODEL_TIMEOUT.as_secs())),
    }
}

/// The draft without a model: the best passage, quoted, or a holding reply.
fn offline_draft(sources: &[QueryHit]) -> String {
    match sources.first() {
        Some(best) => {
            let text = best.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let quote = match text.char_indices().nth(QUOTE_CHARS) {
                // Up to the last full stop inside the bound, else the bound.
                Some((at, _)) => match text[..at].rfind(". ") {
                    Some(stop) => text[..=stop].to_owned(),
                    None => format!("{}…", &text[..at]),
                },
                None => text,
            };
            format!("Thanks for your message. {quote}")
        }
        None => "Thanks for your message. Let me check that for you and come back to you shortly."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(text: &str) -> QueryHit {
        QueryHit {
            chunk_id: "c".into(),
            document_id: "d".into(),
            document_name: "Doc".into(),
            text: text.into(),
            heading: None,
            score: 0.9,
        }
    }

    #[test]
    fn the_offline_draft_quotes_the_best_passage_within_bounds() {
        assert_eq!(
            offline_draft(&[hit("We open at 9.\n\nWe close at 5.")]),
            "Thanks for your message. We open at 9. We close at 5."
        );
        let long = "A sentence here. ".repeat(100);
        let draft = offline_draft(&[hit(&long)]);
        assert!(draft.ends_with("here."), "{draft}");
        assert!(draft.chars().count() < QUOTE_CHARS + 40);
        assert!(offline_draft(&[]).contains("come back to you"));
    }
}
