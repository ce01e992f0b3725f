//! The ingest worker's job: one document from its original to searchable
//! chunks and vectors.

use super::{
    Document, IngestJob, MAX_URL_BYTES, URL_TIMEOUT, blob_dir, chunk_sk, chunks_pk, delete_chunks,
    doc_item, load, original_key, vectors_key, view,
};
use crate::App;
use crate::domain::Tenant;
use crate::domain::knowledge::{DocumentStatus, SourceType, StoredChunk};
use crate::engine::knowledge::{self as engine, Chunk, encode_vectors};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Write};

/// What the ingest worker did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Indexed: the document is ready.
    Ready {
        /// Chunks stored.
        chunks: u32,
    },
    /// The document cannot be read; it is marked failed (not retried).
    Failed(String),
    /// Nothing to do: the document is gone or a newer job owns it.
    Skipped,
}

/// The ingest worker's job: fetch or read the original, extract, chunk,
/// embed, store chunks and vectors, mark the document ready — or failed with
/// a useful error. Idempotent: a redelivered job redoes the same work. An
/// `Err` is a transient failure (store, embedder down): the message is retried.
pub async fn ingest(app: &App, job: &IngestJob) -> Result<IngestOutcome> {
    let tenant = job.tenant();
    let Ok((doc, _)) = load(app, &tenant, &job.document_id).await else {
        return Ok(IngestOutcome::Skipped);
    };
    if doc.generation != job.generation {
        return Ok(IngestOutcome::Skipped);
    }
    let original = match read_original(app, &tenant, &doc).await {
        Ok(o) => o,
        Err(Failure::Permanent(reason)) => {
            finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
            return Ok(IngestOutcome::Failed(reason));
        }
        Err(Failure::Transient(e)) => return Err(e),
    };
    // Chunks are cut to the window of the embedder that will read them.
    let embedder = app.embedder_for(tenant.mode).await?;
    // Parsing is CPU-bound and a hostile file could make it slow: on its
    // own thread, bounded in time, a panic failing only this document.
    let parsed = super::parse::parse_document(
        original.bytes.clone(),
        original.mime.clone(),
        engine::title_from_name(&doc.name),
        embedder.clone(),
        app.config.knowledge_extract_timeout,
    )
    .await;
    let chunks: Vec<Chunk> = match parsed {
        Ok(chunks) => chunks,
        Err(super::parse::ParseError::Document(reason)) => {
            finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
            return Ok(IngestOutcome::Failed(reason));
        }
        Err(e @ super::parse::ParseError::Unavailable(_)) => {
            return Err(Error::Internal(e.to_string()));
        }
    };
    if chunks.is_empty() {
        let reason = "the document contains no extractable text".to_owned();
        finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
        return Ok(IngestOutcome::Failed(reason));
    }
    let texts: Vec<String> = chunks.iter().map(Chunk::embedding_text).collect();
    let vectors = embedder.embed(&texts).await?;
    let encoded = encode_vectors(&vectors).map_err(|e| Error::Internal(e.to_string()))?;
    app.blobs
        .put(
            &vectors_key(&tenant, &doc.id, doc.generation),
            bytes::Bytes::from(encoded),
            "application/octet-stream",
        )
        .await?;
    delete_chunks(app, &tenant, &doc.id).await?;
    let stored: Vec<StoredChunk> = chunks
        .iter()
        .map(|c| StoredChunk {
            id: format!("{}:{}", doc.id, c.index),
            document_id: doc.id.clone(),
            index: c.index as u32,
            text: c.text.clone(),
            tokens: c.tokens as u32,
            heading: c.heading.clone(),
        })
        .collect();
    for batch in stored.chunks(25) {
        let writes = batch
            .iter()
            .map(|c| {
                Write::Put(
                    Item::new(
                        chunks_pk(&tenant, &doc.id),
                        chunk_sk(c.index),
                        serde_json::to_value(c).unwrap_or_default(),
                    ),
                    Condition::None,
                )
            })
            .collect();
        app.table.transact(writes).await?;
    }
    let count = stored.len() as u32;
    // Embedded while the model is on its way: re-embed when it arrives. The
    // pointer is written before the document reads ready, so a model that
    // arrives in between still finds it.
    let by_fallback =
        app.config.model_fetch.is_some() && engine::is_lexical_fallback(embedder.as_ref());
    if by_fallback {
        super::reembed::remember(app, &tenant, &doc.id).await?;
    }
    finish(app, &tenant, &doc, Ok(count), Some(embedder.name())).await?;
    if by_fallback {
        // The model arrived while this document was being embedded: its
        // switch skipped the document (still processing then), so queue it now.
        let current = app.embedder_for(tenant.mode).await?;
        if !engine::is_lexical_fallback(current.as_ref()) {
            super::reembed_fallback_documents(app, current.name()).await?;
        }
    }
    // Older generations' vectors are no longer read.
    for blob in app.blobs.list(&blob_dir(&tenant, &doc.id)).await? {
        if blob.key.contains("/vectors-")
            && blob.key != vectors_key(&tenant, &doc.id, doc.generation)
        {
            app.blobs.delete(&blob.key).await?;
        }
    }
    Ok(IngestOutcome::Ready { chunks: count })
}

struct Original {
    bytes: bytes::Bytes,
    mime: String,
}

enum Failure {
    /// The document itself is the problem: mark it failed, do not retry.
    Permanent(String),
    /// Something else failed: retry the job.
    Transient(Error),
}

async fn read_original(
    app: &App,
    tenant: &Tenant,
    doc: &Document,
) -> std::result::Result<Original, Failure> {
    if doc.source_type == SourceType::Url {
        let url = doc.source_url.clone().unwrap_or_default();
        let request = crate::net::OutboundRequest::new(http_get(), url)
            .timeout(URL_TIMEOUT)
            .max_body_bytes(MAX_URL_BYTES);
        let response = app
            .guarded_client()
            .send(request)
            .await
            .map_err(|e| Failure::Permanent(format!("could not fetch the page: {e}")))?;
        if !(200..300).contains(&response.status) {
            return Err(Failure::Permanent(format!(
                "fetching the page answered HTTP {}",
                response.status
            )));
        }
        let mime = response
            .content_type
            .clone()
            .unwrap_or_else(|| "text/html".into());
        // Keep the fetched page as the original, for reindexing.
        let bytes = response.body.clone();
        app.blobs
            .put(&original_key(tenant, &doc.id), bytes.clone(), &mime)
            .await
            .map_err(|e| Failure::Transient(e.into()))?;
        return Ok(Original { bytes, mime });
    }
    match app.blobs.get(&original_key(tenant, &doc.id)).await {
        Ok(Some(blob)) => Ok(Original {
            bytes: blob.bytes,
            mime: blob.content_type,
        }),
        Ok(None) => Err(Failure::Permanent("the original file is missing".into())),
        Err(e) => Err(Failure::Transient(e.into())),
    }
}

fn http_get() -> reqwest::Method {
    reqwest::Method::GET
}

/// Marks the job's document ready (with its chunk count) or failed, unless a
/// newer generation or a delete got there first. Emits `knowledge.ready`.
async fn finish(
    app: &App,
    tenant: &Tenant,
    doc: &Document,
    result: std::result::Result<u32, String>,
    embedder: Option<&str>,
) -> Result<()> {
    let Ok((mut current, version)) = load(app, tenant, &doc.id).await else {
        return Ok(());
    };
    if current.generation != doc.generation {
        return Ok(());
    }
    match &result {
        Ok(count) => {
            current.status = DocumentStatus::Ready;
            current.chunk_count = *count;
            current.error = None;
            current.embedder = embedder.map(str::to_owned);
            current.live_generation = None;
        }
        Err(reason) => {
            current.status = DocumentStatus::Failed;
            current.error = Some(reason.clone());
            current.chunk_count = 0;
            current.live_generation = None;
        }
    }
    current.updated_at = app.now_rfc3339();
    match app
        .table
        .put(
            doc_item(tenant, &current),
            Condition::VersionEquals(version),
        )
        .await
    {
        Ok(_) => {}
        // A reindex or delete raced us; the newer job finishes the document.
        Err(crate::store::StoreError::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let event_type = if result.is_ok() {
        "knowledge.ready"
    } else {
        "knowledge.failed"
    };
    let data = serde_json::to_value(view(&current)).map_err(|e| Error::Internal(e.to_string()))?;
    crate::services::events::emit(app, tenant, event_type, data).await
}
