//! The offline engine without a flow: the default script, knowledge answers, and the inputs
//! every call handles the same way (DTMF, silence, voicemail, supervisors, time limit).

use std::sync::Arc;

use serde_json::json;

use super::support::{FakeKnowledge, agent, assert_seq, passage, run, said, setup};
use crate::engine::call::{EndReason, Role};
use crate::engine::conversation::offline::extract_answer;
use crate::engine::conversation::{Action, Conversation, Input};

fn said_text(s: &str) -> Input {
    Input::Utterance(s.into())
}

fn clinic() -> Arc<FakeKnowledge> {
    Arc::new(FakeKnowledge(vec![
        (
            "hours",
            passage(
                "doc-hours",
                "# Opening hours\nAcme Dental is a family practice. Our opening hours are Monday to Friday, 8:00 to 17:30. We are closed on public holidays.",
                0.03,
            ),
        ),
        (
            "parking",
            passage("doc-park", "Parking is free behind the building.", 0.02),
        ),
    ]))
}

#[tokio::test]
async fn the_default_script_greets_answers_from_knowledge_and_says_goodbye() {
    let mut s = setup(agent(
        json!({"greeting": "Hi, this is Robin from Acme Dental. How can I help?"}),
    ));
    s.knowledge = Some(clinic());
    let mut c = Conversation::new(s);
    let greeting = run(&mut c, vec![Input::Answered]).await;
    assert_eq!(
        greeting,
        vec![
            Action::Say("Hi, this is Robin from Acme Dental.".into()),
            Action::Say("How can I help?".into())
        ]
    );
    let answer = c
        .handle_collect(5_000, said_text("What are your opening hours?"))
        .await;
    assert_eq!(
        said(&answer),
        "Our opening hours are Monday to Friday, 8:00 to 17:30. Is there anything else I can help you with?"
    );
    let bye = c
        .handle_collect(9_000, said_text("No, that's all, thanks."))
        .await;
    assert_eq!(
        bye,
        vec![
            Action::Say("Thank you for your time.".into()),
            Action::Say("Goodbye!".into()),
            Action::End(EndReason::AgentHungUp)
        ]
    );
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
            Role::Agent
        ]
    );
    assert_eq!(t[2].at_ms, 5_000);
    assert!(c.intents().is_empty(), "{:?}", c.intents());
    // Ended: more input changes nothing.
    assert!(
        c.handle_collect(10_000, said_text("hello?"))
            .await
            .is_empty()
    );
    assert_eq!(c.transcript().len(), 5);
}

#[tokio::test]
async fn an_unknown_answer_is_admitted_and_a_person_is_offered() {
    let mut s = setup(agent(json!({"transfer_number": "+14155550100"})));
    s.knowledge = Some(clinic());
    let mut c = Conversation::new(s);
    run(&mut c, vec![Input::Answered]).await;
    let a = c
        .handle_collect(1_000, said_text("Do you do teeth whitening?"))
        .await;
    assert!(
        said(&a).starts_with("I'm sorry, I don't have that information."),
        "{a:?}"
    );
    let a = c.handle_collect(2_000, said_text("Yes please.")).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::Transferred)));
    assert!(a.contains(&Action::Transfer {
        number: "+14155550100".into()
    }));
    assert_eq!(c.transferred_to(), Some("+14155550100"));
    assert_eq!(c.intents(), ["transfer"]);
}

#[test]
fn extractive_answers_pick_the_best_sentence_and_refuse_weak_matches() {
    let passages = vec![
        passage(
            "a",
            "We are a family practice. Parking is free behind the building. Ask at the desk.",
            0.03,
        ),
        passage(
            "b",
            "Prices: a check-up costs **$49**, see https://acme.test/prices.",
            0.02,
        ),
    ];
    assert_eq!(
        extract_answer("Where can I park?", &passages).as_deref(),
        Some("Parking is free behind the building.")
    );
    // Markup and links are not read aloud; a short best sentence is not cut.
    assert_eq!(
        extract_answer("how much is a check-up", &passages).as_deref(),
        Some("Prices: a check-up costs $49, see.")
    );
    assert_eq!(extract_answer("do you sell insurance", &passages), None);
    assert_eq!(extract_answer("", &passages), None);
    assert_eq!(extract_answer("parking", &[]), None);
    // A zero-score passage is not knowledge.
    assert_eq!(
        extract_answer("parking", &[passage("c", "Parking is free.", 0.0)]),
        None
    );
}

#[tokio::test]
async fn intents_end_the_call_as_the_caller_asked() {
    let cases = [
        (
            "Please stop calling me.",
            "do_not_call",
            EndReason::AgentHungUp,
        ),
        (
            "Call me back tomorrow morning",
            "callback",
            EndReason::AgentHungUp,
        ),
        (
            "No thanks, not interested.",
            "not_interested",
            EndReason::AgentHungUp,
        ),
        ("Can I talk to a human?", "transfer", EndReason::AgentHungUp),
    ];
    for (line, intent, end) in cases {
        let mut c = Conversation::new(setup(agent(json!({}))));
        let actions = run(&mut c, vec![Input::Answered, said_text(line)]).await;
        assert_eq!(actions.last(), Some(&Action::End(end)), "{line}");
        assert_eq!(c.intents(), [intent], "{line}");
    }
    let mut c = Conversation::new(setup(agent(json!({}))));
    let a = run(
        &mut c,
        vec![
            Input::Answered,
            said_text("Could you call me back tomorrow morning?"),
        ],
    )
    .await;
    assert!(said(&a).contains("a call back tomorrow morning"), "{a:?}");
    assert_eq!(
        c.variables().get("callback_when"),
        Some(&json!("tomorrow morning"))
    );
}

#[tokio::test]
async fn dtmf_rules_say_transfer_end_or_answer() {
    let rules = json!({"dtmf_rules": [
        {"digit": "1", "action": "say", "value": "Our address is 1 Main Street."},
        {"digit": "0", "action": "transfer", "value": "+14155550123"},
        {"digit": "#", "action": "end_call"}
    ]});
    let mut c = Conversation::new(setup(agent(rules.clone())));
    let a = run(&mut c, vec![Input::Answered, Input::Dtmf('1')]).await;
    assert!(said(&a).ends_with("Our address is 1 Main Street."));
    assert!(c.ended().is_none());
    let a = c.handle_collect(3_000, Input::Dtmf('0')).await;
    assert_eq!(
        &a[a.len() - 2..],
        [
            Action::Transfer {
                number: "+14155550123".into()
            },
            Action::End(EndReason::Transferred)
        ]
    );
    let mut c = Conversation::new(setup(agent(rules)));
    let a = run(&mut c, vec![Input::Answered, Input::Dtmf('#')]).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
    assert_eq!(c.transcript()[1].text, "(pressed #)");
}

#[tokio::test]
async fn silence_reprompts_once_then_ends() {
    let mut c = Conversation::new(setup(agent(
        json!({"greeting": "Hello! Is now a good time?"}),
    )));
    let a = run(&mut c, vec![Input::Answered, Input::Silence]).await;
    assert!(
        said(&a).ends_with("Are you still there? Hello! Is now a good time?"),
        "{a:?}"
    );
    let a = c.handle_collect(30_000, Input::Silence).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::SilenceTimeout)));
}

#[tokio::test]
async fn voicemail_follows_the_agent_setting() {
    let mut c = Conversation::new(setup(agent(json!({
        "voicemail": {"action": "leave_message", "message": "Hi, it's Robin from Acme. Please call us back."}
    }))));
    let a = c
        .handle_collect(
            0,
            Input::Voicemail {
                greeting: "Leave a message.".into(),
            },
        )
        .await;
    assert_eq!(said(&a), "Hi, it's Robin from Acme. Please call us back.");
    assert_eq!(a.last(), Some(&Action::End(EndReason::Voicemail)));
    let roles: Vec<Role> = c.transcript().iter().map(|e| e.role).collect();
    assert_eq!(roles, [Role::User, Role::System, Role::Agent]);

    let mut c = Conversation::new(setup(agent(json!({"voicemail": {"action": "hang_up"}}))));
    let a = c
        .handle_collect(
            0,
            Input::Voicemail {
                greeting: String::new(),
            },
        )
        .await;
    assert_eq!(a, [Action::End(EndReason::Voicemail)]);
}

#[tokio::test]
async fn the_time_limit_ends_the_call_from_any_input() {
    let mut c = Conversation::new(setup(agent(json!({"max_duration_seconds": 60}))));
    run(&mut c, vec![Input::Answered]).await;
    let a = c.handle_collect(60_000, said_text("So anyway")).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::MaxDuration)));
    assert_eq!(c.ended(), Some(EndReason::MaxDuration));
}

#[tokio::test]
async fn supervisors_whisper_barge_and_take_over() {
    let mut c = Conversation::new(setup(agent(json!({}))));
    run(&mut c, vec![Input::Answered]).await;
    assert!(
        c.handle_collect(1_000, Input::Whisper("offer the spring discount".into()))
            .await
            .is_empty()
    );
    assert!(c.handle_collect(2_000, Input::Takeover).await.is_empty());
    assert!(c.is_paused());
    // The caller is heard, the agent stays quiet.
    assert!(
        c.handle_collect(3_000, said_text("What are your hours?"))
            .await
            .is_empty()
    );
    assert_eq!(
        c.handle_collect(4_000, Input::SupervisorText("We open at 8.".into()))
            .await,
        [Action::SupervisorSay("We open at 8.".into())]
    );
    c.handle_collect(5_000, Input::Resume).await;
    let a = c.handle_collect(6_000, said_text("Great, bye!")).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
    let roles: Vec<Role> = c.transcript().iter().map(|e| e.role).collect();
    assert_eq!(
        roles,
        [
            Role::Agent,
            Role::System,
            Role::System,
            Role::User,
            Role::Supervisor,
            Role::System,
            Role::User,
            Role::Agent
        ]
    );
    assert_seq(c.transcript());
}

#[tokio::test]
async fn an_interrupted_reply_keeps_what_was_heard() {
    let mut c = Conversation::new(setup(agent(
        json!({"greeting": "Hello, this is Robin calling about your appointment next week."}),
    )));
    run(&mut c, vec![Input::Answered]).await;
    c.handle_collect(
        1_500,
        Input::Interrupted {
            heard: "Hello, this is Robin".into(),
        },
    )
    .await;
    c.handle_collect(2_000, said_text("Who?")).await;
    let first = &c.transcript()[0];
    assert_eq!(
        (first.text.as_str(), first.interrupted),
        ("Hello, this is Robin", true)
    );
}

#[tokio::test]
async fn the_same_inputs_give_the_same_transcript() {
    let inputs = || {
        vec![
            Input::Answered,
            said_text("Yes, I'm interested."),
            said_text("What are your opening hours?"),
            said_text("no that's all, bye"),
        ]
    };
    let mut transcripts = Vec::new();
    for _ in 0..2 {
        let mut s = setup(agent(json!({})));
        s.knowledge = Some(clinic());
        let mut c = Conversation::new(s);
        run(&mut c, inputs()).await;
        assert_eq!(c.intents(), ["interested", "goodbye"]);
        transcripts.push(c.transcript().to_vec());
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert_eq!(transcripts[0].len(), 7);
}

#[tokio::test]
async fn keypad_digits_wait_while_a_supervisor_holds_the_call() {
    let rules = json!({"dtmf_rules": [{"digit": "#", "action": "end_call"}]});
    let mut c = Conversation::new(setup(agent(rules)));
    run(&mut c, vec![Input::Answered, Input::Takeover]).await;
    assert!(c.handle_collect(2_000, Input::Dtmf('#')).await.is_empty());
    assert_eq!(c.ended(), None);
    assert_eq!(
        c.transcript().last().map(|e| e.text.as_str()),
        Some("(pressed #)")
    );
    c.handle_collect(3_000, Input::Resume).await;
    let a = c.handle_collect(4_000, Input::Dtmf('#')).await;
    assert_eq!(a.last(), Some(&Action::End(EndReason::AgentHungUp)));
}

#[tokio::test]
async fn a_follow_up_is_searched_with_the_question_it_follows() {
    // The knowledge double only finds the hours when "hours" is in the query.
    let knowledge = Arc::new(FakeKnowledge(vec![(
        "hours",
        passage(
            "doc-hours",
            "Our hours are 8:00 to 17:30 on weekdays. On Saturdays we open from 9:00 to 13:00.",
            0.9,
        ),
    )]));
    let mut s = setup(agent(json!({"greeting": "Hello!"})));
    s.knowledge = Some(knowledge);
    let mut c = Conversation::new(s);
    run(
        &mut c,
        vec![
            Input::Answered,
            said_text("What are your hours on weekdays?"),
        ],
    )
    .await;
    let a = c
        .handle_collect(5_000, said_text("And what about Saturdays then?"))
        .await;
    assert!(
        said(&a).starts_with("On Saturdays we open from 9:00 to 13:00."),
        "answered with the follow-up's own line: {a:?}"
    );
}

#[tokio::test]
async fn a_no_that_goes_on_is_a_statement_not_a_goodbye() {
    let mut s = setup(agent(json!({"greeting": "Hello, Acme Dental."})));
    s.knowledge = Some(clinic());
    let mut c = Conversation::new(s);
    run(&mut c, vec![Input::Answered]).await;
    c.handle_collect(5_000, said_text("What are your opening hours?"))
        .await;
    // "Anything else?" — a complaint that starts with "No" is answered, and the call goes on.
    let reply = c
        .handle_collect(9_000, said_text("No, that is not what I ordered."))
        .await;
    assert!(
        !reply.iter().any(|a| matches!(a, Action::End(_))),
        "{reply:?}"
    );
    assert!(!said(&reply).is_empty(), "{reply:?}");
    assert_eq!(c.ended(), None);
    // A plain "no" still ends it.
    let bye = c.handle_collect(12_000, said_text("No thank you.")).await;
    assert!(
        bye.iter()
            .any(|a| matches!(a, Action::End(EndReason::AgentHungUp))),
        "{bye:?}"
    );
}
