//! The speech engines (issue 14): offline speech-to-text and text-to-speech,
//! the cloud providers' clients against local doubles of their public
//! protocols, and how a workspace's keys pick its engines.

mod offline;
mod offline_fetch;
mod providers;
mod resolve;
