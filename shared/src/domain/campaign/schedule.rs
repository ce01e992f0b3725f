//! A campaign's calling schedule: an optional start time and weekly windows
//! in the campaign's IANA time zone. Local times are converted with the
//! compiled-in time-zone database (`chrono-tz`), so a window means the same
//! wall-clock hours on both sides of a daylight-saving change.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Most windows a schedule may have.
pub const MAX_WINDOWS: usize = 28;

/// The days as the API names them, Monday first.
const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// One weekly calling window: on `days`, from `start` to `end` local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM` after `start` (`24:00` for midnight).
    pub end: String,
}

/// When a campaign may dial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Nothing is dialed before this instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// IANA time zone of the windows (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// Weekly windows; none means any time.
    #[serde(default)]
    pub windows: Vec<Window>,
}

fn utc() -> String {
    "UTC".into()
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            start_at: None,
            timezone: utc(),
            windows: Vec::new(),
        }
    }
}

/// Minutes since local midnight of `HH:MM` (`24:00` allowed as an end).
fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    ((h < 24 && m < 60) || (h == 24 && m == 0)).then_some(h * 60 + m)
}

fn weekday(name: &str) -> Option<Weekday> {
    DAYS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// The days' full names, Monday first.
const LONG_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A checked window, in minutes.
#[derive(Debug, Clone, Copy)]
struct Span {
    days: [bool; 7],
    start: u32,
    end: u32,
}

impl Schedule {
    /// Checks the schedule; each problem is `(field path, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if Tz::from_str(&self.timezone).is_err() {
            out.push((
                "schedule.timezone".into(),
                "must be an IANA time zone such as America/New_York".into(),
            ));
        }
        if let Some(at) = &self.start_at
            && DateTime::parse_from_rfc3339(at).is_err()
        {
            out.push((
                "schedule.start_at".into(),
                "must be an RFC 3339 date-time".into(),
            ));
        }
        if self.windows.len() > MAX_WINDOWS {
            out.push((
                "schedule.windows".into(),
                format!("must have at most {MAX_WINDOWS} windows"),
            ));
        }
        for (i, w) in self.windows.iter().enumerate() {
            let field = format!("schedule.windows.{i}");
            if w.days.is_empty() || w.days.iter().any(|d| weekday(d).is_none()) {
                out.push((
                    format!("{field}.days"),
                    "must list days among mon, tue, wed, thu, fri, sat, sun".into(),
                ));
            }
            match (minutes(&w.start), minutes(&w.end)) {
                (Some(s), Some(e)) if s < e && s < 24 * 60 => {}
                _ => out.push((
                    field,
                    "needs start and end as HH:MM with start before end".into(),
                )),
            }
        }
        out
    }

    fn tz(&self) -> Tz {
        Tz::from_str(&self.timezone).unwrap_or(Tz::UTC)
    }

    fn spans(&self) -> Vec<Span> {
        self.windows
            .iter()
            .filter_map(|w| {
                let mut days = [false; 7];
                for d in &w.days {
                    days[weekday(d)?.num_days_from_monday() as usize] = true;
                }
                Some(Span {
                    days,
                    start: minutes(&w.start)?,
                    end: minutes(&w.end)?,
                })
            })
            .collect()
    }

    fn start_at(&self) -> Option<DateTime<Utc>> {
        self.start_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether dialing is allowed at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        if self.start_at().is_some_and(|s| now < s) {
            return false;
        }
        let spans = self.spans();
        if spans.is_empty() {
            return true;
        }
        let local = now.with_timezone(&self.tz());
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = local.hour_minute();
        spans
            .iter()
            .any(|s| s.days[day] && s.start <= minute && minute < s.end)
    }

    /// The first instant at or after `now` when dialing is allowed (`None`
    /// when the schedule never opens, which validation prevents).
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = self.start_at().map_or(now, |s| s.max(now));
        if self.is_open(from) {
            return Some(from);
        }
        let tz = self.tz();
        let spans = self.spans();
        let today = from.with_timezone(&tz).date_naive();
        (0..8)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .flat_map(|date| {
                let day = date.weekday().num_days_from_monday() as usize;
                spans
                    .iter()
                    .filter(move |s| s.days[day])
                    .filter_map(move |s| local_instant(tz, date, s.start))
            })
            .filter(|t| *t >= from)
            .min()
    }
}

impl Schedule {
    /// The instant a callee's "call me back …" names, read in the campaign's
    /// time zone: an RFC 3339 time as is, else a day (`today`, `tomorrow`,
    /// `next week`, a weekday) and a time of day (`morning` 09:00,
    /// `afternoon` 14:00, `evening` 18:00, `3pm`, `15:30`; 10:00 when none).
    /// `None` when the words name no time.
    pub fn callback_at(&self, when: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(when.trim()) {
            return Some(t.with_timezone(&Utc));
        }
        let text = when.to_lowercase();
        let tz = self.tz();
        let today = now.with_timezone(&tz).date_naive();
        let days = if text.contains("tomorrow") {
            Some(1)
        } else if text.contains("next week") {
            Some(7)
        } else if text.contains("today") || text.contains("tonight") || text.contains("later") {
            Some(0)
        } else {
            DAYS.iter().enumerate().find_map(|(i, (short, _))| {
                let long = LONG_DAYS[i];
                let named = text
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == *short || w == long);
                named.then(|| {
                    let from = today.weekday().num_days_from_monday() as i64;
                    (i as i64 - from).rem_euclid(7).max(1)
                })
            })
        };
        let minute = clock_minute(&text).or_else(|| {
            // "afternoon" before "noon", which it contains.
            [
                ("morning", 9 * 60),
                ("afternoon", 14 * 60),
                ("noon", 12 * 60),
                ("evening", 18 * 60),
                ("tonight", 18 * 60),
            ]
            .iter()
            .find(|(w, _)| text.contains(w))
            .map(|(_, m)| *m)
        });
        if days.is_none() && minute.is_none() {
            return None;
        }
        let date = today.checked_add_signed(Duration::days(days.unwrap_or(0)))?;
        let at = local_instant(tz, date, minute.unwrap_or(10 * 60))?;
        // "at 3pm" said after 3pm means tomorrow's.
        if at <= now && days.is_none() {
            return local_instant(tz, date.succ_opt()?, minute.unwrap_or(10 * 60));
        }
        Some(at)
    }
}

/// Minutes past midnight of a clock time in `text`: `3pm`, `3 pm`, `10:30`,
/// `10:30am`.
fn clock_minute(text: &str) -> Option<u32> {
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != ':');
        let (num, suffix) = match w.find(|c: char| c.is_ascii_alphabetic()) {
            Some(at) => (&w[..at], &w[at..]),
            None => (w, words.get(i + 1).copied().unwrap_or("")),
        };
        let suffix = suffix.trim_matches(|c: char| !c.is_alphanumeric());
        let pm = matches!(suffix, "pm" | "p.m");
        let am = matches!(suffix, "am" | "a.m");
        let (h, m) = match num.split_once(':') {
            Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
            None if (am || pm) => (num.parse::<u32>().ok()?, 0),
            None => continue,
        };
        if m >= 60 || h > 23 || ((am || pm) && !(1..=12).contains(&h)) {
            continue;
        }
        let h = match (am, pm) {
            (true, _) => h % 12,
            (_, true) => h % 12 + 12,
            _ => h,
        };
        return Some(h * 60 + m);
    }
    None
}

/// The instant of local `date` at `minute` past midnight. A time that does
/// not exist (skipped by a daylight-saving jump) moves to the first minute
/// that does; an ambiguous one (repeated) takes its first occurrence.
fn local_instant(tz: Tz, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    for shift in 0..=180 {
        let m = minute + shift;
        if m >= 24 * 60 {
            return None;
        }
        let time = NaiveTime::from_hms_opt(m / 60, m % 60, 0)?;
        if let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

trait HourMinute {
    fn hour_minute(&self) -> u32;
}

impl<T: chrono::Timelike> HourMinute for T {
    fn hour_minute(&self) -> u32 {
        self.hour() * 60 + self.minute()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn new_york_office_hours() -> Schedule {
        Schedule {
            start_at: None,
            timezone: "America/New_York".into(),
            windows: vec![Window {
                days: ["mon", "tue", "wed", "thu", "fri"]
                    .map(String::from)
                    .to_vec(),
                start: "09:00".into(),
                end: "17:00".into(),
            }],
        }
    }

    #[test]
    fn windows_follow_local_time_across_a_dst_change() {
        let s = new_york_office_hours();
        // 13:30 UTC is 08:30 EST on Friday 6 March 2026 (closed) but 09:30
        // EDT on Monday 9 March, after the clocks moved on Sunday the 8th.
        assert!(!s.is_open(at("2026-03-06T13:30:00Z")));
        assert!(s.is_open(at("2026-03-09T13:30:00Z")));
        // 21:30 UTC: 16:30 EST (open) before, 17:30 EDT (closed) after.
        assert!(s.is_open(at("2026-03-06T21:30:00Z")));
        assert!(!s.is_open(at("2026-03-09T21:30:00Z")));
        // Closed all weekend; it next opens Monday 09:00 EDT = 13:00 UTC.
        assert!(!s.is_open(at("2026-03-07T15:00:00Z")));
        assert_eq!(
            s.next_open(at("2026-03-07T15:00:00Z")),
            Some(at("2026-03-09T13:00:00Z"))
        );
        // From Friday evening EST it is the same Monday instant.
        assert_eq!(
            s.next_open(at("2026-03-06T23:00:00Z")),
            Some(at("2026-03-09T13:00:00Z"))
        );
        // In the autumn the opening moves back to 14:00 UTC.
        assert_eq!(
            s.next_open(at("2026-11-01T12:00:00Z")),
            Some(at("2026-11-02T14:00:00Z"))
        );
    }

    #[test]
    fn a_window_starting_in_the_skipped_hour_opens_when_local_time_resumes() {
        let s = Schedule {
            start_at: None,
            timezone: "Europe/London".into(),
            windows: vec![Window {
                days: vec!["sun".into()],
                start: "01:30".into(),
                end: "04:00".into(),
            }],
        };
        // On 29 March 2026 London jumps from 01:00 GMT to 02:00 BST: 01:30
        // never happens; the window opens at 02:00 BST = 01:00 UTC.
        assert_eq!(
            s.next_open(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn start_at_and_open_schedules() {
        let s = Schedule {
            start_at: Some("2030-01-01T00:00:00Z".into()),
            ..Schedule::default()
        };
        assert!(!s.is_open(at("2029-12-31T23:59:00Z")));
        assert!(s.is_open(at("2030-01-01T00:00:00Z")));
        assert_eq!(
            s.next_open(at("2029-06-01T00:00:00Z")),
            Some(at("2030-01-01T00:00:00Z"))
        );
        assert!(Schedule::default().is_open(at("2026-01-01T03:00:00Z")));
    }

    #[test]
    fn bad_schedules_name_each_problem() {
        let s = Schedule {
            start_at: Some("soon".into()),
            timezone: "Mars/Olympus".into(),
            windows: vec![
                Window {
                    days: vec!["funday".into()],
                    start: "09:00".into(),
                    end: "08:00".into(),
                },
                Window {
                    days: vec!["mon".into()],
                    start: "00:00".into(),
                    end: "24:00".into(),
                },
            ],
        };
        let fields: Vec<String> = s.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "schedule.timezone",
                "schedule.start_at",
                "schedule.windows.0.days",
                "schedule.windows.0"
            ]
        );
    }

    #[test]
    fn callbacks_are_read_in_the_campaign_time_zone() {
        let s = new_york_office_hours();
        // Monday 4 May 2026, 10:00 EDT.
        let now = at("2026-05-04T14:00:00Z");
        let cases = [
            ("tomorrow morning", Some("2026-05-05T13:00:00Z")),
            ("tomorrow at 3pm", Some("2026-05-05T19:00:00Z")),
            ("today 16:30", Some("2026-05-04T20:30:00Z")),
            ("at 9am", Some("2026-05-05T13:00:00Z")),
            ("next week", Some("2026-05-11T14:00:00Z")),
            ("friday afternoon", Some("2026-05-08T18:00:00Z")),
            ("2026-06-01T15:00:00Z", Some("2026-06-01T15:00:00Z")),
            ("whenever", None),
        ];
        for (words, want) in cases {
            assert_eq!(s.callback_at(words, now), want.map(at), "{words}");
        }
    }
}
