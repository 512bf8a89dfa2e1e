//! `burnrate.toml`: the configuration file shared by `replay`, `run` and `check-config`.
//!
//! ```toml
//! [contracts]
//! file = "contracts.jsonl"   # relative to this file
//!
//! [processing]
//! windows = ["hour", "day"]
//! out_of_orderness = "5m"
//! allowed_lateness = "1h"
//! ```
//!
//! Unknown keys are rejected, so a misspelt setting fails instead of silently
//! taking its default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burnrate_engine::{AlertConfig, ProcessingConfig};
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnrateConfig {
    /// The source of contracts.
    #[serde(default)]
    pub contracts: ContractsConfig,
    /// Event-time processing settings.
    #[serde(default)]
    pub processing: ProcessingConfig,
    /// Alert rule settings.
    #[serde(default)]
    pub alerts: AlertConfig,
}

/// The `[contracts]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractsConfig {
    /// A contracts file (`.jsonl` or `.yaml`), relative to the configuration file.
    pub file: Option<PathBuf>,
}

impl BurnrateConfig {
    /// Reads a configuration file; relative paths in it are taken from its directory.
    pub fn load(path: &Path) -> anyhow::Result<BurnrateConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read configuration file {}", path.display()))?;
        let mut config: BurnrateConfig =
            toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))?;
        if let Some(file) = &config.contracts.file {
            if file.is_relative() {
                let base = path.parent().unwrap_or(Path::new("."));
                config.contracts.file = Some(base.join(file));
            }
        }
        Ok(config)
    }

    /// Lists every problem of the settings, each naming the setting and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(found) = self.processing.validate() {
            problems.extend(found.iter().map(ToString::to_string));
        }
        problems.extend(self.alerts.validate());
        problems
    }
}
