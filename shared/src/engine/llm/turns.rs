//! The conversation as Anthropic Messages and Bedrock Converse want it: strictly
//! alternating `user` and `assistant` turns of content blocks, tool results travelling as
//! blocks of the next `user` turn. Both providers render these turns in their own JSON.

use super::{ChatMessage, ChatRole, ToolCall};

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaker {
    User,
    Assistant,
}

impl Speaker {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Speaker::User => "user",
            Speaker::Assistant => "assistant",
        }
    }
}

/// A content block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block<'a> {
    Text(&'a str),
    ToolUse(&'a ToolCall),
    ToolResult { id: &'a str, content: &'a str },
}

/// Groups `messages` into alternating turns (consecutive messages of one speaker merge;
/// empty text is dropped, which both providers refuse).
pub(crate) fn turns(messages: &[ChatMessage]) -> Vec<(Speaker, Vec<Block<'_>>)> {
    let mut out: Vec<(Speaker, Vec<Block<'_>>)> = Vec::new();
    for m in messages {
        let (speaker, mut blocks) = match m.role {
            ChatRole::User => (Speaker::User, vec![Block::Text(&m.content)]),
            ChatRole::Tool => (
                Speaker::User,
                vec![Block::ToolResult {
                    id: m.tool_call_id.as_deref().unwrap_or_default(),
                    content: &m.content,
                }],
            ),
            ChatRole::Assistant => {
                let mut blocks = vec![Block::Text(&m.content)];
                blocks.extend(m.tool_calls.iter().map(Block::ToolUse));
                (Speaker::Assistant, blocks)
            }
        };
        blocks.retain(|b| !matches!(b, Block::Text(t) if t.trim().is_empty()));
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, existing)) if *last == speaker => existing.append(&mut blocks),
            _ => out.push((speaker, blocks)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_results_join_one_user_turn_and_empty_text_goes() {
        let call = ToolCall {
            id: "t1".into(),
            name: "f".into(),
            arguments: json!({}),
        };
        let call2 = ToolCall {
            id: "t2".into(),
            ..call.clone()
        };
        let messages = vec![
            ChatMessage::user("hi"),
            ChatMessage::assistant("", vec![call.clone(), call2.clone()]),
            ChatMessage::tool_result("t1", "1"),
            ChatMessage::tool_result("t2", "2"),
            ChatMessage::user("and?"),
        ];
        let t = turns(&messages);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[1],
            (
                Speaker::Assistant,
                vec![Block::ToolUse(&call), Block::ToolUse(&call2)]
            )
        );
        assert_eq!(
            t[2],
            (
                Speaker::User,
                vec![
                    Block::ToolResult {
                        id: "t1",
                        content: "1"
                    },
                    Block::ToolResult {
                        id: "t2",
                        content: "2"
                    },
                    Block::Text("and?"),
                ]
            )
        );
    }
}
