//! Reading a transcript for turn taking: does it look finished, and is it
//! only a backchannel? Cheap word lists over the last few words, run on
//! every peek; English first (the offline engine is English), and other
//! languages fall back to the punctuation the cloud engines add.

use crate::domain::flow::is_number_word;

/// What the words of a turn so far look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// A question: the caller hands the turn over; answer at once.
    Question,
    /// A finished sentence: answer soon.
    Complete,
    /// Nothing says either way (no punctuation, no telling last word, or
    /// only an answer word that callers often go on from: "No.", "Yes.").
    Unclear,
    /// The caller is evidently not done.
    Incomplete(Unfinished),
}

/// Why the words look unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Ends on a hesitation: "um", "uh", "so", "well".
    Filler,
    /// Ends on a word that needs more after it: "and", "because", "the", "my", "to".
    Connective,
    /// A number is being read out ("4 1 5", "four five"), not yet a whole one.
    Number,
    /// Ends on an ellipsis ("so…"), the transcriber's own sign of a trailing voice.
    Trailing,
}

/// Hesitations that promise more.
const FILLERS: &[&str] = &[
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "hmm", "so", "well", "like",
];

/// Words a sentence does not end on: conjunctions, articles, possessives,
/// prepositions and the like.
const CONNECTIVES: &[&str] = &[
    "and", "or", "but", "because", "cause", "if", "then", "than", "that", "which", "who", "whose",
    "when", "where", "while", "although", "though", "unless", "until", "plus", "the", "a", "an",
    "my", "your", "our", "their", "its", "this", "these", "those", "to", "of", "for", "with", "at",
    "in", "on", "from", "by", "about", "into", "onto", "between", "is", "are", "was", "were", "am",
    "i'm", "i", "we", "it's", "let's", "also", "maybe",
];

/// Words a caller reads digits and amounts with besides the numbers
/// themselves ([`is_number_word`]): "oh five", "double seven", "four hundred".
const NUMBER_READING_WORDS: &[&str] = &[
    "oh", "o", "hundred", "thousand", "double", "triple", "dash", "point",
];

/// Words that acknowledge without taking the turn ("mm-hm" splits into "mm", "hm").
const BACKCHANNELS: &[&str] = &[
    "mm", "mmm", "hm", "hmm", "mhm", "mmhmm", "uh", "huh", "uhhuh", "um", "yeah", "yes", "yep",
    "yup", "ya", "ok", "okay", "k", "right", "sure", "alright", "all", "oh", "ah", "i", "see",
    "got", "it", "cool", "great", "nice", "wow", "really", "exactly", "totally", "true", "indeed",
    "fine", "good",
];

/// Words a caller often starts a longer answer with, after a pause: said
/// alone they do not yet end a turn ("No, [pause] that is not what I
/// ordered"; "Yes, [pause] Tuesday works").
const LEADING: &[&str] = &[
    "yes", "yeah", "yep", "no", "nope", "nah", "okay", "ok", "sure", "right", "alright", "well",
    "actually", "oh", "hi", "hello", "hey",
];

/// The most words a backchannel has ("oh okay, got it" is four).
const BACKCHANNEL_MAX_WORDS: usize = 4;

/// Lowercased words without surrounding punctuation; hyphens split words
/// ("mm-hm" → "mm", "hm"; "415-555" → "415", "555").
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '-' || c == '–' || c == '—')
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `text` is only an acknowledgement ("mm-hm", "yeah", "okay, right")
/// that must not interrupt the agent. Empty text is not a backchannel.
pub fn is_backchannel(text: &str) -> bool {
    let words = words(text);
    !words.is_empty()
        && words.len() <= BACKCHANNEL_MAX_WORDS
        && words.iter().all(|w| BACKCHANNELS.contains(&w.as_str()))
}

/// What the words of a turn so far look like (see [`Completeness`]).
pub fn classify(text: &str) -> Completeness {
    let trimmed = text.trim_end();
    if trimmed.ends_with('…') || trimmed.ends_with("...") {
        return Completeness::Incomplete(Unfinished::Trailing);
    }
    let question = trimmed.ends_with('?');
    let punctuated = question || trimmed.ends_with('.') || trimmed.ends_with('!');
    let words = words(trimmed);
    let Some(last) = words.last() else {
        return Completeness::Unclear;
    };
    if let Some(digits) = trailing_number(&words) {
        // A whole phone (10 or 11 digits) or card (15 or 16) number, closed
        // by the transcriber's full stop, is done; anything else is being read.
        let whole = matches!(digits, 10 | 11 | 15 | 16);
        if !(whole && punctuated) {
            return Completeness::Incomplete(Unfinished::Number);
        }
    }
    if question {
        return Completeness::Question;
    }
    if FILLERS.contains(&last.as_str()) {
        return Completeness::Incomplete(Unfinished::Filler);
    }
    if CONNECTIVES.contains(&last.as_str()) {
        return Completeness::Incomplete(Unfinished::Connective);
    }
    let leading_only = words.len() <= 2 && words.iter().all(|w| LEADING.contains(&w.as_str()));
    if punctuated && !leading_only {
        Completeness::Complete
    } else {
        Completeness::Unclear
    }
}

/// When the words end on a number being read out (two or more number
/// tokens, or three or more digits), how many digits it has so far.
fn trailing_number(words: &[String]) -> Option<usize> {
    let mut tokens = 0;
    let mut digits = 0;
    for word in words.iter().rev() {
        let count = if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) {
            word.len()
        } else if is_number_word(word) || NUMBER_READING_WORDS.contains(&word.as_str()) {
            1
        } else {
            break;
        };
        tokens += 1;
        digits += count;
    }
    (tokens >= 2 || digits >= 3).then_some(digits)
}
