//! A campaign's contact: who is called, how often, and how it went. Its
//! status follows its calls: `pending → queued → calling →` the result
//! (`completed`, `no_answer`, `busy`, `voicemail`, `failed`), with a retry
//! scheduled per the campaign's policy; `skipped_dnc` and `cancelled` never
//! dial.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CampaignContactInput, RetryOn, RetryPolicy};
use crate::domain::call::{Call, CallStatus};
use crate::domain::input::Field;
use crate::domain::shape::JsonLimits;
use crate::domain::{E164, Email};
use crate::engine::call::EndReason;
use crate::engine::report::Outcome;

/// How big a contact's `variables` may be (they are copied into each call).
pub const VARIABLE_LIMITS: JsonLimits = JsonLimits {
    max_depth: 4,
    max_values: 200,
    max_text_bytes: 8 * 1024,
};

/// Where a contact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// Not called yet.
    Pending,
    /// Claimed by the dialer; its call is placed.
    Queued,
    /// Its call is connected.
    Calling,
    /// The last call connected and ended.
    Completed,
    /// The last call failed (carrier error, lost runner).
    Failed,
    /// Nobody answered the last call.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// A voicemail answered.
    Voicemail,
    /// The number is do-not-call in the CRM: never dialed.
    SkippedDnc,
    /// The campaign was cancelled before it was called (again).
    Cancelled,
}

impl ContactStatus {
    /// Every status, in the API's order.
    pub const ALL: [ContactStatus; 10] = [
        ContactStatus::Pending,
        ContactStatus::Queued,
        ContactStatus::Calling,
        ContactStatus::Completed,
        ContactStatus::Failed,
        ContactStatus::NoAnswer,
        ContactStatus::Busy,
        ContactStatus::Voicemail,
        ContactStatus::SkippedDnc,
        ContactStatus::Cancelled,
    ];

    /// The name used in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactStatus::Pending => "pending",
            ContactStatus::Queued => "queued",
            ContactStatus::Calling => "calling",
            ContactStatus::Completed => "completed",
            ContactStatus::Failed => "failed",
            ContactStatus::NoAnswer => "no_answer",
            ContactStatus::Busy => "busy",
            ContactStatus::Voicemail => "voicemail",
            ContactStatus::SkippedDnc => "skipped_dnc",
            ContactStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a `status` filter.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether a call of the contact is live.
    pub fn in_flight(self) -> bool {
        matches!(self, ContactStatus::Queued | ContactStatus::Calling)
    }

    /// The status an ended call leaves.
    pub fn of_call(call: &Call) -> ContactStatus {
        match call.end_reason {
            Some(EndReason::Busy) => ContactStatus::Busy,
            Some(EndReason::NoAnswer) => ContactStatus::NoAnswer,
            Some(EndReason::Voicemail) => ContactStatus::Voicemail,
            _ if call.status == CallStatus::Completed => ContactStatus::Completed,
            _ => ContactStatus::Failed,
        }
    }

    fn retry_key(self, outcome: Option<ContactOutcome>) -> Option<RetryOn> {
        match (self, outcome) {
            (ContactStatus::NoAnswer, _) | (_, Some(ContactOutcome::NoAnswer)) => {
                Some(RetryOn::NoAnswer)
            }
            (ContactStatus::Voicemail, _) | (_, Some(ContactOutcome::Voicemail)) => {
                Some(RetryOn::Voicemail)
            }
            (ContactStatus::Busy, _) => Some(RetryOn::Busy),
            (ContactStatus::Failed, _) => Some(RetryOn::Failed),
            _ => None,
        }
    }
}

/// How a contact's conversation turned out (from the call's report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactOutcome {
    /// Agreed to the offer or booking.
    Interested,
    /// Declined.
    NotInterested,
    /// Asked to be called back.
    CallbackRequested,
    /// Asked never to be called again.
    DoNotCall,
    /// A voicemail answered.
    Voicemail,
    /// Nobody answered or spoke.
    NoAnswer,
    /// Anything else.
    Unknown,
}

impl ContactOutcome {
    /// Every outcome, in the API's order.
    pub const ALL: [ContactOutcome; 7] = [
        ContactOutcome::Interested,
        ContactOutcome::NotInterested,
        ContactOutcome::CallbackRequested,
        ContactOutcome::DoNotCall,
        ContactOutcome::Voicemail,
        ContactOutcome::NoAnswer,
        ContactOutcome::Unknown,
    ];

    /// The name used in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactOutcome::Interested => "interested",
            ContactOutcome::NotInterested => "not_interested",
            ContactOutcome::CallbackRequested => "callback_requested",
            ContactOutcome::DoNotCall => "do_not_call",
            ContactOutcome::Voicemail => "voicemail",
            ContactOutcome::NoAnswer => "no_answer",
            ContactOutcome::Unknown => "unknown",
        }
    }

    /// Parses an `outcome` filter.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The campaign outcome of a call's report outcome.
    pub fn of_report(outcome: Outcome) -> ContactOutcome {
        match outcome {
            Outcome::Interested => ContactOutcome::Interested,
            Outcome::NotInterested => ContactOutcome::NotInterested,
            Outcome::CallbackRequested => ContactOutcome::CallbackRequested,
            Outcome::DoNotCall => ContactOutcome::DoNotCall,
            Outcome::Voicemail => ContactOutcome::Voicemail,
            Outcome::NoAnswer | Outcome::Busy => ContactOutcome::NoAnswer,
            _ => ContactOutcome::Unknown,
        }
    }
}

/// A campaign contact as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignContact {
    /// UUIDv7.
    pub id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// E.164; unique within the campaign.
    pub phone: String,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Call variables (a `sim_persona` picks the simulated callee).
    pub variables: Map<String, Value>,
    /// Where it is.
    pub status: ContactStatus,
    /// Calls placed so far.
    pub attempts: u32,
    /// How the last conversation turned out.
    pub outcome: Option<ContactOutcome>,
    /// The last call placed.
    pub last_call_id: Option<String>,
    /// The CRM contact with this phone number.
    pub crm_contact_id: Option<String>,
    /// When it may be dialed next; `None` when it never will be again.
    pub next_attempt_at: Option<String>,
    /// What the last call's report extracted.
    #[serde(default)]
    pub extracted_data: Map<String, Value>,
    /// The concurrency slots (campaign, org) its live call holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<[u32; 2]>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What happens next to a contact whose call ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The result of the call.
    pub status: ContactStatus,
    /// From the report.
    pub outcome: ContactOutcome,
    /// When it is dialed again, if it is.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Decides a contact's next step after its call ended at `now`: retried per
/// `policy` while attempts remain, a callback at `callback_at` (or after the
/// policy's delay), never after a do-not-call request.
pub fn settle(
    policy: &RetryPolicy,
    attempts: u32,
    call: &Call,
    callback_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Settled {
    let status = ContactStatus::of_call(call);
    let outcome = match &call.report {
        Some(r) => ContactOutcome::of_report(r.outcome),
        None if status == ContactStatus::Voicemail => ContactOutcome::Voicemail,
        None if matches!(status, ContactStatus::NoAnswer | ContactStatus::Busy) => {
            ContactOutcome::NoAnswer
        }
        None => ContactOutcome::Unknown,
    };
    let delay = now + Duration::minutes(i64::from(policy.delay_minutes));
    let retry_at = if attempts >= policy.max_attempts || outcome == ContactOutcome::DoNotCall {
        None
    } else if outcome == ContactOutcome::CallbackRequested {
        Some(callback_at.filter(|t| *t > now).unwrap_or(delay))
    } else {
        status
            .retry_key(Some(outcome))
            .filter(|k| policy.on.contains(k))
            .map(|_| delay)
    };
    Settled {
        status,
        outcome,
        retry_at,
    }
}

/// A contact body (one of the bulk list, or a CSV row) parsed, or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactInput {
    /// E.164.
    pub phone: E164,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<Email>,
    /// Call variables.
    pub variables: Map<String, Value>,
}

/// Spreadsheet punctuation people put in numbers; removed before the E.164
/// check so `+1 (415) 555-0123` is `+14155550123`.
pub fn normalise_phone(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect()
}

impl ContactInput {
    /// Parses one item of a bulk add: anything but an object is refused.
    pub fn parse_item(item: Field<CampaignContactInput>) -> Result<Self, String> {
        match item {
            Field::Value(body) => Self::parse(body),
            _ => Err("must be an object with at least a phone".into()),
        }
    }

    /// Parses one contact body; the error names the first bad field.
    pub fn parse(body: CampaignContactInput) -> Result<Self, String> {
        if let Some(k) = body.unknown.keys().next() {
            return Err(format!("{k}: is not a contact field"));
        }
        let text = |k: &str, v: Field<String>| -> Result<Option<String>, String> {
            match v {
                Field::Absent | Field::Null => Ok(None),
                Field::Value(s) => Ok(Some(s)),
                Field::Invalid(_) => Err(format!("{k}: must be a string")),
            }
        };
        let phone = text("phone", body.phone)?.ok_or("phone: is required")?;
        let variables = match body.variables {
            Field::Absent | Field::Null => Map::new(),
            Field::Value(v) => v,
            Field::Invalid(_) => return Err("variables: must be an object".into()),
        };
        let name = text("name", body.name)?;
        Self::from_parts(&phone, name, text("email", body.email)?, variables)
    }

    /// Builds a contact from its parts (a CSV row's columns).
    pub fn from_parts(
        phone: &str,
        name: Option<String>,
        email: Option<String>,
        variables: Map<String, Value>,
    ) -> Result<Self, String> {
        let phone = E164::parse(&normalise_phone(phone)).map_err(|e| format!("phone: {e}"))?;
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err("name: must be at most 200 characters".into());
        }
        let email = match email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => Some(Email::parse(e).map_err(|e| format!("email: {e}"))?),
        };
        if let Some(why) = VARIABLE_LIMITS.check(&Value::Object(variables.clone())) {
            return Err(format!("variables: {why}"));
        }
        Ok(Self {
            phone,
            name,
            email,
            variables,
        })
    }

    /// A pending contact of `campaign_id`.
    pub fn into_contact(self, id: String, campaign_id: &str, now: &str) -> CampaignContact {
        CampaignContact {
            id,
            campaign_id: campaign_id.to_owned(),
            phone: self.phone.as_str().to_owned(),
            name: self.name,
            email: self.email.map(|e| e.as_str().to_owned()),
            variables: self.variables,
            status: ContactStatus::Pending,
            attempts: 0,
            outcome: None,
            last_call_id: None,
            crm_contact_id: None,
            next_attempt_at: Some(now.to_owned()),
            extracted_data: Map::new(),
            slots: None,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
