//! Checking and typing what a caller said in answer to an `ask` node. Callers speak, so
//! answers come as loose sentences ("yeah that's right", "forty two", "next friday").

use std::fmt;

use serde::Serialize;
use serde_json::{Number, Value};

use super::date;
use super::model::Validation;
use super::template::Variables;

/// Why an answer was not accepted, so the engine can tell the caller what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum InvalidAnswer {
    /// Silence or an empty transcript.
    #[error("no answer was heard")]
    NoAnswer,
    /// No single number was found.
    #[error("the answer is not a number")]
    NotANumber,
    /// No single date was found (relative dates need the `today` variable).
    #[error("the answer is not a date")]
    NotADate,
    /// Neither a clear yes nor a clear no.
    #[error("the answer is not a clear yes or no")]
    NotYesNo,
    /// None of the options was mentioned.
    #[error("the answer is not one of the options")]
    NoOptionMatched,
    /// Several options were mentioned.
    #[error("the answer mentions more than one option")]
    AmbiguousChoice,
    /// The answer does not have the expected format.
    #[error("the answer does not have the expected format")]
    PatternMismatch,
}

/// Checks an answer and returns the JSON value to store. Public so the conversation engine
/// and the offline report read yes/no, numbers, dates and choices the same way an `ask`
/// node does (one set of rules, not two).
pub fn check(
    validation: &Validation,
    utterance: Option<&str>,
    vars: &Variables,
) -> Result<Value, InvalidAnswer> {
    // Transcripts end sentences with punctuation the caller never "said".
    let text = utterance
        .map(|u| u.trim().trim_end_matches(['.', '!', '?', ',', ';']).trim())
        .filter(|t| !t.is_empty())
        .ok_or(InvalidAnswer::NoAnswer)?;
    match validation {
        Validation::Free => Ok(Value::String(text.to_string())),
        Validation::Regex(pattern) => pattern
            .is_match(text)
            .then(|| Value::String(text.to_string()))
            .ok_or(InvalidAnswer::PatternMismatch),
        Validation::Number => parse_number(text)
            .and_then(number_value)
            .ok_or(InvalidAnswer::NotANumber),
        Validation::Date => {
            let today = vars
                .get("today")
                .and_then(Value::as_str)
                .and_then(date::Date::parse_iso);
            date::parse(text, today)
                .map(|d| Value::String(d.to_string()))
                .ok_or(InvalidAnswer::NotADate)
        }
        Validation::YesNo => yes_no(text).map(Value::Bool).ok_or(InvalidAnswer::NotYesNo),
        Validation::Choice(options) => choice(text, options).map(Value::String),
    }
}

/// Integers stay integers so `{{age}}` renders as "42", not "42.0".
fn number_value(n: f64) -> Option<Value> {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(n as i64));
    }
    Number::from_f64(n).map(Value::Number)
}

/// Lowercase words without surrounding punctuation; the unit the word matchers work on.
pub(super) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The single number in the answer, in digits or words; several different ones are
/// ambiguous ("two or three") and rejected.
fn parse_number(text: &str) -> Option<f64> {
    let mut found: Vec<f64> = text.split_whitespace().filter_map(digit_number).collect();
    found.extend(word_numbers(text));
    let first = *found.first()?;
    found.iter().all(|&n| n == first).then_some(first)
}

/// "42", "-3.5", "$1,200.50", "42%"; not "3pm" or "12/01".
fn digit_number(token: &str) -> Option<f64> {
    let t = token.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)));
    let t = t.trim_end_matches('.');
    let (sign, body) = match t.strip_prefix(['-', '+']) {
        Some(rest) => (if t.starts_with('-') { -1.0 } else { 1.0 }, rest),
        None => (1.0, t),
    };
    let body = body.trim_start_matches(['$', '€', '£']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let groups: Vec<&str> = int.split(',').collect();
    let grouped = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3));
    let int: String = groups.concat();
    let digits_ok = !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && frac.is_empty() != body.contains('.');
    if !grouped || !digits_ok {
        return None;
    }
    let n: f64 = format!("{int}.{}", if frac.is_empty() { "0" } else { frac })
        .parse()
        .ok()?;
    Some(sign * n)
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Whether `word` (lowercase) is a spelled-out number from zero to ninety:
/// what a caller reads digits and amounts with.
pub(crate) fn is_number_word(word: &str) -> bool {
    UNITS.contains(&word) || TENS.contains(&word)
}

/// Where a spelled-out number stands, to tell "forty two" (one number) from "one two" (two).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Last {
    #[default]
    Nothing,
    Unit,
    Tens,
    Scale,
}

/// A spelled-out number being read.
#[derive(Debug, Default)]
struct WordRun {
    last: Last,
    total: f64,
    current: f64,
    negative: bool,
    decimals: Option<String>,
}

impl WordRun {
    fn finish(&mut self, found: &mut Vec<f64>) {
        if self.last != Last::Nothing {
            let fraction = self
                .decimals
                .as_deref()
                .and_then(|d| format!("0.{d}0").parse::<f64>().ok())
                .unwrap_or(0.0);
            let n = self.total + self.current + fraction;
            found.push(if self.negative { -n } else { n });
        }
        *self = WordRun::default();
    }
}

/// Numbers spelled in words ("forty two", "one hundred and five", "minus three",
/// "two point five", "a thousand"); returns each separate run.
fn word_numbers(text: &str) -> Vec<f64> {
    let tokens: Vec<String> = words(&text.replace('-', " "));
    let is_number_word = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|n| UNITS.contains(&n.as_str()) || TENS.contains(&n.as_str()))
    };
    let is_scale_word = |k: usize| {
        tokens
            .get(k)
            .is_some_and(|n| ["hundred", "thousand", "million", "billion"].contains(&n.as_str()))
    };
    let mut found = Vec::new();
    let mut run = WordRun::default();
    for (k, word) in tokens.iter().map(String::as_str).enumerate() {
        let unit = UNITS.iter().position(|u| *u == word);
        let tens = TENS.iter().position(|t| *t == word);
        if let Some(digits) = run.decimals.as_mut() {
            if let Some(u) = unit.filter(|u| *u < 10) {
                digits.push_str(&u.to_string());
                continue;
            }
            run.finish(&mut found);
        }
        match (unit, tens, word) {
            (Some(u), _, _) => {
                if run.last == Last::Unit || (run.last == Last::Tens && u >= 10) {
                    run.finish(&mut found);
                }
                run.current += u as f64;
                run.last = Last::Unit;
            }
            (_, Some(t), _) => {
                if matches!(run.last, Last::Unit | Last::Tens) && run.current % 100.0 != 0.0 {
                    run.finish(&mut found);
                }
                run.current += (t as f64 + 2.0) * 10.0;
                run.last = Last::Tens;
            }
            (_, _, "a") if run.last == Last::Nothing && is_scale_word(k + 1) => {
                run.current = 1.0;
                run.last = Last::Unit;
            }
            (_, _, "hundred") if run.last != Last::Nothing => {
                run.current = run.current.max(1.0) * 100.0;
                run.last = Last::Scale;
            }
            (_, _, "thousand" | "million" | "billion") if run.last != Last::Nothing => {
                let scale = match word {
                    "thousand" => 1e3,
                    "million" => 1e6,
                    _ => 1e9,
                };
                run.total += run.current.max(1.0) * scale;
                run.current = 0.0;
                run.last = Last::Scale;
            }
            (_, _, "and") if run.last == Last::Scale => {}
            (_, _, "point") if run.last != Last::Nothing => run.decimals = Some(String::new()),
            (_, _, "minus" | "negative") if run.last == Last::Nothing && is_number_word(k + 1) => {
                run.negative = true;
            }
            _ => run.finish(&mut found),
        }
    }
    run.finish(&mut found);
    found
}

const YES: [&str; 17] = [
    "yes",
    "yeah",
    "yep",
    "yup",
    "ya",
    "yea",
    "sure",
    "correct",
    "right",
    "affirmative",
    "absolutely",
    "definitely",
    "certainly",
    "ok",
    "okay",
    "indeed",
    "true",
];
const NO: [&str; 9] = [
    "no",
    "nope",
    "nah",
    "negative",
    "incorrect",
    "wrong",
    "never",
    "false",
    "not",
];

/// A clear yes or a clear no; "not sure", "yes… no" or anything else is `None`.
fn yes_no(text: &str) -> Option<bool> {
    // Phrases that contain "no" but mean yes.
    let mut lowered = words(text).join(" ");
    for phrase in ["no problem", "no worries", "why not"] {
        lowered = lowered.replace(phrase, "yes");
    }
    let words = words(&lowered);
    if ["not sure", "don't know", "dont know", "maybe"]
        .iter()
        .any(|p| lowered.contains(p))
    {
        return None;
    }
    let mut yes = lowered.contains("of course");
    let mut no = false;
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        if w == "not" {
            // "not" only counts when it negates a yes-word: "not correct", "not right".
            no |= words.get(i + 1).is_some_and(|n| YES.contains(&n.as_str()));
        } else if NO.contains(&w) {
            no = true;
        } else if YES.contains(&w) && !(i > 0 && words[i - 1] == "not") {
            yes = true;
        }
    }
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// The option the caller picked: an exact (case-insensitive) match, or the one option the
/// answer mentions as whole words. Options nested in a longer mentioned option ("red" in
/// "dark red") do not count as a second mention.
fn choice(text: &str, options: &[String]) -> Result<String, InvalidAnswer> {
    let said = words(text);
    let option_words: Vec<Vec<String>> = options.iter().map(|o| words(o)).collect();
    if let Some(i) = option_words.iter().position(|o| *o == said) {
        return Ok(options[i].clone());
    }
    let contains = |hay: &[String], needle: &[String]| {
        !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
    };
    let mentioned: Vec<usize> = (0..options.len())
        .filter(|&i| contains(&said, &option_words[i]))
        .collect();
    let outermost: Vec<usize> = mentioned
        .iter()
        .copied()
        .filter(|&i| {
            !mentioned.iter().any(|&j| {
                j != i
                    && option_words[j].len() > option_words[i].len()
                    && contains(&option_words[j], &option_words[i])
            })
        })
        .collect();
    match outermost.as_slice() {
        [] => Err(InvalidAnswer::NoOptionMatched),
        [i] => Ok(options[*i].clone()),
        _ => Err(InvalidAnswer::AmbiguousChoice),
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
