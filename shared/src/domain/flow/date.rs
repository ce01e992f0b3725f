//! Calendar dates from spoken answers. Deliberately clock-free: relative words ("tomorrow",
//! "friday") are resolved against a date the engine supplies, so walks are reproducible.

use std::fmt;

use super::answer::words;

/// A valid proleptic Gregorian date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Date {
    year: i32,
    month: u32,
    day: u32,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl Date {
    /// Builds a date only when it exists (no 31 April, 29 February only in leap years).
    pub(super) fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days_in_month)
            .contains(&day)
            .then_some(Date { year, month, day })
    }

    /// Reads `YYYY-MM-DD`, also the date part of an RFC 3339 timestamp.
    pub(super) fn parse_iso(text: &str) -> Option<Date> {
        let head = text.trim().get(..10)?;
        let mut parts = head.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Inverse of [`Date::to_days`] (`civil_from_days`).
    fn from_days(days: i64) -> Option<Date> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(
            i32::try_from(year).ok()?,
            u32::try_from(month).ok()?,
            u32::try_from(day).ok()?,
        )
    }

    fn plus_days(self, n: i64) -> Option<Date> {
        Date::from_days(self.to_days() + n)
    }

    /// 0 = Sunday; 1970-01-01 was a Thursday.
    fn weekday(self) -> usize {
        // rem_euclid(7) is in 0..7, so the cast cannot truncate.
        (self.to_days() + 4).rem_euclid(7) as usize
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The single date an answer names. `today` anchors relative forms and year-less dates;
/// without it only absolute dates are understood. Several different dates are ambiguous.
pub(super) fn parse(text: &str, today: Option<Date>) -> Option<Date> {
    let tokens: Vec<String> = words(text)
        .into_iter()
        .map(|w| strip_ordinal(&w).to_string())
        .collect();
    let mut found: Vec<Date> = Vec::new();
    // Numeric forms keep their separators, so read them from the raw text.
    found.extend(text.split_whitespace().filter_map(numeric_date));
    for (i, token) in tokens.iter().enumerate() {
        if let Some(m) = month_index(token) {
            found.extend(named_month_date(&tokens, i, m, today));
        }
    }
    if let Some(today) = today {
        found.extend(relative_dates(&tokens, today));
    }
    let first = *found.first()?;
    found.iter().all(|d| *d == first).then_some(first)
}

/// "1st" → "1"; other words unchanged.
fn strip_ordinal(word: &str) -> &str {
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(number) = word.strip_suffix(suffix)
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
        {
            return number;
        }
    }
    word
}

/// `2026-12-01`, `2026/12/01`, `12/01/2026` (US month first, unless the first part cannot be a
/// month), `01.12.2026` (dots: day first, as in Europe); two-digit years are 20xx.
fn numeric_date(token: &str) -> Option<Date> {
    let token = token.trim_matches(|c: char| !c.is_ascii_digit());
    let separator = ['-', '/', '.'].into_iter().find(|s| token.contains(*s))?;
    let parts: Vec<&str> = token.split(separator).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if ![a, b, c]
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit()))
    {
        return None;
    }
    let num = |p: &str| p.parse::<u32>().ok();
    if a.len() == 4 {
        return Date::new(i32::try_from(num(a)?).ok()?, num(b)?, num(c)?);
    }
    let year = match c.len() {
        4 => i32::try_from(num(c)?).ok()?,
        2 => 2000 + i32::try_from(num(c)?).ok()?,
        _ => return None,
    };
    let (first, second) = (num(a)?, num(b)?);
    let day_first = separator == '.' || first > 12;
    if day_first {
        Date::new(year, second, first)
    } else {
        Date::new(year, first, second)
    }
}

/// Month name or its three-letter (or "sept") abbreviation, 1-based.
fn month_index(word: &str) -> Option<u32> {
    let i = MONTHS.iter().position(|m| {
        *m == word
            || (word.len() >= 3 && m.starts_with(word) && (word.len() == 3 || word == "sept"))
    })?;
    u32::try_from(i + 1).ok()
}

/// "December 1 2026", "Dec 1st", "1 December 2026", "the 1st of December". A month without
/// an adjacent day is ignored, so "may I ask" is not a date.
fn named_month_date(tokens: &[String], i: usize, month: u32, today: Option<Date>) -> Option<Date> {
    let day_at = |k: usize| -> Option<u32> {
        let t = tokens.get(k)?;
        (t.len() <= 2)
            .then(|| t.parse::<u32>().ok())
            .flatten()
            .filter(|d| (1..=31).contains(d))
    };
    let year_at = |k: usize| -> Option<i32> {
        let t = tokens.get(k)?;
        (t.len() == 4).then(|| t.parse::<i32>().ok()).flatten()
    };
    let (day, year) = if let Some(day) = day_at(i + 1) {
        (day, year_at(i + 2))
    } else {
        let before = i.checked_sub(1)?;
        let day = day_at(before).or_else(|| {
            let of = tokens.get(before).is_some_and(|t| t == "of");
            if of {
                day_at(before.checked_sub(1)?)
            } else {
                None
            }
        })?;
        (day, year_at(i + 1))
    };
    match year {
        Some(year) => Date::new(year, month, day),
        None => {
            // No year: the next such date from today on.
            let today = today?;
            let this_year = Date::new(today.year, month, day);
            match this_year {
                Some(d) if d >= today => Some(d),
                _ => Date::new(today.year + 1, month, day),
            }
        }
    }
}

/// today, tonight, tomorrow, yesterday, the day after tomorrow, in N days/weeks, and weekday
/// names (the next such day after today: "friday" said on a Friday means next week).
fn relative_dates(tokens: &[String], today: Date) -> Vec<Date> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let word = tokens[i].as_str();
        let next = |k: usize| tokens.get(i + k).map(String::as_str);
        let mut consumed = 1;
        let offset: Option<i64> = match word {
            "day" if next(1) == Some("after") && next(2) == Some("tomorrow") => {
                consumed = 3;
                Some(2)
            }
            "today" | "tonight" => Some(0),
            "tomorrow" => Some(1),
            "yesterday" => Some(-1),
            "in" => {
                let n = next(1).and_then(|n| {
                    n.parse::<i64>()
                        .ok()
                        .or_else(|| UNITS_SMALL.iter().position(|u| *u == n).map(|p| p as i64))
                        .or_else(|| (n == "a").then_some(1))
                });
                let unit = match next(2) {
                    Some("day" | "days") => Some(1),
                    Some("week" | "weeks") => Some(7),
                    _ => None,
                };
                n.zip(unit).map(|(n, unit)| {
                    consumed = 3;
                    n * unit
                })
            }
            _ => WEEKDAYS.iter().position(|d| *d == word).map(|target| {
                let ahead = (target + 7 - today.weekday()) % 7;
                if ahead == 0 { 7 } else { ahead as i64 }
            }),
        };
        found.extend(offset.and_then(|o| today.plus_days(o)));
        i += consumed;
    }
    found
}

/// Small counts spoken in "in two weeks".
const UNITS_SMALL: [&str; 13] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];
