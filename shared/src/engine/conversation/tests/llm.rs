//! Turns with a model: streamed sentences, retry, fallback and apology, `llm` nodes that
//! exit through `flow_step_done`, and the sentence splitter.

use serde_json::json;

use super::support::{ScriptedModel, agent, flow, run, said, setup, text_reply};
use crate::engine::call::{EndReason, Role};
use crate::engine::conversation::{Action, Conversation, Input, SentenceSplitter};
use crate::engine::llm::{ChatEvent, ChatRole, LlmError, StopReason, ToolCall};

fn say(s: &str) -> Input {
    Input::Utterance(s.into())
}

fn down() -> LlmError {
    LlmError::Unavailable("503".into())
}

#[test]
fn sentences_complete_as_the_stream_arrives() {
    let mut s = SentenceSplitter::new();
    assert!(s.push("Dr. Smith sees pa").is_empty());
    assert_eq!(
        s.push("tients at 9.30 a.m. on Mondays. We"),
        ["Dr. Smith sees patients at 9.30 a.m. on Mondays."]
    );
    assert_eq!(s.push(" close at 5! Any"), ["We close at 5!"]);
    assert!(
        s.push("thing else?").is_empty(),
        "no space yet after the question mark"
    );
    assert_eq!(s.finish().as_deref(), Some("Anything else?"));
    assert_eq!(s.finish(), None);
    assert_eq!(
        SentenceSplitter::split_all("One.\nTwo? Three"),
        ["One.", "Two?", "Three"]
    );
}

#[tokio::test]
async fn a_streamed_reply_is_spoken_sentence_by_sentence() {
    let model = ScriptedModel::new(
        "openai:gpt-4o-mini",
        vec![text_reply(&[
            "We're open ",
            "from 8 to 5. Wou",
            "ld you like **a booking**?",
        ])],
    );
    let mut s = setup(agent(json!({"greeting": "Hi, Acme Dental here."})));
    s.model = Some(model.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("When are you open?")]).await;
    assert_eq!(
        a,
        [
            Action::Say("Hi, Acme Dental here.".into()),
            Action::Say("We're open from 8 to 5.".into()),
            Action::Say("Would you like a booking?".into()),
        ]
    );
    let requests = model.requests.lock().expect("requests");
    let request = &requests[0];
    assert_eq!(request.model, "gpt-4o-mini");
    assert!(
        request
            .system
            .starts_with("You call customers of Acme Dental.")
    );
    let roles: Vec<ChatRole> = request.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [ChatRole::Assistant, ChatRole::User]);
    let t = c.transcript();
    assert_eq!(
        t[2].text,
        "We're open from 8 to 5. Would you like a booking?"
    );
    assert_eq!(c.overheads_us().len(), 2);
}

#[tokio::test]
async fn a_transient_failure_is_retried_once_then_the_fallback_answers() {
    let primary = ScriptedModel::new("openai:primary", vec![Err(down()), Err(down())]);
    let fallback = ScriptedModel::new(
        "anthropic:backup",
        vec![text_reply(&["Backup here."]), text_reply(&["Still me."])],
    );
    let mut s = setup(agent(json!({})));
    s.model = Some(primary.clone());
    s.fallback_model = Some(fallback.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Hello?")]).await;
    assert!(said(&a).ends_with("Backup here."), "{a:?}");
    assert_eq!(primary.calls(), 2, "one try and one retry");
    // The rest of the call stays on the fallback.
    let a = c.handle_collect(5_000, say("And now?")).await;
    assert_eq!(said(&a), "Still me.");
    assert_eq!(primary.calls(), 2);
    assert_eq!(fallback.requests.lock().expect("r")[0].model, "backup");
}

#[tokio::test]
async fn a_rate_limit_goes_straight_to_the_fallback() {
    // The transport already waited what it could; the provider asked for longer.
    let limited = LlmError::RateLimited {
        retry_after: Some(std::time::Duration::from_secs(30)),
    };
    let primary = ScriptedModel::new("openai:primary", vec![Err(limited)]);
    let fallback = ScriptedModel::new("anthropic:backup", vec![text_reply(&["Backup here."])]);
    let mut s = setup(agent(json!({})));
    s.model = Some(primary.clone());
    s.fallback_model = Some(fallback.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Hello?")]).await;
    assert!(said(&a).ends_with("Backup here."), "{a:?}");
    assert_eq!(
        primary.calls(),
        1,
        "no immediate retry of a rate-limited model"
    );
}

#[tokio::test]
async fn a_refused_request_skips_the_retry_and_no_model_means_an_apology() {
    let primary = ScriptedModel::new("openai:primary", vec![Err(LlmError::Auth("401".into()))]);
    let mut s = setup(agent(json!({})));
    s.model = Some(primary.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Hello?")]).await;
    assert!(
        said(&a).ends_with(
            "I'm sorry, I'm having a little trouble right now. Could you say that again?"
        ),
        "{a:?}"
    );
    assert_eq!(primary.calls(), 1);
    assert!(c.ended().is_none(), "an apology, not a hang-up");
    // A stream that dies mid-way keeps the sentences already spoken, never repeats them.
    let cut: Vec<ChatEvent> = vec![ChatEvent::Text("First part. Second".into())];
    let model = ScriptedModel::new("openai:x", vec![Ok(cut)]);
    let mut s = setup(agent(json!({})));
    s.model = Some(model.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Hi")]).await;
    assert!(said(&a).ends_with("First part."), "{a:?}");
    assert_eq!(model.calls(), 1);
}

#[tokio::test]
async fn do_not_call_is_honoured_without_asking_the_model() {
    let model = ScriptedModel::new("openai:x", vec![]);
    let mut s = setup(agent(json!({})));
    s.model = Some(model.clone());
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Stop calling me!")]).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
    assert_eq!(model.calls(), 0);
    assert_eq!(c.intents(), ["do_not_call"]);
}

#[tokio::test]
async fn an_end_call_phrase_in_the_reply_ends_the_call() {
    let model = ScriptedModel::new("openai:x", vec![text_reply(&["Thanks, have a great day!"])]);
    let mut s = setup(agent(json!({"end_call_phrases": ["have a great day"]})));
    s.model = Some(model);
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("That's everything.")]).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
}

#[tokio::test]
async fn an_llm_node_exits_when_the_model_calls_flow_step_done() {
    let graph = flow(
        json!([
            {"id": "start", "type": "start", "data": {}},
            {"id": "chat", "type": "llm", "data": {"prompt": "Find out which plan {{contact.first_name}} wants.", "exit_condition": "a plan is chosen"}},
            {"id": "end", "type": "end", "data": {"text": "Thanks, goodbye."}}
        ]),
        json!([
            {"id": "e1", "source": "start", "target": "chat"},
            {"id": "e2", "source": "chat", "target": "end"}
        ]),
    );
    let done = ToolCall {
        id: "c1".into(),
        name: "flow_step_done".into(),
        arguments: json!({}),
    };
    let model = ScriptedModel::new(
        "openai:x",
        vec![
            text_reply(&["We have Basic and Pro. Which one?"]),
            Ok(vec![
                ChatEvent::ToolCall(done),
                ChatEvent::Done(StopReason::ToolUse),
            ]),
            text_reply(&["Pro it is."]),
        ],
    );
    let mut s = setup(agent(json!({"greeting": "Hello!"})));
    s.flow = Some(graph);
    s.model = Some(model.clone());
    s.variables = s.variables.with("contact.first_name", "Jordan");
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("What plans are there?")]).await;
    assert!(said(&a).ends_with("We have Basic and Pro. Which one?"));
    let a = c.handle_collect(5_000, say("Pro, please.")).await;
    assert_eq!(said(&a), "Pro it is. Thanks, goodbye.");
    assert_eq!(c.ended(), Some(EndReason::AgentHungUp));
    let requests = model.requests.lock().expect("r");
    assert!(
        requests[0]
            .system
            .contains("Find out which plan Jordan wants.")
    );
    assert!(requests[0].tools.iter().any(|t| t.name == "flow_step_done"));
    assert!(
        !c.transcript().iter().any(|e| e.role == Role::Tool),
        "the built-in is not a tool line"
    );
}

#[tokio::test]
async fn the_model_presses_digits_in_order_with_its_words() {
    let press = ToolCall {
        id: "c1".into(),
        name: "send_dtmf".into(),
        arguments: json!({"digits": "2"}),
    };
    let bad = ToolCall {
        id: "c2".into(),
        name: "send_dtmf".into(),
        arguments: json!({"digits": "2; rm -rf"}),
    };
    let model = ScriptedModel::new(
        "openai:x",
        vec![
            Ok(vec![
                ChatEvent::Text("Choosing billing. ".into()),
                ChatEvent::ToolCall(press),
                ChatEvent::ToolCall(bad),
                ChatEvent::Done(StopReason::ToolUse),
            ]),
            text_reply(&["Waiting for billing."]),
        ],
    );
    let mut s = setup(agent(json!({"greeting": "Hello!"})));
    s.model = Some(model.clone());
    let mut c = Conversation::new(s);
    let a = run(
        &mut c,
        vec![Input::Answered, say("Press 2 for billing, 3 for sales.")],
    )
    .await;
    let tail: Vec<&Action> = a.iter().skip(1).collect();
    assert_eq!(
        tail,
        [
            &Action::Say("Choosing billing.".into()),
            &Action::SendDtmf("2".into()),
            &Action::Say("Waiting for billing.".into()),
        ]
    );
    assert!(
        c.transcript()
            .iter()
            .any(|e| e.role == Role::System && e.text == "Pressed 2."),
        "{:?}",
        c.transcript()
    );
    let requests = model.requests.lock().expect("r");
    assert!(requests[0].tools.iter().any(|t| t.name == "send_dtmf"));
    // The refused sequence went back to the model as an error, never to the line.
    let second = &requests[1].messages;
    assert!(
        second
            .iter()
            .any(|m| format!("{m:?}").contains("may hold only 0-9")),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_follow_up_is_searched_as_the_question_the_model_rewrote() {
    use super::support::{FakeKnowledge, passage};
    // The knowledge double only knows the rewritten words.
    let knowledge = FakeKnowledge(vec![(
        "saturday opening hours",
        passage("hours.md", "On Saturdays we open from 9 to 1.", 0.9),
    )]);
    let model = ScriptedModel::new(
        "openai:x",
        vec![
            text_reply(&["We open at 8 on weekdays."]),
            text_reply(&["Saturday opening hours"]),
            text_reply(&["On Saturdays it's 9 to 1."]),
        ],
    );
    let mut s = setup(agent(json!({"greeting": "Hello!"})));
    s.model = Some(model.clone());
    s.knowledge = Some(std::sync::Arc::new(knowledge));
    let mut c = Conversation::new(s);
    run(
        &mut c,
        vec![Input::Answered, say("When do you open on weekdays?")],
    )
    .await;
    let a = c
        .handle_collect(5_000, say("What about Saturdays then?"))
        .await;
    assert_eq!(said(&a), "On Saturdays it's 9 to 1.");
    let requests = model.requests.lock().expect("r");
    assert_eq!(
        requests.len(),
        3,
        "the first question stood alone: no rewrite"
    );
    let rewrite = format!("{:?}", requests[1].messages);
    assert!(
        rewrite.contains("Caller: When do you open on weekdays?")
            && rewrite.contains("What about Saturdays then?"),
        "{rewrite}"
    );
    assert!(
        requests[2]
            .system
            .contains("On Saturdays we open from 9 to 1."),
        "the rewritten query found the passage: {}",
        requests[2].system
    );
}
