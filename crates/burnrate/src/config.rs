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
//!
//! Environment variables override the file: `BURNRATE__SECTION__KEY=value` sets
//! `key` in `[section]` (names are case-insensitive; `BURNRATE__KAFKA__TOPICS__USAGE`
//! sets `[kafka.topics] usage`). Under `[kafka.properties]` an underscore stands for
//! a dot, so `BURNRATE__KAFKA__PROPERTIES__SASL_PASSWORD` sets `"sasl.password"`.
//! Values are read as TOML values when they parse as one (`6000`, `true`,
//! `["hour"]`) and as text otherwise; librdkafka properties are always text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burnrate_engine::{AlertConfig, ProcessingConfig};
use burnrate_kafka::KafkaConfig;
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
    /// Kafka settings of `burnrate run`.
    pub kafka: Option<KafkaConfig>,
    /// The metrics and health endpoint of `burnrate run`.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// The `[metrics]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`.
    pub address: SocketAddr,
    /// Most spend series per metric; smaller ones fold into one `other` series.
    pub max_spend_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig {
            address: SocketAddr::from(([0, 0, 0, 0], 9464)),
            max_spend_series: 200,
        }
    }
}

/// Prefix of environment variables that override the configuration file.
const ENV_PREFIX: &str = "BURNRATE__";

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
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        let mut table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))?;
        apply_overrides(&mut table, std::env::vars())?;
        let mut config: BurnrateConfig = table.try_into().with_context(|| {
            format!(
                "invalid configuration (file {} with BURNRATE__ overrides)",
                path.display()
            )
        })?;
        if let Some(kafka) = &mut config.kafka {
            if let Some(file) = &kafka.avro_schema_file {
                if file.is_relative() {
                    kafka.avro_schema_file =
                        Some(path.parent().unwrap_or(Path::new(".")).join(file));
                }
            }
        }
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
        if let Some(kafka) = &self.kafka {
            problems.extend(kafka.problems());
        }
        if self.metrics.max_spend_series == 0 {
            problems.push(
                "[metrics] max_spend_series is 0; use a positive count such as 200".to_owned(),
            );
        }
        problems
    }
}

/// Sets the values of `BURNRATE__SECTION__KEY` variables in `table`.
fn apply_overrides(
    table: &mut toml::Table,
    variables: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (name, raw) in variables {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let mut segments: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            anyhow::bail!("environment variable {name} has an empty name segment; write BURNRATE__SECTION__KEY");
        }
        let is_property =
            segments.len() == 3 && segments[0] == "kafka" && segments[1] == "properties";
        if is_property {
            segments[2] = segments[2].replace('_', ".");
        }
        let value = if is_property {
            toml::Value::String(raw)
        } else {
            parse_value(raw)
        };

        let (key, parents) = segments
            .split_last()
            .expect("split yields at least one segment");
        let mut current = &mut *table;
        for parent in parents {
            let entry = current
                .entry(parent.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = match entry {
                toml::Value::Table(inner) => inner,
                _ => anyhow::bail!(
                    "environment variable {name} sets a key under {parent:?}, which is not a table"
                ),
            };
        }
        current.insert(key.clone(), value);
    }
    Ok(())
}

/// Reads an override as a TOML value when it is one, and as text otherwise.
fn parse_value(raw: String) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("value = {raw}")) {
        Ok(mut parsed) => parsed.remove("value").unwrap_or(toml::Value::String(raw)),
        Err(_) => toml::Value::String(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overridden(text: &str, variables: &[(&str, &str)]) -> anyhow::Result<BurnrateConfig> {
        let mut table: toml::Table = toml::from_str(text)?;
        apply_overrides(
            &mut table,
            variables
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        )?;
        Ok(table.try_into()?)
    }

    #[test]
    fn environment_overrides_file_values() {
        let config = overridden(
            "[kafka]\nbrokers = \"file:9092\"\n",
            &[
                ("BURNRATE__KAFKA__BROKERS", "env:9092"),
                ("BURNRATE__KAFKA__TOPICS__USAGE", "usage-from-env"),
                ("BURNRATE__KAFKA__PROPERTIES__SASL_PASSWORD", "12345"),
                ("BURNRATE__KAFKA__CHECKPOINT_RECORDS", "500"),
                ("BURNRATE__PROCESSING__WINDOWS", "[\"hour\"]"),
                ("OTHER__KAFKA__BROKERS", "ignored"),
            ],
        )
        .unwrap();
        let kafka = config.kafka.unwrap();
        assert_eq!(kafka.brokers, "env:9092");
        assert_eq!(kafka.topics.usage, "usage-from-env");
        assert_eq!(kafka.checkpoint_records, 500);
        assert_eq!(kafka.properties["sasl.password"].as_text(), "12345");
        assert_eq!(config.processing.windows.len(), 1);
    }

    #[test]
    fn override_into_value_is_rejected() {
        let error = overridden(
            "[kafka]\nbrokers = \"b\"\n",
            &[("BURNRATE__KAFKA__BROKERS__HOST", "x")],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("BURNRATE__KAFKA__BROKERS__HOST"),
            "{error}"
        );
    }
}
