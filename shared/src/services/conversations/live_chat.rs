//! A person in the inbox answering a web chat that is running: their `text`
//! reaches the visitor as the human (`agent_message` with `author:
//! "human"`), and the AI pauses on that chat as on the conversation. This
//! goes through the live space's steering path ([`control::deliver`]), to
//! whichever process holds the chat: the chat is taken over (the AI stays
//! quiet) and the reply said as supervisor text. Turning the AI back on in
//! the conversation hands the chat back.

use super::{load, modify};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::Direction;
use crate::error::{Error, Result};
use crate::services::events::Event;
use crate::services::live::control::{self, Control, MAX_TEXT};

/// `call.started` of a web chat: its conversation is found or started now
/// (not when it ends), so a person can answer while it runs.
pub async fn call_started(app: &App, event: &Event) -> Result<()> {
    let Some((tenant, call)) = crate::services::calls::of_event(app, event)
        .await?
        .filter(|(_, call)| call.direction == Direction::Web && !call.status.is_final())
    else {
        return Ok(());
    };
    let id = super::from_call::conversation_for(app, &tenant, &call).await?;
    modify(app, &tenant, &id, |c| {
        // Already ended and taken in: a late start event changes nothing.
        if c.call_ids.contains(&call.id) || c.live_call_id.as_deref() == Some(call.id.as_str()) {
            return Ok(false);
        }
        c.live_call_id = Some(call.id.clone());
        Ok(true)
    })
    .await?;
    Ok(())
}

/// 422 for a reply longer than a live chat takes, before it is stored.
pub(crate) async fn check_reply(app: &App, tenant: &Tenant, id: &str, text: &str) -> Result<()> {
    let (c, _) = load(app, tenant, id).await?;
    if c.live_call_id.is_some() && text.chars().count() > MAX_TEXT {
        return Err(Error::field(
            "content",
            format!("must be at most {MAX_TEXT} characters while the web chat is live"),
        ));
    }
    Ok(())
}

/// Says a person's reply on the running chat `call_id`. Best effort once
/// the reply is stored: a chat that ended meanwhile keeps it in the
/// conversation only.
pub(crate) async fn say(app: &App, tenant: &Tenant, call_id: &str, text: &str) {
    let said = async {
        control::deliver(app, tenant, call_id, Control::Takeover(true)).await?;
        let words = Control::SupervisorText(text.to_owned()).checked("content")?;
        control::deliver(app, tenant, call_id, words).await
    };
    if let Err(e) = said.await {
        tracing::info!(call = %call_id, error = %e, "a reply from the inbox did not reach the chat");
    }
}

/// Hands the running chat `call_id` back to the AI (best effort, as [`say`]).
pub(crate) async fn resume(app: &App, tenant: &Tenant, call_id: &str) {
    if let Err(e) = control::deliver(app, tenant, call_id, Control::Takeover(false)).await {
        tracing::info!(call = %call_id, error = %e, "the chat could not be handed back to the AI");
    }
}
