//! Extractors whose rejections come out in the SPEC error body.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use switchboard::Error;
use switchboard::services::Caller;
use switchboard::services::page::PageRequest;

use super::response::ApiError;

/// Most bytes a JSON body may have.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// A request body that must be a JSON object: 415 for another media type,
/// 413 over the limit, 400 when malformed.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Required, not assumed: a cross-site form can send a body without
        // one (or as text/plain) without a CORS preflight.
        let Some(ct) = req.headers().get(CONTENT_TYPE) else {
            return Err(Error::UnsupportedMediaType(
                "a JSON body needs `Content-Type: application/json`".into(),
            )
            .into());
        };
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Error::UnsupportedMediaType(format!(
                "Content-Type must be application/json, not {essence}"
            ))
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.is_empty() {
            return Err(Error::BadRequest("the request body must be a JSON object".into()).into());
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))?;
        match value {
            Value::Object(m) => Ok(Self(m)),
            _ => Err(Error::BadRequest("the request body must be a JSON object".into()).into()),
        }
    }
}

/// A request body read into its typed input (`AgentCreate`, `AgentPatch`,
/// …) after the checks of [`JsonObject`]. The inputs' fields accept any
/// value and keep what was wrong, so the service's parse step names every
/// bad field at once rather than serde's first one.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonObject(body) = JsonObject::from_request(req, state).await?;
        Ok(Self(switchboard::domain::input::from_json(Value::Object(
            body,
        ))?))
    }
}

/// A route that takes no body: none at all, or an empty JSON object `{}`.
/// A malformed body is a 400, another media type a 415, and any field a 422
/// (a client that sends one expects it to mean something).
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(body_error)?;
        if bytes.is_empty() {
            return Ok(Self);
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let JsonObject(fields) = JsonObject::from_request(req, state).await?;
        if fields.is_empty() {
            return Ok(Self);
        }
        Err(Error::Validation(
            fields
                .keys()
                .map(|k| {
                    (
                        k.clone(),
                        "is not accepted: this request takes no body".to_owned(),
                    )
                })
                .collect(),
        )
        .into())
    }
}

/// The query string as a map. A key given twice (`mode=test&mode=live`) is
/// a 400: which one the client meant is a guess, and a wrong guess can land
/// a request in the wrong partition.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(query_map(&parts.uri)?))
    }
}

/// Parses a query string, refusing repeated keys.
pub fn query_map(uri: &axum::http::Uri) -> Result<HashMap<String, String>, Error> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| Error::BadRequest(format!("invalid query string: {}", e.body_text())))?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(Error::BadRequest(format!(
                "query parameter `{k}` is given more than once"
            )));
        }
        map.insert(k, v);
    }
    Ok(map)
}

impl Params {
    /// One parameter.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// `limit`, `offset`, `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(
            self.get("limit"),
            self.get("offset"),
            self.get("cursor"),
        )?)
    }

    /// An optional boolean filter (`true`/`false`).
    pub fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(Error::field(k, "must be true or false").into()),
        }
    }
}

/// The authenticated caller (put there by the auth middleware).
pub struct Auth(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| Error::Unauthorized("authentication required".into()).into())
    }
}

/// The client's network address: API Gateway's `sourceIp` behind Lambda,
/// the socket's peer on the local server. Headers such as
/// `X-Forwarded-For` are not trusted: any client can send them.
pub struct ClientAddress(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>()
            && let Some(ip) = ctx.http.source_ip.as_deref().filter(|ip| !ip.is_empty())
        {
            return Ok(Self(Some(ip.to_owned())));
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer))
    }
}

/// Path parameters whose rejection (a segment that is not UTF-8, or not what
/// the route expects) is the SPEC error body, not axum's plain text.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(Error::BadRequest(format!("invalid path parameter: {}", e.body_text())).into())
            }
            Err(e) => Err(Error::Internal(format!("path parameters: {}", e.body_text())).into()),
        }
    }
}

/// A `multipart/form-data` body, read whole before it is parsed: a body
/// that ends before its `Content-Length` (or its last chunk) is a 400
/// instead of a form whose closing boundary happened to arrive. 415 when the
/// body is not multipart, 400 without a valid boundary, 413 over the route's
/// limit.
pub struct Multipart(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for Multipart {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_multipart = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !is_multipart {
            return Err(Error::UnsupportedMediaType(
                "Content-Type must be multipart/form-data".into(),
            )
            .into());
        }
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(body_error)?;
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| match e {
                MultipartRejection::InvalidBoundary(_) => Error::BadRequest(
                    "the multipart body has no valid boundary in its Content-Type".into(),
                )
                .into(),
                other => {
                    Error::BadRequest(format!("malformed multipart body: {}", other.body_text()))
                        .into()
                }
            })
    }
}

/// The SPEC error for a body that could not be read whole.
fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge("the request body is too large".into()).into()
    } else {
        Error::BadRequest(format!(
            "could not read the whole request body (it ended early, or too slowly): {}",
            rejection.body_text()
        ))
        .into()
    }
}
