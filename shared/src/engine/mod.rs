//! The conversation engine's parts: the contract of a call ([`call`]), the simulated
//! carrier ([`sim`]), language models ([`llm`]), tools (saved tools, MCP servers) and the
//! webhook signatures they share with webhook delivery, and the knowledge engine
//! (extraction, chunking, embeddings, hybrid search).

#[cfg(feature = "aws")]
mod aws_sign;
pub mod call;
pub mod conversation;
pub mod knowledge;
pub mod llm;
pub mod report;
pub mod signing;
pub mod sim;
pub mod tools;
