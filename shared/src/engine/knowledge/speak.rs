//! Voice mode: a retrieved chunk made fit to be spoken.

use std::sync::LazyLock;

use regex::Regex;
use unicode_segmentation::UnicodeSegmentation;

/// Sentences a spoken hit keeps (SPEC §5: ≤ 2 per hit).
const SPOKEN_SENTENCES: usize = 2;

fn pattern(re: &str) -> Regex {
    // The patterns are constants of this file; a typo fails every test.
    Regex::new(re).unwrap_or_else(|err| panic!("speak.rs pattern {re:?}: {err}"))
}

static CODE_FENCE: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?s)```.*?(```|$)"));
static TAG: LazyLock<Regex> = LazyLock::new(|| pattern(r"</?[A-Za-z][^>]*>"));
static IMAGE: LazyLock<Regex> = LazyLock::new(|| pattern(r"!\[[^\]]*\]\([^)]*\)"));
static LINK: LazyLock<Regex> = LazyLock::new(|| pattern(r"\[([^\]]+)\]\([^)]*\)"));
static URL: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?i)\b(https?://|www\.)\S+"));
static TABLE_RULE: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\|?[\s:|-]*-{2,}[\s:|-]*$"));
static BULLET: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^(?:>\s*)*(?:[-*+•]\s+|\d{1,3}[.)]\s+)?"));
static EMPHASIS: LazyLock<Regex> = LazyLock::new(|| pattern(r"\*+|`+|~~|\b_+|_+\b"));
static EMOJI: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\x{FE0F}\x{200D}\x{20E3}]")
});
static SPACE_BEFORE_PUNCT: LazyLock<Regex> = LazyLock::new(|| pattern(r"\s+([.,;:!?])"));
static EMPTY_PARENS: LazyLock<Regex> = LazyLock::new(|| pattern(r"\(\s*\)|\[\s*\]"));

/// `text` as a voice agent can say it: markdown and HTML markup, URLs, table
/// syntax and emoji removed, headings dropped when there is other text, each
/// line (list item, table row) its own sentence, and at most two sentences.
/// Numbers, prices and times are left as written (`$49`, `9:30`).
pub fn speakable(text: &str) -> String {
    let text = CODE_FENCE.replace_all(text, " ");
    let text = TAG.replace_all(&text, " ");
    let text = IMAGE.replace_all(&text, "");
    let text = LINK.replace_all(&text, "$1");
    let text = URL.replace_all(&text, "");
    let text = EMOJI.replace_all(&text, "");

    let mut headings = Vec::new();
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || TABLE_RULE.is_match(line) {
            continue;
        }
        if let Some(heading) = line.strip_prefix('#') {
            headings.push(clean_line(heading.trim_start_matches('#')));
            continue;
        }
        let line = if line.contains('|') {
            line.trim_matches('|')
                .split('|')
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            line.to_owned()
        };
        lines.push(clean_line(&BULLET.replace(&line, "")));
    }
    if lines.iter().all(String::is_empty) {
        lines = headings;
    }

    let mut joined = String::new();
    for line in lines.iter().filter(|l| !l.is_empty()) {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        if !line.ends_with(['.', '!', '?', ':', ';']) {
            joined.push('.');
        }
    }
    joined
        .unicode_sentences()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(SPOKEN_SENTENCES)
        .collect::<Vec<_>>()
        .join(" ")
}

fn clean_line(line: &str) -> String {
    let line = EMPHASIS.replace_all(line, "");
    let line = EMPTY_PARENS.replace_all(&line, "");
    let line = SPACE_BEFORE_PUNCT.replace_all(&line, "$1");
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_urls_and_emoji_go_numbers_stay() {
        let spoken = speakable(
            "# Pricing > Plans\n**Pro** costs *$49* a month 🎉 (see [our page](https://acme.test/pricing)). \
             Visit https://acme.test for more. Third sentence here.",
        );
        assert_eq!(
            spoken,
            "Pro costs $49 a month (see our page). Visit for more."
        );
    }

    #[test]
    fn table_syntax_becomes_plain_sentences() {
        let spoken = speakable("| Plan | Price |\n|---|---|\n| Pro | $49 |");
        assert_eq!(spoken, "Plan, Price. Pro, $49.");
    }

    #[test]
    fn list_items_are_sentences_and_two_are_kept() {
        let spoken = speakable(
            "- Monday to Friday 9:00 to 17:30\n- Saturday 10:00 to 14:00\n- Sunday closed",
        );
        assert_eq!(
            spoken,
            "Monday to Friday 9:00 to 17:30. Saturday 10:00 to 14:00."
        );
    }

    #[test]
    fn html_tags_are_dropped_and_a_lone_heading_is_spoken() {
        assert_eq!(
            speakable("<p>We open at <b>9.30</b>.</p>"),
            "We open at 9.30."
        );
        assert_eq!(speakable("## Opening hours"), "Opening hours.");
        assert_eq!(speakable("plan: Pro; price: $49"), "plan: Pro; price: $49.");
    }
}
