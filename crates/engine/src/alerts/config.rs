//! Settings of the alert rules: the `[alerts]` table of `burnrate.toml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::anomaly::AnomalyConfig;

/// The `[alerts]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Runbook link put on every alert; `{kind}`, `{account}` and `{key}` are
    /// replaced by the alert's values. No link when unset.
    pub runbook_url_template: Option<String>,

    /// Coverage of the forecast's prediction interval, in percent (80, 90, 95 or 99).
    pub forecast_confidence_pct: u32,

    /// Whether a forecast alert needs the interval's lower bound above the budget
    /// (true) or only the point forecast (false).
    pub forecast_requires_lower_bound: bool,

    /// Event time into a billing period before its spend is forecast at all.
    #[serde(with = "humantime_serde")]
    pub forecast_min_elapsed: Duration,

    /// Also warn when a prepaid pool is forecast to run out within this span, even
    /// if that is after the pool ends. Zero warns only about running out early.
    #[serde(with = "humantime_serde")]
    pub commitment_warning: Duration,

    /// Whether usage that no price covers raises an alert.
    pub unrated_usage: bool,

    /// Whether the hourly spend of each account, vendor and meter is watched for anomalies.
    pub anomaly_detection: bool,

    /// The spend anomaly detector's settings (`[alerts.anomaly]`), the same that
    /// `burnrate detect` uses. Buckets are hours of event time.
    pub anomaly: AnomalyConfig,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            runbook_url_template: None,
            forecast_confidence_pct: 90,
            forecast_requires_lower_bound: true,
            forecast_min_elapsed: Duration::from_secs(6 * 60 * 60),
            commitment_warning: Duration::ZERO,
            unrated_usage: true,
            anomaly_detection: true,
            anomaly: AnomalyConfig::default(),
        }
    }
}

impl AlertConfig {
    /// Lists every setting that cannot work, each naming the setting and the fix.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if ![80, 90, 95, 99].contains(&self.forecast_confidence_pct) {
            problems.push(format!(
                "alerts.forecast_confidence_pct: {} is not supported; use 80, 90, 95 or 99",
                self.forecast_confidence_pct
            ));
        }
        if let Some(template) = &self.runbook_url_template {
            let rest = template
                .replace("{kind}", "")
                .replace("{account}", "")
                .replace("{key}", "");
            if rest.contains('{') || rest.contains('}') {
                problems.push(format!(
                    "alerts.runbook_url_template: {template:?} has an unknown placeholder; use {{kind}}, {{account}} or {{key}}"
                ));
            }
        }
        if let Err(found) = self.anomaly.validate() {
            problems.extend(found.iter().map(|problem| format!("alerts.{problem}")));
        }
        problems
    }

    /// Returns the runbook link for an alert, if a template is set.
    pub fn runbook_url(&self, kind: &str, account: &str, key: &str) -> Option<String> {
        self.runbook_url_template.as_ref().map(|template| {
            template
                .replace("{kind}", kind)
                .replace("{account}", account)
                .replace("{key}", key)
        })
    }
}
