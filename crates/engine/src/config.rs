//! Processing settings of the engine: windows, lateness, dedup, breakdown and retention.
//!
//! These are the `[processing]` table of `burnrate.toml`. Durations are written as
//! human strings (`"5m"`, `"36h"`, `"62d"`).

use std::time::Duration;

use burnrate_model::WindowKind;
use serde::{Deserialize, Serialize};

/// The `[processing]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Tumbling windows to aggregate over, aligned to UTC: any of `minute`, `hour`,
    /// `day`. The billing period is always aggregated.
    pub windows: Vec<WindowKind>,

    /// How far event time may run out of order. The watermark is the largest event
    /// time seen minus this bound.
    #[serde(with = "humantime_serde")]
    pub out_of_orderness: Duration,

    /// How long after the watermark passes a window's end the window stays open for
    /// late events before its final aggregate is emitted. Later events become corrections.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,

    /// Processing time without events after which a partition's watermark advances
    /// on its own, as if event time kept pace with the clock.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,

    /// Span of event time behind the watermark for which an event id is remembered
    /// for deduplication. A repeat of an event older than this is counted again.
    #[serde(with = "humantime_serde")]
    pub dedup_horizon: Duration,

    /// Breakdown dimensions kept in aggregates (from `data.dimensions`); others are dropped.
    pub dimensions: Vec<String>,

    /// How far behind the watermark an event is still accepted and added to its
    /// billing period. Older events go to dead letters. The default covers the whole
    /// previous billing period.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        ProcessingConfig {
            windows: vec![WindowKind::Hour, WindowKind::Day],
            out_of_orderness: Duration::from_secs(5 * 60),
            allowed_lateness: Duration::from_secs(60 * 60),
            idle_timeout: Duration::from_secs(5 * 60),
            dedup_horizon: Duration::from_secs(7 * 24 * 60 * 60),
            dimensions: vec!["team".to_owned(), "project".to_owned(), "user".to_owned()],
            retention: Duration::from_secs(62 * 24 * 60 * 60),
        }
    }
}

/// Formats a span the way it is configured: whole days as `62d`, else humantime's form.
pub fn format_span(span: Duration) -> String {
    const DAY: u64 = 24 * 60 * 60;
    let seconds = span.as_secs();
    if span.subsec_nanos() == 0 && seconds > 0 && seconds.is_multiple_of(DAY) {
        format!("{}d", seconds / DAY)
    } else {
        humantime::format_duration(span).to_string()
    }
}

/// A setting that cannot work, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("processing.{setting}: {problem}")]
pub struct ConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// The problem and what to set instead.
    pub problem: String,
}

impl ProcessingConfig {
    /// Checks the settings against each other, reporting every problem.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut problems = Vec::new();
        if self.windows.contains(&WindowKind::Period) {
            problems.push(ConfigError {
                setting: "windows",
                problem: "\"period\" is always aggregated; list only minute, hour or day"
                    .to_owned(),
            });
        }
        for (index, name) in self.dimensions.iter().enumerate() {
            if name.trim().is_empty() {
                problems.push(ConfigError {
                    setting: "dimensions",
                    problem: "contains an empty name; list dimension names such as \"team\""
                        .to_owned(),
                });
            } else if self.dimensions[..index].contains(name) {
                problems.push(ConfigError {
                    setting: "dimensions",
                    problem: format!("lists {name:?} twice"),
                });
            }
        }
        if self.dedup_horizon > self.retention {
            problems.push(ConfigError {
                setting: "dedup_horizon",
                problem: format!(
                    "{} is longer than retention {}; ids of events older than retention are never needed",
                    format_span(self.dedup_horizon),
                    format_span(self.retention)
                ),
            });
        }
        if self.retention < self.allowed_lateness {
            problems.push(ConfigError {
                setting: "retention",
                problem: "shorter than allowed_lateness, so windows would close after their events are discarded".to_owned(),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
