//! Settings of the spend anomaly detector.
//!
//! The defaults suit hourly spend buckets. `burnrate detect` and the engine's
//! spend-anomaly rule both use [`AnomalyConfig::default`], so a series scored by the
//! command alerts exactly where the running engine would.

use serde::{Deserialize, Serialize};

/// Settings that decide how the spend anomaly detector learns a series' normal spend
/// and when it alerts.
///
/// Amounts (`min_impact`, `warmup_min_impact`) are in the series' currency per bucket.
/// Smoothing factors are per observed bucket, so they assume hourly buckets: with
/// minute buckets the same factors forget sixty times faster in wall-clock time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Buckets of a series' spend the detector learns from before the statistical
    /// test may alert. Counted from the first bucket with spend, and counted again
    /// after the series has been dormant (see `dormant_after_buckets`). The default is
    /// one week of hourly buckets, so the weekly profile has seen every hour of the
    /// week once.
    pub warmup_buckets: u32,

    /// Excess, in money per bucket, over the largest spend seen so far that alerts
    /// during warm-up, when there is no baseline to compare with. So a series'
    /// first-ever spend, or its first spend after dormancy, alerts only if it is at
    /// least this large.
    pub warmup_min_impact: f64,

    /// Robust z-score (excess over the baseline divided by the series' typical
    /// deviation, a mean absolute deviation) at which the anomaly score reaches 0.5
    /// and the statistical test alerts.
    pub alert_z: f64,

    /// Minimum excess over the baseline, in money per bucket, for an alert. Keeps
    /// series too small to matter quiet.
    pub min_impact: f64,

    /// Minimum excess over the baseline as a fraction of the baseline for an alert
    /// (0.5 means at least 50 % above normal).
    pub min_relative_change: f64,

    /// Consecutive buckets without spend after which a series counts as dormant. Its
    /// next spend starts a new warm-up instead of being compared with a baseline that
    /// has decayed towards zero. The default is two weeks of hourly buckets.
    pub dormant_after_buckets: u32,

    /// Smoothing factor (0 to 1) of the level: how much of each bucket's deviation
    /// from the baseline moves the level.
    pub level_smoothing: f64,

    /// Smoothing factor (0 to 1) of the hour-of-day and hour-of-week profiles: how
    /// much of each bucket's deviation moves the profile slot it falls in.
    pub seasonal_smoothing: f64,

    /// Smoothing factor (0 to 1) of the typical deviation.
    pub deviation_smoothing: f64,

    /// Deviations larger than this many typical deviations are clipped to it before
    /// the detector learns from them, so one spike does not lift the baseline and the
    /// hours after it stay quiet.
    pub learning_clip_z: f64,

    /// Half-life, in buckets, of the series' recent peak z-score. The anomaly score
    /// divides the z-score by how far that peak exceeds well-behaved noise, so a
    /// series whose spikes are routine needs a larger spike to score as high. A large
    /// anomaly raises the bar for the ones after it until the peak has decayed.
    pub tail_half_life_buckets: u32,

    /// Half-life, in buckets of the same hour of the day, of the peak z-score kept per
    /// hour of the day. A spike that recurs at the same hour every day, such as a
    /// nightly batch job, is learned as routine for that hour only.
    pub hour_tail_half_life_buckets: u32,

    /// Lower bound of the typical deviation as a fraction of the baseline. Keeps a
    /// series with perfectly constant spend from alerting on a small wobble.
    pub min_deviation_fraction: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            warmup_buckets: 7 * 24,
            warmup_min_impact: 100.0,
            alert_z: 6.0,
            min_impact: 1.0,
            min_relative_change: 0.5,
            dormant_after_buckets: 14 * 24,
            level_smoothing: 0.02,
            seasonal_smoothing: 0.2,
            deviation_smoothing: 0.02,
            learning_clip_z: 4.0,
            tail_half_life_buckets: 4 * 24,
            hour_tail_half_life_buckets: 14,
            min_deviation_fraction: 0.05,
        }
    }
}

/// An anomaly setting that cannot work, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("anomaly.{setting}: {problem}")]
pub struct AnomalyConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// The problem and the value to set instead.
    pub problem: String,
}

impl AnomalyConfig {
    /// Checks every setting, reporting all problems at once.
    pub fn validate(&self) -> Result<(), Vec<AnomalyConfigError>> {
        let mut problems = Vec::new();
        let mut check = |setting: &'static str, ok: bool, problem: &str| {
            if !ok {
                problems.push(AnomalyConfigError {
                    setting,
                    problem: problem.to_owned(),
                });
            }
        };

        let is_fraction = |value: f64| value > 0.0 && value <= 1.0;
        check(
            "level_smoothing",
            is_fraction(self.level_smoothing),
            "must be above 0 and at most 1",
        );
        check(
            "seasonal_smoothing",
            is_fraction(self.seasonal_smoothing),
            "must be above 0 and at most 1",
        );
        check(
            "deviation_smoothing",
            is_fraction(self.deviation_smoothing),
            "must be above 0 and at most 1",
        );

        let is_non_negative = |value: f64| value.is_finite() && value >= 0.0;
        check(
            "warmup_min_impact",
            is_non_negative(self.warmup_min_impact),
            "must be a finite amount of 0 or more",
        );
        check(
            "min_impact",
            is_non_negative(self.min_impact),
            "must be a finite amount of 0 or more",
        );
        check(
            "min_relative_change",
            is_non_negative(self.min_relative_change),
            "must be a finite fraction of 0 or more",
        );
        check(
            "min_deviation_fraction",
            is_non_negative(self.min_deviation_fraction),
            "must be a finite fraction of 0 or more",
        );

        let is_positive = |value: f64| value.is_finite() && value > 0.0;
        check(
            "alert_z",
            is_positive(self.alert_z),
            "must be a finite number above 0, such as 6",
        );
        check(
            "learning_clip_z",
            is_positive(self.learning_clip_z),
            "must be a finite number above 0, such as 3",
        );
        check(
            "dormant_after_buckets",
            self.dormant_after_buckets > 0,
            "must be at least 1 bucket",
        );
        check(
            "tail_half_life_buckets",
            self.tail_half_life_buckets > 0,
            "must be at least 1 bucket",
        );
        check(
            "hour_tail_half_life_buckets",
            self.hour_tail_half_life_buckets > 0,
            "must be at least 1 bucket",
        );

        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
