//! `GET /calls/{id}/live` (SPEC §10, the seed's shape): where and how to
//! open the call's live transcript socket.

use serde::Serialize;
use utoipa::ToSchema;

/// The live transcript socket of one call, with a short-lived token for it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveTranscriptView {
    /// `<relay>/ws/calls/{call_id}`.
    pub websocket_url: String,
    /// The call.
    pub call_id: String,
    /// A session token for this call's socket (`?session_token=`), valid 5
    /// minutes, reusable until then.
    pub temp_token: String,
    /// How to connect.
    pub connection_info: ConnectionInfo,
}

/// How to connect to the live transcript socket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConnectionInfo {
    /// The socket's URL (as `websocket_url`).
    pub url: String,
    /// Always `query_param`.
    pub auth_method: String,
    /// Always `api_key`.
    pub auth_param: String,
    /// Always `session_token`.
    pub temp_auth_param: String,
    /// The URL with an API key placeholder.
    pub example: String,
    /// The URL with this response's token.
    pub example_session: String,
    /// Always `json`.
    pub message_format: String,
    /// `connected`, `transcript_update`, `call_status_update`, `error`.
    pub message_types: Vec<String>,
}

impl LiveTranscriptView {
    /// The view for `call_id`, on the relay at `relay_url` (`ws://…`, no
    /// trailing slash).
    pub fn new(relay_url: &str, call_id: &str, temp_token: String) -> Self {
        let url = format!("{relay_url}/ws/calls/{call_id}");
        Self {
            websocket_url: url.clone(),
            call_id: call_id.to_owned(),
            connection_info: ConnectionInfo {
                example: format!("{url}?api_key=YOUR_API_KEY"),
                example_session: format!("{url}?session_token={temp_token}"),
                url,
                auth_method: "query_param".into(),
                auth_param: "api_key".into(),
                temp_auth_param: "session_token".into(),
                message_format: "json".into(),
                message_types: [
                    "connected",
                    "transcript_update",
                    "call_status_update",
                    "error",
                ]
                .map(str::to_owned)
                .to_vec(),
            },
            temp_token,
        }
    }
}
