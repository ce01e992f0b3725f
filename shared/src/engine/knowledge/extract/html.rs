//! HTML: parsed by `scraper` (html5ever, so any real-world page parses);
//! scripts, styles, navigation and other chrome are dropped; headings,
//! paragraphs, list items and table rows become blocks.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use super::{Block, BlockKind, collapse_whitespace};

/// Elements whose content is never readable text.
const SKIPPED: &[&str] = &[
    "script", "style", "nav", "noscript", "template", "svg", "iframe", "head", "button", "select",
    "option", "canvas", "object", "embed", "menu",
];

/// Elements that flow inside a line of text.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "label",
    "font", "del", "ins", "img",
];

/// The readable text of an HTML page: one block per line, a blank line
/// between blocks, no markup. What `ingest-url` keeps of a fetched page.
pub fn html_to_text(html: &str) -> String {
    let (_, blocks) = blocks(html);
    blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub(super) fn blocks(html: &str) -> (Option<String>, Vec<Block>) {
    let document = Html::parse_document(html);
    let root = document.tree.root();
    let title = root
        .descendants()
        .find(|n| n.value().as_element().is_some_and(|e| e.name() == "title"))
        .map(|n| text_of(n, false))
        .filter(|t| !t.is_empty());
    let mut walker = Walker::default();
    walker.walk(root);
    walker.flush();
    (title, walker.blocks)
}

#[derive(Default)]
struct Walker {
    blocks: Vec<Block>,
    inline: String,
}

impl Walker {
    fn flush(&mut self) {
        let text = collapse_whitespace(&self.inline);
        self.inline.clear();
        if !text.is_empty() {
            self.blocks.push(Block::new(BlockKind::Paragraph, text));
        }
    }

    fn push(&mut self, kind: BlockKind, text: String) {
        if !text.is_empty() {
            self.blocks.push(Block::new(kind, text));
        }
    }

    fn walk(&mut self, node: NodeRef<'_, Node>) {
        for child in node.children() {
            match child.value() {
                Node::Text(text) => self.inline.push_str(&text[..]),
                Node::Element(element) => {
                    let name = element.name();
                    if SKIPPED.contains(&name) {
                        continue;
                    }
                    match name {
                        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                            self.flush();
                            let level = name[1..].parse().unwrap_or(2);
                            self.push(BlockKind::Heading(level), text_of(child, false));
                        }
                        "p" | "pre" => {
                            self.flush();
                            self.push(BlockKind::Paragraph, text_of(child, false));
                        }
                        "li" => {
                            self.flush();
                            self.push(BlockKind::ListItem, text_of(child, true));
                            for nested in child.children() {
                                if is_element(nested, &["ul", "ol", "table"]) {
                                    self.walk_one(nested);
                                }
                            }
                        }
                        "table" => {
                            self.flush();
                            self.table(child);
                        }
                        "br" => self.inline.push(' '),
                        _ if INLINE.contains(&name) => self.walk(child),
                        _ => {
                            self.flush();
                            self.walk(child);
                            self.flush();
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Walks `node` itself (not only its children).
    fn walk_one(&mut self, node: NodeRef<'_, Node>) {
        if is_element(node, &["table"]) {
            self.table(node);
        } else {
            self.walk(node);
            self.flush();
        }
    }

    fn table(&mut self, table: NodeRef<'_, Node>) {
        let mut headers: Option<Vec<String>> = None;
        for row in table.descendants().filter(|n| is_element(*n, &["tr"])) {
            let cells: Vec<NodeRef<'_, Node>> = row
                .children()
                .filter(|c| is_element(*c, &["td", "th"]))
                .collect();
            if cells.is_empty() {
                continue;
            }
            let texts: Vec<String> = cells.iter().map(|c| text_of(*c, false)).collect();
            let all_th = cells.iter().all(|c| is_element(*c, &["th"]));
            if headers.is_none() && all_th {
                headers = Some(texts);
                continue;
            }
            if texts.iter().any(|t| !t.is_empty()) {
                self.blocks
                    .push(Block::table_row(headers.clone().unwrap_or_default(), texts));
            }
        }
    }
}

fn is_element(node: NodeRef<'_, Node>, names: &[&str]) -> bool {
    node.value()
        .as_element()
        .is_some_and(|e| names.contains(&e.name()))
}

/// The text under `node`, skipping non-content elements (and nested lists
/// and tables when `skip_lists`), with a space at every element boundary that
/// is not inline.
fn text_of(node: NodeRef<'_, Node>, skip_lists: bool) -> String {
    fn collect(node: NodeRef<'_, Node>, skip_lists: bool, out: &mut String) {
        for child in node.children() {
            match child.value() {
                Node::Text(text) => out.push_str(&text[..]),
                Node::Element(element) => {
                    let name = element.name();
                    if SKIPPED.contains(&name)
                        || (skip_lists && matches!(name, "ul" | "ol" | "table"))
                    {
                        continue;
                    }
                    let inline = INLINE.contains(&name);
                    if !inline {
                        out.push(' ');
                    }
                    collect(child, skip_lists, out);
                    if !inline {
                        out.push(' ');
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = String::new();
    collect(node, skip_lists, &mut out);
    collapse_whitespace(&out)
}
