//! librdkafka client settings for each role burnrate plays: group member,
//! producer, changelog reader and contracts reader. The user's properties come
//! first; burnrate then sets the ones its guarantees depend on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, ClientContext};
use tracing::{debug, error, info, warn};

use crate::config::{Guarantee, KafkaConfig};

/// Settings shared by every client.
fn base(config: &KafkaConfig, client_id: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in &config.properties {
        client.set(key, value.as_text());
    }
    client.set("bootstrap.servers", &config.brokers);
    if !config.properties.contains_key("client.id") {
        client.set("client.id", client_id);
    }
    client
}

/// Returns the settings of the consumer group member that reads the usage topic.
pub fn group_member(config: &KafkaConfig) -> ClientConfig {
    let mut client = base(config, "burnrate");
    client
        .set("group.id", &config.group_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Offsets are committed only after the state that reflects them is in the
        // changelog, never in the background.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed");
    if !config.properties.contains_key("auto.offset.reset") {
        client.set("auto.offset.reset", "earliest");
    }
    // Brokers that hold a fetch for its whole wait when no data is waiting (Tansu
    // does) would otherwise add up to librdkafka's 500 ms to event-to-alert latency.
    if !config.properties.contains_key("fetch.wait.max.ms") {
        client.set("fetch.wait.max.ms", "100");
    }
    client
}

/// Returns the settings of the producer of outputs and changelog records.
/// Idempotence keeps a retried send from writing a record twice.
pub fn producer(config: &KafkaConfig, transactional_id: Option<&str>) -> ClientConfig {
    let mut client = base(config, "burnrate-producer");
    client.set("enable.idempotence", "true");
    if !config.properties.contains_key("linger.ms") {
        client.set("linger.ms", "5");
    }
    if let (Guarantee::ExactlyOnce, Some(id)) = (config.guarantee, transactional_id) {
        client.set("transactional.id", id);
    }
    client
}

/// Returns the settings of a reader outside the group (changelog restore,
/// contracts table) that reports the end of each partition.
pub fn reader(config: &KafkaConfig, role: &str) -> ClientConfig {
    let mut client = base(config, &format!("burnrate-{role}"));
    client
        // librdkafka wants a group id for any consumer; this one never joins or commits.
        .set("group.id", format!("{}-{role}", config.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    // A restore reads a partition to its end, and at the end every fetch would wait
    // librdkafka's default 500 ms for data that is not coming.
    if !config.properties.contains_key("fetch.wait.max.ms") {
        client.set("fetch.wait.max.ms", "10");
    }
    client
}

/// How often the same client error is logged again while it repeats.
const REPEAT_INTERVAL: Duration = Duration::from_secs(60);

/// Logs librdkafka's errors and messages through `tracing`. An error that repeats
/// (every poll reports an unreachable broker) is logged once a minute with the
/// number of repeats.
#[derive(Default)]
pub struct ClientLog {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl ClientLog {
    /// Logs a client error unless the same one was logged within the last minute.
    pub fn error(&self, kafka_error: &KafkaError, reason: &str) {
        let key = kafka_error.to_string();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = last
            .entry(key)
            .or_insert((Instant::now() - REPEAT_INTERVAL, 0));
        if entry.0.elapsed() < REPEAT_INTERVAL {
            entry.1 += 1;
            return;
        }
        error!(error = %kafka_error, reason, repeats_since_last_report = entry.1, "Kafka client error");
        *entry = (Instant::now(), 0);
    }

    /// Logs a librdkafka message at its level. The warnings that a property applies
    /// only to consumers or only to producers are expected, because burnrate passes
    /// `[kafka.properties]` to every client, so they are logged at debug level.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let role_warning = facility == "CONFWARN"
            && (message.contains("is a consumer property")
                || message.contains("is a producer property"));
        match level {
            _ if role_warning => debug!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => debug!(target: "librdkafka", facility, "{message}"),
        }
    }
}

/// Context of the readers outside the group. They ask for end-of-partition
/// events, which librdkafka also reports as errors; those are not logged.
#[derive(Default)]
pub struct ReaderContext {
    log: ClientLog,
}

impl ClientContext for ReaderContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.log(level, facility, message);
    }

    fn error(&self, kafka_error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            kafka_error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            self.log.error(&kafka_error, reason);
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// A reader outside the group.
pub type Reader = BaseConsumer<ReaderContext>;
