//! Re-embedding when the embedder changes: a document whose vectors another
//! embedder made is queued to be embedded again (a background ingest job),
//! and stays searchable meanwhile — its previous chunks and vectors are kept
//! live ([`Document::live_generation`]) until the job writes the new ones.
//! Search notices such documents itself ([`reembed_stale`]); documents the
//! lexical fallback embedded while the offline model was still on its way
//! also get a pointer in one global partition, so all of them are queued the
//! moment the model arrives ([`reembed_fallback_documents`]).

use serde::{Deserialize, Serialize};

use super::{doc_item, enqueue, load};
use crate::App;
use crate::domain::knowledge::{Document, DocumentStatus};
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query, StoreError};

/// The partition of the pointers.
const PK: &str = "REEMBED";

#[derive(Serialize, Deserialize)]
struct Pointer {
    org_id: String,
    mode: Mode,
    doc_id: String,
}

/// Remembers that `doc_id` was embedded by the lexical fallback.
pub(super) async fn remember(app: &App, tenant: &Tenant, doc_id: &str) -> Result<()> {
    let pointer = Pointer {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        doc_id: doc_id.to_owned(),
    };
    let data = serde_json::to_value(&pointer)
        .map_err(|e| Error::Internal(format!("encoding a re-embed pointer: {e}")))?;
    let item = Item::new(PK, format!("{}#{doc_id}", tenant.pk()), data);
    app.table.put(item, Condition::None).await?;
    Ok(())
}

/// Queues every remembered document whose vectors are not `embedder`'s for
/// ingestion again, and forgets the pointers. Returns how many were queued.
pub async fn reembed_fallback_documents(app: &App, embedder: &str) -> Result<usize> {
    let mut queued = 0;
    loop {
        let page = app.table.query(Query::partition(PK).limit(100)).await?;
        if page.items.is_empty() {
            return Ok(queued);
        }
        for item in page.items {
            let pointer: Pointer = item.parse()?;
            let tenant = Tenant {
                org_id: pointer.org_id,
                mode: pointer.mode,
            };
            match load(app, &tenant, &pointer.doc_id).await {
                Ok((doc, version))
                    if doc.status != DocumentStatus::Processing
                        && doc.embedder.as_deref() != Some(embedder) =>
                {
                    if queue(app, &tenant, &doc, version).await? {
                        queued += 1;
                    }
                }
                // Deleted, already re-embedded, or being processed: by the new
                // embedder, or by the fallback's job, which queues the document
                // again itself once it sees the new embedder in use.
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            app.table
                .delete(&item.pk, &item.sk, Condition::None)
                .await?;
        }
    }
}

/// Queues `doc` (read at `version`) to be embedded again by the embedder in
/// use, keeping its current generation searchable until the new one is
/// written. `false` when it changed meanwhile (a newer job owns it) or is
/// already being re-embedded.
async fn queue(app: &App, tenant: &Tenant, doc: &Document, version: u64) -> Result<bool> {
    if doc.live_generation.is_some() || doc.status != DocumentStatus::Ready {
        return Ok(false);
    }
    let mut next = doc.clone();
    next.live_generation = Some(doc.generation);
    next.generation += 1;
    next.updated_at = app.now_rfc3339();
    match app
        .table
        .put(doc_item(tenant, &next), Condition::VersionEquals(version))
        .await
    {
        Ok(_) => {
            enqueue(app, tenant, &next).await?;
            Ok(true)
        }
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Queues every ready document of the tenant that `embedder` did not embed
/// (and that is not being re-embedded already) to be embedded again by it.
/// Search calls it when it finds such documents; a failure is logged, never
/// a failed search. Returns how many were queued.
pub async fn reembed_stale(app: &App, tenant: &Tenant, stale: &[(Document, u64)]) -> usize {
    let mut queued = 0;
    for (doc, version) in stale {
        match queue(app, tenant, doc, *version).await {
            Ok(true) => queued += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(doc = %doc.id, error = %e, "re-embedding not queued; the next search retries");
                break;
            }
        }
    }
    if queued > 0 {
        tracing::info!(org = %tenant.org_id, queued, "documents queued to be re-embedded by the new embedder");
    }
    queued
}
