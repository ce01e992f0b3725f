//! Black-box API tests: each test spawns the platform on a random port and
//! runs once per store backend (embedded SQLite, and AWS on moto).

mod agents;
mod channels;
mod flows;
mod http_layer;
mod identity;
mod knowledge;
mod local;
mod openapi;
mod tool_runs;
mod tools;
