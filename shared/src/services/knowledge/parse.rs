//! Reading a document off the async workers: each parse runs on its own
//! thread with an explicit stack, under `catch_unwind`, within a time
//! budget the parser checks as it goes, and at most [`PARSE_THREADS`] at
//! once in the process. A panic or an error fails that document only.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use crate::engine::knowledge::{self as engine, Budget, Chunk, Embedder, ExtractError};

/// Stack of a parse thread. Every walk over the input's nesting is iterative
/// or bounded by its crate; the margin covers the crates' own frames.
pub const PARSE_STACK_BYTES: usize = 16 * 1024 * 1024;
/// Parse threads alive at once. A parse that outlives its wait (stuck inside
/// a third-party reader between two budget checks) keeps its slot until it
/// ends, so such threads can never pile up.
pub const PARSE_THREADS: usize = 4;
/// How long after its budget a parse is waited for before it is given up.
const GRACE: Duration = Duration::from_secs(2);

/// Why a parse produced no chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The document is the problem; the message is for its `error` field.
    #[error("{0}")]
    Document(String),
    /// No thread could be started: retry later.
    #[error("could not start a parse thread: {0}")]
    Unavailable(String),
}

fn slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(Semaphore::new(PARSE_THREADS)))
        .clone()
}

/// Extracts and chunks `bytes` on a parse thread, within `limit`, into
/// chunks `embedder` reads whole, titled `title` unless the document names
/// its own.
pub async fn parse_document(
    bytes: bytes::Bytes,
    mime: String,
    title: Option<String>,
    embedder: Arc<dyn Embedder>,
    limit: Duration,
) -> Result<Vec<Chunk>, ParseError> {
    let permit = slots()
        .acquire_owned()
        .await
        .map_err(|e| ParseError::Unavailable(e.to_string()))?;
    let budget = Budget::within(limit);
    let thread_budget = budget.clone();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("knowledge-parse".into())
        .stack_size(PARSE_STACK_BYTES)
        .spawn(move || {
            let _permit = permit;
            let result = catch_unwind(AssertUnwindSafe(|| {
                engine::extract_within(&bytes, &mime, None, &thread_budget).map(|mut d| {
                    if d.title.is_none() {
                        d.title = title;
                    }
                    engine::chunk_for_model(&d, embedder.as_ref())
                })
            }));
            let _ = tx.send(result);
        })
        .map_err(|e| ParseError::Unavailable(e.to_string()))?;
    let too_slow = || {
        ParseError::Document(format!(
            "the document took longer than {} s to read",
            limit.as_secs()
        ))
    };
    match tokio::time::timeout(limit + GRACE, rx).await {
        Ok(Ok(Ok(Ok(chunks)))) => Ok(chunks),
        Ok(Ok(Ok(Err(ExtractError::TooSlow)))) => Err(too_slow()),
        Ok(Ok(Ok(Err(e)))) => Err(ParseError::Document(e.to_string())),
        Ok(Ok(Err(_))) | Ok(Err(_)) => Err(ParseError::Document(
            "the document could not be read: the reader failed on it".into(),
        )),
        Err(_) => {
            // Tell the thread to stop at its next budget check.
            budget.cancel();
            Err(too_slow())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexical() -> Arc<dyn Embedder> {
        Arc::new(engine::HashingEmbedder::default())
    }

    #[tokio::test]
    async fn a_hostile_document_fails_alone_and_fast() {
        // One "word" of 4 MB: before the fix the chunker re-split it forever.
        let word = bytes::Bytes::from(vec![b'a'; 4 * 1024 * 1024]);
        let chunks = parse_document(
            word,
            "text/plain".into(),
            None,
            lexical(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(!chunks.is_empty());
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 2_000));
    }

    #[tokio::test]
    async fn a_spent_budget_fails_the_document_with_a_clear_error() {
        let text = bytes::Bytes::from("word ".repeat(200_000).into_bytes());
        let err = parse_document(text, "text/plain".into(), None, lexical(), Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ParseError::Document("the document took longer than 0 s to read".into())
        );
    }
}
