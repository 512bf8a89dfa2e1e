//! Period-end spend forecast: spend so far plus the recent run rate projected over
//! the rest of the billing period, shaped by an hour-of-week profile, with a
//! prediction interval that is wide while few hours have been seen.

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};
use rust_decimal::prelude::MathematicalOps;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Hours in a week, the length of the seasonal profile.
const HOURS_PER_WEEK: usize = 168;

/// Hourly spend statistics of the current billing period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRate {
    /// Start of the hour being filled, in seconds since the epoch.
    pub open_hour: Option<i64>,
    /// Spend so far in that hour.
    pub open_hour_spend: Decimal,
    /// Completed hours of the period (hours without spend count as zero).
    pub closed_hours: u32,
    /// Mean spend of the completed hours (Welford).
    pub mean: Decimal,
    /// Sum of squared deviations of the completed hours (Welford).
    pub squared_deviations: Decimal,
}

/// Average spend per hour of the week, learnt across periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeasonalProfile {
    /// Sum of hourly spend and number of hours seen, per hour of the week (Monday 00:00 UTC first).
    pub slots: Vec<(Decimal, u32)>,
}

impl Default for SeasonalProfile {
    fn default() -> Self {
        SeasonalProfile {
            slots: vec![(Decimal::ZERO, 0); HOURS_PER_WEEK],
        }
    }
}

/// A forecast of spend at the end of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    /// Expected spend at the period's end.
    pub point: Decimal,
    /// Lower bound of the prediction interval.
    pub low: Decimal,
    /// Upper bound of the prediction interval.
    pub high: Decimal,
}

/// Returns the hour of the week (0 to 167, Monday 00:00 UTC is 0) of `time`.
fn hour_of_week(time: DateTime<Utc>) -> usize {
    time.weekday().num_days_from_monday() as usize * 24 + time.hour() as usize
}

fn hour_start(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

impl RunRate {
    /// Adds spend at `time`, closing the hours that have passed (as zero-spend hours
    /// when nothing arrived in them) into the statistics and the profile.
    pub fn add(&mut self, time: DateTime<Utc>, spend: Decimal, profile: &mut SeasonalProfile) {
        let hour = hour_start(time).timestamp();
        match self.open_hour {
            None => self.open_hour = Some(hour),
            Some(open) if hour > open => {
                self.close_hour(open, profile);
                // Hours with no spend at all between the last one and this one.
                let skipped = ((hour - open) / 3600 - 1).clamp(0, 24 * 62);
                for index in 0..skipped {
                    self.open_hour_spend = Decimal::ZERO;
                    self.close_hour(open + 3600 * (index + 1), profile);
                }
                self.open_hour = Some(hour);
                self.open_hour_spend = Decimal::ZERO;
            }
            // Spend for an earlier hour (out of order) counts towards the open one.
            Some(_) => {}
        }
        self.open_hour_spend = self.open_hour_spend.saturating_add(spend);
    }

    fn close_hour(&mut self, hour: i64, profile: &mut SeasonalProfile) {
        let spend = self.open_hour_spend;
        self.closed_hours += 1;
        let count = Decimal::from(self.closed_hours);
        let delta = spend.saturating_sub(self.mean);
        self.mean = self.mean.saturating_add(delta / count);
        self.squared_deviations = self
            .squared_deviations
            .saturating_add(delta.saturating_mul(spend.saturating_sub(self.mean)));

        if let Some(time) = DateTime::from_timestamp(hour, 0) {
            let slot = &mut profile.slots[hour_of_week(time)];
            slot.0 = slot.0.saturating_add(spend);
            slot.1 += 1;
        }
    }

    /// Returns the coefficient of variation of completed hours, or `None` before two hours.
    fn coefficient_of_variation(&self) -> Option<Decimal> {
        if self.closed_hours < 2 || self.mean <= Decimal::ZERO {
            return None;
        }
        let variance = self.squared_deviations / Decimal::from(self.closed_hours - 1);
        variance.sqrt().map(|deviation| deviation / self.mean)
    }
}

impl SeasonalProfile {
    /// Returns the relative weight of every hour of the week (1 is an average hour).
    ///
    /// All weights are 1 until every slot has been seen twice, so a partial first
    /// week does not skew the projection.
    fn weights(&self) -> Vec<Decimal> {
        let flat = vec![Decimal::ONE; HOURS_PER_WEEK];
        if self.slots.iter().any(|(_, count)| *count < 2) {
            return flat;
        }
        let averages: Vec<Decimal> = self
            .slots
            .iter()
            .map(|(sum, count)| *sum / Decimal::from(*count))
            .collect();
        let total: Decimal = averages.iter().sum();
        if total <= Decimal::ZERO {
            return flat;
        }
        let hours = Decimal::from(HOURS_PER_WEEK as u32);
        averages
            .into_iter()
            .map(|average| average * hours / total)
            .collect()
    }
}

/// Hour-of-week weights with their prefix sums, so the weight of any span costs
/// a few additions instead of one per hour.
struct WeekWeights {
    weights: Vec<Decimal>,
    /// `prefix[i]` is the sum of `weights[..i]`.
    prefix: Vec<Decimal>,
}

impl WeekWeights {
    fn new(weights: Vec<Decimal>) -> WeekWeights {
        let mut prefix = Vec::with_capacity(weights.len() + 1);
        let mut sum = Decimal::ZERO;
        prefix.push(sum);
        for weight in &weights {
            sum += *weight;
            prefix.push(sum);
        }
        WeekWeights { weights, prefix }
    }

    /// Returns the summed weights of `count` whole hours starting at hour-of-week `slot`.
    fn whole_hours(&self, slot: usize, count: i64) -> Decimal {
        let week = self.prefix[HOURS_PER_WEEK];
        let full_weeks = Decimal::from(count / HOURS_PER_WEEK as i64);
        let rest = (count % HOURS_PER_WEEK as i64) as usize;
        let end = slot + rest;
        let partial = if end <= HOURS_PER_WEEK {
            self.prefix[end] - self.prefix[slot]
        } else {
            (week - self.prefix[slot]) + self.prefix[end - HOURS_PER_WEEK]
        };
        full_weeks * week + partial
    }

    /// Returns the summed weights of the hours in `[from, to)`, counting a partial
    /// hour by its fraction.
    fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
        if from >= to {
            return Decimal::ZERO;
        }
        let portion = |start: DateTime<Utc>, end: DateTime<Utc>| {
            self.weights[hour_of_week(start)] * Decimal::from((end - start).num_seconds())
                / Decimal::from(3600)
        };

        let first_boundary = hour_start(from) + Duration::hours(1);
        if to <= first_boundary {
            return portion(from, to);
        }
        let head = if from == hour_start(from) {
            Decimal::ZERO
        } else {
            portion(from, first_boundary)
        };
        let whole_start = if from == hour_start(from) {
            from
        } else {
            first_boundary
        };
        let last_boundary = hour_start(to);
        let whole = self.whole_hours(
            hour_of_week(whole_start),
            (last_boundary - whole_start).num_hours(),
        );
        let tail = portion(last_boundary, to);
        head + whole + tail
    }
}

/// Forecasts spend at `period_end` from `spent` between `rate_start` (the start of
/// the period, or of its first spend) and `now`.
///
/// The run rate is spend per seasonal weight so far; the rest of the period gets
/// that rate times its seasonal weight. The interval's relative half-width is
/// `z · max(cv, 1) / √n` for `n` completed hours, so it narrows as hours accumulate
/// and is never narrower than a steady Poisson-like stream would give.
pub fn forecast(
    spent: Decimal,
    rate_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    now: DateTime<Utc>,
    run_rate: &RunRate,
    profile: &SeasonalProfile,
    z: Decimal,
) -> Option<Forecast> {
    if now >= period_end {
        return Some(Forecast {
            point: spent,
            low: spent,
            high: spent,
        });
    }
    let weights = WeekWeights::new(profile.weights());
    let elapsed_weight = weights.between(rate_start, now);
    if elapsed_weight <= Decimal::ZERO {
        return None;
    }
    let rate = spent.checked_div(elapsed_weight)?;
    let remaining = rate.checked_mul(weights.between(now, period_end))?;

    let hours = Decimal::from(run_rate.closed_hours.max(1));
    let spread = run_rate
        .coefficient_of_variation()
        .unwrap_or(Decimal::ONE)
        .max(Decimal::ONE);
    let relative_half_width = z * spread / hours.sqrt().unwrap_or(Decimal::ONE);
    let half_width = remaining.checked_mul(relative_half_width)?;
    let point = spent.checked_add(remaining)?;

    Some(Forecast {
        point,
        low: spent.checked_add((remaining - half_width).max(Decimal::ZERO))?,
        high: point.checked_add(half_width)?,
    })
}

/// Returns the z value of a two-sided prediction interval with `confidence_pct`
/// percent coverage (80, 90, 95 or 99; others use the nearest lower one).
pub fn z_for_confidence(confidence_pct: u32) -> Decimal {
    match confidence_pct {
        99.. => Decimal::new(2576, 3),
        95..=98 => Decimal::new(1960, 3),
        90..=94 => Decimal::new(1645, 3),
        _ => Decimal::new(1282, 3),
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

    /// Sums the weights hour by hour, the slow way the prefix sums replace.
    fn weight_by_hour(weights: &[Decimal], from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
        let mut total = Decimal::ZERO;
        let mut cursor = from;
        while cursor < to {
            let next = (hour_start(cursor) + Duration::hours(1)).min(to);
            total += weights[hour_of_week(cursor)] * Decimal::from((next - cursor).num_seconds())
                / Decimal::from(3600);
            cursor = next;
        }
        total
    }

    #[test]
    fn span_weights_match_hour_by_hour_sum() {
        let weights: Vec<Decimal> = (0..HOURS_PER_WEEK)
            .map(|slot| Decimal::from(1 + slot % 7) / Decimal::from(4))
            .collect();
        let week = WeekWeights::new(weights.clone());
        let spans = [
            ("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"),
            ("2026-05-01T10:20:00Z", "2026-05-01T10:50:00Z"),
            ("2026-05-01T10:20:00Z", "2026-05-01T11:00:00Z"),
            ("2026-05-03T23:59:00Z", "2026-05-19T07:30:00Z"),
            ("2026-05-04T00:00:00Z", "2026-05-11T00:00:00Z"),
            ("2026-05-04T05:00:00Z", "2026-05-04T05:00:00Z"),
        ];
        for (from, to) in spans {
            assert_eq!(
                week.between(utc(from), utc(to)),
                weight_by_hour(&weights, utc(from), utc(to)),
                "{from} to {to}"
            );
        }
    }
}
