//! Calls that follow a flow: asks with typed answers, a tool node through a real
//! `LocalToolRunner`, condition branches, knowledge questions in the middle, keypad jumps.

use std::sync::Arc;

use serde_json::json;

use super::support::{
    FakeKnowledge, agent, assert_seq, booking_setup, flow, passage, run, said, setup,
};
use crate::engine::call::{EndReason, Role};
use crate::engine::conversation::{Action, Conversation, Input};

fn say(s: &str) -> Input {
    Input::Utterance(s.into())
}

#[tokio::test]
async fn a_booking_flow_asks_calls_the_tool_branches_and_ends() {
    let mut c = Conversation::new(booking_setup());
    let a = c.handle_collect(0, Input::Answered).await;
    assert_eq!(
        said(&a),
        "Hi Jordan, this is Robin from Acme Dental. Who am I speaking with?"
    );
    let a = c
        .handle_collect(4_000, say("My name is Dana Scully."))
        .await;
    assert_eq!(said(&a), "What day would suit you?");
    let a = c
        .handle_collect(8_000, say("The 14th of March 2027 works for me."))
        .await;
    assert_eq!(
        a.first(),
        Some(&Action::RunTool {
            name: "book_slot".into()
        })
    );
    assert_eq!(
        said(&a),
        "You're booked for 2027-03-14, confirmation BK-2027-03-14. Goodbye, Dana Scully."
    );
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
    let vars = c.variables();
    assert_eq!(vars.get("caller_name"), Some(&json!("Dana Scully")));
    assert_eq!(vars.get("appointment_date"), Some(&json!("2027-03-14")));
    assert_eq!(vars.get("booking.ok"), Some(&json!(true)));
    let t = c.transcript();
    assert_seq(t);
    let roles: Vec<Role> = t.iter().map(|e| e.role).collect();
    assert_eq!(
        roles,
        [
            Role::Agent,
            Role::User,
            Role::Agent,
            Role::User,
            Role::Tool,
            Role::Agent
        ]
    );
    assert!(t[4].text.starts_with("book_slot("), "{}", t[4].text);
}

#[tokio::test]
async fn the_default_branch_is_taken_when_the_tool_says_no() {
    let mut c = Conversation::new(booking_setup());
    let a = run(
        &mut c,
        vec![Input::Answered, say("Dana"), say("December 25th 2026")],
    )
    .await;
    assert!(
        said(&a).ends_with("Sorry, I couldn't book that day."),
        "{a:?}"
    );
    assert_eq!(c.variables().get("booking.ok"), Some(&json!(false)));
    assert_eq!(c.ended(), Some(EndReason::AgentHungUp));
}

#[tokio::test]
async fn an_invalid_answer_is_asked_again_then_the_flow_ends() {
    let mut c = Conversation::new(booking_setup());
    run(&mut c, vec![Input::Answered, say("Dana")]).await;
    let a = c.handle_collect(5_000, say("I'm not sure")).await;
    assert_eq!(
        said(&a),
        "Sorry, I didn't catch a date. What day would suit you?"
    );
    // Relative dates resolve against the call's `today` (2026-12-04, a Friday).
    let a = c.handle_collect(9_000, say("tomorrow")).await;
    assert!(said(&a).contains("2026-12-05"), "{a:?}");

    // Retries exhausted without an `on: invalid` edge: the call ends.
    let mut c = Conversation::new(booking_setup());
    let a = run(
        &mut c,
        vec![Input::Answered, say("Dana"), say("dunno"), say("no idea")],
    )
    .await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
}

#[tokio::test]
async fn a_question_during_an_ask_is_answered_then_the_question_repeated() {
    let mut s = booking_setup();
    s.knowledge = Some(Arc::new(FakeKnowledge(vec![(
        "parking",
        passage("d", "Parking is free behind the building.", 0.1),
    )])));
    let mut c = Conversation::new(s);
    run(&mut c, vec![Input::Answered, say("Dana")]).await;
    let a = c.handle_collect(5_000, say("Is there parking?")).await;
    assert_eq!(
        said(&a),
        "Parking is free behind the building. What day would suit you?"
    );
    assert_eq!(c.variables().get("appointment_date"), None);
}

#[tokio::test]
async fn conditions_route_on_intents_and_transfer_nodes_transfer() {
    let graph = flow(
        json!([
            {"id": "start", "type": "start", "data": {}},
            {"id": "ask", "type": "ask", "data": {"question": "Would you like to hear about our offer?", "variable": "wants_offer"}},
            {"id": "route", "type": "condition", "data": {}},
            {"id": "human", "type": "transfer", "data": {"number": "{{context.sales}}"}},
            {"id": "end", "type": "end", "data": {"text": "No problem, goodbye."}}
        ]),
        json!([
            {"id": "e1", "source": "start", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "route"},
            {"id": "e3", "source": "route", "target": "human", "condition": {"intent": ["interested", "yes"]}},
            {"id": "e4", "source": "route", "target": "end", "condition": "default"}
        ]),
    );
    let mut s = setup(agent(json!({})));
    s.flow = Some(graph.clone());
    s.variables = s.variables.with("context.sales", "+1 415 555 0199");
    let mut c = Conversation::new(s.clone());
    let a = run(&mut c, vec![Input::Answered, say("Yes, sounds good!")]).await;
    assert!(a.contains(&Action::Transfer {
        number: "+14155550199".into()
    }));
    assert_eq!(c.ended(), Some(EndReason::Transferred));
    assert_eq!(c.intents(), ["interested", "transfer"]);

    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Maybe another day")]).await;
    assert!(said(&a).ends_with("No problem, goodbye."));
    assert_eq!(c.ended(), Some(EndReason::AgentHungUp));
}

#[tokio::test]
async fn a_keypad_digit_can_jump_to_a_node() {
    let mut s = booking_setup();
    s.agent =
        agent(json!({"dtmf_rules": [{"digit": "9", "action": "send_to_node", "value": "sorry"}]}));
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, Input::Dtmf('9')]).await;
    assert!(said(&a).ends_with("Sorry, I couldn't book that day."));
    assert_eq!(c.ended(), Some(EndReason::AgentHungUp));
}

#[tokio::test]
async fn an_llm_node_without_a_model_answers_then_moves_on() {
    let graph = flow(
        json!([
            {"id": "start", "type": "start", "data": {}},
            {"id": "chat", "type": "llm", "data": {"prompt": "Answer questions about the clinic", "exit_condition": "the caller has no more questions"}},
            {"id": "end", "type": "end", "data": {"text": "Thanks for calling."}}
        ]),
        json!([
            {"id": "e1", "source": "start", "target": "chat"},
            {"id": "e2", "source": "chat", "target": "end"}
        ]),
    );
    let mut s = setup(agent(json!({"greeting": "Hello, Acme Dental."})));
    s.flow = Some(graph);
    s.knowledge = Some(Arc::new(FakeKnowledge(vec![(
        "parking",
        passage("d", "Parking is free behind the building.", 0.1),
    )])));
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered, say("Where is parking?")]).await;
    assert!(said(&a).ends_with(
        "Parking is free behind the building. Is there anything else I can help you with?"
    ));
    let a = c.handle_collect(9_000, say("No, that's all.")).await;
    assert_eq!(said(&a), "Thanks for calling.");
    assert_eq!(c.ended(), Some(EndReason::AgentHungUp));
}

#[tokio::test]
async fn a_send_dtmf_node_presses_its_rendered_digits_and_goes_on() {
    let graph = flow(
        json!([
            {"id": "start", "type": "start", "data": {}},
            {"id": "ext", "type": "send_dtmf", "data": {"digits": "{{extension}}#"}},
            {"id": "end", "type": "end", "data": {"text": "Connected to the extension."}}
        ]),
        json!([
            {"id": "e1", "source": "start", "target": "ext"},
            {"id": "e2", "source": "ext", "target": "end"}
        ]),
    );
    let mut s = setup(agent(json!({})));
    s.flow = Some(graph);
    s.variables = s.variables.with("extension", "42");
    let mut c = Conversation::new(s);
    let a = run(&mut c, vec![Input::Answered]).await;
    let dtmf = a.iter().position(|x| *x == Action::SendDtmf("42#".into()));
    let spoke = a
        .iter()
        .position(|x| *x == Action::Say("Connected to the extension.".into()));
    assert!(dtmf.is_some() && dtmf < spoke, "{a:?}");
    assert!(c.transcript().iter().any(|e| e.text == "Pressed 42#."));
}
