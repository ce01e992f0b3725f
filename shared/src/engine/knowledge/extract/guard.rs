//! Bounds on the work one document may cost: a cancellation flag and a
//! deadline checked by every parser's loop, and the size limits a hostile
//! file runs into (an endless word, a zip bomb).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::ExtractError;

/// Longest word kept: a longer run of non-space characters (a 25 MB file
/// that is one "word", a base64 blob) is cut here. No language has such
/// words, and every later step (sentence and word splitting, token estimate,
/// BM25) then works on pieces of bounded size.
pub const MAX_WORD_CHARS: usize = 256;

/// Most text one document may yield. Compressed formats (DOCX) can expand
/// far beyond the 25 MB upload limit; past this the document fails.
pub const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;

/// Loop iterations between two reads of the clock.
const CHECK_EVERY: u32 = 4096;

/// When a document's reading must stop: a deadline and a flag the caller
/// raises when it gives up (a timed-out ingest). Parsers call
/// [`Budget::check`] in their loops, so abandoned work really stops instead
/// of keeping its thread busy.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Option<Instant>,
    cancelled: Arc<AtomicBool>,
    ticks: Arc<AtomicU32>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::unlimited()
    }
}

impl Budget {
    /// No deadline; stops only when [`Budget::cancel`] is called.
    pub fn unlimited() -> Budget {
        Budget {
            deadline: None,
            cancelled: Arc::new(AtomicBool::new(false)),
            ticks: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Stops `limit` from now (or on [`Budget::cancel`]).
    pub fn within(limit: Duration) -> Budget {
        Budget {
            deadline: Instant::now().checked_add(limit),
            ..Budget::unlimited()
        }
    }

    /// Makes every later [`Budget::check`] fail (shared by the clones).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// `Err(TooSlow)` once cancelled or past the deadline. Cheap: the clock
    /// is read every few thousand calls.
    pub fn check(&self) -> Result<(), ExtractError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(ExtractError::TooSlow);
        }
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        if tick.is_multiple_of(CHECK_EVERY) && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.cancel();
            return Err(ExtractError::TooSlow);
        }
        Ok(())
    }
}

/// Counts the text a parser has produced against [`MAX_TEXT_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct TextMeter {
    bytes: usize,
}

impl TextMeter {
    /// Adds `len` bytes of text; `Err(TooLarge)` past the limit.
    pub(crate) fn add(&mut self, len: usize) -> Result<(), ExtractError> {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > MAX_TEXT_BYTES {
            return Err(ExtractError::TooLarge {
                what: "its text",
                limit_mb: MAX_TEXT_BYTES / (1024 * 1024),
            });
        }
        Ok(())
    }
}

/// `word` cut to [`MAX_WORD_CHARS`] characters.
pub(crate) fn cap_word(word: &str) -> &str {
    match word.char_indices().nth(MAX_WORD_CHARS) {
        Some((end, _)) => &word[..end],
        None => word,
    }
}
