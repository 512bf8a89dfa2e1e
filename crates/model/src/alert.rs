//! The alert: a condition on spend that an on-call engineer or FinOps team acts on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decimal::serde_exact;

/// The subject of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Period spend of a budget's scope reached one of its thresholds.
    BudgetThreshold,
    /// The period-end forecast exceeds the budget.
    BudgetForecast,
    /// A prepaid pool is forecast to run out before it ends.
    CommitmentExhaustion,
    /// Spend rate departs from its seasonal baseline.
    Anomaly,
    /// Usage that no price covers.
    UnratedUsage,
}

/// Whether the condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition started to hold.
    Firing,
    /// The condition no longer holds, or its period ended.
    Resolved,
}

/// The urgency of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Info,
    /// Needs action soon.
    Warning,
    /// Needs action now.
    Critical,
}

/// One of the largest contributors to an alert's figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributor {
    /// The breakdown dimension (`team`, `project`, `user`, `model`).
    pub dimension: String,
    /// The dimension's value.
    pub value: String,
    /// Its cost within the alert's scope and period.
    #[serde(with = "serde_exact")]
    pub cost: Decimal,
    /// Its share of the scope's cost, from 0 to 1.
    #[serde(with = "serde_exact")]
    pub share: Decimal,
}

/// An alert record, keyed by `key` on the alerts topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic key from rule, scope, period and threshold.
    pub key: String,
    /// The subject of the alert.
    pub kind: AlertKind,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Its urgency.
    pub severity: Severity,
    /// The account concerned.
    pub account: String,
    /// The contract concerned, when one applies.
    pub contract_id: Option<String>,
    /// Scope within the account (budget dimension filter, or the anomaly's series labels).
    pub scope: BTreeMap<String, String>,
    /// Start of the billing period concerned.
    pub period_start: DateTime<Utc>,
    /// End of the billing period concerned.
    pub period_end: DateTime<Utc>,
    /// Event time at which the condition was decided.
    pub at: DateTime<Utc>,
    /// The observed figure (period spend, spend rate, unrated quantity).
    #[serde(with = "serde_exact::option")]
    pub observed: Option<Decimal>,
    /// The budget the figure is compared with.
    #[serde(with = "serde_exact::option")]
    pub budget: Option<Decimal>,
    /// The budget threshold reached, in percent.
    pub threshold_pct: Option<u32>,
    /// The period-end forecast.
    #[serde(with = "serde_exact::option")]
    pub forecast: Option<Decimal>,
    /// Lower bound of the forecast's prediction interval.
    #[serde(with = "serde_exact::option")]
    pub forecast_low: Option<Decimal>,
    /// Upper bound of the forecast's prediction interval.
    #[serde(with = "serde_exact::option")]
    pub forecast_high: Option<Decimal>,
    /// The expected value of the figure (seasonal baseline of an anomaly).
    #[serde(with = "serde_exact::option")]
    pub baseline: Option<Decimal>,
    /// Expected exhaustion date of a prepaid pool.
    pub expected_at: Option<DateTime<Utc>>,
    /// Currency of the amounts.
    pub currency: Option<String>,
    /// The five largest contributors within the scope.
    pub top_contributors: Vec<Contributor>,
    /// A one-line explanation for people.
    pub summary: String,
    /// Link to the on-call runbook for this alert.
    pub runbook_url: Option<String>,
}
