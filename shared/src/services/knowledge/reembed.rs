//! Documents embedded by the lexical fallback while the offline model was
//! still on its way: each gets a pointer in one global partition when it is
//! ingested, so that when the model arrives they are all queued again and
//! re-embedded by it (search only reads vectors of the embedder in use).

use serde::{Deserialize, Serialize};

use super::{doc_item, enqueue, load};
use crate::App;
use crate::domain::knowledge::DocumentStatus;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query};

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
                Ok((mut doc, version))
                    if doc.status != DocumentStatus::Processing
                        && doc.embedder.as_deref() != Some(embedder) =>
                {
                    doc.generation += 1;
                    doc.status = DocumentStatus::Processing;
                    doc.error = None;
                    doc.updated_at = app.now_rfc3339();
                    let put = app
                        .table
                        .put(doc_item(&tenant, &doc), Condition::VersionEquals(version))
                        .await;
                    // A document changed meanwhile is being processed anew anyway.
                    if put.is_ok() {
                        enqueue(app, &tenant, &doc).await?;
                        queued += 1;
                    }
                }
                // Deleted, already re-embedded, or being processed (by the new
                // embedder, since it is in use now): nothing to do.
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            app.table
                .delete(&item.pk, &item.sk, Condition::None)
                .await?;
        }
    }
}
