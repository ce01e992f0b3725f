//! Switchboard's core: domain types, storage ports and adapters, use cases
//! (services) and the conversation engine. No HTTP framework lives here: the
//! `functions`, `relay` and `local` crates are thin inbound adapters over it.

pub mod store;
