//! Use cases, one module per resource group. They take the [`App`](crate::App)
//! (ports) and a [`Caller`], never a concrete adapter or an HTTP type.

pub mod agents;
pub mod analytics;
pub mod api_keys;
pub mod assignments;
pub mod auth_limits;
pub mod automations;
pub mod caller;
pub mod calls;
pub mod campaigns;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod demo;
pub mod events;
pub mod flows;
pub mod idempotency;
pub mod identity;
pub mod knowledge;
pub mod live;
pub mod mcp;
pub mod page;
pub mod rate_limit;
pub mod repository;
pub mod scheduler;
pub mod signed_token;
pub mod table_keys;
pub mod tasks;
pub mod telephony;
pub mod tools;
pub mod views;
pub mod webhooks;

pub use caller::{Caller, Principal};
