//! Alert rules and their lifecycle: budget thresholds, budget forecasts, prepaid
//! commitment exhaustion, spend anomalies and unrated usage.
//!
//! Every alert has a deterministic key built from its rule, scope, period and
//! threshold. A key fires once. It is resolved when its condition or its period
//! ends. An escalation (80 % to 100 %) is a new key that supersedes the lower one. Rules run on each event and on watermark progress, never on a
//! clock, so a replay or a restored engine produces the same alerts.

mod anomaly_rule;
mod budget;
mod commitment;
pub mod config;
pub mod contributors;
pub mod forecast;
mod unrated;

use std::collections::{BTreeMap, BTreeSet};

use burnrate_model::{Alert, AlertKind, AlertStatus, Severity, UsageEvent};
use burnrate_pricing::{Charge, RatingState, UnratedReason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use anomaly_rule::{AnomalyKey, AnomalyTrack, FiringAnomaly};
pub use budget::BudgetTrack;
pub use commitment::PoolTrack;
pub use config::AlertConfig;
pub use unrated::UnratedTrack;

/// Key of a budget track: contract id and budget id.
pub type BudgetKey = (String, String);

/// Key of a prepaid pool track: contract id and the pool's start.
pub type PoolTrackKey = (String, DateTime<Utc>);

/// Key of an unrated-usage track: account, vendor, meter and reason code.
pub type UnratedKey = (String, String, String, String);

/// The alert state of one partition.
///
/// Its running figures saturate at the decimal range instead of failing: they only
/// decide and describe alerts, while billed totals are checked in the aggregates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertBook {
    /// Budget spend, thresholds and forecast per (contract, budget).
    pub budgets: BTreeMap<BudgetKey, BudgetTrack>,
    /// Draw-down of each prepaid pool.
    pub pools: BTreeMap<PoolTrackKey, PoolTrack>,
    /// Unrated usage per account, vendor, meter and reason.
    pub unrated: BTreeMap<UnratedKey, UnratedTrack>,
    /// Hourly spend and anomaly detector per account, vendor and meter.
    pub anomalies: BTreeMap<AnomalyKey, AnomalyTrack>,
    /// Tracks changed since the last snapshot or changelog record.
    #[serde(skip)]
    pub(crate) dirty: AlertDirty,
}

impl PartialEq for AlertBook {
    /// Compares the tracks; pending changelog keys do not count.
    fn eq(&self, other: &Self) -> bool {
        self.budgets == other.budgets
            && self.pools == other.pools
            && self.unrated == other.unrated
            && self.anomalies == other.anomalies
    }
}

impl Eq for AlertBook {}

/// Keys of tracks changed since the last checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AlertDirty {
    pub budgets: BTreeSet<BudgetKey>,
    pub pools: BTreeSet<PoolTrackKey>,
    pub unrated: BTreeSet<UnratedKey>,
    pub anomalies: BTreeSet<AnomalyKey>,
}

impl AlertDirty {
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
            && self.pools.is_empty()
            && self.unrated.is_empty()
            && self.anomalies.is_empty()
    }
}

/// Settings every rule reads besides its own track.
pub(crate) struct RuleContext<'a> {
    pub config: &'a AlertConfig,
    /// Whether changed tracks are recorded for the next changelog record.
    pub track_changes: bool,
}

impl AlertBook {
    /// Runs the rules that a rated event can trigger.
    pub(crate) fn on_rated(
        &mut self,
        context: &RuleContext<'_>,
        event: &UsageEvent,
        charge: &Charge,
        rating: &RatingState,
        alerts: &mut Vec<Alert>,
    ) {
        budget::on_rated(self, context, event, charge, alerts);
        commitment::on_rated(self, context, event, charge, rating, alerts);
        if context.config.anomaly_detection {
            anomaly_rule::on_rated(self, context, event, charge, alerts);
        }
    }

    /// Runs the unrated-usage rule.
    pub(crate) fn on_unrated(
        &mut self,
        context: &RuleContext<'_>,
        event: &UsageEvent,
        reason: &UnratedReason,
        alerts: &mut Vec<Alert>,
    ) {
        if context.config.unrated_usage {
            unrated::on_unrated(self, context, event, reason, alerts);
        }
    }

    /// Resolves alerts whose period or pool ended before `watermark`.
    pub(crate) fn on_watermark(
        &mut self,
        context: &RuleContext<'_>,
        watermark: DateTime<Utc>,
        alerts: &mut Vec<Alert>,
    ) {
        budget::on_watermark(self, context, watermark, alerts);
        commitment::on_watermark(self, context, watermark, alerts);
        unrated::on_watermark(self, context, watermark, alerts);
        if context.config.anomaly_detection {
            anomaly_rule::on_watermark(self, context, watermark, alerts);
        }
    }
}

/// Fields every alert has; the rule fills in its figures.
pub(crate) struct AlertHeader<'a> {
    pub key: String,
    pub kind: AlertKind,
    pub status: AlertStatus,
    pub severity: Severity,
    pub account: &'a str,
    pub contract_id: Option<&'a str>,
    pub period: (DateTime<Utc>, DateTime<Utc>),
    pub at: DateTime<Utc>,
    pub summary: String,
}

/// Builds an alert with every figure empty, for the rule to fill in.
pub(crate) fn new_alert(context: &RuleContext<'_>, header: AlertHeader<'_>) -> Alert {
    let kind_name = kind_name(header.kind);
    Alert {
        runbook_url: context
            .config
            .runbook_url(kind_name, header.account, &header.key),
        key: header.key,
        kind: header.kind,
        status: header.status,
        severity: header.severity,
        account: header.account.to_owned(),
        contract_id: header.contract_id.map(str::to_owned),
        scope: BTreeMap::new(),
        period_start: header.period.0,
        period_end: header.period.1,
        at: header.at,
        observed: None,
        budget: None,
        threshold_pct: None,
        forecast: None,
        forecast_low: None,
        forecast_high: None,
        baseline: None,
        expected_at: None,
        currency: None,
        top_contributors: Vec::new(),
        summary: header.summary,
    }
}

/// Returns the wire name of an alert kind.
pub fn kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::BudgetThreshold => "budget_threshold",
        AlertKind::BudgetForecast => "budget_forecast",
        AlertKind::CommitmentExhaustion => "commitment_exhaustion",
        AlertKind::Anomaly => "anomaly",
        AlertKind::UnratedUsage => "unrated_usage",
    }
}

/// Formats an instant for alert keys: RFC 3339 in UTC, whole seconds.
pub(crate) fn key_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
