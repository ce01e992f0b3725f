//! What the offline engine understands in callers' words.

use crate::engine::conversation::nlu::{
    Intent, callback_when, extract_name, extract_time, understand,
};

fn intents(text: &str) -> Vec<Intent> {
    understand(text, &["talk soon".to_owned()]).intents
}

#[test]
fn outcome_intents_are_recognised_and_the_stronger_wins() {
    assert_eq!(
        intents("Please stop calling me. Don't call me again."),
        [Intent::DoNotCall]
    );
    assert_eq!(intents("Take me off your list"), [Intent::DoNotCall]);
    assert_eq!(
        intents("Could you call me back tomorrow morning?"),
        [Intent::Callback]
    );
    // "don't call me back" is a do-not-call request, not a callback.
    assert_eq!(intents("don't call me back"), [Intent::DoNotCall]);
    assert_eq!(intents("Can I speak to a real person?"), [Intent::Transfer]);
    assert_eq!(
        intents("No thank you, I'm not interested."),
        [Intent::NotInterested]
    );
    assert_eq!(
        intents("Yes, that sounds great. I'm interested."),
        [Intent::Interested]
    );
    assert_eq!(intents("Okay, bye!"), [Intent::Goodbye]);
    assert_eq!(
        intents("Right, talk soon"),
        [Intent::Goodbye],
        "an end-call phrase"
    );
    assert_eq!(intents("What are your opening hours?"), []);
    // Whole words only: "goodbyes" and "bypass" are not a goodbye.
    assert_eq!(intents("bypass the byelaw"), []);
}

#[test]
fn yes_no_questions_and_done_follow_the_answer_rules() {
    let yes = understand("Yeah, sure.", &[]);
    assert_eq!(yes.yes_no, Some(true));
    assert!(!yes.question);
    assert_eq!(understand("Nope.", &[]).yes_no, Some(false));
    assert_eq!(understand("not sure", &[]).yes_no, None);
    assert!(understand("Do you open on Sundays", &[]).question);
    assert!(understand("you open sundays?", &[]).question);
    assert!(understand("No, that's all.", &[]).done);
    assert_eq!(
        understand("Yes please", &[]).intent_names(),
        vec!["yes".to_owned()]
    );
}

#[test]
fn names_are_read_after_a_lead_or_as_a_short_answer() {
    assert_eq!(
        extract_name("It's Jordan Lee.").as_deref(),
        Some("Jordan Lee")
    );
    assert_eq!(
        extract_name("my name is dana scully and I'm calling about").as_deref(),
        Some("Dana Scully")
    );
    assert_eq!(extract_name("Uh, Dana").as_deref(), Some("Dana"));
    assert_eq!(
        extract_name("I would rather not say that to a machine right now"),
        None
    );
}

#[test]
fn times_and_callback_moments() {
    assert_eq!(
        extract_time("Around 10 in the morning.").as_deref(),
        Some("10:00")
    );
    assert_eq!(extract_time("at 3pm please").as_deref(), Some("15:00"));
    assert_eq!(extract_time("3 p.m.").as_deref(), Some("15:00"));
    assert_eq!(extract_time("10:30 works").as_deref(), Some("10:30"));
    assert_eq!(extract_time("noon").as_deref(), Some("12:00"));
    assert_eq!(extract_time("I have 3 kids"), None);
    assert_eq!(
        callback_when("call me back tomorrow morning").as_deref(),
        Some("tomorrow morning")
    );
    assert_eq!(
        callback_when("try me next week").as_deref(),
        Some("next week")
    );
    assert_eq!(callback_when("call me back"), None);
}
