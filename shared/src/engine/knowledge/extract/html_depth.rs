//! A bound on the nesting html5ever sees. Its tree builder scans the stack
//! of open elements on many start tags (`<div>` looks for an open `<p>`), so
//! a page nesting elements 100,000 deep costs quadratic time. Before parsing,
//! tags deeper than [`MAX_HTML_DEPTH`] are dropped: their text stays, only
//! the structure beyond that depth is flattened. One linear pass.

use std::borrow::Cow;

/// Deepest element nesting kept (real pages stay well under 100).
pub(super) const MAX_HTML_DEPTH: usize = 256;

/// Elements that never have content or close themselves implicitly: they do
/// not count towards the depth.
const FLAT: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt",
    "rp", "tbody", "thead", "tfoot", "colgroup", "caption",
];

/// Elements whose content is raw text (no tags inside).
const RAW: &[&str] = &["script", "style", "textarea", "title", "xmp", "noembed"];

/// `html` with every tag nested deeper than [`MAX_HTML_DEPTH`] removed
/// (borrowed unchanged when nothing is that deep).
pub(super) fn flatten_deep(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut out: Option<String> = None;
    let mut depth = 0usize;
    let mut copied = 0usize; // bytes of `html` already in `out`
    let mut at = 0usize;
    while let Some(offset) = memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            at = find(html, start + 4, "-->").map_or(html.len(), |i| i + 3);
            continue;
        }
        let closing = rest.starts_with("</");
        let name_start = start + if closing { 2 } else { 1 };
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b':')
            .count();
        if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
            at = start + 1;
            continue;
        }
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        let end = tag_end(bytes, name_start + name_len);
        let self_closing = end >= 2 && bytes[end - 2] == b'/';
        let counts = !FLAT.contains(&name.as_str()) && !self_closing;
        let mut drop = false;
        if counts && closing {
            drop = depth > MAX_HTML_DEPTH;
            depth = depth.saturating_sub(1);
        } else if counts {
            depth += 1;
            drop = depth > MAX_HTML_DEPTH;
        }
        if drop {
            let out = out.get_or_insert_with(|| String::with_capacity(html.len()));
            out.push_str(&html[copied..start]);
            out.push(' ');
            copied = end;
        }
        at = end;
        if !closing && RAW.contains(&name.as_str()) {
            // Skip to the raw text's end tag (parsed above as a closing tag).
            at = find_ignore_case(html, end, &format!("</{name}")).unwrap_or(html.len());
        }
    }
    match out {
        None => Cow::Borrowed(html),
        Some(mut out) => {
            out.push_str(&html[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Just past the `>` ending a tag whose name ends at `from` (quoted
/// attribute values may hold `>`); the input's end when there is none.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') if bytes[i - 1] == b'=' || bytes[i - 1].is_ascii_whitespace() => {
                quote = Some(b)
            }
            (None, b'>') => return i + 1,
            (None, _) => {}
        }
    }
    bytes.len()
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

fn find(html: &str, from: usize, needle: &str) -> Option<usize> {
    html.get(from..)?.find(needle).map(|i| from + i)
}

/// Finds an ASCII `needle` (lowercase) from `from`, ignoring case.
fn find_ignore_case(html: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = html.as_bytes().get(from..)?;
    let needle = needle.as_bytes();
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_pages_are_untouched() {
        let html = "<html><body><div><p>a<p>b<ul><li>c</ul><script>if (a<b) x</script></div>";
        assert!(matches!(flatten_deep(html), Cow::Borrowed(_)));
    }

    #[test]
    fn tags_past_the_limit_are_dropped_and_text_kept() {
        let depth = MAX_HTML_DEPTH + 10;
        let html = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let flat = flatten_deep(&html);
        assert_eq!(flat.matches("<div>").count(), MAX_HTML_DEPTH);
        assert_eq!(flat.matches("</div>").count(), MAX_HTML_DEPTH);
        assert!(flat.contains("deep"));
    }
}
