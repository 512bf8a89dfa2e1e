//! Commitment rule: a prepaid pool forecast to run out before it ends (or within a
//! configured span), with the expected date.

use burnrate_model::{Alert, AlertKind, AlertStatus, Severity, UsageEvent};
use burnrate_pricing::{Charge, PoolKey, RatingState};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::contributors::{add_to_breakdown, top_contributors, Breakdown};
use super::{key_time, new_alert, AlertBook, AlertHeader, RuleContext};

/// Draw-down of one prepaid pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolTrack {
    /// The account.
    pub account: String,
    /// Currency of the pool.
    pub currency: String,
    /// Amount bought.
    pub amount: Decimal,
    /// When the pool expires.
    pub ends: Option<DateTime<Utc>>,
    /// Cost charged against the pool so far.
    pub charged: Decimal,
    /// Event time of the first charge.
    pub first_charge: Option<DateTime<Utc>>,
    /// Latest event time charged.
    pub latest: Option<DateTime<Utc>>,
    /// Start of the hour in which the forecast was last evaluated.
    pub evaluated_hour: Option<DateTime<Utc>>,
    /// Whether the alert has fired; it fires once per pool.
    pub fired: bool,
    /// Whether it is still firing.
    pub firing: bool,
    /// Cost per contributor drawn from the pool.
    pub breakdown: Breakdown,
}

pub(super) fn on_rated(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    event: &UsageEvent,
    charge: &Charge,
    rating: &RatingState,
    alerts: &mut Vec<Alert>,
) {
    let contract = &charge.contract;
    let Some(prepaid) = contract
        .prepaid
        .as_ref()
        .filter(|prepaid| prepaid.covers(event.time))
    else {
        return;
    };
    let key = (contract.id.clone(), prepaid.starts);
    let track = book.pools.entry(key.clone()).or_default();
    if track.account != contract.account {
        track.account = contract.account.clone();
    }
    if track.currency != contract.currency.code() {
        track.currency = contract.currency.code().to_owned();
    }
    track.amount = prepaid.amount;
    track.ends = Some(prepaid.ends);
    track.charged = rating.pool_charged(&PoolKey {
        contract_id: contract.id.as_str().into(),
        starts: prepaid.starts,
    });
    track.first_charge = Some(
        track
            .first_charge
            .map_or(event.time, |first| first.min(event.time)),
    );
    let latest = track
        .latest
        .map_or(event.time, |latest| latest.max(event.time));
    track.latest = Some(latest);
    add_to_breakdown(
        &mut track.breakdown,
        &event.dimensions,
        event.product.as_deref(),
        charge.cost,
    );
    if context.track_changes {
        book.dirty.pools.insert(key.clone());
    }

    // A pool that has just run out is reported at once; otherwise the forecast is
    // evaluated once per hour of event time.
    let used_up = track.charged >= track.amount && !track.fired;
    let hour = latest.duration_trunc(Duration::hours(1)).unwrap_or(latest);
    if track.evaluated_hour == Some(hour) && !used_up {
        return;
    }
    track.evaluated_hour = Some(hour);
    evaluate(track, context, &key.0, key.1, latest, alerts);
}

pub(super) fn on_watermark(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    watermark: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    for (key, track) in book.pools.iter_mut() {
        if track.firing && track.ends.is_some_and(|ends| ends <= watermark) {
            track.firing = false;
            let at = track.ends.unwrap_or(watermark);
            alerts.push(pool_alert(
                track,
                context,
                &key.0,
                key.1,
                AlertStatus::Resolved,
                at,
                None,
                "the prepaid pool ended".to_owned(),
            ));
            if context.track_changes {
                book.dirty.pools.insert(key.clone());
            }
        }
    }
}

/// Returns when the pool runs out at the average draw-down rate since the first
/// charge, or `None` before there is enough history or any spend.
fn expected_exhaustion(
    track: &PoolTrack,
    now: DateTime<Utc>,
    min_elapsed: Duration,
) -> Option<DateTime<Utc>> {
    let first = track.first_charge?;
    let remaining = track.amount - track.charged;
    if remaining <= Decimal::ZERO {
        return Some(now);
    }
    let elapsed = now - first;
    if elapsed < min_elapsed || elapsed <= Duration::zero() || track.charged <= Decimal::ZERO {
        return None;
    }
    let seconds_left = remaining
        .checked_mul(Decimal::from(elapsed.num_seconds()))?
        .checked_div(track.charged)?;
    let seconds_left = seconds_left.round().to_i64()?;
    now.checked_add_signed(Duration::try_seconds(seconds_left)?)
}

fn evaluate(
    track: &mut PoolTrack,
    context: &RuleContext<'_>,
    contract_id: &str,
    starts: DateTime<Utc>,
    now: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    let min_elapsed =
        Duration::from_std(context.config.forecast_min_elapsed).unwrap_or(Duration::MAX);
    let warning = Duration::from_std(context.config.commitment_warning).unwrap_or(Duration::zero());
    let expected = expected_exhaustion(track, now, min_elapsed);
    let runs_out_early = match (expected, track.ends) {
        (Some(expected), Some(ends)) => {
            expected < ends || (!warning.is_zero() && expected - now <= warning)
        }
        _ => false,
    };

    if runs_out_early && !track.fired {
        track.fired = true;
        track.firing = true;
        let when = expected.map(key_time).unwrap_or_default();
        let summary = if track.charged >= track.amount {
            format!(
                "prepaid pool of account {:?} ({} {}) is used up: usage since it started costs {} {}, and what exceeds the pool is billed",
                track.account,
                track.amount,
                track.currency,
                track.charged.round_dp(2),
                track.currency
            )
        } else {
            format!(
                "prepaid pool of account {:?} ({} {}) is forecast to run out at {when}, before it ends; {} used so far",
                track.account,
                track.amount,
                track.currency,
                track.charged.round_dp(2)
            )
        };
        alerts.push(pool_alert(
            track,
            context,
            contract_id,
            starts,
            AlertStatus::Firing,
            now,
            expected,
            summary,
        ));
    } else if !runs_out_early && track.firing && expected.is_some() {
        track.firing = false;
        let summary =
            "the draw-down slowed; the pool is no longer forecast to run out early".to_owned();
        alerts.push(pool_alert(
            track,
            context,
            contract_id,
            starts,
            AlertStatus::Resolved,
            now,
            expected,
            summary,
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn pool_alert(
    track: &PoolTrack,
    context: &RuleContext<'_>,
    contract_id: &str,
    starts: DateTime<Utc>,
    status: AlertStatus,
    at: DateTime<Utc>,
    expected: Option<DateTime<Utc>>,
    summary: String,
) -> Alert {
    let ends = track.ends.unwrap_or(at);
    let mut alert = new_alert(
        context,
        AlertHeader {
            key: format!(
                "commitment_exhaustion/{}/{contract_id}/{}",
                track.account,
                key_time(starts)
            ),
            kind: AlertKind::CommitmentExhaustion,
            status,
            severity: Severity::Warning,
            account: &track.account,
            contract_id: Some(contract_id),
            period: (starts, ends),
            at,
            summary,
        },
    );
    alert.observed = Some(track.charged);
    alert.budget = Some(track.amount);
    alert.expected_at = expected;
    alert.currency = Some(track.currency.clone());
    alert.top_contributors = top_contributors(&track.breakdown, track.charged);
    alert
}
