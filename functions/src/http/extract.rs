//! Extractors whose rejections come out in the SPEC error body.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
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
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or("").trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(Error::UnsupportedMediaType(format!(
                    "Content-Type must be application/json, not {essence}"
                ))
                .into());
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge("the request body is too large".into())
            } else {
                Error::BadRequest(format!("could not read the request body: {rejection}"))
            }
        })?;
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

/// The query string as a map (repeated keys: the last wins).
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|e| Error::BadRequest(format!("invalid query string: {e}")).into())
    }
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
