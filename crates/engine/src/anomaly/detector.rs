//! The online spend anomaly detector of one series: a robust Holt-Winters baseline
//! with hour-of-day and hour-of-week profiles, and a robust z-score against it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::AnomalyConfig;
use super::profile::{HourSlot, SeasonalProfile, HOURS_PER_DAY, HOURS_PER_WEEK};

/// Lower bound of the typical deviation whatever the baseline, so that a series of
/// exact zeros still has a finite z-score.
const MIN_DEVIATION: f64 = 1e-9;

/// The 99th percentile of |z| for well-behaved noise: Laplace noise, whose mean
/// absolute deviation is its scale, exceeds `ln(100) ≈ 4.6` deviations 1 % of the time.
const NORMAL_TAIL_Z: f64 = 4.6;

/// The verdict on one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    /// Anomaly score from 0 to 1, measured against the series' own history. It is 0.5
    /// where the robust z-score, divided by how much wider the series' recent tail is
    /// than well-behaved noise, equals `alert_z`, and rises towards 1 above it. Drops
    /// score like spikes (a feed that stops is unusual too) but never alert. During
    /// warm-up it is 0.5 for a bucket that alerts and 0 otherwise.
    pub score: f64,
    /// Whether the bucket alerts: the score is at least 0.5 and the excess over the
    /// baseline passes `min_impact` and `min_relative_change`, or, during warm-up, the
    /// value exceeds the largest spend seen so far by at least `warmup_min_impact`.
    pub anomalous: bool,
    /// The value the detector expected for this bucket.
    pub baseline: f64,
    /// The smallest value that would have alerted in this bucket.
    pub upper: f64,
    /// The value minus the baseline. During warm-up, the value minus the largest
    /// spend seen so far.
    pub impact: f64,
    /// The robust z-score: the impact divided by the typical deviation. 0 during warm-up.
    pub z: f64,
    /// Whether the detector was still warming up, so only `warmup_min_impact` applied.
    pub warming_up: bool,
}

/// The detector's expectation for a bucket that is still filling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Expectation {
    /// The expected value of the whole bucket.
    pub baseline: f64,
    /// The smallest value of the whole bucket that alerts. A partial bucket already
    /// above it will alert when it closes, since spend within a bucket only grows.
    pub upper: f64,
}

/// Everything the detector has learned about one series: what a snapshot stores.
///
/// Its size is fixed (two profiles of 24 and 168 slots plus a few numbers) however
/// long the series runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorState {
    /// Start of the last bucket learned from.
    last_bucket_start: Option<DateTime<Utc>>,
    /// Buckets learned since the series first spent, or since it spent again after
    /// dormancy, saturating. 0 while it has never spent.
    active_buckets: u32,
    /// Consecutive buckets without spend up to the last one, saturating.
    zero_run: u32,
    /// Largest spend in one bucket since the series started (or restarted) spending:
    /// the reference of the warm-up rule.
    peak_spend: f64,
    /// Smoothed spend per bucket with the seasonal offsets removed.
    level: f64,
    /// Smoothed absolute deviation of spend from the baseline (a mean absolute
    /// deviation, clipped so spikes do not inflate it).
    deviation: f64,
    /// Decaying peak of `ln(1 + |z|)` over recent buckets: how far the series' own
    /// noise strays. A series whose spikes are routine scores them lower.
    tail_z: f64,
    /// The same peak per hour of the day, decaying only with buckets of that hour, so
    /// a spike that recurs at the same time every day is learned as routine.
    daily_tail_z: [f64; HOURS_PER_DAY],
    /// Offsets of each hour of the day from the level, used until the hour of the week
    /// has been seen.
    daily: SeasonalProfile,
    /// Offsets of each hour of the week from the level.
    weekly: SeasonalProfile,
}

impl Default for DetectorState {
    fn default() -> Self {
        DetectorState {
            last_bucket_start: None,
            active_buckets: 0,
            zero_run: 0,
            peak_spend: 0.0,
            level: 0.0,
            deviation: 0.0,
            tail_z: NORMAL_TAIL_Z.ln_1p(),
            daily_tail_z: [NORMAL_TAIL_Z.ln_1p(); HOURS_PER_DAY],
            daily: SeasonalProfile::new(HOURS_PER_DAY),
            weekly: SeasonalProfile::new(HOURS_PER_WEEK),
        }
    }
}

/// The online anomaly detector of one spend-rate series.
///
/// Feed it every bucket of the series in time order, empty buckets as 0: it learns
/// from each value after judging it. A bucket at or before the last one learned is
/// judged but not learned from, so a replayed bucket cannot count twice.
#[derive(Debug, Clone)]
pub struct SpendAnomalyDetector {
    config: AnomalyConfig,
    state: DetectorState,
}

/// The baseline and typical deviation for one bucket.
#[derive(Debug, Clone, Copy)]
struct Forecast {
    baseline: f64,
    deviation: f64,
}

impl SpendAnomalyDetector {
    /// Creates a detector for a new series.
    pub fn new(config: AnomalyConfig) -> SpendAnomalyDetector {
        SpendAnomalyDetector::from_state(config, DetectorState::default())
    }

    /// Resumes a detector from a snapshot of its state.
    pub fn from_state(config: AnomalyConfig, state: DetectorState) -> SpendAnomalyDetector {
        SpendAnomalyDetector { config, state }
    }

    /// Returns the learned state, for snapshots.
    pub fn state(&self) -> &DetectorState {
        &self.state
    }

    /// Returns the learned state, ending the detector.
    pub fn into_state(self) -> DetectorState {
        self.state
    }

    /// Returns the settings.
    pub fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Judges the value of the bucket starting at `bucket_start`, then learns from it.
    ///
    /// A value that is not finite is judged quiet and not learned from.
    pub fn observe(&mut self, bucket_start: DateTime<Utc>, value: f64) -> Detection {
        if !value.is_finite() {
            return self.quiet(0.0);
        }
        let learns = self
            .state
            .last_bucket_start
            .is_none_or(|last| bucket_start > last);

        if self.is_idle() {
            if value <= 0.0 {
                if learns {
                    self.state.last_bucket_start = Some(bucket_start);
                    self.state.zero_run = self.state.zero_run.saturating_add(1);
                }
                return self.quiet(value);
            }
            // The first spend ever, or the first after dormancy: what was learned
            // before describes a series that no longer exists.
            if learns {
                self.state = DetectorState::default();
            }
        }

        let slot = HourSlot::of(bucket_start);
        let forecast = self.forecast(slot);
        let detection = self.judge(slot, forecast, value);
        if learns {
            self.learn(slot, forecast, value);
            self.state.last_bucket_start = Some(bucket_start);
        }
        detection
    }

    /// Returns what the detector expects of the bucket starting at `bucket_start`, or
    /// `None` while it is warming up, has never seen spend or the series is dormant.
    pub fn expected(&self, bucket_start: DateTime<Utc>) -> Option<Expectation> {
        if self.is_idle() || self.is_warming_up() {
            return None;
        }
        let slot = HourSlot::of(bucket_start);
        let forecast = self.forecast(slot);
        Some(Expectation {
            baseline: forecast.baseline,
            upper: self.alert_threshold(slot, forecast),
        })
    }

    /// Returns whether the series has never spent or has been without spend long
    /// enough to count as dormant.
    fn is_idle(&self) -> bool {
        self.state.active_buckets == 0 || self.state.zero_run >= self.config.dormant_after_buckets
    }

    fn is_warming_up(&self) -> bool {
        self.state.active_buckets < self.config.warmup_buckets
    }

    /// Returns the verdict on a bucket of an idle series, which is quiet at any value
    /// that is not spend.
    fn quiet(&self, value: f64) -> Detection {
        let upper = self.config.warmup_min_impact;
        Detection {
            score: 0.0,
            anomalous: false,
            baseline: 0.0,
            upper,
            impact: value,
            z: 0.0,
            warming_up: true,
        }
    }

    fn forecast(&self, slot: HourSlot) -> Forecast {
        let state = &self.state;
        let offset = state
            .weekly
            .offset(slot.hour_of_week)
            .or_else(|| state.daily.offset(slot.hour_of_day))
            .unwrap_or(0.0);
        let baseline = (state.level + offset).max(0.0);
        let deviation = state
            .deviation
            .max(self.config.min_deviation_fraction * baseline)
            .max(MIN_DEVIATION);
        Forecast {
            baseline,
            deviation,
        }
    }

    /// Returns the smallest value that alerts against `forecast` once warmed up.
    fn alert_threshold(&self, slot: HourSlot, forecast: Forecast) -> f64 {
        let config = &self.config;
        let by_score =
            forecast.baseline + config.alert_z * self.tail_factor(slot) * forecast.deviation;
        let by_impact = forecast.baseline + config.min_impact;
        let by_change = forecast.baseline * (1.0 + config.min_relative_change);
        by_score.max(by_impact).max(by_change)
    }

    /// Returns how much wider than well-behaved noise the series' own tail is, at least 1.
    fn tail_factor(&self, slot: HourSlot) -> f64 {
        let tail = self
            .state
            .tail_z
            .max(self.state.daily_tail_z[slot.hour_of_day]);
        (tail.exp_m1() / NORMAL_TAIL_Z).max(1.0)
    }

    fn judge(&self, slot: HourSlot, forecast: Forecast, value: f64) -> Detection {
        let config = &self.config;
        let impact = value - forecast.baseline;

        // Without a baseline to trust, only spend far above anything seen so far
        // alerts. A daily ramp from night to noon climbs past the peak in steps, so it
        // stays quiet, but a leaked key spending thousands in its first hour does not.
        // Its score is the alert level, because the detector has no statistical view.
        if self.is_warming_up() {
            let impact = value - self.state.peak_spend;
            let anomalous = impact >= config.warmup_min_impact;
            return Detection {
                score: if anomalous { 0.5 } else { 0.0 },
                anomalous,
                baseline: forecast.baseline,
                upper: self.state.peak_spend + config.warmup_min_impact,
                impact,
                z: 0.0,
                warming_up: true,
            };
        }

        let z = impact / forecast.deviation;
        let score = score_of(z.abs() / self.tail_factor(slot), config.alert_z);
        let relative_change_passes = impact >= config.min_relative_change * forecast.baseline;
        let anomalous =
            score >= 0.5 && impact > 0.0 && impact >= config.min_impact && relative_change_passes;
        Detection {
            score,
            anomalous,
            baseline: forecast.baseline,
            upper: self.alert_threshold(slot, forecast),
            impact,
            z,
            warming_up: false,
        }
    }

    fn learn(&mut self, slot: HourSlot, forecast: Forecast, value: f64) {
        let warming_up = self.is_warming_up();
        let config = &self.config;
        let state = &mut self.state;

        // A bucket without spend teaches the profiles that its hour is quiet. It
        // leaves the level, the deviation and the tails alone, so that a night, a
        // weekend or an outage does not drag the baseline of the busy hours down.
        if value <= 0.0 {
            state.zero_run = state.zero_run.saturating_add(1);
        } else {
            state.zero_run = 0;
        }
        state.peak_spend = state.peak_spend.max(value);

        if state.active_buckets == 0 {
            state.level = value;
            state.active_buckets = 1;
            state
                .daily
                .learn(slot.hour_of_day, 0.0, config.seasonal_smoothing);
            state
                .weekly
                .learn(slot.hour_of_week, 0.0, config.seasonal_smoothing);
            return;
        }

        // During warm-up the estimates are running means, so they settle fast. After
        // it, deviations are clipped so one spike barely moves them.
        let residual = value - forecast.baseline;
        let (learned_residual, level_weight, deviation_weight) = if warming_up {
            let mean_weight = 1.0 / f64::from(state.active_buckets + 1);
            (
                residual,
                config.level_smoothing.max(mean_weight),
                config.deviation_smoothing.max(mean_weight),
            )
        } else {
            let limit = config.learning_clip_z * forecast.deviation;
            (
                residual.clamp(-limit, limit),
                config.level_smoothing,
                config.deviation_smoothing,
            )
        };

        if value > 0.0 && !warming_up {
            let surprise = (residual / forecast.deviation).abs().ln_1p();
            let floor = NORMAL_TAIL_Z.ln_1p();
            let decay = std::f64::consts::LN_2 / f64::from(config.tail_half_life_buckets);
            state.tail_z = (state.tail_z - decay).max(floor).max(surprise);
            let hour_decay = std::f64::consts::LN_2 / f64::from(config.hour_tail_half_life_buckets);
            let hour_tail = &mut state.daily_tail_z[slot.hour_of_day];
            *hour_tail = (*hour_tail - hour_decay).max(floor).max(surprise);
        }

        if value > 0.0 {
            state.level += level_weight * learned_residual;
            state.deviation += deviation_weight * (learned_residual.abs() - state.deviation);
        }

        let observed_offset = forecast.baseline + learned_residual - state.level;
        state
            .daily
            .learn(slot.hour_of_day, observed_offset, config.seasonal_smoothing);
        state.weekly.learn(
            slot.hour_of_week,
            observed_offset,
            config.seasonal_smoothing,
        );
        state.active_buckets = state.active_buckets.saturating_add(1);
    }
}

/// Maps a z-score to a score in [0, 1): 0 at or below 0, 0.5 at `alert_z`, and
/// approaching 1 as z grows without saturating, so very large z-scores keep their
/// order (`z²/(z² + alert_z²)`).
fn score_of(z: f64, alert_z: f64) -> f64 {
    if z <= 0.0 {
        return 0.0;
    }
    let ratio = z / alert_z;
    ratio * ratio / (ratio * ratio + 1.0)
}
