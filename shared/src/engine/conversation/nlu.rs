//! What the offline engine understands in a caller's words: the intents a call's outcome
//! depends on, yes/no, questions, names, times and "when" phrases. Dates and numbers are
//! read by the flow's answer rules ([`check_answer`]) so an `ask` node, the offline engine
//! and the offline report never disagree about what "next friday" or "forty two" means.
//!
//! Everything is phrase matching on normalised words: deterministic, allocation-light and
//! far below a millisecond per turn, which is what the offline engine promises.

use serde_json::Value;

use crate::domain::flow::{Validation, Variables, check_answer};

/// An intent that matters for the call's outcome, recorded on the call (`intents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// "Stop calling me", "don't call me again", "take me off your list".
    DoNotCall,
    /// "Call me back (tomorrow morning)".
    Callback,
    /// "Can I speak to a person?"
    Transfer,
    /// "Sounds great, I'm interested."
    Interested,
    /// "No thanks, not interested."
    NotInterested,
    /// "Goodbye", or one of the agent's end-call phrases.
    Goodbye,
}

impl Intent {
    /// The name recorded in `CallOutcome::intents` and matched by flow `{intent: [...]}` edges.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::DoNotCall => "do_not_call",
            Intent::Callback => "callback",
            Intent::Transfer => "transfer",
            Intent::Interested => "interested",
            Intent::NotInterested => "not_interested",
            Intent::Goodbye => "goodbye",
        }
    }
}

/// What one utterance means to the offline engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heard {
    /// The utterance, trimmed.
    pub text: String,
    /// Outcome intents, strongest first (do-not-call wins over callback, and so on).
    pub intents: Vec<Intent>,
    /// A clear yes or no, read by the `yes_no` answer rule.
    pub yes_no: Option<bool>,
    /// The caller asked something (a question mark, or a question word first).
    pub question: bool,
    /// "That's all", "nothing else": the caller has nothing more, without saying goodbye.
    pub done: bool,
}

/// The most words a plain "no" answer has ("no thank you", "no, I'm good").
const PLAIN_NO_WORDS: usize = 4;

impl Heard {
    /// Whether `intent` was heard.
    pub fn has(&self, intent: Intent) -> bool {
        self.intents.contains(&intent)
    }

    /// A plain "no" ("No.", "No thank you."): not a "no" that goes on to say
    /// something ("No, that is not what I ordered."), which is a statement.
    pub fn plain_no(&self) -> bool {
        self.yes_no == Some(false) && self.text.split_whitespace().count() <= PLAIN_NO_WORDS
    }

    /// Intent names for a flow condition node: the outcome intents plus `yes`/`no` and
    /// `question`, so an author can branch on any of them.
    pub fn intent_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.intents.iter().map(|i| i.as_str().into()).collect();
        match self.yes_no {
            Some(true) => names.push("yes".into()),
            Some(false) => names.push("no".into()),
            None => {}
        }
        if self.question {
            names.push("question".into());
        }
        names
    }
}

const DO_NOT_CALL: &[&str] = &[
    "stop calling",
    "don't call",
    "do not call",
    "dont call",
    "never call",
    "remove me",
    "take me off",
    "off your list",
    "off the list",
    "unsubscribe",
    "stop contacting",
    "no more calls",
];
const CALLBACK: &[&str] = &[
    "call me back",
    "call back",
    "callback",
    "call me later",
    "call me tomorrow",
    "call me another",
    "call me next",
    "call again",
    "ring me back",
    "try me later",
    "try again later",
    "another time",
    "better time",
];
const TRANSFER: &[&str] = &[
    "speak to a person",
    "speak to a human",
    "speak with a person",
    "speak with a human",
    "talk to a person",
    "talk to a human",
    "talk with a person",
    "real person",
    "a human",
    "representative",
    "operator",
    "speak to someone",
    "speak with someone",
    "talk to someone",
    "speak to a manager",
    "talk to a manager",
    "live agent",
    "real agent",
    "speak to an agent",
    "talk to an agent",
];
const NOT_INTERESTED: &[&str] = &[
    "not interested",
    "no thanks",
    "no thank you",
    "not for me",
    "i'll pass",
    "i will pass",
    "no interest",
    "not right now",
    "don't need",
    "do not need",
    "don't want",
    "do not want",
];
const INTERESTED: &[&str] = &[
    "interested",
    "sounds good",
    "sounds great",
    "sign me up",
    "i'd like that",
    "i would like that",
    "let's do it",
    "lets do it",
    "book it",
    "i'll take it",
    "count me in",
    "i'd love",
    "i would love",
];
const GOODBYE: &[&str] = &["bye", "goodbye", "good bye", "bye bye", "farewell"];
const DONE: &[&str] = &[
    "that's all",
    "that is all",
    "that's it",
    "nothing else",
    "no more questions",
    "all good",
    "i'm good",
    "i'm fine",
];
const QUESTION_WORDS: &[&str] = &[
    "what", "when", "where", "why", "how", "who", "which", "do", "does", "did", "can", "could",
    "is", "are", "will", "would", "should", "may", "tell",
];

/// Whether `text` is a question: it ends with `?`, or its first word opens
/// one ("what", "can", "tell" …), since speech-to-text often drops the `?`.
pub fn is_question(text: &str) -> bool {
    let norm = normalise(text);
    let first = norm.split_whitespace().next().unwrap_or_default();
    text.trim_end().ends_with('?') || QUESTION_WORDS.contains(&first)
}

/// Lowercase words separated by single spaces, padded with a space on both sides, so a
/// phrase matches on whole words (`" bye "` is not inside `" byelaw "`). Curly apostrophes
/// become straight ones, as speech-to-text engines use both.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut space = true;
    for c in text.chars() {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' || c == ':' {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
    out
}

/// Whether normalised `text` contains any phrase as whole words.
fn any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| contains_phrase(text, p))
}

fn contains_phrase(text: &str, phrase: &str) -> bool {
    let phrase = phrase.trim();
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].ends_with(' ');
        let after = text[i + phrase.len()..].starts_with(' ');
        before && after
    })
}

/// Reads an utterance. `end_call_phrases` are the agent's: a caller who says one is taken
/// to be saying goodbye.
pub fn understand(text: &str, end_call_phrases: &[String]) -> Heard {
    let text = text.trim();
    let norm = normalise(text);
    let mut intents = Vec::new();
    let dnc = any(&norm, DO_NOT_CALL);
    if dnc {
        intents.push(Intent::DoNotCall);
    } else if any(&norm, CALLBACK) {
        intents.push(Intent::Callback);
    }
    if any(&norm, TRANSFER) {
        intents.push(Intent::Transfer);
    }
    let not_interested = any(&norm, NOT_INTERESTED);
    if not_interested && !dnc {
        intents.push(Intent::NotInterested);
    } else if !not_interested && any(&norm, INTERESTED) {
        intents.push(Intent::Interested);
    }
    let end_phrase = end_call_phrases.iter().any(|p| {
        let p = normalise(p);
        p.trim().len() > 1 && contains_phrase(&norm, p.trim())
    });
    if any(&norm, GOODBYE) || end_phrase {
        intents.push(Intent::Goodbye);
    }
    Heard {
        yes_no: check_answer(&Validation::YesNo, Some(text), &Variables::new())
            .ok()
            .and_then(|v| v.as_bool()),
        question: is_question(text),
        done: any(&norm, DONE),
        intents,
        text: text.to_owned(),
    }
}

/// Words that introduce a name: "my name is Dana", "this is Dana", "I'm Dana".
const NAME_LEADS: &[&str] = &[
    "my name is",
    "my name's",
    "name is",
    "name's",
    "this is",
    "i'm",
    "i am",
    "it's",
    "it is",
    "call me",
    "you're speaking with",
    "you are speaking with",
    "speaking with",
];
/// Words that end a name ("I'm Dana and I ...", "Dana, thanks").
const NAME_STOPS: &[&str] = &[
    "and", "but", "from", "here", "speaking", "thanks", "thank", "please", "calling", "by", "the",
];
/// Leading fillers of a bare answer ("uh, Dana Scully").
const FILLERS: &[&str] = &[
    "uh", "um", "er", "oh", "well", "yes", "yeah", "sure", "ok", "okay",
];

/// The person's name in an answer to "who am I speaking with?": after a lead phrase, or the
/// whole answer when it is one to three words. Title-cased, at most three words.
pub fn extract_name(text: &str) -> Option<String> {
    let norm = normalise(text);
    let words: Vec<&str> = norm.split_whitespace().collect();
    let mut start = None;
    for lead in NAME_LEADS {
        let lead_words: Vec<&str> = lead.split(' ').collect();
        if let Some(i) = words
            .windows(lead_words.len())
            .position(|w| w == lead_words.as_slice())
        {
            start = Some(i + lead_words.len());
            break;
        }
    }
    let rest: Vec<&str> = match start {
        Some(i) => words.get(i..).unwrap_or_default().to_vec(),
        None if words.len() <= 4 => words
            .iter()
            .copied()
            .skip_while(|w| FILLERS.contains(w))
            .collect(),
        None => return None,
    };
    let name: Vec<String> = rest
        .iter()
        .take_while(|w| !NAME_STOPS.contains(w))
        .take(3)
        .filter(|w| {
            w.chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        })
        .map(|w| title_case(w))
        .collect();
    (!name.is_empty() && name.len() <= 3).then(|| name.join(" "))
}

fn title_case(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A time of day in the answer, as `HH:MM` (24 h): "10:30", "3pm", "3 p.m.", "10 in the
/// morning", "noon". `None` when there is none, or for a bare part of day.
pub fn extract_time(text: &str) -> Option<String> {
    let norm = normalise(&text.replace("p.m.", "pm").replace("a.m.", "am"));
    let words: Vec<&str> = norm.split_whitespace().collect();
    if words.contains(&"noon") || words.contains(&"midday") {
        return Some("12:00".into());
    }
    if words.contains(&"midnight") {
        return Some("00:00".into());
    }
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or_default();
        let after = words
            .get(i + 2..i + 4)
            .map(|w| w.join(" "))
            .unwrap_or_default();
        let (digits, suffix) = match w.find(|c: char| c.is_alphabetic()) {
            Some(k) => (&w[..k], &w[k..]),
            None => (*w, ""),
        };
        let (hour, minute) = match digits.split_once(':') {
            Some((h, m)) => (h.parse::<u32>().ok(), m.parse::<u32>().ok()),
            None => (digits.parse::<u32>().ok(), Some(0)),
        };
        let (Some(mut hour), Some(minute)) = (hour, minute) else {
            continue;
        };
        let pm = suffix == "pm"
            || (suffix.is_empty() && next == "pm")
            || after.contains("afternoon")
            || after.contains("evening")
            || (next == "tonight");
        let am = suffix == "am" || (suffix.is_empty() && next == "am") || after.contains("morning");
        let explicit = digits.contains(':') || pm || am || next == "o'clock";
        if !explicit || hour > 23 || minute > 59 {
            continue;
        }
        if pm && hour < 12 {
            hour += 12;
        }
        if am && hour == 12 {
            hour = 0;
        }
        return Some(format!("{hour:02}:{minute:02}"));
    }
    None
}

/// When a caller asked to be called back, in their words ("tomorrow morning", "next week",
/// "after 5 pm"), for the agent's confirmation and the report's next steps.
pub fn callback_when(text: &str) -> Option<String> {
    let norm = normalise(text);
    let words: Vec<&str> = norm.split_whitespace().collect();
    const DAYS: &[&str] = &[
        "today",
        "tonight",
        "tomorrow",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "later",
    ];
    const PARTS: &[&str] = &["morning", "afternoon", "evening", "night", "week", "month"];
    let day = words.iter().position(|w| DAYS.contains(w));
    let part = words.iter().position(|w| PARTS.contains(w));
    let phrase = match (day, part) {
        (Some(d), Some(p)) if p == d + 1 => format!("{} {}", words[d], words[p]),
        (Some(d), _) => words[d].to_string(),
        (None, Some(p)) => {
            let lead = p.checked_sub(1).and_then(|k| words.get(k)).copied();
            match lead {
                Some(l @ ("next" | "this" | "in" | "the")) => format!("{l} {}", words[p]),
                _ => format!("in the {}", words[p]),
            }
        }
        (None, None) => return None,
    };
    Some(phrase)
}

/// The typed value `validation` reads from `text` (date, number, yes/no, choice), with the
/// call's `today` for relative dates; `None` when the text does not hold one.
pub fn read_as(validation: &Validation, text: &str, vars: &Variables) -> Option<Value> {
    check_answer(validation, Some(text), vars).ok()
}
