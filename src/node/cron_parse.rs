//! Cron specs: the text of a job's schedule parsed into a [`CronSpec`], and the times it matches.
//!
//! Accepts what Ergo's parser (`node/cron_parse.go`) accepts, plus month and weekday names
//! (D90): five fields separated by white space, `minute hour day-of-month month day-of-week`,
//! or one of Ergo's four macros. Per field:
//!
//! | field | range | forms |
//! |---|---|---|
//! | minute | 0–59 | `*`, `n`, `a-b`, `*/s`, `a-b/s` |
//! | hour | 0–23 | `*`, `n`, `a-b`, `*/s`, `a-b/s` |
//! | day of month | 1–31 | `*`, `n`, `a-b`, `*/s`, `a-b/s`, `L` (last day of the month) |
//! | month | 1–12 (`JAN`–`DEC`) | `*`, `n`, `a-b`, `*/s` |
//! | day of week | 1–7, Monday = 1, Sunday = 7 (`MON`–`SUN`) | `*`, `n`, `a-b`, `wL` (last `w` of the month), `w#k` (`k`-th `w`, k = 1–5) |
//!
//! A field is a comma-separated list of these forms (a bare `*` must stand alone). When both
//! day fields are restricted, a day matches if either does (as Ergo and classic cron).
//!
//! Times are matched minute by minute on the civil time of the job's zone: a minute that does
//! not exist there (spring forward) never matches, a minute that occurs twice (fall back)
//! matches twice (D92). Pure code: no clock, no I/O.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One of the five fields of a cron spec (named in parse errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CronField {
    /// The first field, 0–59.
    Minute,
    /// The second field, 0–23.
    Hour,
    /// The third field, 1–31 or `L`.
    DayOfMonth,
    /// The fourth field, 1–12 or `JAN`–`DEC`.
    Month,
    /// The fifth field, 1–7 (Monday = 1) or `MON`–`SUN`, with `wL` and `w#k`.
    DayOfWeek,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        })
    }
}

/// What is wrong with one item of a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CronFieldProblem {
    /// Not one of the forms this field accepts.
    Syntax,
    /// A number outside what the field (or the step, or the `#` occurrence) accepts.
    OutOfRange {
        /// The number given.
        value: u64,
        /// The smallest accepted.
        min: u32,
        /// The largest accepted.
        max: u32,
    },
    /// A range whose start is after its end.
    Reversed {
        /// The start given.
        start: u32,
        /// The end given.
        end: u32,
    },
    /// A bare `*` listed with other items.
    WildcardWithOthers,
}

impl fmt::Display for CronFieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CronFieldProblem::Syntax => f.write_str("not a form this field accepts"),
            CronFieldProblem::OutOfRange { value, min, max } => write!(f, "{value} is outside {min}-{max}"),
            CronFieldProblem::Reversed { start, end } => write!(f, "range end {end} is before its start {start}"),
            CronFieldProblem::WildcardWithOthers => f.write_str("'*' cannot be listed with other items"),
        }
    }
}

/// Why a cron spec does not parse. Names the field and the text at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronSpecError {
    /// Not five fields (nor a known macro).
    #[error(
        "cron spec {spec:?} has {found} fields: expected 5 (minute hour day-of-month month day-of-week) \
         or one of @hourly, @daily, @weekly, @monthly"
    )]
    FieldCount {
        /// The spec given.
        spec: String,
        /// How many fields it has.
        found: usize,
    },
    /// A macro (`@...`) Ergo does not know.
    #[error("unknown cron macro {0:?}: expected @hourly, @daily, @weekly or @monthly")]
    UnknownMacro(String),
    /// One field is wrong.
    #[error("bad {field} field {text:?}: item {item:?}: {problem}")]
    Field {
        /// Which field.
        field: CronField,
        /// The whole field as given.
        text: String,
        /// The item of the list at fault.
        item: String,
        /// What is wrong with it.
        problem: CronFieldProblem,
    },
}

/// The days of the month a spec names (`None` in [`CronSpec`] when the field is `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Days {
    /// Bit `d` for day `d` (1–31).
    mask: u32,
    /// `L`: the last day of the month.
    last: bool,
}

impl Days {
    fn hit(&self, date: Date) -> bool {
        self.mask & (1 << date.day()) != 0 || (self.last && date.day() == date.days_in_month())
    }
}

/// The days of the week a spec names (`None` in [`CronSpec`] when the field is `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Weekdays {
    /// Bit `w` for weekday `w` (Monday = 1 … Sunday = 7).
    mask: u8,
    /// `wL`: bit `w` for "the last weekday `w` of the month".
    last: u8,
    /// `w#k`: bit `(w - 1) * 5 + (k - 1)` for "the `k`-th weekday `w` of the month".
    nth: u64,
}

impl Weekdays {
    fn hit(&self, date: Date) -> bool {
        let w = date.weekday().to_monday_one_offset() as u32;
        let bit = 1u8 << w;
        if self.mask & bit != 0 {
            return true;
        }
        // The last `w` of the month: a week later is in the next month (calendar days, so
        // that a DST change within the week cannot move it, unlike Ergo's `t.Add(7*24h)`).
        if self.last & bit != 0 && i16::from(date.day()) + 7 > i16::from(date.days_in_month()) {
            return true;
        }
        let k = (date.day() as u32 - 1) / 7; // 0 for days 1–7, … 4 for days 29–31
        self.nth & (1u64 << ((w - 1) * 5 + k)) != 0
    }
}

/// A parsed cron spec: which minutes, hours, days and months it matches.
///
/// Parse one with [`str::parse`]; `Display` gives back the text it was parsed from.
///
/// # Examples
/// ```
/// use ergors::cron::CronSpec;
/// use jiff::civil::date;
/// let spec: CronSpec = "30 2 * * MON-FRI".parse()?;
/// assert!(spec.matches(date(2025, 3, 31).at(2, 30, 0, 0))); // a Monday
/// assert!(!spec.matches(date(2025, 3, 30).at(2, 30, 0, 0))); // a Sunday
/// assert!("61 * * * *".parse::<CronSpec>().is_err());
/// # Ok::<(), ergors::cron::CronSpecError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSpec {
    text: String,
    minutes: u64,
    hours: u32,
    months: u16,
    days: Option<Days>,
    weekdays: Option<Weekdays>,
}

/// Ergo's macros (`node/cron_parse.go`), with Ergo's times.
const MACROS: &[(&str, &str)] =
    &[("@hourly", "1 * * * *"), ("@daily", "10 3 * * *"), ("@monthly", "20 4 1 * *"), ("@weekly", "30 5 * * 1")];

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// What one field accepts.
struct Rules {
    field: CronField,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// `*/s`
    star_step: bool,
    /// `a-b/s`
    range_step: bool,
}

const MINUTE: Rules =
    Rules { field: CronField::Minute, min: 0, max: 59, names: &[], star_step: true, range_step: true };
const HOUR: Rules = Rules { field: CronField::Hour, min: 0, max: 23, names: &[], star_step: true, range_step: true };
const DAY: Rules =
    Rules { field: CronField::DayOfMonth, min: 1, max: 31, names: &[], star_step: true, range_step: true };
const MONTH: Rules =
    Rules { field: CronField::Month, min: 1, max: 12, names: MONTHS, star_step: true, range_step: false };
const WEEKDAY: Rules =
    Rules { field: CronField::DayOfWeek, min: 1, max: 7, names: WEEKDAYS, star_step: false, range_step: false };

/// A field parsed: the plain values as bits, and the special forms.
#[derive(Default)]
struct Parsed {
    wildcard: bool,
    bits: u64,
    last_day: bool,
    last_weekday: u8,
    nth: u64,
}

impl FromStr for CronSpec {
    type Err = CronSpecError;

    fn from_str(spec: &str) -> Result<CronSpec, CronSpecError> {
        let expanded = if spec.starts_with('@') {
            MACROS
                .iter()
                .find(|(name, _)| *name == spec)
                .map(|(_, s)| *s)
                .ok_or_else(|| CronSpecError::UnknownMacro(spec.to_string()))?
        } else {
            spec
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(CronSpecError::FieldCount { spec: spec.to_string(), found: fields.len() });
        };
        let minute = parse_field(minute, &MINUTE)?;
        let hour = parse_field(hour, &HOUR)?;
        let day = parse_field(day, &DAY)?;
        let month = parse_field(month, &MONTH)?;
        let weekday = parse_field(weekday, &WEEKDAY)?;
        Ok(CronSpec {
            text: spec.to_string(),
            minutes: minute.bits,
            hours: hour.bits as u32,
            months: month.bits as u16,
            days: (!day.wildcard).then_some(Days { mask: day.bits as u32, last: day.last_day }),
            weekdays: (!weekday.wildcard).then_some(Weekdays {
                mask: weekday.bits as u8,
                last: weekday.last_weekday,
                nth: weekday.nth,
            }),
        })
    }
}

fn parse_field(text: &str, rules: &Rules) -> Result<Parsed, CronSpecError> {
    let fail = |item: &str, problem| CronSpecError::Field {
        field: rules.field,
        text: text.to_string(),
        item: item.to_string(),
        problem,
    };
    let all = (rules.min..=rules.max).fold(0u64, |b, v| b | 1 << v);
    let items: Vec<&str> = text.split(',').collect();
    let mut out = Parsed::default();
    for item in &items {
        let item = *item;
        if item == "*" {
            if items.len() > 1 {
                return Err(fail(item, CronFieldProblem::WildcardWithOthers));
            }
            out.wildcard = true;
            out.bits = all;
            continue;
        }
        let value = |s: &str, min: u32, max: u32| parse_value(s, rules.names, min, max).map_err(|p| fail(item, p));
        if let Some(step) = item.strip_prefix("*/") {
            if !rules.star_step {
                return Err(fail(item, CronFieldProblem::Syntax));
            }
            let step = parse_number(step, 1, rules.max).map_err(|p| fail(item, p))?;
            out.bits |= (rules.min..=rules.max).step_by(step as usize).fold(0u64, |b, v| b | 1 << v);
        } else if item == "L" && rules.field == CronField::DayOfMonth {
            out.last_day = true;
        } else if let (CronField::DayOfWeek, Some((w, k))) = (rules.field, item.split_once('#')) {
            // Ergo: `[1-7]#[1-5]`, one digit each (or, here, a weekday name).
            if w.len() != 1 && !w.chars().all(|c| c.is_ascii_alphabetic()) || k.len() != 1 {
                return Err(fail(item, CronFieldProblem::Syntax));
            }
            let w = value(w, 1, 7)?;
            let k = parse_number(k, 1, 5).map_err(|p| fail(item, p))?;
            out.nth |= 1u64 << ((w - 1) * 5 + (k - 1));
        } else if let (CronField::DayOfWeek, Some(w)) = (rules.field, item.strip_suffix('L')) {
            if w.len() != 1 && !w.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(fail(item, CronFieldProblem::Syntax));
            }
            let w = value(w, 1, 7)?;
            out.last_weekday |= 1 << w;
        } else if let Some((start, rest)) = item.split_once('-') {
            let (end, step) = match rest.split_once('/') {
                Some((end, step)) if rules.range_step => (end, Some(step)),
                Some(_) => return Err(fail(item, CronFieldProblem::Syntax)),
                None => (rest, None),
            };
            let start = value(start, rules.min, rules.max)?;
            let end = value(end, rules.min, rules.max)?;
            let step = match step {
                Some(s) => parse_number(s, 1, rules.max).map_err(|p| fail(item, p))?,
                None => 1,
            };
            if start > end {
                return Err(fail(item, CronFieldProblem::Reversed { start, end }));
            }
            out.bits |= (start..=end).step_by(step as usize).fold(0u64, |b, v| b | 1 << v);
        } else {
            out.bits |= 1 << value(item, rules.min, rules.max)?;
        }
    }
    Ok(out)
}

/// A plain number (ASCII digits only, as Ergo's `\d+`) within `min..=max`.
fn parse_number(s: &str, min: u32, max: u32) -> Result<u32, CronFieldProblem> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronFieldProblem::Syntax);
    }
    // More digits than a u64 holds is out of range all the same.
    let value = s.parse::<u64>().unwrap_or(u64::MAX);
    if value < u64::from(min) || value > u64::from(max) {
        return Err(CronFieldProblem::OutOfRange { value, min, max });
    }
    Ok(value as u32)
}

/// A number, or one of the field's names (case-insensitive), within `min..=max`.
fn parse_value(s: &str, names: &[&str], min: u32, max: u32) -> Result<u32, CronFieldProblem> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + 1);
    }
    parse_number(s, min, max)
}

/// The longest a search for the next run looks ahead: a spec that matches only February 29
/// may wait eight years (2096 to 2104); one that matches nothing (`0 0 30 2 *`) gives up here.
const HORIZON_SECS: i64 = 9 * 366 * 86_400;

impl CronSpec {
    /// The text the spec was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if the spec matches the civil date and time `dt` (seconds are ignored).
    pub fn matches(&self, dt: DateTime) -> bool {
        self.minutes & (1 << dt.minute()) != 0
            && self.hours & (1 << dt.hour()) != 0
            && self.months & (1 << dt.month()) != 0
            && self.day_matches(dt.date())
    }

    fn day_matches(&self, date: Date) -> bool {
        match (&self.days, &self.weekdays) {
            (None, None) => true,
            (Some(d), None) => d.hit(date),
            (None, Some(w)) => w.hit(date),
            (Some(d), Some(w)) => d.hit(date) || w.hit(date),
        }
    }

    /// True if the spec matches the minute that contains `at`, read as a civil time in `tz`.
    pub fn matches_at(&self, at: Timestamp, tz: &TimeZone) -> bool {
        self.matches(tz.to_datetime(at))
    }

    /// The first whole minute strictly after `after` at which the spec matches in `tz`, or
    /// `None` if there is none within nine years (a spec such as `0 0 30 2 *`).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<ZonedDateTime> {
        let mut t = after.as_second().div_euclid(60) * 60 + 60;
        let end = t.saturating_add(HORIZON_SECS);
        while t < end {
            let ts = Timestamp::from_second(t).ok()?;
            let dt = tz.to_datetime(ts);
            // Skip a whole local day or hour that cannot match, but never past an offset
            // change (after one, the local date or hour may be one seen before).
            let skip_to = if self.months & (1 << dt.month()) == 0 || !self.day_matches(dt.date()) {
                dt.date()
                    .tomorrow()
                    .ok()
                    .and_then(|d| tz.to_timestamp(d.to_datetime(jiff::civil::Time::midnight())).ok())
            } else if self.hours & (1 << dt.hour()) == 0 {
                Some(Timestamp::from_second(t + (60 - i64::from(dt.minute())) * 60).ok()?)
            } else if self.minutes & (1 << dt.minute()) != 0 {
                return Some(ts.to_zoned_datetime(tz.clone()));
            } else {
                None
            };
            let mut next = t + 60;
            if let Some(skip) = skip_to {
                let mut target = skip.as_second();
                if let Some(change) = tz.following(ts).next() {
                    target = target.min(change.timestamp().as_second());
                }
                // Round up to a whole minute; always move forward.
                next = next.max((target + 59).div_euclid(60) * 60);
            }
            t = next;
        }
        None
    }

    /// Every whole minute in `[since truncated to the minute, that + duration)` at which the
    /// spec matches in `tz` (Ergo's `JobSchedule`), in order.
    pub fn schedule(&self, since: Timestamp, duration: Duration, tz: &TimeZone) -> Vec<ZonedDateTime> {
        let start = since.as_second().div_euclid(60) * 60;
        // Whole seconds rounded up: a minute before `start + duration` counts, as in Ergo.
        let secs = duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0));
        let end = start.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        let mut at = start - 1;
        while let Some(next) = self.next_after(Timestamp::from_second(at).unwrap_or(Timestamp::MAX), tz) {
            let s = next.timestamp().as_second();
            if s >= end {
                break;
            }
            out.push(next);
            at = s;
        }
        out
    }
}

impl fmt::Display for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
