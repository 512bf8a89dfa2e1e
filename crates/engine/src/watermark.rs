//! The partition watermark: the event time up to which the partition is assumed
//! complete, the largest event time seen minus the out-of-orderness bound.

use chrono::{DateTime, Duration, Utc};

/// Event-time progress of one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Largest event time seen.
    pub max_event_time: Option<DateTime<Utc>>,
    /// The watermark; it never moves back.
    pub current: Option<DateTime<Utc>>,
    /// Processing time of the last event, when the caller reports it.
    pub last_arrival: Option<DateTime<Utc>>,
}

impl Watermark {
    /// Takes an event time into account; returns whether the watermark moved.
    pub fn observe(
        &mut self,
        event_time: DateTime<Utc>,
        out_of_orderness: Duration,
        arrival: Option<DateTime<Utc>>,
    ) -> bool {
        if arrival.is_some() {
            self.last_arrival = arrival;
        }
        if self.max_event_time.is_some_and(|max| max >= event_time) {
            return false;
        }
        self.max_event_time = Some(event_time);
        self.advance_to(event_time - out_of_orderness)
    }

    /// Moves the watermark forward when the partition has had no event for
    /// `idle_timeout` of processing time: event time is assumed to have moved on
    /// with the clock since the last event. Returns whether the watermark moved.
    pub fn advance_idle(
        &mut self,
        now: DateTime<Utc>,
        idle_timeout: Duration,
        out_of_orderness: Duration,
    ) -> bool {
        let (Some(last_arrival), Some(max_event_time)) = (self.last_arrival, self.max_event_time)
        else {
            return false;
        };
        let idle_for = now - last_arrival;
        if idle_for < idle_timeout {
            return false;
        }
        self.advance_to(max_event_time - out_of_orderness + idle_for)
    }

    /// Moves the watermark to `candidate` if that is later; returns whether it moved.
    pub fn advance_to(&mut self, candidate: DateTime<Utc>) -> bool {
        if self.current.is_some_and(|current| current >= candidate) {
            return false;
        }
        self.current = Some(candidate);
        true
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
    fn watermark_trails_max_event_time() {
        let mut watermark = Watermark::default();
        let bound = Duration::minutes(5);
        assert!(watermark.observe(utc("2026-05-06T10:10:00Z"), bound, None));
        assert_eq!(watermark.current, Some(utc("2026-05-06T10:05:00Z")));
        assert!(
            !watermark.observe(utc("2026-05-06T10:00:00Z"), bound, None),
            "an older event never moves it back"
        );
        assert_eq!(watermark.current, Some(utc("2026-05-06T10:05:00Z")));
    }

    #[test]
    fn idle_partition_advances_after_timeout() {
        let mut watermark = Watermark::default();
        let bound = Duration::minutes(5);
        let idle = Duration::minutes(10);
        watermark.observe(
            utc("2026-05-06T10:00:00Z"),
            bound,
            Some(utc("2026-05-06T12:00:00Z")),
        );
        assert!(!watermark.advance_idle(utc("2026-05-06T12:09:59Z"), idle, bound));
        assert!(watermark.advance_idle(utc("2026-05-06T12:10:00Z"), idle, bound));
        assert_eq!(watermark.current, Some(utc("2026-05-06T10:05:00Z")));
    }
}
