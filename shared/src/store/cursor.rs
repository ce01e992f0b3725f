//! The opaque pagination cursor shared by both table adapters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{Index, Item, Query, StoreError, StoreResult};

/// Where a query page ended. Opaque to clients: adapters put the last key they
/// returned in it (as JSON, base64url-encoded) and read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a cursor string received from a client. It is checked when used.
    pub fn from_client(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The string a client gets back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Encodes an adapter's last-key document.
    pub fn encode(key: &Value) -> Self {
        Self(URL_SAFE_NO_PAD.encode(key.to_string()))
    }

    /// Decodes what [`Cursor::encode`] made; anything else is
    /// [`StoreError::InvalidCursor`].
    pub fn decode(&self) -> StoreResult<Value> {
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| StoreError::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The position a query page ended at: the last item's table key and, on a
/// secondary index, its index sort key. Both adapters keep exactly this in
/// their cursors, so a cursor means the same on either backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastKey {
    /// Table partition key of the last item.
    pub pk: String,
    /// Table sort key of the last item.
    pub sk: String,
    /// The last item's sort key in the queried index (`None` on the table).
    pub index_sk: Option<String>,
}

fn index_tag(index: Index) -> u8 {
    match index {
        Index::Primary => 0,
        Index::Gsi1 => 1,
        Index::Gsi2 => 2,
    }
}

impl Cursor {
    /// The cursor that continues `query` after `last`.
    pub fn after_item(last: &Item, query: &Query) -> Self {
        let index_sk = match query.index {
            Index::Primary => None,
            Index::Gsi1 => last.gsi1.as_ref().map(|k| k.sk.clone()),
            Index::Gsi2 => last.gsi2.as_ref().map(|k| k.sk.clone()),
        };
        Self::encode(&json!({
            "i": index_tag(query.index), "q": query.pk, "pk": last.pk, "sk": last.sk, "isk": index_sk,
        }))
    }

    /// Where `query` resumes. A cursor only continues the query (index and
    /// partition) that issued it; anything else is [`StoreError::InvalidCursor`].
    pub fn last_key(&self, query: &Query) -> StoreResult<LastKey> {
        let v = self.decode()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        if v.get("i").and_then(Value::as_u64) != Some(u64::from(index_tag(query.index)))
            || s("q").as_deref() != Some(query.pk.as_str())
        {
            return Err(StoreError::InvalidCursor);
        }
        let index_sk = s("isk");
        if query.index != Index::Primary && index_sk.is_none() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(LastKey {
            pk: s("pk").ok_or(StoreError::InvalidCursor)?,
            sk: s("sk").ok_or(StoreError::InvalidCursor)?,
            index_sk,
        })
    }
}
