//! Budget rules: period spend of a budget's scope reaching each threshold, and the
//! period-end forecast exceeding the budget.

use burnrate_model::{Alert, AlertKind, AlertStatus, Budget, Contract, Severity, UsageEvent};
use burnrate_pricing::Charge;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::contributors::{add_to_breakdown, top_contributors, Breakdown};
use super::forecast::{forecast, z_for_confidence, Forecast, RunRate, SeasonalProfile};
use super::{key_time, new_alert, AlertBook, AlertHeader, RuleContext};

/// State of a budget's forecast alert in the current period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForecastStatus {
    /// Not fired in this period.
    #[default]
    Quiet,
    /// Fired and still holds.
    Firing,
    /// Fired and resolved; it does not fire again in this period.
    Resolved,
}

/// Spend of one budget's scope in its current billing period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetTrack {
    /// The account.
    pub account: String,
    /// Currency of the contract.
    pub currency: String,
    /// The budget's latest amount, as of the last event.
    pub amount: Decimal,
    /// The budget's dimension filter plus its id, as alerts report it.
    pub scope: std::collections::BTreeMap<String, String>,
    /// The current billing period.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Cost in the period so far (before prepaid credits).
    pub spent: Decimal,
    /// Cost per contributor in the period.
    pub breakdown: Breakdown,
    /// Thresholds fired in this period.
    pub fired_thresholds: Vec<u32>,
    /// The highest threshold alert still firing.
    pub firing_threshold: Option<u32>,
    /// The forecast alert's status in this period.
    pub forecast_status: ForecastStatus,
    /// Earliest event time seen in the period.
    pub first: Option<DateTime<Utc>>,
    /// Latest event time seen in the period.
    pub latest: Option<DateTime<Utc>>,
    /// Start of the hour in which the forecast was last evaluated.
    pub forecast_hour: Option<DateTime<Utc>>,
    /// Hourly spend statistics of the period.
    pub run_rate: RunRate,
    /// Hour-of-week spend profile, kept across periods.
    pub profile: SeasonalProfile,
}

/// Returns whether an event's dimensions match a budget's scope filter.
fn in_scope(budget: &Budget, event: &UsageEvent) -> bool {
    budget.scope.iter().all(|(name, value)| {
        let actual = if name == "model" {
            event.product.as_ref()
        } else {
            event.dimensions.get(name)
        };
        actual == Some(value)
    })
}

pub(super) fn on_rated(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    event: &UsageEvent,
    charge: &Charge,
    alerts: &mut Vec<Alert>,
) {
    let contract = &charge.contract;
    for budget in contract
        .budgets
        .iter()
        .filter(|budget| in_scope(budget, event))
    {
        let key = (contract.id.clone(), budget.id.clone());
        let track = book.budgets.entry(key.clone()).or_default();
        let period = (charge.period.start, charge.period.end);

        match track.period {
            // Late spend for an earlier period than the one being watched.
            // NOTE: it is in that period's aggregates, but raises no budget alert.
            Some((start, _)) if period.0 < start => continue,
            Some(current) if current != period => {
                let ids = PeriodEndInfo {
                    contract_id: &contract.id,
                    budget_id: &budget.id,
                };
                resolve_all_by_key(track, context, &ids, current.1, alerts);
                start_period(track, period);
            }
            None => start_period(track, period),
            Some(_) => {}
        }

        // Copied only when they change, which is rare, so that the per-event path does
        // not allocate.
        if track.account != contract.account {
            track.account = contract.account.clone();
        }
        if track.currency != contract.currency.code() {
            track.currency = contract.currency.code().to_owned();
        }
        track.amount = budget.amount;
        let scope_changed = track.scope.len() != budget.scope.len() + 1
            || budget
                .scope
                .iter()
                .any(|(name, value)| track.scope.get(name) != Some(value));
        if scope_changed {
            track.scope = budget.scope.clone();
            track.scope.insert("budget".to_owned(), budget.id.clone());
        }
        track.spent = track.spent.saturating_add(charge.cost);
        add_to_breakdown(
            &mut track.breakdown,
            &event.dimensions,
            event.product.as_deref(),
            charge.cost,
        );
        track.first = Some(
            track
                .first
                .map_or(event.time, |first| first.min(event.time)),
        );
        let latest = track
            .latest
            .map_or(event.time, |latest| latest.max(event.time));
        track.latest = Some(latest);
        let BudgetTrack {
            run_rate, profile, ..
        } = track;
        run_rate.add(event.time, charge.cost, profile);

        check_thresholds(track, context, contract, budget, event.time, alerts);
        if budget.forecast {
            check_forecast(track, context, contract, budget, latest, alerts);
        }
        if context.track_changes {
            book.dirty.budgets.insert(key);
        }
    }
}

pub(super) fn on_watermark(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    watermark: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    for (key, track) in book.budgets.iter_mut() {
        let Some((_, end)) = track.period else {
            continue;
        };
        let firing =
            track.firing_threshold.is_some() || track.forecast_status == ForecastStatus::Firing;
        if end <= watermark && firing {
            let header = PeriodEndInfo {
                contract_id: &key.0,
                budget_id: &key.1,
            };
            resolve_all_by_key(track, context, &header, end, alerts);
            if context.track_changes {
                book.dirty.budgets.insert(key.clone());
            }
        }
    }
}

fn start_period(track: &mut BudgetTrack, period: (DateTime<Utc>, DateTime<Utc>)) {
    let profile = std::mem::take(&mut track.profile);
    *track = BudgetTrack {
        period: Some(period),
        profile,
        ..BudgetTrack::default()
    };
}

fn threshold_key(
    track: &BudgetTrack,
    contract_id: &str,
    budget_id: &str,
    threshold: u32,
) -> String {
    let start = track
        .period
        .map(|(start, _)| key_time(start))
        .unwrap_or_default();
    format!(
        "budget_threshold/{}/{contract_id}/{budget_id}/{start}/{threshold}",
        track.account
    )
}

fn forecast_key(track: &BudgetTrack, contract_id: &str, budget_id: &str) -> String {
    let start = track
        .period
        .map(|(start, _)| key_time(start))
        .unwrap_or_default();
    format!(
        "budget_forecast/{}/{contract_id}/{budget_id}/{start}",
        track.account
    )
}

fn check_thresholds(
    track: &mut BudgetTrack,
    context: &RuleContext<'_>,
    contract: &Contract,
    budget: &Budget,
    at: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    for threshold in &budget.thresholds_pct {
        let reached = match (
            track.spent.checked_mul(Decimal::ONE_HUNDRED),
            budget.amount.checked_mul(Decimal::from(*threshold)),
        ) {
            (Some(spent_pct), Some(limit)) => spent_pct >= limit,
            (None, _) => true,
            (Some(_), None) => false,
        };
        if !reached || track.fired_thresholds.contains(threshold) {
            continue;
        }
        track.fired_thresholds.push(*threshold);

        if let Some(lower) = track.firing_threshold.filter(|lower| lower < threshold) {
            let summary = format!("superseded by the {threshold} % threshold");
            let alert = threshold_alert(
                track,
                context,
                contract,
                budget,
                lower,
                AlertStatus::Resolved,
                at,
                summary,
            );
            alerts.push(alert);
        }
        track.firing_threshold = Some(*threshold);

        let summary = format!(
            "budget {:?} of account {:?} reached {threshold} %: {} of {} {} spent this billing period",
            budget.id,
            contract.account,
            track.spent.round_dp(2),
            budget.amount,
            track.currency
        );
        alerts.push(threshold_alert(
            track,
            context,
            contract,
            budget,
            *threshold,
            AlertStatus::Firing,
            at,
            summary,
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn threshold_alert(
    track: &BudgetTrack,
    context: &RuleContext<'_>,
    contract: &Contract,
    budget: &Budget,
    threshold: u32,
    status: AlertStatus,
    at: DateTime<Utc>,
    summary: String,
) -> Alert {
    let period = track.period.unwrap_or((at, at));
    let mut alert = new_alert(
        context,
        AlertHeader {
            key: threshold_key(track, &contract.id, &budget.id, threshold),
            kind: AlertKind::BudgetThreshold,
            status,
            severity: if threshold >= 100 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            account: &contract.account,
            contract_id: Some(&contract.id),
            period,
            at,
            summary,
        },
    );
    fill_budget_figures(&mut alert, track);
    alert.threshold_pct = Some(threshold);
    alert
}

fn fill_budget_figures(alert: &mut Alert, track: &BudgetTrack) {
    alert.scope = track.scope.clone();
    alert.observed = Some(track.spent);
    alert.budget = Some(track.amount);
    alert.currency = Some(track.currency.clone());
    alert.top_contributors = top_contributors(&track.breakdown, track.spent);
}

fn check_forecast(
    track: &mut BudgetTrack,
    context: &RuleContext<'_>,
    contract: &Contract,
    budget: &Budget,
    now: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    // Evaluated once per hour of event time: the projection sums over every hour left.
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    if track.forecast_hour == Some(hour) {
        return;
    }
    track.forecast_hour = Some(hour);

    let Some((start, end)) = track.period else {
        return;
    };

    // The run rate is measured from the hour of the first spend in the period, so a
    // scope that started spending mid-period is not diluted by the quiet days before.
    let first_hour = track.first.map_or(start, |first| {
        first.duration_trunc(Duration::hours(1)).unwrap_or(first)
    });
    let rate_start = first_hour.max(start);
    let min_elapsed =
        Duration::from_std(context.config.forecast_min_elapsed).unwrap_or(Duration::MAX);
    if now - rate_start < min_elapsed {
        return;
    }
    let z = z_for_confidence(context.config.forecast_confidence_pct);
    let Some(outlook) = forecast(
        track.spent,
        rate_start,
        end,
        now,
        &track.run_rate,
        &track.profile,
        z,
    ) else {
        return;
    };

    let evidence = if context.config.forecast_requires_lower_bound {
        outlook.low
    } else {
        outlook.point
    };
    match track.forecast_status {
        ForecastStatus::Quiet if evidence > budget.amount => {
            track.forecast_status = ForecastStatus::Firing;
            let summary = format!(
                "budget {:?} of account {:?} is forecast to reach {} {} by the end of the period (interval {} to {}), above its {}",
                budget.id,
                contract.account,
                outlook.point.round_dp(2),
                track.currency,
                outlook.low.round_dp(2),
                outlook.high.round_dp(2),
                budget.amount
            );
            alerts.push(forecast_alert(
                track,
                context,
                contract,
                budget,
                AlertStatus::Firing,
                now,
                &outlook,
                summary,
            ));
        }
        ForecastStatus::Firing if outlook.point <= budget.amount => {
            track.forecast_status = ForecastStatus::Resolved;
            let summary = format!(
                "forecast fell back to {} {}, within the budget of {}",
                outlook.point.round_dp(2),
                track.currency,
                budget.amount
            );
            alerts.push(forecast_alert(
                track,
                context,
                contract,
                budget,
                AlertStatus::Resolved,
                now,
                &outlook,
                summary,
            ));
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn forecast_alert(
    track: &BudgetTrack,
    context: &RuleContext<'_>,
    contract: &Contract,
    budget: &Budget,
    status: AlertStatus,
    at: DateTime<Utc>,
    outlook: &Forecast,
    summary: String,
) -> Alert {
    let period = track.period.unwrap_or((at, at));
    let mut alert = new_alert(
        context,
        AlertHeader {
            key: forecast_key(track, &contract.id, &budget.id),
            kind: AlertKind::BudgetForecast,
            status,
            severity: Severity::Warning,
            account: &contract.account,
            contract_id: Some(&contract.id),
            period,
            at,
            summary,
        },
    );
    fill_budget_figures(&mut alert, track);
    let decimals = 4;
    alert.forecast = Some(outlook.point.round_dp(decimals));
    alert.forecast_low = Some(outlook.low.round_dp(decimals));
    alert.forecast_high = Some(outlook.high.round_dp(decimals));
    alert
}

/// Ids of the budget being resolved when no contract is at hand (watermark progress).
struct PeriodEndInfo<'a> {
    contract_id: &'a str,
    budget_id: &'a str,
}

fn resolve_all_by_key(
    track: &mut BudgetTrack,
    context: &RuleContext<'_>,
    ids: &PeriodEndInfo<'_>,
    at: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    let period = track.period.unwrap_or((at, at));
    let resolved = |key: String,
                    kind: AlertKind,
                    severity: Severity,
                    threshold: Option<u32>,
                    track: &BudgetTrack| {
        let mut alert = new_alert(
            context,
            AlertHeader {
                key,
                kind,
                status: AlertStatus::Resolved,
                severity,
                account: &track.account,
                contract_id: Some(ids.contract_id),
                period,
                at,
                summary: "the billing period ended".to_owned(),
            },
        );
        fill_budget_figures(&mut alert, track);
        alert.threshold_pct = threshold;
        alert
    };

    if let Some(threshold) = track.firing_threshold.take() {
        let severity = if threshold >= 100 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let key = threshold_key(track, ids.contract_id, ids.budget_id, threshold);
        alerts.push(resolved(
            key,
            AlertKind::BudgetThreshold,
            severity,
            Some(threshold),
            track,
        ));
    }
    if track.forecast_status == ForecastStatus::Firing {
        track.forecast_status = ForecastStatus::Resolved;
        let key = forecast_key(track, ids.contract_id, ids.budget_id);
        alerts.push(resolved(
            key,
            AlertKind::BudgetForecast,
            Severity::Warning,
            None,
            track,
        ));
    }
}
