//! Twilio's webhooks (SPEC §7): the voice webhook answers an inbound call
//! with TwiML that streams it to the relay; the status callback moves a
//! call on as the carrier reports it. Each webhook URL names its channel
//! (`/telephony/twilio/{channel_id}/…`), whose auth token checks
//! `X-Twilio-Signature` over the public URL and the form; a request Twilio
//! already delivered (its `I-Twilio-Idempotency-Token` seen before) is
//! refused as a replay.

use std::time::Duration;

use crate::App;
use crate::domain::call::{Call, Direction};
use crate::domain::channel::{Channel, ChannelType};
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};
use crate::services::calls::{self, lease, media};
use crate::services::live::{self, control::Control};
use crate::services::table_keys::twilio_seen_pk;
use crate::store::{Condition, Item, StoreError, Write};
use crate::telephony::twilio::{Progress, is_machine};
use crate::telephony::{signature, twiml};

/// How long a delivered webhook's idempotency token is remembered (Twilio
/// retries within minutes; a day is far beyond).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What a caller hears when the number has no agent to answer.
pub const NO_AGENT: &str =
    "Sorry, this number is not connected to an agent right now. Please try again later. Goodbye.";

/// A webhook request as Twilio sent it.
#[derive(Debug, Clone)]
pub struct Webhook<'a> {
    /// The channel the URL names.
    pub channel_id: &'a str,
    /// The path and query Twilio requested (appended to the public URL).
    pub path_and_query: &'a str,
    /// The form fields, in order.
    pub params: Vec<(String, String)>,
    /// `X-Twilio-Signature`.
    pub signature: Option<&'a str>,
    /// `I-Twilio-Idempotency-Token`.
    pub idempotency_token: Option<&'a str>,
}

impl Webhook<'_> {
    /// The first value of the form field `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, in order;
/// `None` when the body is not UTF-8 text.
pub fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    std::str::from_utf8(body).ok()?;
    Some(
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

const BAD_SIGNATURE: &str = "the request's X-Twilio-Signature does not verify";

/// Checks a webhook: the channel exists and is a live Twilio channel, the
/// signature is Twilio's for this URL and form under the channel's auth
/// token, the form's `AccountSid` is the channel's, and the request is not
/// a replay. Every refusal is a 403 that says no more than that.
pub(crate) async fn authenticate(app: &App, w: &Webhook<'_>) -> Result<(Tenant, Channel)> {
    let refused = || Error::Forbidden(BAD_SIGNATURE.into());
    let Some(signature) = w.signature else {
        return Err(Error::Forbidden(
            "the request has no X-Twilio-Signature".into(),
        ));
    };
    let (tenant, channel) = match crate::services::channels::locate(app, w.channel_id).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Err(refused()),
        Err(e) => return Err(e),
    };
    if channel.kind != ChannelType::Twilio || tenant.mode != Mode::Live {
        return Err(refused());
    }
    let creds = channel.open_credentials(&app.cipher)?;
    let (Some(sid), Some(token)) = (creds.get("account_sid"), creds.get("auth_token")) else {
        return Err(refused());
    };
    let url = format!("{}{}", app.config.public_url, w.path_and_query);
    if !signature::verify(token, &url, &w.params, signature) {
        return Err(refused());
    }
    if w.param("AccountSid") != Some(sid.as_str()) {
        return Err(Error::Forbidden(
            "the request is for another Twilio account".into(),
        ));
    }
    if let Some(idem) = w.idempotency_token {
        let expires = app.now().timestamp() + REPLAY_WINDOW.as_secs() as i64;
        let seen =
            Item::new(twilio_seen_pk(&channel.id), idem, serde_json::json!({})).with_ttl(expires);
        match app.table.put(seen, Condition::MustNotExist).await {
            Ok(_) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(Error::Forbidden(
                    "this webhook was already delivered (replayed I-Twilio-Idempotency-Token)"
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((tenant, channel))
}

/// `POST /telephony/twilio/{channel_id}/voice`: an inbound call to one of
/// the channel's numbers. Creates the call (`inbound`, `initiated`, queued
/// for its media stream) for the channel's default agent and answers TwiML
/// that streams it to the relay. A number or agent that cannot answer gets
/// TwiML that says so and hangs up.
pub async fn voice(app: &App, w: &Webhook<'_>) -> Result<String> {
    let (tenant, channel) = authenticate(app, w).await?;
    let to = w.param("To").unwrap_or_default();
    let from = w.param("From").unwrap_or_default();
    let Some(call_sid) = w.param("CallSid").filter(|s| !s.is_empty()) else {
        return Err(Error::field("CallSid", "is required"));
    };
    let ours = channel.phone_numbers.iter().any(|n| n.as_str() == to);
    let agent = match (&channel.default_agent_id, ours) {
        (Some(agent_id), true) => match crate::services::agents::load(app, &tenant, agent_id).await
        {
            Ok((agent, _)) if agent.enabled => Some(agent),
            Ok(_) | Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let Some(agent) = agent else {
        tracing::info!(channel = %channel.id, to, "inbound call with no agent to answer");
        return Ok(twiml::say_and_hang_up(NO_AGENT));
    };
    let call = Call {
        channel_id: Some(channel.id.clone()),
        ..Call::placed(
            app.new_id(),
            Direction::Inbound,
            agent.id.clone(),
            from.to_owned(),
            to.to_owned(),
            false,
            app.now_rfc3339(),
        )
    };
    let writes = vec![
        Write::Put(calls::item(&tenant, &call), Condition::MustNotExist),
        Write::Put(lease::queued(app, &tenant, &call), Condition::MustNotExist),
        Write::Put(
            media::carrier_ref(&tenant, call_sid, &call.id),
            Condition::MustNotExist,
        ),
    ];
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(Error::Conflict("this call was already answered".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(twiml::relay_stream(&media::stream(app, &tenant, &call.id)))
}

/// `POST /telephony/twilio/{channel_id}/status`: a call's status callback
/// (and the asynchronous answering-machine result: a machine hands the call
/// to the agent's `voicemail` setting).
/// Final statuses end the call with the matching `end_reason` (`busy`,
/// `no_answer`, `carrier_error`, `cancelled`, `voicemail` when the
/// answering-machine detection says so, else `callee_hung_up`); others are
/// noted. A call that already ended stays as it ended.
pub async fn status(app: &App, w: &Webhook<'_>) -> Result<()> {
    let (tenant, _) = authenticate(app, w).await?;
    let Some(call_sid) = w.param("CallSid").filter(|s| !s.is_empty()) else {
        return Err(Error::field("CallSid", "is required"));
    };
    let Some(status) = w.param("CallStatus") else {
        if let Some(answered_by) = w.param("AnsweredBy") {
            // The asynchronous answering-machine result: a person lets the
            // call go on; a machine (its greeting over, as DetectMessageEnd
            // reports it) or a fax hands the call to the agent's voicemail
            // setting, on whichever process holds it.
            tracing::info!(call_sid, answered_by, "answering-machine detection result");
            if is_machine(answered_by) {
                let call_id = media::by_carrier_sid(app, &tenant, call_sid).await?;
                if let Err(e) =
                    live::control::deliver(app, &tenant, &call_id, Control::Voicemail).await
                {
                    // Ended meanwhile, or its holder is out of reach: Twilio's
                    // final status still ends it.
                    tracing::warn!(call = %call_id, error = %e, "the voicemail result did not reach the call");
                }
            }
            return Ok(());
        }
        return Err(Error::field("CallStatus", "is required"));
    };
    let Some(progress) = Progress::of(status, w.param("AnsweredBy")) else {
        return Err(Error::field(
            "CallStatus",
            format!("{status:?} is not a Twilio call status"),
        ));
    };
    let call_id = media::by_carrier_sid(app, &tenant, call_sid).await?;
    if let Progress::Ended(reason) = progress {
        calls::finish(app, &tenant, &call_id, None, |c, at| c.end(reason, at)).await?;
    }
    Ok(())
}
