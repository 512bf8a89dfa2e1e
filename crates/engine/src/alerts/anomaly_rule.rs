//! Spend-anomaly rule: the hourly spend of each account, vendor and meter against its
//! own seasonal baseline.
//!
//! The hour being filled is checked on every event against the detector's upper
//! bound, so a spike fires within its hour. When an hour closes (a later event of the
//! series, or the watermark passing it), the detector judges and learns it. The
//! first normal hour after a firing one resolves the alert.

use burnrate_model::{Alert, AlertKind, AlertStatus, Severity, UsageEvent};
use burnrate_pricing::Charge;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::contributors::{add_to_breakdown, top_contributors, Breakdown};
use super::{key_time, new_alert, AlertBook, AlertHeader, RuleContext};
use crate::anomaly::{DetectorState, SpendAnomalyDetector};

/// Key of a spend series watched for anomalies: account, vendor and meter.
pub type AnomalyKey = (String, String, String);

/// The alert of a series that is firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringAnomaly {
    /// Start of the hour that fired.
    pub bucket: DateTime<Utc>,
    /// Alert key.
    pub key: String,
    /// Spend of that hour when it fired.
    pub observed: Decimal,
    /// Baseline of that hour.
    pub baseline: Decimal,
}

/// One watched spend series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnomalyTrack {
    /// Contract of the latest event.
    pub contract_id: String,
    /// Currency of the spend.
    pub currency: String,
    /// Start of the hour being filled.
    pub open_bucket: Option<DateTime<Utc>>,
    /// Spend in that hour so far.
    pub bucket_spend: Decimal,
    /// Spend per contributor in that hour.
    pub breakdown: Breakdown,
    /// The detector's learned state.
    pub detector: DetectorState,
    /// The alert that is firing, if any.
    pub firing: Option<FiringAnomaly>,
}

fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

fn to_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(f64::MAX)
}

/// Converts a detector estimate to an amount with 6 decimals; estimates are not billed.
fn to_amount(estimate: f64) -> Decimal {
    Decimal::from_f64(estimate)
        .map(|value| value.round_dp(6))
        .unwrap_or_default()
}

pub(super) fn on_rated(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    event: &UsageEvent,
    charge: &Charge,
    alerts: &mut Vec<Alert>,
) {
    let key = (
        event.account.clone(),
        event.source.clone(),
        event.meter.clone(),
    );
    let track = book.anomalies.entry(key.clone()).or_default();
    if track.contract_id != charge.contract.id {
        track.contract_id = charge.contract.id.clone();
    }
    if track.currency != charge.contract.currency.code() {
        track.currency = charge.contract.currency.code().to_owned();
    }

    let hour = hour_of(event.time);
    match track.open_bucket {
        None => track.open_bucket = Some(hour),
        Some(open) if hour > open => close_buckets(track, context, &key, hour, alerts),
        // NOTE: spend for an hour before the open one is counted in the open hour; the
        // detector has already judged the earlier hour.
        Some(_) => {}
    }
    track.bucket_spend = track.bucket_spend.saturating_add(charge.cost);
    add_to_breakdown(
        &mut track.breakdown,
        &event.dimensions,
        event.product.as_deref(),
        charge.cost,
    );
    if context.track_changes {
        book.dirty.anomalies.insert(key.clone());
    }

    let Some(bucket) = track.open_bucket else {
        return;
    };
    if track.firing.is_some() {
        return;
    }
    let detector = SpendAnomalyDetector::from_state(
        context.config.anomaly.clone(),
        std::mem::take(&mut track.detector),
    );
    let expectation = detector.expected(bucket);
    track.detector = detector.into_state();
    if let Some(expectation) = expectation {
        if to_f64(track.bucket_spend) > expectation.upper {
            fire(
                track,
                context,
                &key,
                bucket,
                to_amount(expectation.baseline),
                event.time,
                alerts,
            );
        }
    }
}

pub(super) fn on_watermark(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    watermark: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    let current_hour = hour_of(watermark);
    for (key, track) in book.anomalies.iter_mut() {
        let Some(open) = track.open_bucket else {
            continue;
        };
        if open + Duration::hours(1) <= current_hour {
            close_buckets(track, context, key, current_hour, alerts);
            if context.track_changes {
                book.dirty.anomalies.insert(key.clone());
            }
        }
    }
}

/// Judges the open hour and the empty hours up to `next_hour`, which becomes the open one.
fn close_buckets(
    track: &mut AnomalyTrack,
    context: &RuleContext<'_>,
    key: &AnomalyKey,
    next_hour: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    let Some(open) = track.open_bucket else {
        return;
    };
    let mut detector = SpendAnomalyDetector::from_state(
        context.config.anomaly.clone(),
        std::mem::take(&mut track.detector),
    );

    // Empty hours after the open one count as zero spend, up to the point where the
    // detector treats the series as dormant anyway.
    let empty_hours = ((next_hour - open).num_hours() - 1).clamp(
        0,
        i64::from(context.config.anomaly.dormant_after_buckets) + 1,
    );
    let closing = std::iter::once((open, track.bucket_spend))
        .chain((1..=empty_hours).map(|offset| (open + Duration::hours(offset), Decimal::ZERO)));
    for (bucket, spend) in closing {
        let detection = detector.observe(bucket, to_f64(spend));
        let resolves = track
            .firing
            .as_ref()
            .is_some_and(|firing| bucket > firing.bucket && !detection.anomalous);
        if resolves {
            let firing = track.firing.take().expect("checked above");
            let summary = format!(
                "hourly spend of {} {} is back to its baseline of about {}",
                spend.round_dp(2),
                track.currency,
                to_amount(detection.baseline).round_dp(2)
            );
            alerts.push(anomaly_alert(
                track,
                context,
                key,
                &firing,
                AlertStatus::Resolved,
                bucket + Duration::hours(1),
                spend,
                summary,
            ));
        } else if track.firing.is_none() && detection.anomalous && spend > Decimal::ZERO {
            // Judged only at close: a first-ever spend large in absolute terms.
            fire(
                track,
                context,
                key,
                bucket,
                to_amount(detection.baseline),
                bucket + Duration::hours(1),
                alerts,
            );
        }
    }

    track.detector = detector.into_state();
    track.open_bucket = Some(next_hour);
    track.bucket_spend = Decimal::ZERO;
    track.breakdown.clear();
}

fn fire(
    track: &mut AnomalyTrack,
    context: &RuleContext<'_>,
    key: &AnomalyKey,
    bucket: DateTime<Utc>,
    baseline: Decimal,
    at: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    let (account, vendor, meter) = key;
    let firing = FiringAnomaly {
        bucket,
        key: format!("anomaly/{account}/{vendor}/{meter}/{}", key_time(bucket)),
        observed: track.bucket_spend,
        baseline,
    };
    let summary = format!(
        "spend of account {account:?} on {vendor} {meter} reached {} {} in the hour from {}, against a baseline of about {}",
        track.bucket_spend.round_dp(2),
        track.currency,
        key_time(bucket),
        baseline.round_dp(2)
    );
    alerts.push(anomaly_alert(
        track,
        context,
        key,
        &firing,
        AlertStatus::Firing,
        at,
        track.bucket_spend,
        summary,
    ));
    track.firing = Some(firing);
}

#[allow(clippy::too_many_arguments)]
fn anomaly_alert(
    track: &AnomalyTrack,
    context: &RuleContext<'_>,
    key: &AnomalyKey,
    firing: &FiringAnomaly,
    status: AlertStatus,
    at: DateTime<Utc>,
    observed: Decimal,
    summary: String,
) -> Alert {
    let (account, vendor, meter) = key;
    let ten_times_baseline = firing
        .baseline
        .checked_mul(Decimal::TEN)
        .unwrap_or(Decimal::MAX);
    let severity = if firing.observed >= ten_times_baseline && firing.baseline > Decimal::ZERO {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut alert = new_alert(
        context,
        AlertHeader {
            key: firing.key.clone(),
            kind: AlertKind::Anomaly,
            status,
            severity,
            account,
            contract_id: Some(&track.contract_id),
            period: (firing.bucket, firing.bucket + Duration::hours(1)),
            at,
            summary,
        },
    );
    alert.scope.insert("vendor".to_owned(), vendor.clone());
    alert.scope.insert("meter".to_owned(), meter.clone());
    alert.observed = Some(observed);
    alert.baseline = Some(firing.baseline);
    alert.currency = Some(track.currency.clone());
    alert.top_contributors = top_contributors(&track.breakdown, track.bucket_spend);
    alert
}
