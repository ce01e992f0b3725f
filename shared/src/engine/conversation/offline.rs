//! The offline engine's own replies: the default script of an agent without a flow, short
//! extractive answers from knowledge, and `llm` nodes when no model is configured.

use std::time::Instant;

use unicode_segmentation::UnicodeSegmentation;

use super::nlu::{Heard, Intent};
use super::{Action, Conversation, Script, reply};
use crate::engine::call::{EndReason, Passage};
use crate::engine::knowledge::rewrite::{self, Speaker};
use crate::engine::knowledge::{speakable, terms};

/// Passages a question looks at.
const PASSAGES: usize = 3;
/// Below this share of the question's words found in a sentence, the engine says it does
/// not know rather than read out something loosely related.
const MIN_COVERAGE: f64 = 0.5;
/// A best sentence shorter than this takes the next one along ("Yes. We do, on weekdays.").
const SHORT_SENTENCE_WORDS: usize = 5;
/// Longest spoken answer, in words (voice mode: short and speakable).
const MAX_ANSWER_WORDS: usize = 40;

impl Conversation {
    /// The default script of an agent without a flow: greeting → the caller's reply
    /// (answered from knowledge, interest noted, or acknowledged) → "anything else?" →
    /// goodbye.
    pub(super) async fn script_answer(
        &mut self,
        heard: Heard,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        if heard.has(Intent::Goodbye) {
            self.speak(reply::GOODBYE, out);
            return self.finish(EndReason::AgentHungUp, out);
        }
        if heard.has(Intent::NotInterested)
            || (self.script == Script::Opening && heard.plain_no() && !heard.question)
        {
            self.note_intent(Intent::NotInterested);
            return self.close_not_interested(out);
        }
        if self.script == Script::AnythingElse
            && !heard.question
            && (heard.done || heard.plain_no())
        {
            self.speak(reply::GOODBYE, out);
            return self.finish(EndReason::AgentHungUp, out);
        }
        let was = self.script;
        self.script = Script::AnythingElse;
        if heard.question {
            self.knowledge_reply(&heard.text, out).await;
        } else if heard.has(Intent::Interested) {
            self.speak(reply::INTERESTED, out);
        } else if was == Script::AnythingElse && heard.yes_no == Some(true) {
            return self.ask(reply::GO_AHEAD, out);
        } else if heard.yes_no == Some(true) {
            self.speak(reply::AGREED, out);
        } else {
            // A statement: answer it from knowledge when something fits well, else note it.
            match self.lookup(&heard.text).await {
                Some(answer) => self.speak(&answer, out),
                None => self.speak(reply::NOTED, out),
            }
        }
        if !self.offer_pending && self.ended.is_none() {
            self.ask(reply::ANYTHING_ELSE, out);
        }
    }

    /// Answers a question from knowledge, or says honestly that it cannot and offers a
    /// person (the caller's next "yes" transfers).
    pub(super) async fn knowledge_reply(
        &mut self,
        question: &str,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        // A follow-up is searched with what it follows, and answered with its own words
        // ("and Fridays?" picks the Friday line of the hours the search found).
        let query = self.follow_up_query(question);
        match self.lookup_with(&query, question).await {
            Some(answer) => self.speak(&answer, out),
            None => {
                self.ask(reply::DONT_KNOW, out);
                self.offer_pending = true;
            }
        }
    }

    /// What the offline engine searches for a caller's question: a follow-up ("and on
    /// Saturdays?") with the caller's previous turn in front, so the search knows what it
    /// follows (hit@3 on the evaluation's follow-ups 0.46 → 0.85 with all-MiniLM-L6-v2:
    /// BENCHMARKS.md); any other question as said. With a model, the model rewrites it
    /// instead (`llm.rs`).
    fn follow_up_query(&self, said: &str) -> String {
        if !rewrite::needs_context(said) {
            return said.to_owned();
        }
        let previous = self
            .earlier_turns(said)
            .into_iter()
            .rev()
            .find(|(who, _)| *who == Speaker::Caller);
        match previous {
            Some((_, previous)) => format!("{previous} {said}"),
            None => said.to_owned(),
        }
    }

    /// The short, speakable answer knowledge holds for `query`, or `None` when there is no
    /// knowledge or nothing fits well enough.
    pub(super) async fn lookup(&mut self, query: &str) -> Option<String> {
        self.lookup_with(query, query).await
    }

    /// [`Self::lookup`] searching for `search` and picking the sentence that answers
    /// `question` (falling back to `search`'s words when `question` has none of its own).
    async fn lookup_with(&mut self, search: &str, question: &str) -> Option<String> {
        let source = self.setup.knowledge.clone()?;
        let started = Instant::now();
        let passages = source.search(search, PASSAGES).await;
        self.provider += started.elapsed();
        extract_answer(question, &passages).or_else(|| {
            (search != question)
                .then(|| extract_answer(search, &passages))
                .flatten()
        })
    }

    /// An `llm` node without a model: answer questions from knowledge and move on once the
    /// caller has nothing more (no, that's all) or speaks to the exit condition. Returns
    /// whether the node's exit condition is met.
    pub(super) async fn offline_llm_turn(
        &mut self,
        exit_condition: &str,
        heard: &Heard,
        out: &mut (dyn FnMut(Action) + Send),
    ) -> bool {
        if heard.question {
            self.knowledge_reply(&heard.text, out).await;
            if !self.offer_pending {
                self.ask(reply::ANYTHING_ELSE, out);
            }
            return false;
        }
        let wanted = terms(exit_condition);
        let said = terms(&heard.text);
        let on_topic = said.iter().any(|t| wanted.contains(t));
        if heard.done || heard.yes_no.is_some() || on_topic || heard.has(Intent::Interested) {
            return true;
        }
        self.speak(reply::NOTED, out);
        self.ask(reply::ANYTHING_ELSE, out);
        false
    }
}

/// The best sentence (and its follower when it is short) of the best passages for `query`,
/// made speakable and trimmed. `None` when no sentence covers at least half of the query's
/// words: a weak match is worse than an honest "I don't know".
pub fn extract_answer(query: &str, passages: &[Passage]) -> Option<String> {
    let wanted: Vec<String> = dedup(terms(query));
    if wanted.is_empty() {
        return None;
    }
    let mut best: Option<(f64, usize, usize)> = None;
    let mut sentences: Vec<Vec<&str>> = Vec::with_capacity(passages.len());
    for (p, passage) in passages.iter().enumerate() {
        let list: Vec<&str> = passage
            .text
            .unicode_sentences()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        // Headings name a topic without answering anything.
        let answers = |s: &&str| !s.starts_with('#') && s.split_whitespace().count() >= 3;
        for (s, sentence) in list.iter().enumerate().filter(|(_, s)| answers(s)) {
            let have = terms(sentence);
            let hits = wanted
                .iter()
                .filter(|w| have.iter().any(|h| same_word(w, h)))
                .count();
            let coverage = hits as f64 / wanted.len() as f64;
            if passage.score > 0.0 && best.is_none_or(|(c, _, _)| coverage > c) {
                best = Some((coverage, p, s));
            }
        }
        sentences.push(list);
    }
    let (coverage, p, s) = best?;
    if coverage < MIN_COVERAGE {
        return None;
    }
    let list = sentences.get(p)?;
    let mut text = list.get(s)?.to_string();
    if text.split_whitespace().count() < SHORT_SENTENCE_WORDS
        && let Some(next) = list.get(s + 1)
    {
        text.push(' ');
        text.push_str(next);
    }
    let spoken = speakable(&text);
    let words: Vec<&str> = spoken.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    if words.len() <= MAX_ANSWER_WORDS {
        return Some(spoken);
    }
    let mut cut = words[..MAX_ANSWER_WORDS].join(" ");
    cut = cut.trim_end_matches([',', ';', ':']).to_owned();
    cut.push('.');
    Some(cut)
}

/// Equal terms, or terms sharing their first four letters ("open"/"opening",
/// "price"/"pricing"): the lexical stemmer folds plurals only, and a caller's wording
/// rarely matches a document's exactly.
fn same_word(a: &str, b: &str) -> bool {
    a == b
        || (a.chars().count() >= 4
            && b.chars().count() >= 4
            && a.chars().take(4).eq(b.chars().take(4)))
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    items
}
