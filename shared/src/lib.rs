//! Switchboard's core: domain types, storage ports and adapters, use cases
//! (services) and the conversation engine. No HTTP framework lives here: the
//! `functions`, `relay` and `local` crates are thin inbound adapters over it.

pub mod app;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod error;
pub mod net;
pub mod services;
pub mod speech;
pub mod store;
pub mod telephony;

pub use app::App;
pub use config::Config;
pub use error::{Error, Result};
