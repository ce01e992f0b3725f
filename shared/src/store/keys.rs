//! The opaque pagination cursor shared by both table adapters.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::{StoreError, StoreResult};

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
