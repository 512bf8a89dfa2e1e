//! The `[kafka]` table of `burnrate.toml`: brokers, topics, the processing
//! guarantee, input and output formats, and librdkafka properties passed through.
//!
//! ```toml
//! [kafka]
//! brokers = "kafka-1:9092,kafka-2:9092"
//! group_id = "burnrate"
//! guarantee = "effectively_once"
//!
//! [kafka.topics]
//! usage = "usage-events"
//!
//! [kafka.properties]
//! "security.protocol" = "SASL_SSL"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::decode::InputFormat;

/// The `[kafka]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port` pairs.
    pub brokers: String,
    /// Consumer group shared by the instances that split the usage topic.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// `effectively_once` (default) or `exactly_once`.
    #[serde(default)]
    pub guarantee: Guarantee,
    /// Topic names.
    #[serde(default)]
    pub topics: Topics,
    /// Encoding of usage records that carry no `content-type` header.
    #[serde(default)]
    pub input_format: InputFormat,
    /// Confluent schema registry, for `avro-confluent` input and Avro outputs.
    pub schema_registry_url: Option<String>,
    /// Writer schema of `avro` (raw datum) input, relative to the configuration file.
    pub avro_schema_file: Option<PathBuf>,
    /// Encoding of aggregates, alerts and FOCUS rows: `json` (default) or `avro`
    /// (Confluent wire format, schemas registered in the schema registry).
    #[serde(default)]
    pub output_format: OutputFormat,
    /// Maximum time between checkpoints (changelog records and offset commits).
    #[serde(default = "default_checkpoint_interval", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Most records processed between checkpoints.
    #[serde(default = "default_checkpoint_records")]
    pub checkpoint_records: u32,
    /// Most changes records per partition between two snapshots. A snapshot is also
    /// written once the changes since the last one are as large as it.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u32,
    /// Maximum lead of an event time over the clock. Later events go to dead
    /// letters, so a producer with a wrong clock cannot close every window early.
    #[serde(default = "default_max_time_ahead", with = "humantime_serde")]
    pub max_time_ahead: Duration,
    /// Largest piece of a state record sent as one Kafka record; larger snapshots
    /// are split. Keep it below the changelog topic's `max.message.bytes` and the
    /// producer's `message.max.bytes` (both 1 MB by default).
    #[serde(default = "default_state_chunk_bytes")]
    pub state_chunk_bytes: usize,
    /// How long to wait for the broker to take a checkpoint's records before the
    /// instance stops, so that its state is restored from the last good checkpoint.
    #[serde(default = "default_delivery_timeout", with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// librdkafka properties for every client (TLS, SASL, timeouts), as documented
    /// in librdkafka's CONFIGURATION.md.
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
}

/// A librdkafka property value; TOML numbers and booleans are passed as their text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
    /// A boolean.
    Flag(bool),
}

impl PropertyValue {
    /// Returns the text librdkafka expects.
    pub fn as_text(&self) -> String {
        match self {
            PropertyValue::Text(text) => text.clone(),
            PropertyValue::Integer(number) => number.to_string(),
            PropertyValue::Flag(flag) => flag.to_string(),
        }
    }
}

/// The processing guarantee.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// State exact on every broker; outputs after the last checkpoint may be sent
    /// again after a crash, with the same keys and contents.
    #[default]
    EffectivelyOnce,
    /// Outputs, changelog records and input offsets commit in one transaction.
    ExactlyOnce,
}

impl Guarantee {
    /// Returns the configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::EffectivelyOnce => "effectively_once",
            Guarantee::ExactlyOnce => "exactly_once",
        }
    }
}

/// Encoding of the records burnrate publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// JSON, the same lines `replay` writes.
    #[default]
    Json,
    /// Avro in the Confluent wire format.
    Avro,
}

/// The `[kafka.topics]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    /// Usage events, read by the consumer group.
    pub usage: String,
    /// Contracts keyed by id, compacted, read whole by every instance.
    pub contracts: String,
    /// Partition state: snapshots and changelog records, partitioned like `usage`.
    pub changelog: String,
    /// Spend aggregates.
    pub aggregates: String,
    /// Alerts, keyed by alert key; meant to be compacted.
    pub alerts: String,
    /// Records that could not be decoded or processed, with the reason in headers.
    pub dead_letters: String,
    /// Usage that no contract prices, kept for re-rating.
    pub unrated: String,
    /// FOCUS 1.2 cost-and-usage rows of closed windows, as JSON objects; none
    /// are published when unset.
    pub focus: Option<String>,
}

impl Default for Topics {
    fn default() -> Topics {
        Topics {
            usage: "usage-events".into(),
            contracts: "contracts".into(),
            changelog: "burnrate-state".into(),
            aggregates: "spend-aggregates".into(),
            alerts: "spend-alerts".into(),
            dead_letters: "usage-dead-letters".into(),
            unrated: "usage-unrated".into(),
            focus: None,
        }
    }
}

fn default_group_id() -> String {
    "burnrate".into()
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_checkpoint_records() -> u32 {
    20_000
}

fn default_snapshot_every() -> u32 {
    600
}

fn default_max_time_ahead() -> Duration {
    Duration::from_secs(60 * 60)
}

fn default_state_chunk_bytes() -> usize {
    900_000
}

fn default_delivery_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Properties burnrate sets itself; a user value would break its guarantees.
const RESERVED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "set [kafka] brokers instead"),
    ("group.id", "set [kafka] group_id instead"),
    (
        "enable.auto.commit",
        "burnrate commits offsets only after a checkpoint",
    ),
    (
        "enable.auto.offset.store",
        "burnrate stores offsets only after a checkpoint",
    ),
    (
        "partition.assignment.strategy",
        "burnrate needs cooperative-sticky to hand partition state over",
    ),
    (
        "transactional.id",
        "set [kafka] guarantee = \"exactly_once\" instead",
    ),
    ("isolation.level", "burnrate reads with read_committed"),
];

impl KafkaConfig {
    /// Lists every problem of the settings, each naming the setting and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push(
                "[kafka] brokers is empty; set it to the bootstrap servers, e.g. \"kafka:9092\""
                    .to_owned(),
            );
        }
        if self.group_id.trim().is_empty() {
            problems.push(
                "[kafka] group_id is empty; set a consumer group name such as \"burnrate\""
                    .to_owned(),
            );
        }
        let topics = [
            ("usage", &self.topics.usage),
            ("contracts", &self.topics.contracts),
            ("changelog", &self.topics.changelog),
            ("aggregates", &self.topics.aggregates),
            ("alerts", &self.topics.alerts),
            ("dead_letters", &self.topics.dead_letters),
            ("unrated", &self.topics.unrated),
        ];
        for (name, topic) in topics {
            if topic.trim().is_empty() {
                problems.push(format!("[kafka.topics] {name} is empty; name a topic"));
            }
        }
        if self.topics.changelog == self.topics.usage {
            problems.push("[kafka.topics] changelog is the usage topic; the state changelog needs its own topic".to_owned());
        }
        if self.checkpoint_interval.is_zero() {
            problems
                .push("[kafka] checkpoint_interval is 0; use a duration such as \"1s\"".to_owned());
        }
        if self.checkpoint_records == 0 {
            problems.push(
                "[kafka] checkpoint_records is 0; use a positive count such as 20000".to_owned(),
            );
        }
        if self.state_chunk_bytes < 1024 {
            problems.push(format!(
                "[kafka] state_chunk_bytes is {}; use at least 1024, such as 900000 (below the broker's record size limit)",
                self.state_chunk_bytes
            ));
        }
        if self.snapshot_every == 0 {
            problems
                .push("[kafka] snapshot_every is 0; use a positive count such as 600".to_owned());
        }
        if self.input_format == InputFormat::AvroConfluent && self.schema_registry_url.is_none() {
            problems.push(
                "[kafka] input_format is \"avro-confluent\" but schema_registry_url is not set; set the registry's URL".to_owned(),
            );
        }
        if self.input_format == InputFormat::Avro && self.avro_schema_file.is_none() {
            problems.push("[kafka] input_format is \"avro\" but avro_schema_file is not set; name the writer schema file (.avsc)".to_owned());
        }
        if self.output_format == OutputFormat::Avro && self.schema_registry_url.is_none() {
            problems.push(
                "[kafka] output_format is \"avro\" but schema_registry_url is not set; Avro outputs register their schemas there".to_owned(),
            );
        }
        for (property, value) in &self.properties {
            // librdkafka checks names and values when a configuration is built,
            // without connecting anywhere.
            let mut single = rdkafka::ClientConfig::new();
            single.set(property, value.as_text());
            if let Err(error) = single.create_native_config() {
                problems.push(format!("[kafka.properties] {property:?}: {error}; see librdkafka's CONFIGURATION.md for the valid names and values"));
            }
        }
        for (property, fix) in RESERVED_PROPERTIES {
            if self.properties.contains_key(*property) {
                problems.push(format!(
                    "[kafka.properties] {property:?} is set by burnrate; {fix}"
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KafkaConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_need_only_brokers() {
        let config = parse("brokers = \"127.0.0.1:9092\"");
        assert_eq!(config.guarantee, Guarantee::EffectivelyOnce);
        assert_eq!(config.topics.usage, "usage-events");
        assert_eq!(config.checkpoint_interval, Duration::from_secs(1));
        assert!(config.problems().is_empty(), "{:?}", config.problems());
    }

    #[test]
    fn properties_keep_their_text() {
        let config = parse(
            r#"
            brokers = "b:9092"
            [properties]
            "session.timeout.ms" = 6000
            "security.protocol" = "SSL"
            "enable.ssl.certificate.verification" = false
            "#,
        );
        let texts: Vec<(String, String)> = config
            .properties
            .iter()
            .map(|(key, value)| (key.clone(), value.as_text()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (
                    "enable.ssl.certificate.verification".to_owned(),
                    "false".to_owned()
                ),
                ("security.protocol".to_owned(), "SSL".to_owned()),
                ("session.timeout.ms".to_owned(), "6000".to_owned()),
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = parse(
            r#"
            brokers = ""
            input_format = "avro-confluent"
            checkpoint_records = 0
            [properties]
            "group.id" = "mine"
            "#,
        );
        let problems = config.problems();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("brokers"));
        assert!(problems
            .iter()
            .any(|problem| problem.contains("schema_registry_url")));
        assert!(problems
            .iter()
            .any(|problem| problem.contains("\"group.id\" is set by burnrate")));
    }

    #[test]
    fn unknown_properties_are_problems() {
        let config = parse(
            r#"
            brokers = "b:9092"
            [properties]
            "no.such.property" = "x"
            "session.timeout.ms" = "soon"
            "linger.ms" = 5
            "#,
        );
        let problems = config.problems();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].contains("\"no.such.property\""),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("\"session.timeout.ms\""),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let error = toml::from_str::<KafkaConfig>("brokers = \"b\"\ngroupid = \"x\"").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `groupid`"),
            "{error}"
        );
    }
}
