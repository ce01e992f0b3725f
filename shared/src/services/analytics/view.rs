//! What `GET /analytics` shows, built from the counters of the window.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// The workspace's figures over the last `days` days (SPEC §12).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnalyticsView {
    /// Days covered, today included.
    pub days: u32,
    /// The workspace's IANA time zone: days start at its midnight.
    pub time_zone: String,
    /// First day covered (`YYYY-MM-DD`).
    pub from: String,
    /// Last day covered: today in the workspace's time zone.
    pub to: String,
    /// The inbox's conversations.
    pub conversations: ConversationAnalytics,
    /// Messages taken into conversations.
    pub messages: MessageAnalytics,
    /// Calls that ended in the window.
    pub calls: CallAnalytics,
    /// Campaigns.
    pub campaigns: CampaignAnalytics,
    /// One entry per day of the window, oldest first (days with nothing
    /// included, at zero).
    pub by_day: Vec<DayAnalytics>,
}

/// Conversations in the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConversationAnalytics {
    /// Conversations created.
    pub created: u64,
    /// Conversations created, by channel type.
    pub by_channel: BTreeMap<String, u64>,
    /// Every conversation of the workspace by its status now (not only the
    /// window's).
    pub by_status: BTreeMap<String, u64>,
    /// Conversations resolved.
    pub resolved: u64,
    /// Of those, resolved without a person of the org ever replying.
    pub ai_contained: u64,
    /// `ai_contained / resolved` (null when nothing was resolved).
    pub ai_containment_rate: Option<f64>,
    /// Mean time from the customer's first message to the first answer (AI
    /// or person), in seconds (null when there was none).
    pub avg_first_response_seconds: Option<f64>,
    /// Mean time from creation to resolution, in seconds.
    pub avg_resolution_seconds: Option<f64>,
}

/// Messages in the window, by author.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageAnalytics {
    /// Every text message (notes not included).
    pub total: u64,
    /// From customers.
    pub from_contacts: u64,
    /// From the AI.
    pub from_ai: u64,
    /// From people of the org.
    pub from_users: u64,
    /// Private notes (people's and call reports).
    pub notes: u64,
}

/// Calls that ended in the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallAnalytics {
    /// Calls ended.
    pub total: u64,
    /// By final status (`completed`, `failed`).
    pub by_status: BTreeMap<String, u64>,
    /// By the report's outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// By why they ended.
    pub by_end_reason: BTreeMap<String, u64>,
    /// Calls placed by campaigns.
    pub campaign_calls: u64,
    /// Mean duration of the calls that connected, in seconds.
    pub avg_duration_seconds: Option<f64>,
    /// Mean time from the end of the caller's turn to the agent's first
    /// sentence, over every turn of every call, in milliseconds.
    pub avg_turn_latency_ms: Option<f64>,
}

/// Campaigns in the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignAnalytics {
    /// Campaigns that completed.
    pub completed: u64,
}

/// One day of the window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayAnalytics {
    /// `YYYY-MM-DD` in the workspace's time zone.
    pub date: String,
    /// Conversations created.
    pub conversations: u64,
    /// Text messages.
    pub messages: u64,
    /// Calls ended.
    pub calls: u64,
    /// Calls that completed.
    pub calls_completed: u64,
    /// Calls that failed.
    pub calls_failed: u64,
}

/// The counters of one window: named sums over its days.
struct Window<'a> {
    days: &'a BTreeMap<NaiveDate, BTreeMap<String, i64>>,
}

impl Window<'_> {
    fn sum(&self, name: &str) -> u64 {
        let total: i64 = self.days.values().filter_map(|d| d.get(name)).sum();
        total.max(0) as u64
    }

    /// Sums of every counter named `<prefix><key>`, by key.
    fn by(&self, prefix: &str) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for day in self.days.values() {
            for (name, n) in day {
                if let Some(key) = name.strip_prefix(prefix) {
                    *out.entry(key.to_owned()).or_insert(0i64) += n;
                }
            }
        }
        out.into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k, n as u64))
            .collect()
    }

    fn mean(&self, total: &str, count: &str) -> Option<f64> {
        ratio(self.sum(total), self.sum(count))
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn get(day: Option<&BTreeMap<String, i64>>, name: &str) -> u64 {
    day.and_then(|d| d.get(name)).copied().unwrap_or(0).max(0) as u64
}

const TEXT_AUTHORS: [&str; 3] = ["messages.contact", "messages.ai", "messages.user"];

pub(super) fn build(
    time_zone: &str,
    from: NaiveDate,
    to: NaiveDate,
    days: &BTreeMap<NaiveDate, BTreeMap<String, i64>>,
    gauges: &BTreeMap<String, i64>,
    count: u32,
) -> AnalyticsView {
    let w = Window { days };
    let resolved = w.sum("conversations.resolved");
    let contained = w.sum("conversations.ai_contained");
    let by_status = gauges
        .iter()
        .filter_map(|(name, n)| {
            let status = name.strip_prefix("conversations.status.")?;
            Some((status.to_owned(), (*n).max(0) as u64))
        })
        .collect();
    let by_day = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|date| {
            let day = days.get(&date);
            DayAnalytics {
                date: date.to_string(),
                conversations: get(day, "conversations.created"),
                messages: TEXT_AUTHORS.iter().map(|a| get(day, a)).sum(),
                calls: get(day, "calls.total"),
                calls_completed: get(day, "calls.status.completed"),
                calls_failed: get(day, "calls.status.failed"),
            }
        })
        .collect();
    AnalyticsView {
        days: count,
        time_zone: time_zone.to_owned(),
        from: from.to_string(),
        to: to.to_string(),
        conversations: ConversationAnalytics {
            created: w.sum("conversations.created"),
            by_channel: w.by("conversations.channel."),
            by_status,
            resolved,
            ai_contained: contained,
            ai_containment_rate: ratio(contained, resolved),
            avg_first_response_seconds: w.mean(
                "conversations.first_response_seconds",
                "conversations.first_responses",
            ),
            avg_resolution_seconds: w
                .mean("conversations.resolution_seconds", "conversations.resolved"),
        },
        messages: MessageAnalytics {
            total: TEXT_AUTHORS.iter().map(|a| w.sum(a)).sum(),
            from_contacts: w.sum("messages.contact"),
            from_ai: w.sum("messages.ai"),
            from_users: w.sum("messages.user"),
            notes: w.sum("messages.note"),
        },
        calls: CallAnalytics {
            total: w.sum("calls.total"),
            by_status: w.by("calls.status."),
            by_outcome: w.by("calls.outcome."),
            by_end_reason: w.by("calls.end_reason."),
            campaign_calls: w.sum("calls.campaign"),
            avg_duration_seconds: w.mean("calls.duration_seconds", "calls.timed"),
            avg_turn_latency_ms: w.mean("calls.turn_latency_ms", "calls.turns"),
        },
        campaigns: CampaignAnalytics {
            completed: w.sum("campaigns.completed"),
        },
        by_day,
    }
}
