//! What the offline engine says, in one place: short sentences that read well aloud and
//! in a chat, so a transcript of an offline call sounds like a careful human agent.

/// Said when the call reaches `max_duration_seconds`.
pub const TIME_LIMIT: &str =
    "I'm sorry, we've reached the time limit for this call. Thank you, goodbye.";
/// The re-prompt after the first silence timeout (the last question follows).
pub const SILENCE_PROMPT: &str = "Are you still there?";
/// Said before ending a call after the second silence timeout.
pub const SILENCE_END: &str =
    "I haven't heard anything, so I'll end the call now. Feel free to call us back. Goodbye.";
/// Said before a transfer.
pub const TRANSFERRING: &str = "Of course. I'm transferring you to a person now, please hold.";
/// Said when a person was asked for and no transfer number is configured.
pub const NO_TRANSFER: &str = "I'm sorry, there's no one available to take the call right now. \
     I've noted your request, and a member of our team will get back to you. Goodbye.";
/// Said to a caller who asked not to be called again.
pub const DO_NOT_CALL: &str = "I'm sorry for the trouble. I've noted that you don't want to be \
     called again, and we won't call you again. Goodbye.";
/// Said to a caller who is not interested.
pub const NOT_INTERESTED: &str =
    "I understand. Thank you for your time, and have a good day. Goodbye.";
/// Said to a caller who is interested.
pub const INTERESTED: &str = "That's great to hear! I've noted your interest, and someone \
     will follow up with the details.";
/// The closing of a conversation that ran its course.
pub const GOODBYE: &str = "Thank you for your time. Goodbye!";
/// Asked when the caller's request is done.
pub const ANYTHING_ELSE: &str = "Is there anything else I can help you with?";
/// Said when the caller agreed to the opening.
pub const AGREED: &str = "Great, thank you.";
/// Said when the caller's statement needs no answer beyond an acknowledgement.
pub const NOTED: &str = "Thank you, I've noted that.";
/// Said when the caller says yes to "anything else?".
pub const GO_AHEAD: &str = "Sure, what would you like to know?";
/// Said when a keypad action cannot be carried out.
pub const CANNOT_DO: &str = "I'm sorry, I can't do that on this call.";
/// The honest answer when knowledge has nothing good enough.
pub const DONT_KNOW: &str = "I'm sorry, I don't have that information. I can have someone \
     from our team call you back, or put you through to a person. Would you like that?";
/// Said when the flow or a provider failed in a way the caller should not hear about in
/// detail.
pub const TROUBLE: &str = "I'm sorry, I'm having some trouble on my side.";
/// Said when the model (and its fallback) could not answer.
pub const MODEL_DOWN: &str =
    "I'm sorry, I'm having a little trouble right now. Could you say that again?";

/// The greeting of an agent that has none.
pub fn default_greeting(agent_name: &str) -> String {
    format!("Hello, this is {agent_name}. How can I help you today?")
}

/// The voicemail message of an agent set to leave one without a text.
pub fn default_voicemail(agent_name: &str) -> String {
    format!("Hello, this is {agent_name}. Sorry we missed you; we'll try again later. Goodbye.")
}

/// The confirmation of a callback request, naming when if the caller said.
pub fn callback(when: Option<&str>) -> String {
    match when {
        Some(when) => format!(
            "Of course. I've noted that you'd like a call back {when}, and we'll call you \
             then. Thank you, goodbye."
        ),
        None => "Of course. I've noted that you'd like a call back, and we'll call you \
             again later. Thank you, goodbye."
            .to_owned(),
    }
}

/// Why an `ask` answer is asked again, before the question is repeated.
pub fn reprompt(reason: crate::domain::flow::InvalidAnswer) -> &'static str {
    use crate::domain::flow::InvalidAnswer as I;
    match reason {
        I::NoAnswer => "Sorry, I didn't hear an answer.",
        I::NotANumber => "Sorry, I didn't catch a number.",
        I::NotADate => "Sorry, I didn't catch a date.",
        I::NotYesNo => "Sorry, was that a yes or a no?",
        I::NoOptionMatched => "Sorry, that isn't one of the options.",
        I::AmbiguousChoice => "Sorry, please pick just one of the options.",
        I::PatternMismatch => "Sorry, that doesn't look right.",
    }
}
