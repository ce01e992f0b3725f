//! The offline speech engines: speech-to-text and text-to-speech with no
//! provider and no network, for test mode, local development and anyone
//! without provider keys.

use std::sync::Arc;

use super::{SpeechError, Synthesizer, Transcriber};
use crate::App;

/// The offline speech-to-text engine, or why it is not available here.
pub fn transcriber(_app: &App) -> Result<Arc<dyn Transcriber>, SpeechError> {
    Err(SpeechError::Unavailable(
        "no offline speech-to-text engine is installed".into(),
    ))
}

/// The offline text-to-speech engine, or why it is not available here.
pub fn synthesizer(_app: &App) -> Result<Arc<dyn Synthesizer>, SpeechError> {
    Err(SpeechError::Unavailable(
        "no offline text-to-speech engine is installed".into(),
    ))
}
