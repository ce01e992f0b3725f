//! HTML: parsed by `scraper` (html5ever, so any real-world page parses);
//! scripts, styles, navigation and other chrome are dropped; headings,
//! paragraphs, list items and table rows become blocks.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use super::{Block, BlockKind, Budget, ExtractError, collapse_whitespace};

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
    let Ok((_, blocks)) = blocks(html, &Budget::unlimited()) else {
        return String::new();
    };
    blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

pub(super) fn blocks(
    html: &str,
    budget: &Budget,
) -> Result<(Option<String>, Vec<Block>), ExtractError> {
    let document = Html::parse_document(&super::html_depth::flatten_deep(html));
    budget.check()?;
    let root = document.tree.root();
    let title = match root
        .descendants()
        .find(|n| n.value().as_element().is_some_and(|e| e.name() == "title"))
    {
        Some(node) => Some(text_of(node, &[], budget)?).filter(|t| !t.is_empty()),
        None => None,
    };
    let mut walker = Walker {
        blocks: Vec::new(),
        inline: String::new(),
        budget,
    };
    walker.walk(root)?;
    walker.flush();
    Ok((title, walker.blocks))
}

/// What the walker does next. The walk keeps its own stack (a page may nest
/// elements 100,000 deep; recursion would overflow the thread's stack).
enum Step<'a> {
    /// Reads one node: text, or an element by its kind.
    Visit(NodeRef<'a, Node>),
    /// Ends the running paragraph of inline text.
    Flush,
}

struct Walker<'b> {
    blocks: Vec<Block>,
    inline: String,
    budget: &'b Budget,
}

impl Walker<'_> {
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

    /// Reads the children of `node` in document order.
    fn walk<'a>(&mut self, node: NodeRef<'a, Node>) -> Result<(), ExtractError> {
        let mut stack: Vec<Step<'a>> = Vec::new();
        push_children(&mut stack, node);
        while let Some(step) = stack.pop() {
            self.budget.check()?;
            let child = match step {
                Step::Flush => {
                    self.flush();
                    continue;
                }
                Step::Visit(child) => child,
            };
            let element = match child.value() {
                Node::Text(text) => {
                    self.inline.push_str(&text[..]);
                    continue;
                }
                Node::Element(element) => element,
                _ => continue,
            };
            let name = element.name();
            if SKIPPED.contains(&name) {
                continue;
            }
            match name {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    self.flush();
                    let level = name[1..].parse().unwrap_or(2);
                    let text = text_of(child, &[], self.budget)?;
                    self.push(BlockKind::Heading(level), text);
                }
                "p" | "pre" => {
                    self.flush();
                    let text = text_of(child, &[], self.budget)?;
                    self.push(BlockKind::Paragraph, text);
                }
                "li" => {
                    self.flush();
                    let text = text_of(child, NESTED, self.budget)?;
                    self.push(BlockKind::ListItem, text);
                    // Nested lists and tables follow the item, in order.
                    let nested: Vec<_> = child
                        .children()
                        .filter(|n| is_element(*n, NESTED))
                        .collect();
                    for list in nested.into_iter().rev() {
                        if is_element(list, &["table"]) {
                            stack.push(Step::Flush);
                            stack.push(Step::Visit(list));
                        } else {
                            stack.push(Step::Flush);
                            push_children(&mut stack, list);
                        }
                    }
                }
                "table" => {
                    self.flush();
                    self.table(child)?;
                }
                "br" => self.inline.push(' '),
                _ if INLINE.contains(&name) => push_children(&mut stack, child),
                _ => {
                    self.flush();
                    stack.push(Step::Flush);
                    push_children(&mut stack, child);
                }
            }
        }
        Ok(())
    }

    /// One block per row; a first row of only `th` names the columns. A cell
    /// holding a nested table is read without it (its rows are rows here).
    fn table(&mut self, table: NodeRef<'_, Node>) -> Result<(), ExtractError> {
        let mut headers: Option<Vec<String>> = None;
        for row in table.descendants().filter(|n| is_element(*n, &["tr"])) {
            self.budget.check()?;
            let cells: Vec<NodeRef<'_, Node>> = row
                .children()
                .filter(|c| is_element(*c, &["td", "th"]))
                .collect();
            if cells.is_empty() {
                continue;
            }
            let mut texts = Vec::with_capacity(cells.len());
            for cell in &cells {
                texts.push(text_of(*cell, &["table"], self.budget)?);
            }
            let all_th = cells.iter().all(|c| is_element(*c, &["th"]));
            if headers.is_none() && all_th {
                headers = Some(texts);
                continue;
            }
            if texts.iter().any(|t| !t.is_empty()) {
                let headers = headers.as_deref().unwrap_or_default();
                self.blocks.push(Block::table_row_under(headers, texts));
            }
        }
        Ok(())
    }
}

/// Elements an item's own text leaves to their own blocks.
const NESTED: &[&str] = &["ul", "ol", "table"];

/// Pushes `node`'s children so that the first is popped first.
fn push_children<'a>(stack: &mut Vec<Step<'a>>, node: NodeRef<'a, Node>) {
    let start = stack.len();
    stack.extend(node.children().map(Step::Visit));
    stack[start..].reverse();
}

fn is_element(node: NodeRef<'_, Node>, names: &[&str]) -> bool {
    node.value()
        .as_element()
        .is_some_and(|e| names.contains(&e.name()))
}

/// The text under `node`, skipping non-content elements (and the elements
/// named in `skip`), with a space at every element boundary that is not
/// inline. Iterative, like the walk.
fn text_of(
    node: NodeRef<'_, Node>,
    skip: &[&str],
    budget: &Budget,
) -> Result<String, ExtractError> {
    let mut out = String::new();
    // `None` is the space after a block element's content.
    let mut stack: Vec<Option<NodeRef<'_, Node>>> = node.children().map(Some).collect();
    stack.reverse();
    while let Some(entry) = stack.pop() {
        budget.check()?;
        let Some(child) = entry else {
            out.push(' ');
            continue;
        };
        match child.value() {
            Node::Text(text) => out.push_str(&text[..]),
            Node::Element(element) => {
                let name = element.name();
                if SKIPPED.contains(&name) || skip.contains(&name) {
                    continue;
                }
                let inline = INLINE.contains(&name);
                if !inline {
                    out.push(' ');
                    stack.push(None);
                }
                let start = stack.len();
                stack.extend(child.children().map(Some));
                stack[start..].reverse();
            }
            _ => {}
        }
    }
    Ok(collapse_whitespace(&out))
}
