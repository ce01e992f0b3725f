//! Running automations on the events queue ([`on_event`], from
//! `events::handle`): each active automation whose trigger is the event's
//! and whose conditions hold runs its actions in order, once per
//! (automation, event).
//!
//! Once: the run's id is derived from the pair and its record is claimed
//! (created if absent) before any action, so a redelivered event finds it
//! and runs nothing again. A process that dies mid-run leaves the record
//! `running`; its remaining actions are then never done rather than some
//! done twice (a message to a customer must not be sent twice).
//!
//! Conditions are read on the conversation as it is when the event is
//! handled. An event caused by an automation's action carries its chain
//! depth; at [`MAX_DEPTH`] nothing runs and the run is logged `skipped`.

use serde_json::{Value, json};

use super::KIND;
use crate::App;
use crate::domain::automation::{
    Action, ActionResult, Automation, ConditionField, ConditionOp, Run, RunStatus, TriggerEvent,
};
use crate::domain::contact::Contact;
use crate::domain::conversation::{Author, Conversation, Message, MessageType};
use crate::domain::identity::{Membership, Session};
use crate::domain::{Role, Tenant};
use crate::error::{Error, Result};
use crate::services::conversations;
use crate::services::events::{Event, MAX_DEPTH};
use crate::services::repository::{query_all, query_all_as};
use crate::services::table_keys::*;
use crate::services::webhooks::delivery::derived_id;
use crate::store::{Condition, Index, Item, Query, StoreError};

/// How long run records are kept.
pub(super) const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// What an event is about, read once for all the automations it starts.
#[derive(Debug, Default)]
struct Subject {
    conversation: Option<Conversation>,
    contact: Option<Contact>,
    /// The customer's words (`message_received`).
    message: Option<String>,
    /// The tag added (`tag_added`).
    tag: Option<String>,
}

/// Runs the tenant's automations on `event`. `Err` (a store failure before
/// any run was claimed) retries the event; a run claimed already is not
/// repeated.
pub async fn on_event(app: &App, event: &Event) -> Result<()> {
    let Some(trigger) = TriggerEvent::of_event(&event.event_type) else {
        return Ok(());
    };
    let tenant = event.tenant();
    let query = Query::partition(tenant.pk()).prefix(resource_prefix(KIND));
    let started: Vec<Automation> = query_all_as::<Automation>(app.table.as_ref(), query)
        .await?
        .into_iter()
        .filter(|a| a.active && a.trigger.event == trigger)
        .collect();
    if started.is_empty() {
        return Ok(());
    }
    let subject = subject(app, &tenant, event, trigger).await?;
    for a in &started {
        run(app, &tenant, event, a, &subject).await?;
    }
    Ok(())
}

/// The conversation an event is about: `data.id` for the conversation's
/// own events (`data.conversation_id` when a message is the data), the
/// conversation a call went to for `call.completed`.
async fn conversation_id(app: &App, tenant: &Tenant, event: &Event) -> Result<Option<String>> {
    let data = &event.data;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if event.event_type == "call.completed" {
        let Some(call) = event.subject_id() else {
            return Ok(None);
        };
        return Ok(app
            .table
            .get(&tenant.pk(), &conversation_call_sk(call))
            .await?
            .and_then(|i| text(i.data.get("conversation_id")?)));
    }
    Ok(data
        .get("conversation_id")
        .and_then(text)
        .or_else(|| data.get("id").and_then(text)))
}

/// The customer's words of a `message.received`: the message's content when
/// the event carries it, else the caller's lines of the call it came from,
/// else the conversation's last message.
async fn message_text(app: &App, tenant: &Tenant, event: &Event, c: &Conversation) -> String {
    let data = &event.data;
    let carried = data
        .pointer("/message/content")
        .or_else(|| data.get("content"))
        .and_then(Value::as_str);
    if let Some(text) = carried {
        return text.to_owned();
    }
    if let Some(call) = data.get("call_id").and_then(Value::as_str)
        && let Ok((call, _)) = crate::services::calls::load(app, tenant, call).await
    {
        return call
            .transcript
            .iter()
            .flatten()
            .filter(|e| e.role == crate::engine::call::Role::User)
            .map(|e| e.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    c.last_message_preview.clone().unwrap_or_default()
}

async fn subject(
    app: &App,
    tenant: &Tenant,
    event: &Event,
    trigger: TriggerEvent,
) -> Result<Subject> {
    let mut s = Subject::default();
    if !trigger.has_conversation() {
        return Ok(s);
    }
    let Some(id) = conversation_id(app, tenant, event).await? else {
        return Ok(s);
    };
    let c = match conversations::load(app, tenant, &id).await {
        Ok((c, _)) => c,
        Err(Error::NotFound(_)) => return Ok(s),
        Err(e) => return Err(e),
    };
    if let Some(contact) = &c.contact_id {
        s.contact = match crate::services::contacts::load(app, tenant, contact).await {
            Ok((contact, _)) => Some(contact),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
    }
    if trigger == TriggerEvent::MessageReceived {
        s.message = Some(message_text(app, tenant, event, &c).await);
    }
    if trigger == TriggerEvent::TagAdded {
        s.tag = event
            .data
            .get("tag")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    s.conversation = Some(c);
    Ok(s)
}

/// Whether every condition of `a` holds for `s`.
fn matches(a: &Automation, s: &Subject) -> bool {
    let c = s.conversation.as_ref();
    let contact = s.contact.as_ref();
    a.trigger.conditions.iter().all(|cond| {
        let actual: Option<String> = match cond.field {
            ConditionField::Tags => {
                let has =
                    c.is_some_and(|c| c.tags.iter().any(|t| t.eq_ignore_ascii_case(&cond.value)));
                return match cond.op {
                    ConditionOp::NotContains | ConditionOp::NotEquals => !has,
                    ConditionOp::Contains | ConditionOp::Equals => has,
                };
            }
            ConditionField::ChannelType => c.map(|c| c.channel_type.as_str().to_owned()),
            ConditionField::Status => c.map(|c| c.status.as_str().to_owned()),
            ConditionField::Tag => s.tag.clone(),
            ConditionField::Message => s.message.clone(),
            ConditionField::ContactName => contact.and_then(|k| k.name.clone()),
            ConditionField::ContactEmail => {
                contact.and_then(|k| k.email.as_ref().map(|e| e.as_str().to_owned()))
            }
            ConditionField::ContactPhone => {
                contact.and_then(|k| k.phone.as_ref().map(|p| p.as_str().to_owned()))
            }
        };
        cond.op.holds(actual.as_deref(), &cond.value)
    })
}

fn run_item(app: &App, tenant: &Tenant, r: &Run) -> Item {
    Item::new(
        tenant.pk(),
        automation_run_sk(&r.automation_id, &r.id),
        serde_json::to_value(r).unwrap_or_default(),
    )
    .with_ttl(app.now().timestamp() + RETENTION_SECS)
}

/// Runs `a` on `event` unless it ran on it already.
async fn run(app: &App, tenant: &Tenant, event: &Event, a: &Automation, s: &Subject) -> Result<()> {
    let needs_conversation = a.trigger.event.has_conversation();
    if (needs_conversation && s.conversation.is_none()) || !matches(a, s) {
        return Ok(());
    }
    let now = app.now_rfc3339();
    let mut r = Run {
        id: derived_id(app, &event.id, &a.id),
        automation_id: a.id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        depth: event.depth,
        conversation_id: s.conversation.as_ref().map(|c| c.id.clone()),
        status: RunStatus::Running,
        actions: Vec::new(),
        error: None,
        created_at: now.clone(),
        updated_at: now,
    };
    if event.depth >= MAX_DEPTH {
        r.status = RunStatus::Skipped;
        r.error = Some(format!(
            "the event was caused by a chain of {} automation actions (at most {MAX_DEPTH}): \
             automations that trigger each other are stopped here",
            event.depth
        ));
    }
    match app
        .table
        .put(run_item(app, tenant, &r), Condition::MustNotExist)
        .await
    {
        Ok(_) => {}
        // A redelivered event: this run happened (or is happening) already.
        Err(StoreError::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    if r.status == RunStatus::Skipped {
        tracing::info!(automation = %a.id, event = %event.id, depth = event.depth, "automation chain stopped");
        return Ok(());
    }
    for (i, action) in a.actions.iter().enumerate() {
        let done = act(app, tenant, event, a, &r, i, action).await;
        r.actions.push(match done {
            Ok(detail) => ActionResult {
                action_type: action.type_name().to_owned(),
                status: RunStatus::Succeeded,
                detail: Some(detail),
                error: None,
            },
            Err(e) => ActionResult {
                action_type: action.type_name().to_owned(),
                status: RunStatus::Failed,
                detail: None,
                error: Some(reason(&e, &a.id)),
            },
        });
    }
    let failed = r
        .actions
        .iter()
        .filter(|x| x.status == RunStatus::Failed)
        .count();
    r.status = if failed == 0 {
        RunStatus::Succeeded
    } else {
        r.error = Some(format!("{failed} of {} actions failed", r.actions.len()));
        RunStatus::Failed
    };
    r.updated_at = app.now_rfc3339();
    app.table
        .put(run_item(app, tenant, &r), Condition::None)
        .await?;
    Ok(())
}

/// What the run log says about a failed action: the use case's own message,
/// never an internal one (that is logged).
fn reason(e: &Error, automation: &str) -> String {
    match e {
        Error::Internal(detail) => {
            tracing::error!(automation, error = %detail, "an automation action failed");
            "an internal error stopped this action".into()
        }
        Error::Validation(fields) => fields
            .values()
            .next()
            .cloned()
            .unwrap_or_else(|| e.to_string()),
        other => other.to_string(),
    }
}

/// Does one action; `Ok` says what it did.
async fn act(
    app: &App,
    tenant: &Tenant,
    event: &Event,
    a: &Automation,
    r: &Run,
    index: usize,
    action: &Action,
) -> Result<String> {
    let conversation = r.conversation_id.as_deref().unwrap_or_default();
    match action {
        Action::Assign {
            user_id: Some(user),
            ..
        } => {
            if !conversations::is_member(app, &tenant.org_id, user).await? {
                return Err(Error::Conflict(format!(
                    "{user} is no longer a user of this organization"
                )));
            }
            assign(app, tenant, conversation, user).await
        }
        Action::Assign { user_id: None, .. } => {
            let user = next_online_agent(app, tenant, &a.id).await?;
            assign(app, tenant, conversation, &user).await
        }
        Action::AddTag { tag } => {
            conversations::add_tag_at_depth(app, tenant, conversation, tag, event.depth + 1)
                .await?;
            Ok(format!("tagged {tag}"))
        }
        Action::SetStatus { status } => {
            let status = *status;
            conversations::modify(app, tenant, conversation, |c| {
                let changed = c.status != status;
                c.status = status;
                Ok(changed)
            })
            .await?;
            Ok(format!("status set to {}", status.as_str()))
        }
        Action::SendMessage { text } => {
            let message = Message {
                // Derived: the same run never names two messages.
                id: derived_id(app, &r.id, &format!("message#{index}")),
                conversation_id: conversation.to_owned(),
                message_type: MessageType::Text,
                author: Author::System,
                user_id: None,
                content: text.clone(),
                call_id: None,
                created_at: app.now_rfc3339(),
                delivery: None,
            };
            let sent = conversations::send_text(app, tenant, message).await?;
            Ok(format!("message {} sent", sent.id))
        }
        Action::SendWebhook { url } => {
            let id = derived_id(app, &r.id, &format!("webhook#{index}"));
            let body = json!({
                "type": event.event_type,
                "timestamp": event.created_at,
                "automation_id": a.id,
                "data": event.data,
            });
            crate::services::webhooks::enqueue_org_signed(
                app,
                tenant,
                id.clone(),
                Some(event.id.clone()),
                event.event_type.clone(),
                url,
                body,
            )
            .await?;
            Ok(format!("delivery {id} queued"))
        }
    }
}

async fn assign(app: &App, tenant: &Tenant, conversation: &str, user: &str) -> Result<String> {
    conversations::modify(app, tenant, conversation, |c| {
        let changed = c.assignee_id.as_deref() != Some(user);
        c.assignee_id = Some(user.to_owned());
        Ok(changed)
    })
    .await?;
    Ok(format!("assigned to {user}"))
}

/// The next online agent of the org, taking turns per automation. Online: an
/// `agent`-role member with a live sign-in session (signed in, not logged
/// out, not expired) — the platform keeps no finer presence.
async fn next_online_agent(app: &App, tenant: &Tenant, automation: &str) -> Result<String> {
    let members = Query::partition(org_pk(&tenant.org_id)).prefix("MEMBER#");
    let mut online = Vec::new();
    let now = app.now_rfc3339();
    for m in query_all_as::<Membership>(app.table.as_ref(), members).await? {
        if m.role != Role::Agent {
            continue;
        }
        let sessions = Query::partition(user_index(&m.user_id))
            .on(Index::Gsi1)
            .prefix("SESSION#");
        let live = query_all(app.table.as_ref(), sessions)
            .await?
            .iter()
            .filter_map(|i| i.parse::<Session>().ok())
            .any(|s| s.expires_at > now);
        if live {
            online.push(m.user_id);
        }
    }
    if online.is_empty() {
        return Err(Error::Conflict("no agent is online to assign".into()));
    }
    online.sort();
    let turn = app
        .table
        .add(&tenant.pk(), &automation_turn_sk(automation), 1, None)
        .await?;
    let at = (turn.max(1) - 1) as usize % online.len();
    Ok(online.swap_remove(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::automation::{Condition as Cond, Trigger};
    use crate::domain::conversation::ChannelType;

    fn automation(conditions: Vec<Cond>) -> Automation {
        Automation {
            id: "a".into(),
            name: "a".into(),
            active: true,
            trigger: Trigger {
                event: TriggerEvent::MessageReceived,
                conditions,
            },
            actions: vec![],
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn cond(field: ConditionField, op: ConditionOp, value: &str) -> Cond {
        Cond {
            field,
            op,
            value: value.into(),
        }
    }

    #[test]
    fn every_condition_must_hold() {
        let mut c = Conversation::open("c".into(), None, ChannelType::Sms, None, String::new());
        c.tags = vec!["VIP".into()];
        let s = Subject {
            conversation: Some(c),
            message: Some("I want a refund".into()),
            ..Subject::default()
        };
        use ConditionField as F;
        use ConditionOp as O;
        assert!(matches(&automation(vec![]), &s));
        assert!(matches(
            &automation(vec![
                cond(F::ChannelType, O::Equals, "sms"),
                cond(F::Tags, O::Contains, "vip"),
                cond(F::Message, O::Contains, "REFUND"),
                cond(F::Status, O::NotEquals, "resolved"),
            ]),
            &s
        ));
        assert!(!matches(
            &automation(vec![cond(F::Tags, O::NotContains, "vip")]),
            &s
        ));
        assert!(!matches(
            &automation(vec![
                cond(F::ChannelType, O::Equals, "sms"),
                cond(F::ContactName, O::Equals, "Ada")
            ]),
            &s
        ));
        assert!(matches(
            &automation(vec![cond(F::ContactName, O::NotEquals, "Ada")]),
            &s
        ));
    }
}
