//! Use cases, one module per resource group. They take the [`App`](crate::App)
//! (ports) and a [`Caller`], never a concrete adapter or an HTTP type.

pub mod agents;
pub mod api_keys;
pub mod caller;
pub mod demo;
pub mod flows;
pub mod idempotency;
pub mod identity;
pub mod keys;
pub mod page;

pub use caller::{Caller, Principal};
