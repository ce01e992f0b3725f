//! How spoken answers are checked and typed for each `ask` validation.

use serde_json::{Value, json};

use super::super::answer::check;
use super::super::model::{Pattern, Validation};
use super::super::{InvalidAnswer, Variables};

use InvalidAnswer::*;

/// A Friday.
const TODAY: &str = "2026-05-01";

fn answer(validation: &Validation, said: &str) -> Result<Value, InvalidAnswer> {
    check(
        validation,
        Some(said),
        &Variables::new().with("today", TODAY),
    )
}

fn run(validation: Validation, cases: &[(&str, Result<Value, InvalidAnswer>)]) {
    for (said, expected) in cases {
        assert_eq!(
            &answer(&validation, said),
            expected,
            "{} answer {said:?}",
            validation.as_str()
        );
    }
}

#[test]
fn numbers_in_digits_or_words() {
    run(
        Validation::Number,
        &[
            ("42", Ok(json!(42))),
            ("I'm 42.", Ok(json!(42))),
            ("forty two", Ok(json!(42))),
            ("forty-two", Ok(json!(42))),
            ("about 3.5 kilos", Ok(json!(3.5))),
            ("$1,200", Ok(json!(1200))),
            ("one hundred and five", Ok(json!(105))),
            ("two thousand twenty six", Ok(json!(2026))),
            ("a hundred", Ok(json!(100))),
            ("minus four", Ok(json!(-4))),
            ("-4", Ok(json!(-4))),
            ("two point five", Ok(json!(2.5))),
            ("zero", Ok(json!(0))),
            ("42, I said 42", Ok(json!(42))),
            ("two or three", Err(NotANumber)),
            ("1,20", Err(NotANumber)),
            ("banana", Err(NotANumber)),
            ("3pm", Err(NotANumber)),
        ],
    );
}

#[test]
fn dates_absolute_and_relative_to_today() {
    let day = |d: &str| Ok(json!(d));
    run(
        Validation::Date,
        &[
            ("2026-12-01", day("2026-12-01")),
            ("12/01/2026", day("2026-12-01")),
            ("25/12/2026", day("2026-12-25")),
            ("01.12.2026", day("2026-12-01")),
            ("12/1/26", day("2026-12-01")),
            ("Dec 1, 2026", day("2026-12-01")),
            ("the 1st of December 2027", day("2027-12-01")),
            ("December 1st", day("2026-12-01")),
            ("on the 3rd of March", day("2027-03-03")),
            ("today", day("2026-05-01")),
            ("Tomorrow, please.", day("2026-05-02")),
            ("the day after tomorrow", day("2026-05-03")),
            ("yesterday", day("2026-04-30")),
            ("next Monday", day("2026-05-04")),
            ("friday", day("2026-05-08")),
            ("in two weeks", day("2026-05-15")),
            ("in 3 days", day("2026-05-04")),
            ("2028-02-29", day("2028-02-29")),
            ("2026-02-29", Err(NotADate)),
            ("may I call you back", Err(NotADate)),
            ("tomorrow or friday", Err(NotADate)),
            ("sometime soon", Err(NotADate)),
        ],
    );
}

#[test]
fn relative_dates_need_today() {
    let no_today = Variables::new();
    assert_eq!(
        check(&Validation::Date, Some("tomorrow"), &no_today),
        Err(NotADate)
    );
    assert_eq!(
        check(&Validation::Date, Some("2026-12-01"), &no_today),
        Ok(json!("2026-12-01"))
    );
}

#[test]
fn yes_or_no_in_everyday_words() {
    run(
        Validation::YesNo,
        &[
            ("Yes.", Ok(json!(true))),
            ("yeah sure", Ok(json!(true))),
            ("yep", Ok(json!(true))),
            ("of course", Ok(json!(true))),
            ("that's correct", Ok(json!(true))),
            ("sure, no problem", Ok(json!(true))),
            ("nope", Ok(json!(false))),
            ("No, thanks", Ok(json!(false))),
            ("that's not correct", Ok(json!(false))),
            ("not sure", Err(NotYesNo)),
            ("yes no", Err(NotYesNo)),
            ("maybe later", Err(NotYesNo)),
            ("purple", Err(NotYesNo)),
        ],
    );
}

#[test]
fn choices_match_one_option_case_insensitively() {
    let options = ["Red", "Dark Red", "Blue"].map(String::from).to_vec();
    run(
        Validation::Choice(options),
        &[
            ("red", Ok(json!("Red"))),
            ("BLUE!", Ok(json!("Blue"))),
            ("I'd like dark red please", Ok(json!("Dark Red"))),
            ("the blue one", Ok(json!("Blue"))),
            ("red or blue", Err(AmbiguousChoice)),
            ("green", Err(NoOptionMatched)),
            ("redish", Err(NoOptionMatched)),
        ],
    );
}

#[test]
fn regex_must_match_the_whole_answer() {
    let zip = Pattern::full("[0-9]{5}").expect("pattern");
    run(
        Validation::Regex(zip),
        &[
            ("12345", Ok(json!("12345"))),
            ("12345.", Ok(json!("12345"))),
            ("1234", Err(PatternMismatch)),
            ("my zip is 12345", Err(PatternMismatch)),
        ],
    );
}

#[test]
fn silence_is_no_answer_and_free_answers_are_kept() {
    let vars = Variables::new();
    assert_eq!(check(&Validation::Free, None, &vars), Err(NoAnswer));
    assert_eq!(
        check(&Validation::Free, Some(" ... "), &vars),
        Err(NoAnswer)
    );
    assert_eq!(
        check(&Validation::Free, Some(" Dana Scully. "), &vars),
        Ok(json!("Dana Scully"))
    );
}
