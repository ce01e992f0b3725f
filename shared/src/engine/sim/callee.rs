//! The simulated callee: what each persona of SPEC §15 says back to the agent. Its replies
//! depend only on the persona and the agent's last words, so a sim call replays exactly.

use crate::engine::call::Persona;

/// The callee's next move.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    /// Says this.
    Say(String),
    /// Says nothing (the agent's silence timeout runs).
    Silent,
    /// Hangs up.
    HangUp,
}

/// Turns after which even a cooperative callee wraps up, so a flow that keeps asking
/// cannot keep a simulated line busy until the time limit.
const MAX_TURNS: u32 = 12;

/// What a voicemail box says before the beep.
pub(super) const VOICEMAIL_GREETING: &str = "Hi, you've reached Jordan. I can't take your call right now. Please leave a message after the beep. (beep)";
/// The name a cooperative callee gives.
pub(super) const NAME: &str = "It's Jordan Lee.";
/// The date a cooperative callee gives: absolute, so it reads the same on any day.
pub(super) const DATE: &str = "The 14th of March 2027 works for me.";

/// One simulated person on the line.
#[derive(Debug)]
pub(super) struct Callee {
    persona: Persona,
    turns: u32,
    said_interest: bool,
}

impl Callee {
    pub(super) fn new(persona: Persona) -> Callee {
        Callee {
            persona,
            turns: 0,
            said_interest: false,
        }
    }

    /// The reply to what the agent just said.
    pub(super) fn respond(&mut self, agent_said: &str) -> Reply {
        self.turns += 1;
        let first = self.turns == 1;
        match self.persona {
            Persona::HangUp => Reply::HangUp,
            Persona::Silent => Reply::Silent,
            Persona::Human if first => say("Can I speak to a real person, please?"),
            Persona::DoNotCall if first => say("Please stop calling me. Don't call me again."),
            Persona::Callback if first => {
                say("I'm busy right now. Could you call me back tomorrow morning?")
            }
            Persona::NotInterested if first => say("No thank you, I'm not interested."),
            // These personas said what they wanted; if the agent goes on, they hang up.
            Persona::Human | Persona::DoNotCall | Persona::Callback | Persona::NotInterested => {
                Reply::HangUp
            }
            Persona::Cooperative | Persona::Interested => self.cooperate(agent_said),
            // Never answered; the carrier handles them before any conversation.
            Persona::Busy | Persona::NoAnswer | Persona::CarrierError | Persona::Voicemail => {
                Reply::HangUp
            }
        }
    }

    /// A plausible answer to the agent's question: a name, a date, a number, "yes".
    fn cooperate(&mut self, agent_said: &str) -> Reply {
        let asked = agent_said.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| asked.contains(w));
        if self.turns > MAX_TURNS || has(&["anything else"]) {
            return say("No, that's all. Thank you, goodbye!");
        }
        if has(&["still there"]) {
            return say("Yes, I'm here.");
        }
        if has(&["name", "who am i speaking", "speaking with", "who is this"]) {
            return say(NAME);
        }
        if has(&["what time", "which time", "a time"]) {
            return say("Around 10 in the morning.");
        }
        if has(&["date", "what day", "which day", "when "]) {
            return say(DATE);
        }
        if has(&["how many", "number of", "how much"]) {
            return say("Three.");
        }
        if has(&["email"]) {
            return say("It's jordan.lee@example.com.");
        }
        if let Some(option) = first_option(&asked) {
            return say(&format!("{option}, please."));
        }
        if self.persona == Persona::Interested && !self.said_interest {
            self.said_interest = true;
            return say("Yes, that sounds great. I'm interested.");
        }
        if agent_said.contains('?') {
            return say("Yes.");
        }
        say("Okay.")
    }
}

fn say(text: &str) -> Reply {
    Reply::Say(text.to_owned())
}

/// In "the basic or the premium plan?", the first option ("basic"), so a choice question
/// gets one of its options.
fn first_option(asked: &str) -> Option<String> {
    let (before, _) = asked.split_once(" or ")?;
    let word = before
        .split_whitespace()
        .last()?
        .trim_matches(|c: char| !c.is_alphanumeric());
    (!word.is_empty()).then(|| {
        let mut chars = word.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    })
}
