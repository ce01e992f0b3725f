//! `{{variable}}` templates and the variable store they read from.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The values a call has gathered so far, addressed by dotted paths (`contact.name`,
/// `order.items.0.sku`).
///
/// A thin wrapper over a JSON object so the engine can persist and restore it as-is, and so
/// tool results stay structured for later `{{order.status}}` lookups. The engine should put
/// `contact`, `context`, `agent` and `call` objects here at call start, plus `today`
/// (`YYYY-MM-DD`, which date answers like "tomorrow" are resolved against) and `now`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Variables(Map<String, Value>);

impl Variables {
    /// An empty store.
    pub fn new() -> Variables {
        Variables::default()
    }

    /// Reads a dotted path; numeric segments index arrays. A literal top-level key containing
    /// dots (`"contact.name"`) is found too, for callers that store flat keys.
    pub fn get(&self, path: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(path) {
            return Some(v);
        }
        let mut segments = path.split('.');
        let mut current = self.0.get(segments.next()?)?;
        for seg in segments {
            current = match current {
                Value::Object(map) => map.get(seg)?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// Writes a dotted path, creating (or replacing non-object) parents as needed, so
    /// `set("address.city", ..)` works whether or not `address` existed.
    pub fn set(&mut self, path: &str, value: Value) {
        let mut segments: Vec<&str> = path.split('.').collect();
        let Some(last) = segments.pop() else { return };
        let mut map = &mut self.0;
        for seg in segments {
            let slot = map
                .entry(seg.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else { return };
            map = inner;
        }
        map.insert(last.to_string(), value);
    }

    /// Builder-style [`Variables::set`], handy when seeding a call.
    pub fn with(mut self, path: &str, value: impl Into<Value>) -> Variables {
        self.set(path, value.into());
        self
    }

    /// The underlying object, e.g. for storing the call state.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Gives the underlying object back.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

impl From<Map<String, Value>> for Variables {
    fn from(map: Map<String, Value>) -> Variables {
        Variables(map)
    }
}

/// One piece of a scanned template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// A well-formed `{{ name }}`; holds the trimmed name.
    Var(&'a str),
    /// `{{ ... }}` whose inside is not a variable name, or an unclosed `{{`; kept verbatim.
    Malformed(&'a str),
}

/// Splits a template into pieces; the single parser behind rendering and checking, so both
/// always agree on what counts as a placeholder.
pub(super) fn scan(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            pieces.push(Piece::Malformed(&rest[open..]));
            return pieces;
        };
        let inner = after[..close].trim();
        if is_variable_name(inner) {
            pieces.push(Piece::Var(inner));
        } else {
            pieces.push(Piece::Malformed(&rest[open..open + 2 + close + 2]));
        }
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
}

/// Whether `name` is a dotted variable path: an identifier, then `.segment`s of letters,
/// digits or `_` (digits allowed so array indexes work).
pub(super) fn is_variable_name(name: &str) -> bool {
    let mut segments = name.split('.');
    let first_ok = segments.next().is_some_and(|first| {
        first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    first_ok
        && segments
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Fills a template for speaking or sending. Missing variables become empty text (a caller
/// hearing a short gap beats a call that fails), and malformed placeholders stay verbatim;
/// the flow checker has already rejected both for saved flows.
pub fn render(template: &str, vars: &Variables) -> String {
    render_with(template, vars, |text| text.to_owned())
}

/// [`render`] with each filled-in value passed through `encode` first (literal text is kept
/// as written), e.g. percent-encoding for a tool's URL so an argument cannot add path
/// segments or query parameters of its own.
pub fn render_with(template: &str, vars: &Variables, encode: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in scan(template) {
        match piece {
            Piece::Text(t) | Piece::Malformed(t) => out.push_str(t),
            Piece::Var(name) => {
                if let Some(v) = vars.get(name) {
                    out.push_str(&encode(&to_text(v)));
                }
            }
        }
    }
    out
}

/// The variable name when the whole template is one placeholder (`"{{ city }}"`), so a
/// JSON-aware caller can put the variable's value in with its type instead of as text.
pub fn whole_placeholder(template: &str) -> Option<&str> {
    match scan(template.trim()).as_slice() {
        [Piece::Var(name)] => Some(*name),
        _ => None,
    }
}

/// Renders every string inside a JSON value (tool `args`), leaving numbers, booleans and
/// structure alone so the tool receives the shape the flow author wrote.
pub fn render_value(value: &Value, vars: &Variables) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, vars)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Variables a template reads, each once, in order of first use. Linear in the template:
/// a template with thousands of distinct placeholders costs no more than its length.
pub fn template_variables(template: &str) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut names: Vec<String> = Vec::new();
    for piece in scan(template) {
        if let Piece::Var(name) = piece
            && seen.insert(name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// How a value reads aloud: strings as-is, lists joined with ", ", objects as JSON.
pub(super) fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(to_text).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
    }
}
