//! Call routes (SPEC §10; the live socket itself is the relay's).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use switchboard::domain::call::{CallStatus, Direction};
use switchboard::engine::report::Report;
use switchboard::services::calls::{self, CallFilter, recording};
use switchboard::services::live;
use switchboard::services::views::{
    CallView, LiveTranscriptView, ProcessedTranscriptView, RecordingLinkView, TranscriptView,
};
use switchboard::{App, Error};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{AudioFile, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, NoBody, Params, list, ok, protected, range};

type S = State<Arc<App>>;

/// The call group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_calls))
            .routes(routes!(get_call))
            .routes(routes!(get_transcript, process_transcript))
            .routes(routes!(get_report))
            .routes(routes!(get_recording))
            .routes(routes!(stream_recording))
            .routes(routes!(get_live))
            .routes(routes!(end_call))
            .routes(routes!(cancel_call)),
    )
}

/// The filters of `GET /calls`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CallFilterParams {
    /// Only calls in this status.
    #[param(inline)]
    status: Option<CallStatus>,
    /// Only calls this way.
    #[param(inline)]
    direction: Option<Direction>,
    /// Only this agent's calls.
    agent_id: Option<String>,
    /// Only this task's calls.
    task_id: Option<String>,
    /// Only this campaign's calls.
    campaign_id: Option<String>,
    /// Started at or after (RFC 3339, or a `YYYY-MM-DD` day).
    from: Option<String>,
    /// Started at or before (RFC 3339, or a `YYYY-MM-DD` day, inclusive).
    to: Option<String>,
}

/// An RFC 3339 instant or a whole day, as the UTC millisecond string calls
/// store; `end` picks the day's last millisecond.
fn instant(field: &str, value: &str, end: bool) -> Result<String, Error> {
    use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
    let bad = || Error::field(field, "must be an RFC 3339 date-time or a YYYY-MM-DD date");
    let at: DateTime<Utc> = match DateTime::parse_from_rfc3339(value) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())?;
            let time = if end {
                day.and_hms_milli_opt(23, 59, 59, 999)
            } else {
                day.and_hms_opt(0, 0, 0)
            };
            time.ok_or_else(bad)?.and_utc()
        }
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn filter(params: &Params) -> Result<CallFilter, Error> {
    let get = |k: &str| params.get(k).filter(|s| !s.is_empty());
    let status = match get("status") {
        None => None,
        Some(s) => Some(CallStatus::parse(s).ok_or_else(|| {
            Error::field(
                "status",
                "must be initiated, in_progress, completed or failed",
            )
        })?),
    };
    let direction = match get("direction") {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| Error::field("direction", "must be outbound, inbound or web"))?,
        ),
    };
    let from = get("from").map(|v| instant("from", v, false)).transpose()?;
    let to = get("to").map(|v| instant("to", v, true)).transpose()?;
    if let (Some(f), Some(t)) = (&from, &to)
        && f > t
    {
        return Err(Error::field("from", "must not be after `to`"));
    }
    Ok(CallFilter {
        status,
        direction,
        agent_id: get("agent_id").map(str::to_owned),
        task_id: get("task_id").map(str::to_owned),
        campaign_id: get("campaign_id").map(str::to_owned),
        from,
        to,
    })
}

/// List the calls, newest first.
#[utoipa::path(get, path = "/calls", tag = "calls",
    params(PageParams, CallFilterParams, ModeParam), responses(List<CallView>))]
async fn list_calls(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(
        calls::list(&app, &caller, &filter(&params)?, &page).await?,
    ))
}

/// Get a call with its transcript, report and metrics.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls",
    params(("id" = String, Path), ModeParam), responses(Item<CallView>))]
async fn get_call(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(calls::get(&app, &caller, &id).await?))
}

/// Get a call's transcript (so far, while it is live).
#[utoipa::path(get, path = "/calls/{id}/transcript", tag = "calls",
    params(("id" = String, Path), ModeParam), responses(Item<TranscriptView>))]
async fn get_transcript(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(calls::transcript(&app, &caller, &id).await?))
}

/// Re-process an ended call's stored events: rebuild its transcript,
/// extracted data and report.
#[utoipa::path(post, path = "/calls/{id}/transcript", tag = "calls",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<ProcessedTranscriptView>))]
async fn process_transcript(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(calls::reprocess(&app, &caller, &id).await?))
}

/// Get a call's report (written now if it is missing).
#[utoipa::path(get, path = "/calls/{id}/report", tag = "calls",
    params(("id" = String, Path), ModeParam), responses(Item<Report>))]
async fn get_report(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(calls::report(&app, &caller, &id).await?))
}

/// Get a signed, expiring link to the call's recording (a WAV of both sides);
/// 404 until the call has ended with a recording.
#[utoipa::path(get, path = "/calls/{id}/recording", tag = "calls",
    params(("id" = String, Path), ModeParam), responses(Item<RecordingLinkView>))]
async fn get_recording(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(recording::link(&app, &caller, &id).await?))
}

/// The call's recording as `audio/wav`, whole or the one byte range that
/// `Range` asks for; 404 until the call has ended with a recording.
#[utoipa::path(get, path = "/calls/{id}/recording/stream", tag = "calls",
    params(("id" = String, Path), ModeParam,
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=<first>-<last>`, `bytes=<first>-` or `bytes=-<suffix>`.")),
    responses(AudioFile))]
async fn stream_recording(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let wav = recording::stream(&app, &caller, &id).await?;
    Ok(range::respond(&headers, wav.bytes, "audio/wav"))
}

/// Get the call's live transcript socket (`/ws/calls/{id}` on the relay)
/// with a session token for it, valid 5 minutes.
#[utoipa::path(get, path = "/calls/{id}/live", tag = "calls",
    params(("id" = String, Path), ModeParam), responses(Item<LiveTranscriptView>))]
async fn get_live(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(live::token::live(&app, &caller, &id).await?))
}

/// End a live call (hang up).
#[utoipa::path(post, path = "/calls/{id}/end", tag = "calls",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CallView>))]
async fn end_call(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(calls::stop(&app, &caller, &id, false).await?))
}

/// Cancel a live call (marks it failed).
#[utoipa::path(post, path = "/calls/{id}/cancel", tag = "calls",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CallView>))]
async fn cancel_call(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(calls::stop(&app, &caller, &id, true).await?))
}
