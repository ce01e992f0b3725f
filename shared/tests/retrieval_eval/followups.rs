//! Follow-up questions ("what about Saturdays then?"): searched as said, with the
//! caller's previous turn in front (what the offline engine can do), and rewritten by a
//! language model into a standalone question (`engine::knowledge::rewrite`). The model
//! is a double replaying the rewrites recorded in
//! `tests/data/retrieval-eval/rewrites.jsonl` (written as a model answers: from the
//! conversation only, never from the documents), through the engine's real
//! `rewrite_query`: its prompt, its budget and its clean-up.

use std::collections::HashMap;

use async_trait::async_trait;
use switchboard::engine::knowledge::rewrite::{REWRITE_BUDGET, Speaker, rewrite_query};
use switchboard::engine::llm::{
    ChatEvent, ChatModel, ChatRequest, ChatStream, LlmError, StopReason,
};

use super::*;

/// Answers a rewrite request with the recorded rewrite of the caller's last message.
struct RecordedRewrites(HashMap<String, String>);

#[async_trait]
impl ChatModel for RecordedRewrites {
    fn name(&self) -> &str {
        "openai:recorded-rewrites"
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let prompt = request
            .messages
            .last()
            .map(|m| format!("{m:?}"))
            .unwrap_or_default();
        let rewrite = self
            .0
            .iter()
            .find(|(said, _)| prompt.contains(&format!("Caller's last message: {said}")))
            .map(|(_, rewrite)| rewrite.clone())
            .ok_or_else(|| LlmError::BadRequest("no recorded rewrite".into()))?;
        let events = vec![
            Ok(ChatEvent::Text(rewrite)),
            Ok(ChatEvent::Done(StopReason::EndTurn)),
        ];
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

fn recorded(questions: &[Question]) -> RecordedRewrites {
    #[derive(Deserialize)]
    struct Line {
        id: String,
        rewrite: String,
    }
    let text = std::fs::read_to_string(data_dir().join("rewrites.jsonl")).expect("rewrites");
    let by_id: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Line>(l).expect("rewrite line"))
        .map(|l| (l.id, l.rewrite))
        .collect();
    RecordedRewrites(
        questions
            .iter()
            .filter_map(|q| Some((q.question.clone(), by_id.get(&q.id)?.clone())))
            .collect(),
    )
}

/// The follow-ups with each way of querying them: (way, questions whose text is the query).
async fn queries(follow_ups: &[Question]) -> Vec<(&'static str, Vec<Question>)> {
    let model = recorded(follow_ups);
    let mut rewritten = Vec::new();
    for q in follow_ups {
        let earlier: Vec<(Speaker, String)> = q
            .history
            .iter()
            .map(|h| (Speaker::Caller, h.clone()))
            .collect();
        let query = rewrite_query(&model, &earlier, &q.question, REWRITE_BUDGET)
            .await
            .unwrap_or_else(|| panic!("{}: no rewrite recorded", q.id));
        rewritten.push(Question {
            question: query,
            ..q.clone()
        });
    }
    let with_previous = follow_ups
        .iter()
        .map(|q| Question {
            question: format!(
                "{} {}",
                q.history.last().map_or("", String::as_str),
                q.question
            ),
            ..q.clone()
        })
        .collect();
    vec![
        ("as said", follow_ups.to_vec()),
        ("previous turn + it", with_previous),
        ("rewritten by model", rewritten),
    ]
}

/// hit@1/hit@3/MRR@5 of the follow-ups per way of querying, with the new ranking, scoped.
async fn measure_follow_ups(embedder: &dyn Embedder) -> BTreeMap<(String, String), Scores> {
    let follow_ups: Vec<Question> = questions()
        .into_iter()
        .filter(|q| !q.history.is_empty())
        .collect();
    let corpus = Corpus::build(embedder, Pipeline::Current).await;
    let ranking = Ranking::for_embedder(embedder.name(), is_lexical_fallback(embedder));
    println!(
        "== follow-ups with {} ({} questions)",
        embedder.name(),
        follow_ups.len()
    );
    let mut out = BTreeMap::new();
    for (way, asked) in queries(&follow_ups).await {
        let texts: Vec<String> = asked.iter().map(|q| q.question.clone()).collect();
        let vectors = embedder.embed(&texts).await.expect("embed queries");
        let asked: Vec<(Question, Vec<f32>)> = asked.into_iter().zip(vectors).collect();
        for split in ["dev", "test"] {
            let s = measure(&corpus, &asked, &ranking, split, true, false);
            println!("  {way:<19} {split:<4} {}", s.line());
            out.insert((way.to_owned(), split.to_owned()), s);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_are_found_once_rewritten() {
    let embedders: Vec<Arc<dyn Embedder>> = match model_dir_or_skip() {
        Some(dirs) => dirs
            .iter()
            .map(|dir| offline_embedder(Some(dir), None))
            .collect(),
        None => return,
    };
    for embedder in embedders {
        let scores = measure_follow_ups(embedder.as_ref()).await;
        for split in ["dev", "test"] {
            let said = &scores[&("as said".to_owned(), split.to_owned())];
            let rewritten = &scores[&("rewritten by model".to_owned(), split.to_owned())];
            assert!(
                rewritten.hit3() > said.hit3(),
                "{split}: rewriting did not help ({} vs {})",
                rewritten.line(),
                said.line()
            );
        }
    }
}
