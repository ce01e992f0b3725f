//! Campaigns (SPEC §9) and their contacts as the API shows them and as it
//! accepts them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::campaign::contact::{CampaignContact, ContactOutcome, ContactStatus};
use crate::domain::campaign::{Campaign, CampaignStatus, RetryPolicy, Schedule};

/// A campaign's statistics, kept as counters that change as calls end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct CampaignStats {
    /// Contacts in the campaign.
    pub total_contacts: u64,
    /// Contacts per status (every status listed, zeros included).
    pub by_status: BTreeMap<String, u64>,
    /// Contacts per outcome of their last conversation.
    pub by_outcome: BTreeMap<String, u64>,
    /// Calls that ended.
    pub calls: u64,
    /// Of those, calls that connected.
    pub answered: u64,
    /// `answered / calls` (0 before any call ended).
    pub answer_rate: f64,
    /// Mean duration of the answered calls, in seconds.
    pub avg_duration_seconds: f64,
}

/// A campaign as returned by every campaign route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The agent that makes the calls.
    pub agent_id: String,
    /// The channel the calls go out on.
    pub channel_id: Option<String>,
    /// Where it is in its life.
    pub status: CampaignStatus,
    /// When it may dial.
    pub schedule: Schedule,
    /// Calls live at once, at most.
    pub max_concurrent_calls: u32,
    /// When contacts are called again.
    pub retry: RetryPolicy,
    /// Variables every call gets.
    #[schema(value_type = Object)]
    pub context_defaults: Map<String, Value>,
    /// Counts by status and outcome, answer rate, average duration.
    pub stats: CampaignStats,
    /// When it first started.
    pub started_at: Option<String>,
    /// When it completed or was cancelled.
    pub ended_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl CampaignView {
    /// The campaign with its statistics.
    pub fn new(c: Campaign, stats: CampaignStats) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            agent_id: c.agent_id,
            channel_id: c.channel_id,
            status: c.status,
            schedule: c.schedule,
            max_concurrent_calls: c.max_concurrent_calls,
            retry: c.retry,
            context_defaults: c.context_defaults,
            stats,
            started_at: c.started_at,
            ended_at: c.ended_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A campaign contact.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignContactView {
    /// UUIDv7.
    pub id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// E.164.
    pub phone: String,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Call variables.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Where it is.
    pub status: ContactStatus,
    /// Calls placed so far.
    pub attempts: u32,
    /// How the last conversation turned out.
    pub outcome: Option<ContactOutcome>,
    /// The last call placed.
    pub last_call_id: Option<String>,
    /// The CRM contact with this number.
    pub crm_contact_id: Option<String>,
    /// When it is dialed next, if it will be.
    pub next_attempt_at: Option<String>,
    /// What the last call's report extracted.
    #[schema(value_type = Object)]
    pub extracted_data: Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<CampaignContact> for CampaignContactView {
    fn from(c: CampaignContact) -> Self {
        Self {
            id: c.id,
            campaign_id: c.campaign_id,
            phone: c.phone,
            name: c.name,
            email: c.email,
            variables: c.variables,
            status: c.status,
            attempts: c.attempts,
            outcome: c.outcome,
            last_call_id: c.last_call_id,
            crm_contact_id: c.crm_contact_id,
            next_attempt_at: c.next_attempt_at,
            extracted_data: c.extracted_data,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One refused entry of a bulk add or CSV upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvalidContact {
    /// Its position in `contacts` (from 0), or its CSV row number (the
    /// header is row 1).
    pub index: usize,
    /// Why, naming the field.
    pub error: String,
}

/// What a bulk add or CSV upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportSummary {
    /// Contacts added.
    pub added: usize,
    /// Entries whose phone the campaign already had (or that repeated one).
    pub duplicates: usize,
    /// Entries refused, with why.
    pub invalid: Vec<InvalidContact>,
}

/// A contact's conversation in the results.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactResult {
    /// The campaign contact.
    pub contact_id: String,
    /// E.164.
    pub phone: String,
    /// Display name.
    pub name: Option<String>,
    /// Where it is.
    pub status: ContactStatus,
    /// How it turned out.
    pub outcome: Option<ContactOutcome>,
    /// Calls placed.
    pub attempts: u32,
    /// The last call.
    pub last_call_id: Option<String>,
    /// What the last call's report extracted.
    #[schema(value_type = Object)]
    pub extracted_data: Map<String, Value>,
}

impl From<&CampaignContact> for ContactResult {
    fn from(c: &CampaignContact) -> Self {
        Self {
            contact_id: c.id.clone(),
            phone: c.phone.clone(),
            name: c.name.clone(),
            status: c.status,
            outcome: c.outcome,
            attempts: c.attempts,
            last_call_id: c.last_call_id.clone(),
            extracted_data: c.extracted_data.clone(),
        }
    }
}

/// `GET /campaigns/{id}/results`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignResultsView {
    /// The campaign.
    pub campaign_id: String,
    /// Where it is.
    pub status: CampaignStatus,
    /// The statistics (outcome breakdown in `by_outcome`).
    pub stats: CampaignStats,
    /// Contacts whose outcome is `interested`.
    pub interested: Vec<ContactResult>,
    /// Contacts whose last call extracted data.
    pub extracted: Vec<ContactResult>,
}
