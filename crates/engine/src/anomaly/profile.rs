//! Seasonal profiles: the typical offset of each hour of the day and of each hour of
//! the week from a series' level.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// Slots of the hour-of-day profile.
pub const HOURS_PER_DAY: usize = 24;

/// Slots of the hour-of-week profile, Monday 00:00 UTC first.
pub const HOURS_PER_WEEK: usize = 7 * 24;

/// The learned offset of one slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotOffset {
    /// Typical value minus the level, in the series' unit per bucket.
    pub offset: f64,
    /// Buckets learned into this slot, saturating.
    pub count: u32,
}

/// A fixed number of [`SlotOffset`]s, one per hour of the day or of the week.
///
/// Serialized as a plain list. Deserializing checks its length, so a snapshot taken
/// with another number of slots is rejected instead of indexed out of bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SlotOffset>", into = "Vec<SlotOffset>")]
pub struct SeasonalProfile {
    slots: Vec<SlotOffset>,
}

/// The hour slot a bucket falls in, for both profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourSlot {
    /// Hour of the day, 0 to 23, in UTC.
    pub hour_of_day: usize,
    /// Hour of the week, 0 (Monday 00:00 UTC) to 167.
    pub hour_of_week: usize,
}

impl HourSlot {
    /// Returns the slot of the hour that contains `instant`.
    pub fn of(instant: DateTime<Utc>) -> HourSlot {
        let hour_of_day = instant.hour() as usize;
        let day_of_week = instant.weekday().num_days_from_monday() as usize;
        HourSlot {
            hour_of_day,
            hour_of_week: day_of_week * HOURS_PER_DAY + hour_of_day,
        }
    }
}

impl SeasonalProfile {
    /// Creates a profile of `slot_count` empty slots.
    pub fn new(slot_count: usize) -> SeasonalProfile {
        SeasonalProfile {
            slots: vec![SlotOffset::default(); slot_count],
        }
    }

    /// Returns the slot's offset once it has learned at least one bucket.
    pub fn offset(&self, slot: usize) -> Option<f64> {
        let slot = &self.slots[slot];
        (slot.count > 0).then_some(slot.offset)
    }

    /// Moves the slot's offset towards `observed` by `smoothing`. A new slot starts at
    /// the first value it sees instead of at zero.
    pub fn learn(&mut self, slot: usize, observed: f64, smoothing: f64) {
        let slot = &mut self.slots[slot];
        let weight = if slot.count == 0 { 1.0 } else { smoothing };
        slot.offset += weight * (observed - slot.offset);
        slot.count = slot.count.saturating_add(1);
    }
}

/// A snapshot's profile with the wrong number of slots.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a seasonal profile has {0} slots; expected {HOURS_PER_DAY} or {HOURS_PER_WEEK}")]
pub struct SlotCountError(usize);

impl TryFrom<Vec<SlotOffset>> for SeasonalProfile {
    type Error = SlotCountError;

    fn try_from(slots: Vec<SlotOffset>) -> Result<Self, Self::Error> {
        if slots.len() == HOURS_PER_DAY || slots.len() == HOURS_PER_WEEK {
            Ok(SeasonalProfile { slots })
        } else {
            Err(SlotCountError(slots.len()))
        }
    }
}

impl From<SeasonalProfile> for Vec<SlotOffset> {
    fn from(profile: SeasonalProfile) -> Self {
        profile.slots
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn hour_slot_starts_monday_midnight() {
        // 2024-01-01 was a Monday.
        let monday = Utc.with_ymd_and_hms(2024, 1, 1, 0, 30, 0).unwrap();
        assert_eq!(
            HourSlot::of(monday),
            HourSlot {
                hour_of_day: 0,
                hour_of_week: 0
            }
        );

        let sunday_late = Utc.with_ymd_and_hms(2024, 1, 7, 23, 59, 59).unwrap();
        assert_eq!(
            HourSlot::of(sunday_late),
            HourSlot {
                hour_of_day: 23,
                hour_of_week: 167
            }
        );
    }

    #[test]
    fn new_slot_starts_at_first_value() {
        let mut profile = SeasonalProfile::new(HOURS_PER_DAY);
        assert_eq!(profile.offset(3), None);

        profile.learn(3, 10.0, 0.2);
        assert_eq!(profile.offset(3), Some(10.0));

        profile.learn(3, 20.0, 0.25);
        assert_eq!(profile.offset(3), Some(12.5));
    }

    #[test]
    fn profile_rejects_wrong_slot_count() {
        let slots = vec![SlotOffset::default(); 25];
        assert_eq!(SeasonalProfile::try_from(slots), Err(SlotCountError(25)));
    }
}
