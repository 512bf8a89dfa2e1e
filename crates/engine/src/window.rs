//! Tumbling windows `[start, end)` aligned to the UTC epoch.

use burnrate_model::WindowKind;
use chrono::{DateTime, Duration, Utc};

/// Returns the length of a tumbling window kind, or `None` for the billing period,
/// whose length depends on the contract.
pub fn window_length(kind: WindowKind) -> Option<Duration> {
    match kind {
        WindowKind::Minute => Some(Duration::minutes(1)),
        WindowKind::Hour => Some(Duration::hours(1)),
        WindowKind::Day => Some(Duration::days(1)),
        WindowKind::Period => None,
    }
}

/// Returns the `[start, end)` window of `kind` that contains `time`; an instant
/// exactly at a window's end belongs to the next window.
///
/// # Panics
///
/// Panics when called with [`WindowKind::Period`], which has no fixed length.
pub fn window_bounds(kind: WindowKind, time: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let length = window_length(kind).expect("billing periods are not tumbling windows");
    let length_micros = length
        .num_microseconds()
        .expect("a day fits in microseconds");
    let micros = time.timestamp_micros();
    let start_micros = micros.div_euclid(length_micros) * length_micros;
    let start = DateTime::from_timestamp_micros(start_micros)
        .expect("window start is within chrono's range");
    (start, start + length)
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
    fn event_at_window_end_belongs_to_next_window() {
        let (start, end) = window_bounds(WindowKind::Hour, utc("2026-05-06T11:00:00Z"));
        assert_eq!(start, utc("2026-05-06T11:00:00Z"));
        assert_eq!(end, utc("2026-05-06T12:00:00Z"));

        let (start, end) = window_bounds(WindowKind::Hour, utc("2026-05-06T10:59:59.999999Z"));
        assert_eq!(start, utc("2026-05-06T10:00:00Z"));
        assert_eq!(end, utc("2026-05-06T11:00:00Z"));
    }

    #[test]
    fn windows_align_to_utc() {
        let (start, _) = window_bounds(WindowKind::Day, utc("2026-05-06T23:30:00+02:00"));
        assert_eq!(start, utc("2026-05-06T00:00:00Z"));
        let (start, end) = window_bounds(WindowKind::Minute, utc("2026-05-06T10:00:59.5Z"));
        assert_eq!(start, utc("2026-05-06T10:00:00Z"));
        assert_eq!(end, utc("2026-05-06T10:01:00Z"));
    }

    #[test]
    fn times_before_the_epoch_round_down() {
        let (start, _) = window_bounds(WindowKind::Hour, utc("1969-12-31T23:30:00Z"));
        assert_eq!(start, utc("1969-12-31T23:00:00Z"));
    }
}
