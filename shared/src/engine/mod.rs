//! The conversation engine's parts: tools (saved tools, MCP servers) and the
//! webhook signatures they share with webhook delivery, and the knowledge
//! engine (extraction, chunking, embeddings, hybrid search).

pub mod knowledge;
pub mod signing;
pub mod tools;
