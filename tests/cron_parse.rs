//! Cron specs: what parses (ported from Ergo's `node/cron_test.go`, plus names, macros and
//! edge cases), what is refused and with which field named, and the minutes a spec matches,
//! across leap years and DST changes in named zones (never the machine's own zone).

use ergors::cron::jiff::civil::{DateTime, date};
use ergors::cron::jiff::tz::TimeZone;
use ergors::cron::jiff::{Timestamp, ZonedDateTime};
use ergors::cron::{CronField, CronFieldProblem, CronSpec, CronSpecError};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

fn spec(s: &str) -> CronSpec {
    s.parse().unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn utc(dt: DateTime) -> Timestamp {
    TimeZone::UTC.to_timestamp(dt).unwrap()
}

/// The civil times (in `tz`) at which `s` runs in `[since, since + len)`.
fn runs(s: &str, since: DateTime, len: Duration, tz: &TimeZone) -> Vec<DateTime> {
    let since = tz.to_timestamp(since).unwrap();
    spec(s).schedule(since, len, tz).iter().map(ZonedDateTime::datetime).collect()
}

fn minutes_of(field: &str) -> Vec<i8> {
    let s = format!("{field} * * * *");
    runs(&s, date(2025, 1, 1).at(0, 0, 0, 0), Duration::from_secs(3600), &TimeZone::UTC)
        .iter()
        .map(|d| d.minute())
        .collect()
}

fn hours_of(field: &str) -> Vec<i8> {
    let s = format!("0 {field} * * *");
    runs(&s, date(2025, 1, 1).at(0, 0, 0, 0), DAY, &TimeZone::UTC).iter().map(|d| d.hour()).collect()
}

/// The days of `year-month` on which a spec with this day-of-month and day-of-week runs.
fn days_of(dom: &str, dow: &str, year: i16, month: i8) -> Vec<i8> {
    let s = format!("0 0 {dom} * {dow}");
    let first = date(year, month, 1);
    let len = DAY * first.days_in_month() as u32;
    runs(&s, first.at(0, 0, 0, 0), len, &TimeZone::UTC).iter().map(|d| d.day()).collect()
}

#[test]
fn valid_fields_match_what_ergo_matches() {
    assert_eq!(minutes_of("*"), (0..60).collect::<Vec<_>>());
    assert_eq!(minutes_of("0,59,3"), vec![0, 3, 59]);
    assert_eq!(minutes_of("3-33"), (3..=33).collect::<Vec<_>>());
    assert_eq!(minutes_of("*/7"), (0..60).step_by(7).collect::<Vec<_>>());
    assert_eq!(minutes_of("2-30/2"), (2..=30).step_by(2).collect::<Vec<_>>());
    assert_eq!(minutes_of("5-5"), vec![5]);
    assert_eq!(minutes_of("007"), vec![7], "leading zeros are digits as any other");
    assert_eq!(hours_of("1-23/2"), (1..24).step_by(2).collect::<Vec<_>>());
    assert_eq!(hours_of("*/6,23"), vec![0, 6, 12, 18, 23]);

    // Day of month: `L` is the last day, leap years included.
    assert_eq!(days_of("L", "*", 2024, 2), vec![29]);
    assert_eq!(days_of("L", "*", 2023, 2), vec![28]);
    assert_eq!(days_of("L", "*", 2100, 2), vec![28], "2100 is not a leap year");
    assert_eq!(days_of("L,3,1", "*", 2025, 4), vec![1, 3, 30]);
    assert_eq!(days_of("3-6,L,3,1", "*", 2025, 1), vec![1, 3, 4, 5, 6, 31]);
    assert_eq!(days_of("*/15,L", "*", 2025, 2), vec![1, 16, 28]);
    assert_eq!(days_of("29", "*", 2025, 2), Vec::<i8>::new());
    assert_eq!(days_of("29", "*", 2024, 2), vec![29]);

    // Day of week, January 2025 (the 1st is a Wednesday): Monday = 1, Sunday = 7.
    assert_eq!(days_of("*", "7", 2025, 1), vec![5, 12, 19, 26]);
    assert_eq!(days_of("*", "3L", 2025, 1), vec![29]);
    assert_eq!(days_of("*", "5#4", 2025, 1), vec![24]);
    assert_eq!(days_of("*", "2#3,3#2", 2025, 1), vec![8, 21]);
    assert_eq!(days_of("*", "3L,1,5", 2025, 1), vec![3, 6, 10, 13, 17, 20, 24, 27, 29, 31]);
    let tue_to_sat_and_last_sunday: Vec<i8> = (1..=31).filter(|d| !matches!(d % 7, 5 | 6) || *d == 26).collect();
    assert_eq!(days_of("*", "2-6,1#5,7L", 2025, 1), tue_to_sat_and_last_sunday, "no fifth Monday in January 2025");
    assert_eq!(days_of("*", "1#5", 2025, 3), vec![31], "March 2025 has a fifth Monday");

    // Both day fields restricted: either matches (Ergo's and classic cron's OR).
    assert_eq!(days_of("15", "1", 2024, 1), vec![1, 8, 15, 22, 29]);
    assert_eq!(days_of("15", "1", 2024, 2), vec![5, 12, 15, 19, 26]);
}

#[test]
fn names_are_accepted_for_months_and_weekdays() {
    assert_eq!(days_of("*", "MON-FRI", 2025, 1), days_of("*", "1-5", 2025, 1));
    assert_eq!(days_of("*", "sun", 2025, 1), days_of("*", "7", 2025, 1));
    assert_eq!(days_of("*", "FRI#2,wedL", 2025, 1), vec![10, 29]);
    let jan_jul = runs("0 0 1 JAN,jul *", date(2025, 1, 1).at(0, 0, 0, 0), DAY * 365, &TimeZone::UTC);
    assert_eq!(jan_jul, vec![date(2025, 1, 1).at(0, 0, 0, 0), date(2025, 7, 1).at(0, 0, 0, 0)]);
    assert_eq!(spec("0 0 * feb-apr *"), spec("0 0 * feb-apr *"));
}

#[test]
fn macros_are_ergos_with_ergos_times() {
    let first = date(2025, 1, 6).at(0, 0, 0, 0); // a Monday
    let tz = TimeZone::UTC;
    let hourly = runs("@hourly", first, Duration::from_secs(3 * 3600), &tz);
    assert_eq!(
        hourly,
        vec![first.with().minute(1).build().unwrap(), date(2025, 1, 6).at(1, 1, 0, 0), date(2025, 1, 6).at(2, 1, 0, 0)]
    );
    assert_eq!(
        runs("@daily", first, DAY * 2, &tz),
        vec![date(2025, 1, 6).at(3, 10, 0, 0), date(2025, 1, 7).at(3, 10, 0, 0)]
    );
    assert_eq!(
        runs("@weekly", first, DAY * 14, &tz),
        vec![date(2025, 1, 6).at(5, 30, 0, 0), date(2025, 1, 13).at(5, 30, 0, 0)]
    );
    assert_eq!(runs("@monthly", first, DAY * 31, &tz), vec![date(2025, 2, 1).at(4, 20, 0, 0)]);
    assert_eq!(spec("@daily").to_string(), "@daily", "Display gives back the text");
}

/// Ergo's `TestCronParse1`: a year of minutes in UTC.
#[test]
fn ergo_year_table() {
    let at = |m: i8, d: i8| date(2025, m, d).at(19, 1, 0, 0);
    let all_months = |d: i8| (1..=12).map(move |m| at(m, d));
    let cases: Vec<(&str, Vec<DateTime>)> = vec![
        (
            "1 19 * * 3#2",
            [8, 12, 12, 9, 14, 11, 9, 13, 10, 8, 12, 10].iter().zip(1..).map(|(d, m)| at(m, *d)).collect(),
        ),
        ("1 19 3 * *", all_months(3).collect()),
        ("1 19 */15,L 2,7 *", vec![at(2, 1), at(2, 16), at(2, 28), at(7, 1), at(7, 16), at(7, 31)]),
        (
            "1 19 * * 1#1,7L",
            [(1, 6), (1, 26), (2, 3), (2, 23), (3, 3), (3, 30), (4, 7), (4, 27), (5, 5), (5, 25), (6, 2), (6, 29)]
                .into_iter()
                .chain([(7, 7), (7, 27), (8, 4), (8, 31), (9, 1), (9, 28), (10, 6), (10, 26), (11, 3), (11, 30)])
                .chain([(12, 1), (12, 28)])
                .map(|(m, d)| at(m, d))
                .collect(),
        ),
        ("1 19 10-13/3 * *", (1..=12).flat_map(|m| [at(m, 10), at(m, 13)]).collect()),
    ];
    // `1 19 3 * 3#2`: the 3rd of each month or its second Wednesday.
    let mut either: Vec<DateTime> = all_months(3).chain(cases[0].1.iter().copied()).collect();
    either.sort();
    let mut cases = cases;
    cases.push(("1 19 3 * 3#2", either));
    for (s, want) in cases {
        let got = runs(s, date(2025, 1, 1).at(0, 1, 0, 0), DAY * 365, &TimeZone::UTC);
        assert_eq!(got, want, "spec {s:?}");
    }
}

/// Ergo's `TestCronOverlapFix` and `TestCronCornerCases`.
#[test]
fn ergo_corner_cases() {
    let overlap = spec("0 12 15 * 1");
    assert!(overlap.matches(date(2024, 1, 15).at(12, 0, 0, 0)), "the 15th and a Monday");
    assert!(overlap.matches(date(2024, 1, 8).at(12, 0, 0, 0)), "a Monday");
    assert!(overlap.matches(date(2024, 2, 15).at(12, 0, 0, 0)), "the 15th");
    assert!(!overlap.matches(date(2024, 1, 9).at(12, 0, 0, 0)), "neither");
    assert!(!overlap.matches(date(2024, 1, 15).at(13, 0, 0, 0)), "wrong hour");

    let last_monday = spec("0 12 * * 1L");
    assert!(last_monday.matches(date(2024, 1, 29).at(12, 0, 0, 0)));
    assert!(!last_monday.matches(date(2024, 1, 22).at(12, 0, 0, 0)));
    let second_monday = spec("0 12 * * 1#2");
    assert!(second_monday.matches(date(2024, 1, 8).at(12, 0, 0, 0)));
    assert!(!second_monday.matches(date(2024, 1, 15).at(12, 0, 0, 0)));
    assert!(!second_monday.matches(date(2024, 1, 1).at(12, 0, 0, 0)));
    let last_day = spec("0 12 L * *");
    assert!(last_day.matches(date(2024, 2, 29).at(12, 0, 0, 0)));
    assert!(!last_day.matches(date(2024, 2, 28).at(12, 0, 0, 0)));
    assert!(last_day.matches(date(2023, 2, 28).at(12, 0, 0, 0)));
    assert!(!last_day.matches(date(2023, 2, 27).at(12, 0, 0, 0)));
}

#[test]
fn next_run_waits_for_february_29_and_gives_up_on_impossible_dates() {
    let tz = TimeZone::UTC;
    let from = utc(date(2025, 1, 1).at(0, 0, 0, 0));
    let next = spec("0 0 29 2 *").next_after(from, &tz).unwrap();
    assert_eq!(next.datetime(), date(2028, 2, 29).at(0, 0, 0, 0));
    let next = spec("0 0 29 2 *").next_after(utc(date(2096, 3, 1).at(0, 0, 0, 0)), &tz).unwrap();
    assert_eq!(next.datetime(), date(2104, 2, 29).at(0, 0, 0, 0), "2100 is skipped");
    assert_eq!(spec("0 0 30 2 *").next_after(from, &tz), None);
    assert_eq!(spec("0 0 31 4,6,9,11 *").next_after(from, &tz), None);
    // Strictly after: the minute `from` is in does not count.
    let next = spec("* * * * *").next_after(utc(date(2025, 1, 1).at(10, 0, 30, 0)), &tz).unwrap();
    assert_eq!(next.datetime(), date(2025, 1, 1).at(10, 1, 0, 0));
}

#[test]
fn dst_spring_forward_skips_and_fall_back_repeats() {
    // Berlin, 2025: 02:00 → 03:00 on March 30, 03:00 → 02:00 on October 26.
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let spring =
        spec("30 2 * * *").schedule(berlin.to_timestamp(date(2025, 3, 29).at(0, 0, 0, 0)).unwrap(), DAY * 3, &berlin);
    let shown: Vec<String> = spring.iter().map(|z| z.to_string()).collect();
    assert_eq!(
        shown,
        ["2025-03-29T02:30:00+01:00[Europe/Berlin]", "2025-03-31T02:30:00+02:00[Europe/Berlin]"],
        "02:30 does not exist on March 30: no run that day"
    );
    let fall =
        spec("30 2 * * *").schedule(berlin.to_timestamp(date(2025, 10, 25).at(0, 0, 0, 0)).unwrap(), DAY * 3, &berlin);
    let shown: Vec<String> = fall.iter().map(|z| z.to_string()).collect();
    assert_eq!(
        shown,
        [
            "2025-10-25T02:30:00+02:00[Europe/Berlin]",
            "2025-10-26T02:30:00+02:00[Europe/Berlin]",
            "2025-10-26T02:30:00+01:00[Europe/Berlin]",
            "2025-10-27T02:30:00+01:00[Europe/Berlin]",
        ],
        "02:30 happens twice on October 26: two runs"
    );
    // New York, 2025: 01:00-01:59 twice on November 2; an hourly job runs 25 times that day.
    let ny = TimeZone::get("America/New_York").unwrap();
    let day = spec("0 * * * *").schedule(
        ny.to_timestamp(date(2025, 11, 2).at(0, 0, 0, 0)).unwrap(),
        DAY + Duration::from_secs(3600),
        &ny,
    );
    assert_eq!(day.len(), 25);
    let next = spec("30 2 * * *").next_after(ny.to_timestamp(date(2025, 3, 8).at(3, 0, 0, 0)).unwrap(), &ny).unwrap();
    assert_eq!(next.datetime(), date(2025, 3, 10).at(2, 30, 0, 0), "March 9 has no 02:30 in New York");
}

/// The search for the next run skips days and hours; it must find what a minute-by-minute
/// walk finds (Ergo's way), across DST changes and in a zone with a half-hour offset.
#[test]
fn next_run_agrees_with_a_minute_by_minute_walk() {
    let zones = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"];
    let specs = ["30 2 * * *", "*/20 1-3 * * 7L", "0 0 L 2,3,10,11 *", "15 * 25-31 * 1#1,5L"];
    let start = utc(date(2025, 1, 1).at(0, 0, 0, 0));
    let minutes = 366 * 1440;
    for zone in zones {
        let tz = TimeZone::get(zone).unwrap();
        for s in specs {
            let spec = spec(s);
            let walked: Vec<Timestamp> = (0..minutes)
                .map(|m| Timestamp::from_second(start.as_second() + m * 60).unwrap())
                .filter(|t| spec.matches_at(*t, &tz))
                .collect();
            let found: Vec<Timestamp> = spec
                .schedule(start, Duration::from_secs(minutes as u64 * 60), &tz)
                .iter()
                .map(|z| z.timestamp())
                .collect();
            assert_eq!(found, walked, "{s:?} in {zone}");
            assert!(!found.is_empty(), "{s:?} in {zone}");
        }
    }
}

fn field_error(s: &str) -> (CronField, String, CronFieldProblem) {
    match s.parse::<CronSpec>() {
        Err(CronSpecError::Field { field, item, problem, .. }) => (field, item, problem),
        other => panic!("{s:?}: expected a field error, got {other:?}"),
    }
}

#[test]
fn invalid_specs_name_the_field_and_the_item() {
    use CronField::*;
    use CronFieldProblem::*;
    let range = |value, min, max| OutOfRange { value, min, max };
    let cases: Vec<(&str, CronField, &str, CronFieldProblem)> = vec![
        ("0,a,3 * * * *", Minute, "a", Syntax),
        ("0,59,63 * * * *", Minute, "63", range(63, 0, 59)),
        ("60 * * * *", Minute, "60", range(60, 0, 59)),
        ("33-3 * * * *", Minute, "33-3", Reversed { start: 33, end: 3 }),
        ("*/70 * * * *", Minute, "*/70", range(70, 1, 59)),
        ("*/0 * * * *", Minute, "*/0", range(0, 1, 59)),
        ("*/7,* * * * *", Minute, "*", WildcardWithOthers),
        ("2-60/2 * * * *", Minute, "2-60/2", range(60, 0, 59)),
        ("7,L * * * *", Minute, "L", Syntax),
        ("7,3L * * * *", Minute, "3L", Syntax),
        ("7,2#2 * * * *", Minute, "2#2", Syntax),
        ("-1 * * * *", Minute, "-1", Syntax),
        ("1,,2 * * * *", Minute, "", Syntax),
        ("1- * * * *", Minute, "1-", Syntax),
        ("99999999999999999999999 * * * *", Minute, "99999999999999999999999", range(u64::MAX, 0, 59)),
        ("0 25 * * *", Hour, "25", range(25, 0, 23)),
        ("0 24 * * *", Hour, "24", range(24, 0, 23)),
        ("0 MON * * *", Hour, "MON", Syntax),
        ("0 0 0,30 * *", DayOfMonth, "0", range(0, 1, 31)),
        ("0 0 1,33 * *", DayOfMonth, "33", range(33, 1, 31)),
        ("0 0 5L * *", DayOfMonth, "5L", Syntax),
        ("0 0 1#2 * *", DayOfMonth, "1#2", Syntax),
        ("0 0 * 13 *", Month, "13", range(13, 1, 12)),
        ("0 0 * 0 *", Month, "0", range(0, 1, 12)),
        ("0 0 * 1-6/2 *", Month, "1-6/2", Syntax),
        ("0 0 * L *", Month, "L", Syntax),
        ("0 0 * JANUARY *", Month, "JANUARY", Syntax),
        ("0 0 * * 0,7", DayOfWeek, "0", range(0, 1, 7)),
        ("0 0 * * 0#4", DayOfWeek, "0#4", range(0, 1, 7)),
        ("0 0 * * */4", DayOfWeek, "*/4", Syntax),
        ("0 0 * * 1#6", DayOfWeek, "1#6", range(6, 1, 5)),
        ("0 0 * * #1", DayOfWeek, "#1", Syntax),
        ("0 0 * * 1#", DayOfWeek, "1#", Syntax),
        ("0 0 * * 01#2", DayOfWeek, "01#2", Syntax),
        ("0 0 * * 1,8", DayOfWeek, "8", range(8, 1, 7)),
        ("0 0 * * 8L", DayOfWeek, "8L", range(8, 1, 7)),
        ("0 0 * * L", DayOfWeek, "L", Syntax),
        ("0 0 * * 1-5/2", DayOfWeek, "1-5/2", Syntax),
        ("0 0 * * FRI-MON", DayOfWeek, "FRI-MON", Reversed { start: 5, end: 1 }),
    ];
    for (s, field, item, problem) in cases {
        assert_eq!(field_error(s), (field, item.to_string(), problem), "spec {s:?}");
    }
    // The message names the field and the item.
    let e = "0 0 * * 1,8".parse::<CronSpec>().unwrap_err().to_string();
    assert!(e.contains("day-of-week") && e.contains("\"8\""), "{e}");
}

#[test]
fn invalid_specs_of_the_wrong_shape() {
    for (s, found) in [("", 0), ("* * * *", 4), ("* * * * * *", 6), ("  *  ", 1)] {
        match s.parse::<CronSpec>() {
            Err(CronSpecError::FieldCount { found: f, .. }) => assert_eq!(f, found, "{s:?}"),
            other => panic!("{s:?}: {other:?}"),
        }
    }
    for s in ["@yearly", "@reboot", "@Daily", "@daily "] {
        assert_eq!(s.parse::<CronSpec>(), Err(CronSpecError::UnknownMacro(s.to_string())));
    }
    // Any white space separates fields.
    assert!("0\t0  *\n* *".parse::<CronSpec>().is_ok());
}
