//! Workspace settings and provider keys.

use serde_json::Value;

use super::*;
use crate::App;
use crate::crypto::{MASK, Sealed};
use crate::domain::identity::{
    MAX_CONVERSATION_IDLE_HOURS, MAX_RECORDING_RETENTION_DAYS, Organization, RecordingChannels,
};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::views::{WorkspaceSettingsInput, WorkspaceView};
use crate::store::Condition;

pub(super) fn apply_settings(
    app: &App,
    org: &mut Organization,
    body: WorkspaceSettingsInput,
    errors: &mut Checks,
) {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a workspace setting");
    if let Some(name) = f.opt_str("name", body.name, 200) {
        org.name = name;
    }
    if let Some(tz) = f.opt_parsed("timezone", body.timezone, |s| {
        match s.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(tz.name().to_owned()),
            Err(_) => Err("must be an IANA time zone such as Europe/London".into()),
        }
    }) {
        org.settings.timezone = tz;
    }
    if let Some(lang) = f.opt_str("default_language", body.default_language, 35) {
        org.settings.default_language = lang;
    }
    if let Some(hours) = f.opt_json("business_hours", body.business_hours) {
        org.settings.business_hours = hours;
    }
    let valid_hhmm = |s: &str| {
        s.len() == 5
            && s.as_bytes()[2] == b':'
            && s[..2].parse::<u8>().is_ok_and(|h| h < 24)
            && s[3..].parse::<u8>().is_ok_and(|m| m < 60)
    };
    for (day, ranges) in &org.settings.business_hours {
        if !["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&day.as_str()) {
            f.error(
                format!("business_hours.{day}"),
                "days are mon, tue, wed, thu, fri, sat, sun",
            );
        }
        for (i, r) in ranges.iter().enumerate() {
            if !valid_hhmm(&r.start) || !valid_hhmm(&r.end) || r.start >= r.end {
                f.error(
                    format!("business_hours.{day}.{i}"),
                    "needs start and end as HH:MM with start before end",
                );
            }
        }
    }
    if let Some(limit) = f.opt_int(
        "rate_limit_per_minute",
        body.rate_limit_per_minute,
        1..=1_000_000,
    ) {
        org.settings.rate_limit_per_minute = limit as u32;
    }
    if let Some(limit) = f.opt_int(
        "max_concurrent_campaign_calls",
        body.max_concurrent_campaign_calls,
        1..=10_000,
    ) {
        org.settings.max_concurrent_campaign_calls = limit as u32;
    }
    if let Some(days) = f.opt_int(
        "recording_retention_days",
        body.recording_retention_days,
        0..=i64::from(MAX_RECORDING_RETENTION_DAYS),
    ) {
        org.settings.recording_retention_days = days as u32;
    }
    if let Some(channels) = f.opt_parsed("recording_channels", body.recording_channels, |s| {
        RecordingChannels::parse(s).ok_or_else(|| "must be mixed or dual".to_owned())
    }) {
        org.settings.recording_channels = channels;
    }
    if let Some(hours) = f.opt_int(
        "conversation_idle_hours",
        body.conversation_idle_hours,
        0..=i64::from(MAX_CONVERSATION_IDLE_HOURS),
    ) {
        org.settings.conversation_idle_hours = hours as u32;
    }
    if let Some(all) = f.opt_bool(
        "agents_see_all_conversations",
        body.agents_see_all_conversations,
    ) {
        org.settings.agents_see_all_conversations = all;
    }
    match body.provider_keys {
        Field::Value(keys) => {
            for (provider, secret) in &keys {
                match secret {
                    // null removes a key; a string sets it (write-only).
                    Value::Null => {
                        org.settings.provider_keys.remove(provider);
                    }
                    // A read's mask of a stored key, sent back: kept as it is.
                    Value::String(s)
                        if s.starts_with(MASK)
                            && org.settings.provider_keys.contains_key(provider) => {}
                    Value::String(s) if !s.trim().is_empty() && s.len() <= 4096 => {
                        org.settings
                            .provider_keys
                            .insert(provider.clone(), Sealed::seal(&app.cipher, s.trim()));
                    }
                    _ => f.error(
                        format!("provider_keys.{provider}"),
                        "must be a non-empty string, or null to remove it",
                    ),
                }
            }
        }
        Field::Invalid(_) => f.error("provider_keys", "must be an object of provider name to key"),
        Field::Absent | Field::Null => {}
    }
    match body.openai_compatible_base_url {
        Field::Null => org.settings.openai_compatible_base_url = None,
        Field::Value(url) => match check_base_url(app, url.trim()) {
            Ok(url) => org.settings.openai_compatible_base_url = Some(url),
            Err(reason) => f.error("openai_compatible_base_url", reason),
        },
        Field::Invalid(_) => f.error(
            "openai_compatible_base_url",
            "must be an http(s) URL, or null to remove it",
        ),
        Field::Absent => {}
    }
    for (k, v) in f.into_errors() {
        errors.error(k, v);
    }
}

/// An OpenAI-compatible server's base URL: http(s), no credentials, query or fragment, and
/// allowed by the outbound rules (an internal address is refused when saved, as at use).
fn check_base_url(app: &App, url: &str) -> std::result::Result<String, String> {
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let parsed = app
        .net
        .check_url(url)
        .map_err(|e| format!("must be a public http(s) URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials (set provider_keys.openai_compatible)".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must have no query or fragment".into());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `GET /settings/workspace`.
pub async fn get_settings(app: &App, caller: &Caller) -> Result<WorkspaceView> {
    let (org, _) = get_org(app, caller.org_id()).await?;
    Ok(workspace_view(&org))
}

fn workspace_view(org: &Organization) -> WorkspaceView {
    WorkspaceView {
        name: org.name.clone(),
        settings: (&org.settings).into(),
    }
}

/// `POST /settings/workspace` (admin).
pub async fn update_settings(
    app: &App,
    caller: &Caller,
    body: WorkspaceSettingsInput,
) -> Result<WorkspaceView> {
    caller.require_admin()?;
    let (mut org, version) = get_org(app, caller.org_id()).await?;
    let mut f = Checks::new();
    apply_settings(app, &mut org, body, &mut f);
    f.finish()?;
    org.updated_at = app.now_rfc3339();
    app.table
        .put(org_item(&org), Condition::VersionEquals(version))
        .await?;
    app.org_limits.forget(&org.id);
    Ok(workspace_view(&org))
}

/// A provider key in clear, for the engine (never for API responses).
pub async fn provider_key(app: &App, org_id: &str, provider: &str) -> Result<Option<String>> {
    let (org, _) = get_org(app, org_id).await?;
    match org.settings.provider_keys.get(provider) {
        Some(sealed) => sealed.open(&app.cipher).map(Some).map_err(Error::Internal),
        None => Ok(None),
    }
}
