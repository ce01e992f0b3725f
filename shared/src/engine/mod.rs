//! The conversation engine: the parts that run a conversation.

pub mod knowledge;
