//! The one error type of the core's use cases. The HTTP edge maps each variant
//! to a status code and the SPEC error body; nothing here knows about HTTP.

use std::collections::BTreeMap;

use crate::store::StoreError;

/// Field name → what is wrong with it (SPEC: 422 `details.fields`).
pub type FieldErrors = BTreeMap<String, String>;

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was understood but some fields are invalid.
    #[error("{}", summarize(.0))]
    Validation(FieldErrors),
    /// The request itself is malformed (not a field problem).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist in the caller's tenant (another org's
    /// resources are reported the same way, so their existence never leaks).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Duplicate, or the resource is in the wrong state for this.
    #[error("{0}")]
    Conflict(String),
    /// The body or a collection is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// A media type that is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A `Range` request header that is malformed or selects no byte of the
    /// resource (HTTP 416).
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// Over the rate limit; retry after this many seconds.
    #[error("rate limit exceeded; retry in {0} s")]
    RateLimited(u64),
    /// An external provider (LLM, speech, telephony) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a backend failure: logged in full, shown to clients generically.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(fields: &FieldErrors) -> String {
    match fields.iter().next() {
        Some((field, reason)) if fields.len() == 1 => {
            format!("validation failed: {field}: {reason}")
        }
        Some((field, reason)) => format!(
            "validation failed: {field}: {reason} (and {} more)",
            fields.len() - 1
        ),
        None => "validation failed".to_owned(),
    }
}

impl Error {
    /// A validation error on one field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(field.into(), reason.into())]))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => {
                Error::field("cursor", "is not a cursor this list returned")
            }
            StoreError::ConditionFailed => {
                Error::Conflict("the resource was changed concurrently; retry".into())
            }
            StoreError::TooLarge(m) => Error::TooLarge(m),
            StoreError::Backend(m) => Error::Internal(m),
        }
    }
}

/// Result alias for use cases.
pub type Result<T, E = Error> = std::result::Result<T, E>;
