//! The table design in one place: every item's keys. `infra/TABLE_DESIGN.md`
//! documents the same layout with its access patterns.
//!
//! Identity items live in their own partitions (`ORG#…`, `USER#…`, …); every
//! tenant-owned resource lives under [`Tenant::pk`], so a query can never
//! cross orgs or modes.

use crate::domain::Tenant;

/// `ORG#<org>` — the org item and its memberships.
pub fn org_pk(org_id: &str) -> String {
    format!("ORG#{org_id}")
}
/// Sort key of the org item.
pub const ORG_SK: &str = "ORG";
/// Sort key of a membership under `ORG#<org>`.
pub fn member_sk(user_id: &str) -> String {
    format!("MEMBER#{user_id}")
}
/// GSI1 partition listing a user's orgs and sessions.
pub fn user_index(user_id: &str) -> String {
    format!("USER#{user_id}")
}
/// `USER#<user>` / `USER`.
pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
/// Sort key of the user item.
pub const USER_SK: &str = "USER";
/// Unique e-mail claim: `EMAIL#<email>` / `EMAIL`.
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}
/// Sort key of an e-mail claim.
pub const EMAIL_SK: &str = "EMAIL";
/// `SESSION#<sha256>` / `SESSION`.
pub fn session_pk(token_hash: &str) -> String {
    format!("SESSION#{token_hash}")
}
/// Sort key of a session.
pub const SESSION_SK: &str = "SESSION";
/// `APIKEY#<sha256>` / `APIKEY`.
pub fn api_key_pk(key_hash: &str) -> String {
    format!("APIKEY#{key_hash}")
}
/// Sort key of an API key.
pub const API_KEY_SK: &str = "APIKEY";
/// GSI1 partition listing an org's API keys.
pub fn org_api_keys(org_id: &str) -> String {
    format!("ORG#{org_id}#APIKEYS")
}
/// `INVITE#<sha256>` / `INVITE`.
pub fn invite_pk(token_hash: &str) -> String {
    format!("INVITE#{token_hash}")
}
/// Sort key of an invite.
pub const INVITE_SK: &str = "INVITE";
/// Rate-limit counter of a key in one minute window: `RATE#<key>` / `<minute>`.
pub fn rate_pk(key_id: &str) -> String {
    format!("RATE#{key_id}")
}
/// A stored idempotent response: `IDEM#<principal>` / `<mode>#<key>`.
pub fn idempotency_pk(principal: &str) -> String {
    format!("IDEM#{principal}")
}
/// Global pointer from a channel id to its tenant: `CHANNEL#<id>` /
/// `CHANNEL`, written with the channel. Unauthenticated routes (public web
/// sessions, carrier webhooks) only know the channel id.
pub fn channel_pointer_pk(channel_id: &str) -> String {
    format!("CHANNEL#{channel_id}")
}
/// Sort key of a channel pointer.
pub const CHANNEL_POINTER_SK: &str = "CHANNEL";
/// Rate-limit counter of public web sessions of one client address on one
/// channel: `RATE#WEB#<channel>#<address>` / `<minute>`.
pub fn web_session_rate_pk(channel_id: &str, address: &str) -> String {
    rate_pk(&format!("WEB#{channel_id}#{address}"))
}
/// A sign-in throttle: `RATE#AUTH#<what>#<subject>` (an address or an e-mail).
pub fn auth_rate_pk(what: &str, subject: &str) -> String {
    rate_pk(&format!("AUTH#{what}#{subject}"))
}
/// A tenant's claim on a tool name: `<tenant>` / `TOOLNAME#<name>`.
pub fn tool_name_sk(name: &str) -> String {
    format!("TOOLNAME#{name}")
}
/// An agent's use of a tool: `<tenant>` / `AGENTTOOL#<agent>#<tool>`.
pub fn agent_tool_sk(agent_id: &str, tool_id: &str) -> String {
    format!("AGENTTOOL#{agent_id}#{tool_id}")
}
/// Prefix listing an agent's tools.
pub fn agent_tools_prefix(agent_id: &str) -> String {
    format!("AGENTTOOL#{agent_id}#")
}
/// An agent's use of an MCP server: `<tenant>` / `AGENTMCP#<agent>#<server>`.
pub fn agent_mcp_sk(agent_id: &str, server_id: &str) -> String {
    format!("AGENTMCP#{agent_id}#{server_id}")
}
/// Prefix listing an agent's MCP servers.
pub fn agent_mcp_prefix(agent_id: &str) -> String {
    format!("AGENTMCP#{agent_id}#")
}
/// GSI1 partition listing the agents a tool or MCP server is assigned to
/// (`<tenant>#TOOLREF#<tool>`, `<tenant>#MCPREF#<server>`), so deleting it
/// can remove its assignments.
pub fn assignment_refs(tenant: &Tenant, kind: &str, id: &str) -> String {
    format!("{}#{kind}REF#{id}", tenant.pk())
}
/// GSI1 partition of a tenant's tasks in one status, ordered by
/// [`priority_key`] (higher priority first, then oldest first).
pub fn tasks_by_status(tenant: &Tenant, status: &str) -> String {
    format!("{}#TASKS#{status}", tenant.pk())
}
/// GSI1 sort key of a task: its priority inverted so ascending order puts the
/// highest first, then its (time-ordered) id.
pub fn priority_key(priority: i64, id: &str) -> String {
    format!("{:05}#{id}", 10_000 - priority.clamp(-9_999, 9_999))
}
/// The installation-wide partition of scheduled pending tasks, ordered by
/// when they are due (what the scheduler tick reads).
pub const TASKS_DUE_PK: &str = "TASKDUE";
/// Sort key of a due marker: `<scheduled_at>#<org>#<L|T>#<task>`.
pub fn task_due_sk(scheduled_at: &str, tenant: &Tenant, task_id: &str) -> String {
    format!("{scheduled_at}#{}#{task_id}", tenant_tag(tenant))
}
/// GSI1 partition of the calls of one task.
pub fn task_calls(tenant: &Tenant, task_id: &str) -> String {
    format!("{}#TASKCALLS#{task_id}", tenant.pk())
}
/// A stored transcript entry of a call: `<tenant>` / `CALLEVENT#<call>#<seq>`.
pub fn call_event_sk(call_id: &str, seq: u32) -> String {
    format!("CALLEVENT#{call_id}#{seq:08}")
}
/// Prefix listing a call's stored entries in order.
pub fn call_events_prefix(call_id: &str) -> String {
    format!("CALLEVENT#{call_id}#")
}
/// Sort key (in the tenant's partition) linking a carrier's call id (Twilio's
/// `CallSid`) to our call; outside the `CALL#` ranges, so listings skip it.
pub fn carrier_call_sk(carrier_call_id: &str) -> String {
    format!("CARRIERCALL#{carrier_call_id}")
}
/// Partition of the Twilio webhook idempotency tokens a channel has seen
/// (sort key: the token; items expire after the replay window).
pub fn twilio_seen_pk(channel_id: &str) -> String {
    format!("TWILIOSEEN#{channel_id}")
}
/// The installation-wide partition of running calls' leases (what the
/// runner-lost sweep reads).
pub const CALL_LEASES_PK: &str = "CALLLEASE";
/// Sort key of a call's lease: `<org>#<L|T>#<call>`.
pub fn call_lease_sk(tenant: &Tenant, call_id: &str) -> String {
    format!("{}#{call_id}", tenant_tag(tenant))
}
/// GSI1 partition of a tenant's live calls (the relay streams it).
pub fn live_calls(tenant: &Tenant) -> String {
    format!("{}#LIVE", tenant.pk())
}
/// A campaign contact: `<tenant>` / `CAMPCONTACT#<campaign>#<phone>` (the
/// phone in the key makes it unique per campaign, and lets a call find its
/// contact from the number it dialed).
pub fn campaign_contact_sk(campaign_id: &str, phone: &str) -> String {
    format!("CAMPCONTACT#{campaign_id}#{phone}")
}
/// Prefix listing a campaign's contacts.
pub fn campaign_contacts_prefix(campaign_id: &str) -> String {
    format!("CAMPCONTACT#{campaign_id}#")
}
/// GSI1 partition of a campaign's contacts that will be dialed, ordered by
/// when (`<next_attempt_at>#<phone>`): what the dialer's tick reads.
pub fn campaign_due(tenant: &Tenant, campaign_id: &str) -> String {
    format!("{}#CAMPDUE#{campaign_id}", tenant.pk())
}
/// GSI2 partition of a campaign's contacts in one status.
pub fn campaign_contacts_by_status(tenant: &Tenant, campaign_id: &str, status: &str) -> String {
    format!("{}#CAMPSTATUS#{campaign_id}#{status}", tenant.pk())
}
/// A campaign's statistics counters (`status#<s>`, `outcome#<o>`, `calls`,
/// `answered`, `duration_seconds`, `total`).
pub fn campaign_stats_pk(tenant: &Tenant, campaign_id: &str) -> String {
    format!("{}#CAMPSTATS#{campaign_id}", tenant.pk())
}
/// A campaign's concurrency slots (`<n>`), each a lease held by one call.
pub fn campaign_slots_pk(tenant: &Tenant, campaign_id: &str) -> String {
    format!("{}#CAMPSLOTS#{campaign_id}", tenant.pk())
}
/// The tenant's campaign concurrency slots across campaigns (`<n>`).
pub fn org_campaign_slots_pk(tenant: &Tenant) -> String {
    format!("{}#ORGCAMPSLOTS", tenant.pk())
}
/// A campaign's dialer token: `<tenant>` / `CAMPTICK#<campaign>` (only the
/// tick message carrying its current sequence number runs).
pub fn campaign_tick_sk(campaign_id: &str) -> String {
    format!("CAMPTICK#{campaign_id}")
}
/// The installation-wide partition of running campaigns (the scheduler
/// restarts a dialer whose tick chain broke).
pub const RUNNING_CAMPAIGNS_PK: &str = "CAMPRUN";
/// Sort key of a running campaign: `<org>#<L|T>#<campaign>`.
pub fn running_campaign_sk(tenant: &Tenant, campaign_id: &str) -> String {
    format!("{}#{campaign_id}", tenant_tag(tenant))
}
/// The installation-wide partition of recordings' expiry markers, ordered by
/// when each recording's retention ends (what the scheduler tick's sweep reads).
pub const RECORDINGS_EXPIRE_PK: &str = "RECEXPIRE";
/// Sort key of a recording's expiry marker: `<expires_at>#<org>#<L|T>#<call>`.
pub fn recording_expire_sk(expires_at: &str, tenant: &Tenant, call_id: &str) -> String {
    format!("{expires_at}#{}#{call_id}", tenant_tag(tenant))
}
/// Marker that one step of the post-call job ran for an event:
/// `<tenant>` / `POSTCALL#<event>#<step>`.
pub fn post_call_sk(event_id: &str, step: &str) -> String {
    format!("POSTCALL#{event_id}#{step}")
}
/// A tenant's analytics counters of one UTC day: `<tenant>#STATS#<yyyy-mm-dd>`.
pub fn stats_pk(tenant: &Tenant, day: &str) -> String {
    format!("{}#STATS#{day}", tenant.pk())
}
/// `<org>#<L|T>`: a tenant inside an installation-wide sort key.
fn tenant_tag(tenant: &Tenant) -> String {
    let mode = match tenant.mode {
        crate::domain::Mode::Live => 'L',
        crate::domain::Mode::Test => 'T',
    };
    format!("{}#{mode}", tenant.org_id)
}
/// Installation-wide markers (bootstrap).
pub const SYSTEM_PK: &str = "SYSTEM";

/// Sort key of a tenant resource: `<KIND>#<id>`.
pub fn resource_sk(kind: &str, id: &str) -> String {
    format!("{kind}#{id}")
}
/// Sort-key prefix listing a tenant's resources of one kind.
pub fn resource_prefix(kind: &str) -> String {
    format!("{kind}#")
}
/// Counter item holding how many resources of `kind` a tenant has.
pub fn count_sk(kind: &str) -> String {
    format!("COUNT#{kind}")
}
/// Marker that a test-mode tenant has its demo data.
pub const SEEDED_SK: &str = "SEEDED";

/// The tenant partition.
pub fn tenant_pk(tenant: &Tenant) -> String {
    tenant.pk()
}

/// GSI1 partition listing the deliveries to one org webhook endpoint,
/// newest first: `<tenant>#WEBHOOK#<endpoint>`.
pub fn webhook_deliveries_index(tenant: &Tenant, webhook_id: &str) -> String {
    format!("{}#WEBHOOK#{webhook_id}", tenant.pk())
}
/// GSI1 partition listing the deliveries to tasks' webhook URLs.
pub fn task_deliveries_index(tenant: &Tenant) -> String {
    format!("{}#TASKWEBHOOK", tenant.pk())
}
/// The org's task-webhook signing secret: `<tenant>` / `WEBHOOKSECRET#TASK`.
pub const TASK_WEBHOOK_SECRET_SK: &str = "WEBHOOKSECRET#TASK";

/// A tenant's claim on a contact phone: `<tenant>` / `CONTACTPHONE#<e164>`,
/// `{contact_id, do_not_call}`. Written in the same transaction as the
/// contact, so a phone belongs to one contact, the dialer's do-not-call check
/// is one read, and a phone prefix search walks these keys.
pub fn contact_phone_sk(phone: &str) -> String {
    format!("CONTACTPHONE#{phone}")
}
/// A tenant's claim on a contact e-mail: `<tenant>` / `CONTACTEMAIL#<email>`.
pub fn contact_email_sk(email: &str) -> String {
    format!("CONTACTEMAIL#{email}")
}
/// A contact's name word for search: `<tenant>` / `CONTACTNAME#<word>#<contact>`.
pub fn contact_name_sk(word: &str, contact_id: &str) -> String {
    format!("CONTACTNAME#{word}#{contact_id}")
}
/// Prefix of the name words starting with `start`.
pub fn contact_name_prefix(start: &str) -> String {
    format!("CONTACTNAME#{start}")
}
/// GSI2 partition of a tenant's do-not-call contacts (sort key
/// `CONTACT#<id>`, newest first backward).
pub fn contacts_dnc_index(tenant: &Tenant) -> String {
    format!("{}#CONTACTS#DNC", tenant.pk())
}

/// The partition of a tenant's inbox change feed (`/ws/inbox`), sort key
/// [`inbox_feed_sk`]: read by the relay every few hundred milliseconds.
pub fn inbox_feed_pk(tenant: &Tenant) -> String {
    format!("{}#FEED", tenant.pk())
}
/// A feed item's sort key: its time (unix ms, zero-padded so byte order is
/// time order), then its id.
pub fn inbox_feed_sk(at_ms: i64, id: &str) -> String {
    format!("{at_ms:013}#{id}")
}

/// GSI1 partition of a tenant's conversations, newest activity first (sort
/// key [`activity_key`]); with a facet (`status=open`, `tag=vip`, …) the
/// conversations with that value, from their index items.
pub fn conversations_index(tenant: &Tenant, facet: Option<&str>) -> String {
    match facet {
        None => format!("{}#CONVS", tenant.pk()),
        Some(f) => format!("{}#CONVS#{f}", tenant.pk()),
    }
}
/// GSI1 sort key of a conversation: its last activity, then its id.
pub fn activity_key(last_message_at: &str, id: &str) -> String {
    format!("{last_message_at}#{id}")
}
/// One index item of a conversation: `<tenant>` / `CONVIX#<conv>#<facet>`,
/// holding a copy of the conversation so a filtered page is one query.
pub fn conversation_facet_sk(conversation_id: &str, facet: &str) -> String {
    format!("CONVIX#{conversation_id}#{facet}")
}
/// A message: `<tenant>` / `CONVMSG#<conv>#<created_at>#<message>`, in the
/// order written (a call's transcript is stored after the call, at the times
/// it was said).
pub fn message_sk(conversation_id: &str, created_at: &str, message_id: &str) -> String {
    format!("CONVMSG#{conversation_id}#{created_at}#{message_id}")
}
/// Prefix listing a conversation's messages.
pub fn messages_prefix(conversation_id: &str) -> String {
    format!("CONVMSG#{conversation_id}#")
}
/// How many messages a user had seen when they last opened a conversation:
/// `<tenant>` / `CONVREAD#<conv>#<user>`.
pub fn conversation_read_sk(conversation_id: &str, user_id: &str) -> String {
    format!("CONVREAD#{conversation_id}#{user_id}")
}
/// A searchable word of a conversation (contact name and phone, message
/// text): `<tenant>` / `CONVWORD#<word>#<conv>`.
pub fn conversation_word_sk(word: &str, conversation_id: &str) -> String {
    format!("CONVWORD#{word}#{conversation_id}")
}
/// Prefix of the conversations holding exactly `word`.
pub fn conversation_word_prefix(word: &str) -> String {
    format!("CONVWORD#{word}#")
}
/// The latest conversation of a contact on a channel:
/// `<tenant>` / `CONVLATEST#<contact>#<channel type>#<channel>` →
/// `{conversation_id}`; a call or chat continues it unless it is resolved.
pub fn latest_conversation_sk(contact_id: &str, channel_type: &str, channel_id: &str) -> String {
    format!("CONVLATEST#{contact_id}#{channel_type}#{channel_id}")
}
/// An inbound SMS taken in: `<tenant>` / `SMSIN#<MessageSid>` →
/// `{conversation_id, message_id, created_at, done}`; Twilio's retry of the
/// same message finds it and stores nothing twice.
pub fn sms_in_sk(message_sid: &str) -> String {
    format!("SMSIN#{message_sid}")
}
/// An SMS handed to the carrier: `<tenant>` / `SMSOUT#<MessageSid>` →
/// `{conversation_id, message_id, created_at}`, so its status callbacks
/// find the message.
pub fn sms_out_sk(message_sid: &str) -> String {
    format!("SMSOUT#{message_sid}")
}
/// The conversation a call's transcript went to: `<tenant>` /
/// `CONVCALL#<call>` → `{conversation_id}` (a redelivered call event finds
/// the same one).
pub fn conversation_call_sk(call_id: &str) -> String {
    format!("CONVCALL#{call_id}")
}

/// One run of an automation: `<tenant>` / `AUTORUN#<automation>#<run>`; the
/// run id is a UUIDv7, so the runs of an automation list by time.
pub fn automation_run_sk(automation_id: &str, run_id: &str) -> String {
    format!("AUTORUN#{automation_id}#{run_id}")
}
/// Sort-key prefix listing the runs of one automation.
pub fn automation_runs_prefix(automation_id: &str) -> String {
    format!("AUTORUN#{automation_id}#")
}
/// The counter an automation's round-robin `assign` takes turns by:
/// `<tenant>` / `AUTOTURN#<automation>`.
pub fn automation_turn_sk(automation_id: &str) -> String {
    format!("AUTOTURN#{automation_id}")
}
