//! The billing period: the span a vendor invoices at once, starting on the contract's
//! anchor day at local midnight in the contract's time zone.
//!
//! Periods are computed in local calendar terms and then converted to UTC, so a
//! Europe/Berlin month is 743 hours long in March and 745 in October. An anchor day
//! past the month's end (31 in February) falls on the month's last day.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A billing period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BillingPeriod {
    /// First instant of the period (inclusive).
    pub start: DateTime<Utc>,
    /// First instant of the next period (exclusive).
    pub end: DateTime<Utc>,
}

impl BillingPeriod {
    /// Returns whether `time` lies in the period.
    pub fn contains(&self, time: DateTime<Utc>) -> bool {
        time >= self.start && time < self.end
    }
}

/// Returns the billing period that contains `time` for a contract billed from
/// `anchor_day` (1 to 31) at local midnight in `timezone`.
pub fn billing_period_containing(
    time: DateTime<Utc>,
    timezone: Tz,
    anchor_day: u32,
) -> BillingPeriod {
    let local = time.with_timezone(&timezone);
    let (year, month) = (local.year(), local.month());

    let this_month_start = period_start(year, month, timezone, anchor_day);
    let (start_year, start_month) = if time >= this_month_start {
        (year, month)
    } else {
        previous_month(year, month)
    };

    let start = period_start(start_year, start_month, timezone, anchor_day);
    let (end_year, end_month) = next_month(start_year, start_month);
    let end = period_start(end_year, end_month, timezone, anchor_day);
    BillingPeriod { start, end }
}

/// Returns the UTC instant at which the period anchored in (`year`, `month`) starts.
fn period_start(year: i32, month: u32, timezone: Tz, anchor_day: u32) -> DateTime<Utc> {
    let day = anchor_day.clamp(1, days_in_month(year, month));
    let date =
        NaiveDate::from_ymd_opt(year, month, day).expect("day is clamped to the month's length");
    local_midnight(date, timezone)
}

/// Returns the first instant of `date` in `timezone`.
///
/// Where a DST change skips midnight (as in some zones that switch at 00:00), the
/// day starts at the first local time that exists. Where midnight occurs twice, the
/// earlier one counts.
fn local_midnight(date: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
    let mut candidate = midnight;
    for _ in 0..=96 {
        if let Some(instant) = timezone.from_local_datetime(&candidate).earliest() {
            return instant.with_timezone(&Utc);
        }
        candidate += Duration::minutes(15);
    }
    // No real zone skips a whole day at a 15-minute resolution except across the
    // date line (Pacific/Apia, 2011-12-30), where the next day's midnight exists.
    let next_day = midnight + Duration::days(1);
    timezone
        .from_local_datetime(&next_day)
        .earliest()
        .map(|instant| instant.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Returns the number of days in `month` of `year` (28 to 31).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = next_month(year, month);
    let first_of_next =
        NaiveDate::from_ymd_opt(next_year, next_month, 1).expect("first of a month exists");
    first_of_next
        .pred_opt()
        .expect("a month has a last day")
        .day()
}

fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

fn previous_month(year: i32, month: u32) -> (i32, u32) {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn calendar_month_in_utc() {
        let period = billing_period_containing(utc("2026-05-06T10:00:00Z"), Tz::UTC, 1);
        assert_eq!(period.start, utc("2026-05-01T00:00:00Z"));
        assert_eq!(period.end, utc("2026-06-01T00:00:00Z"));
    }

    #[test]
    fn berlin_march_has_743_hours_and_october_745() {
        let march = billing_period_containing(utc("2026-03-15T12:00:00Z"), Tz::Europe__Berlin, 1);
        assert_eq!(march.start, utc("2026-02-28T23:00:00Z"));
        assert_eq!(march.end, utc("2026-03-31T22:00:00Z"));
        assert_eq!((march.end - march.start).num_hours(), 743);

        let october = billing_period_containing(utc("2026-10-15T12:00:00Z"), Tz::Europe__Berlin, 1);
        assert_eq!(october.start, utc("2026-09-30T22:00:00Z"));
        assert_eq!(october.end, utc("2026-10-31T23:00:00Z"));
        assert_eq!((october.end - october.start).num_hours(), 745);
    }

    #[test]
    fn local_midnight_belongs_to_the_new_period() {
        let at_midnight =
            billing_period_containing(utc("2026-02-28T23:00:00Z"), Tz::Europe__Berlin, 1);
        assert_eq!(at_midnight.start, utc("2026-02-28T23:00:00Z"));

        let just_before =
            billing_period_containing(utc("2026-02-28T22:59:59Z"), Tz::Europe__Berlin, 1);
        assert_eq!(just_before.end, utc("2026-02-28T23:00:00Z"));
        assert_eq!(just_before.start, utc("2026-01-31T23:00:00Z"));
    }

    #[test]
    fn anchor_31_in_february() {
        let leap = billing_period_containing(utc("2028-03-10T00:00:00Z"), Tz::UTC, 31);
        assert_eq!(leap.start, utc("2028-02-29T00:00:00Z"));
        assert_eq!(leap.end, utc("2028-03-31T00:00:00Z"));

        let common = billing_period_containing(utc("2027-03-10T00:00:00Z"), Tz::UTC, 31);
        assert_eq!(common.start, utc("2027-02-28T00:00:00Z"));
        assert_eq!(common.end, utc("2027-03-31T00:00:00Z"));

        let in_february = billing_period_containing(utc("2027-02-15T00:00:00Z"), Tz::UTC, 31);
        assert_eq!(in_february.start, utc("2027-01-31T00:00:00Z"));
        assert_eq!(in_february.end, utc("2027-02-28T00:00:00Z"));
    }

    #[test]
    fn anchor_day_in_the_middle_of_the_month() {
        let period = billing_period_containing(utc("2026-01-10T00:00:00Z"), Tz::UTC, 15);
        assert_eq!(period.start, utc("2025-12-15T00:00:00Z"));
        assert_eq!(period.end, utc("2026-01-15T00:00:00Z"));
    }

    #[test]
    fn skipped_local_midnight_starts_at_first_existing_time() {
        // America/Santiago moved clocks from 00:00 to 01:00 on 2026-09-06.
        let period =
            billing_period_containing(utc("2026-09-20T12:00:00Z"), Tz::America__Santiago, 6);
        assert_eq!(period.start, utc("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn days_in_month_covers_leap_years() {
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2027, 2), 28);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }
}
