//! Black-box API tests: each test spawns the platform on a random port and
//! runs once per store backend (embedded SQLite, and AWS on moto).

mod agents;
mod automations;
mod calls;
mod campaign_crash;
mod campaigns;
mod channels;
mod contacts;
mod conversations;
mod flows;
mod hostile;
mod hostile_ingest;
mod http_layer;
mod idempotency;
mod identity;
mod inbox_socket;
mod knowledge;
mod knowledge_reembed;
mod live_calls;
mod live_owner;
mod live_space;
mod local;
mod model_fetch;
mod openapi;
mod recordings;
mod roles;
mod sms;
mod tasks;
mod telephony;
mod tool_runs;
mod tools;
mod voice;
mod web_chat;
mod webhooks;
