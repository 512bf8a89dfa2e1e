//! Spend anomaly detection: an online detector per spend-rate series that learns the
//! series' normal spend for each hour of the week and flags buckets far above it.
//!
//! The detector keeps a robust Holt-Winters baseline: a level plus an additive offset
//! for the bucket's hour of the week (or its hour of the day until that hour of the
//! week has been seen). Its typical deviation is a smoothed mean absolute deviation.
//! Deviations are clipped before they are learned, so a spike does not raise the
//! baseline of the hours after it. The robust z-score is divided by how far the
//! series' recent peak z-score (overall, and at the same hour of the day) exceeds
//! well-behaved noise, so a series whose spikes are routine scores them lower. A
//! bucket alerts when that calibrated z-score reaches `alert_z` and its excess over
//! the baseline is large both in money (`min_impact`) and relative to the baseline
//! (`min_relative_change`). Drops score high too, but only spend above the baseline
//! alerts.
//!
//! Edge cases of spend series and how they are handled:
//! - A new series warms up for `warmup_buckets` buckets from its first spend. Only
//!   spend at least `warmup_min_impact` above the largest bucket seen so far alerts
//!   meanwhile, so a first-ever spend alerts only if it is large in absolute terms.
//! - Buckets without spend update the profile slot of their hour but not the level or
//!   the deviation, so quiet nights and weekends are learned as quiet hours while the
//!   baseline of the busy hours keeps its value.
//! - After `dormant_after_buckets` buckets without spend the series counts as dormant:
//!   its next spend starts over with a fresh warm-up.
//!
//! Memory per series is fixed: 24 + 168 profile slots, 24 hourly peaks and a few
//! numbers.
//!
//! Scores and baselines are `f64`. They are estimates that decide whether to alert,
//! not amounts that are billed or summed, so binary floating point is acceptable here
//! (unlike on the rating path). The arithmetic has no randomness and no dependence on
//! hash order, so the same buckets give bit-identical results on the same platform.
//! NOTE: `f64::exp` comes from the platform's math library, so scores may differ in
//! the last bits between platforms.

mod config;
mod detector;
mod profile;

#[cfg(test)]
mod tests;

pub use config::{AnomalyConfig, AnomalyConfigError};
pub use detector::{Detection, DetectorState, Expectation, SpendAnomalyDetector};
pub use profile::{
    HourSlot, SeasonalProfile, SlotCountError, SlotOffset, HOURS_PER_DAY, HOURS_PER_WEEK,
};
