//! The conversation engine's parts that act on the world. For now: tools (saved tools,
//! MCP servers) and the webhook signatures they share with webhook delivery.

pub mod signing;
pub mod tools;
