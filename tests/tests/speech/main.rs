//! The speech engines (issue 14): offline speech-to-text and text-to-speech,
//! the cloud clients against their doubles, audio and turn taking.

mod offline;
mod offline_fetch;
