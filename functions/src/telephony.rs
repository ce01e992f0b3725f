//! Telephony webhooks (SPEC §7): what Twilio calls when a number of a
//! channel rings and as a call's status changes. No credentials: each
//! request is checked by its `X-Twilio-Signature` under the channel's auth
//! token (see `services::telephony`). Answers are TwiML (`text/xml`) or
//! empty; refusals are the SPEC error body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard::services::telephony::{self, Webhook};
use switchboard::{App, Error};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::response::ErrorBody;
use crate::http::{ApiError, Path};
use switchboard::services::conversations;

type S = State<Arc<App>>;

/// The telephony webhooks' routes (served by the channels function).
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(twilio_voice))
        .routes(routes!(twilio_status))
        .routes(routes!(twilio_sms))
        .routes(routes!(twilio_sms_status))
}

/// The form fields Switchboard reads from Twilio's messaging webhooks.
#[derive(ToSchema)]
#[allow(dead_code, non_snake_case)]
struct TwilioSmsForm {
    /// The Twilio account (`AC…`): must be the channel's.
    AccountSid: String,
    /// Twilio's id of the message (`SM…`/`MM…`).
    MessageSid: String,
    /// The sender (E.164).
    From: Option<String>,
    /// The number written to (E.164): one of the channel's numbers.
    To: Option<String>,
    /// What it says.
    Body: Option<String>,
    /// Status callbacks: `queued`, `sending`, `sent`, `delivered`,
    /// `undelivered`, `failed`, `read`, …
    MessageStatus: Option<String>,
    /// Status callbacks: Twilio's error code of a failure.
    ErrorCode: Option<String>,
}

/// The form fields Switchboard reads from Twilio's webhooks (Twilio sends
/// more; every field sent is covered by the signature).
#[derive(ToSchema)]
#[allow(dead_code, non_snake_case)]
struct TwilioForm {
    /// The Twilio account (`AC…`): must be the channel's.
    AccountSid: String,
    /// Twilio's id of the call (`CA…`).
    CallSid: String,
    /// The caller (E.164).
    From: Option<String>,
    /// The number called (E.164): one of the channel's numbers.
    To: Option<String>,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `no-answer`,
    /// `failed` or `canceled`.
    CallStatus: Option<String>,
    /// What answering-machine detection decided (`human`, `machine_end_beep`, …).
    AnsweredBy: Option<String>,
}

fn webhook<'a>(
    channel_id: &'a str,
    uri: &'a OriginalUri,
    headers: &'a HeaderMap,
    body: &Bytes,
) -> Result<Webhook<'a>, ApiError> {
    let params = telephony::form_fields(body).ok_or_else(|| {
        Error::BadRequest("the body must be an application/x-www-form-urlencoded form".into())
    })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Ok(Webhook {
        channel_id,
        path_and_query: uri.0.path_and_query().map_or("", |p| p.as_str()),
        params,
        signature: header("x-twilio-signature"),
        idempotency_token: header("i-twilio-idempotency-token"),
    })
}

/// Answers an inbound call to one of the channel's numbers with TwiML that
/// streams it to the relay (`<Connect><Stream>`), or says the number cannot
/// take calls and hangs up. Set it as the number's Voice URL.
#[utoipa::path(post, path = "/telephony/twilio/{channel_id}/voice", tag = "telephony",
    security(()), params(("channel_id" = String, Path),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form.")),
    request_body(content = inline(TwilioForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML for the call.", content_type = "text/xml", body = String),
        (status = 400, description = "Not a form.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrongly signed or replayed.", body = ErrorBody),
        (status = 409, description = "The call was already answered.", body = ErrorBody),
        (status = 422, description = "A required field is missing.", body = ErrorBody),
    ))]
async fn twilio_voice(
    State(app): S,
    Path(channel_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let w = webhook(&channel_id, &uri, &headers, &body)?;
    let twiml = telephony::voice(&app, &w).await?;
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

/// A call's status callback: a final status ends the call with the
/// matching `end_reason`. Set it as the number's status callback URL
/// (outbound calls set it themselves).
#[utoipa::path(post, path = "/telephony/twilio/{channel_id}/status", tag = "telephony",
    security(()), params(("channel_id" = String, Path),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form.")),
    request_body(content = inline(TwilioForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Noted."),
        (status = 400, description = "Not a form.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrongly signed or replayed.", body = ErrorBody),
        (status = 404, description = "No call of this channel has this CallSid.", body = ErrorBody),
        (status = 422, description = "A required field is missing or unknown.", body = ErrorBody),
    ))]
async fn twilio_status(
    State(app): S,
    Path(channel_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let w = webhook(&channel_id, &uri, &headers, &body)?;
    telephony::status(&app, &w).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A text to one of the channel's numbers: stored in the sender's `sms`
/// conversation (once per `MessageSid`, however often Twilio retries) and
/// answered by the AI when the conversation has it on. Answers an empty
/// TwiML `<Response/>`. Set it as the number's Messaging webhook.
#[utoipa::path(post, path = "/telephony/twilio/{channel_id}/sms", tag = "telephony",
    security(()), params(("channel_id" = String, Path),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form.")),
    request_body(content = inline(TwilioSmsForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Empty TwiML.", content_type = "text/xml", body = String),
        (status = 400, description = "Not a form.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrongly signed or replayed.", body = ErrorBody),
        (status = 422, description = "A required field is missing or not the channel's number.", body = ErrorBody),
    ))]
async fn twilio_sms(
    State(app): S,
    Path(channel_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let w = webhook(&channel_id, &uri, &headers, &body)?;
    let twiml = conversations::inbound_sms(&app, &w).await?;
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

/// An outgoing SMS's status callback: moves its `delivery_status` on
/// (`sent`, `delivered`, `undelivered`, `failed` with Twilio's error code).
/// Outgoing messages set it themselves.
#[utoipa::path(post, path = "/telephony/twilio/{channel_id}/sms-status", tag = "telephony",
    security(()), params(("channel_id" = String, Path),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form.")),
    request_body(content = inline(TwilioSmsForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Noted."),
        (status = 400, description = "Not a form.", body = ErrorBody),
        (status = 403, description = "Unsigned, wrongly signed or replayed.", body = ErrorBody),
        (status = 404, description = "No message sent here has this MessageSid.", body = ErrorBody),
        (status = 422, description = "A required field is missing or unknown.", body = ErrorBody),
    ))]
async fn twilio_sms_status(
    State(app): S,
    Path(channel_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let w = webhook(&channel_id, &uri, &headers, &body)?;
    conversations::sms_status(&app, &w).await?;
    Ok(StatusCode::NO_CONTENT)
}
