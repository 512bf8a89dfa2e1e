//! librdkafka client settings for each role burnrate plays: group member,
//! producer, changelog reader and contracts reader. The user's properties come
//! first; burnrate then sets the ones its guarantees depend on.

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, ClientContext};
use tracing::error;

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
    client
}

/// Context of the readers outside the group. They ask for end-of-partition
/// events, which librdkafka also reports as errors; those are not logged.
pub struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, kafka_error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            kafka_error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            error!(error = %kafka_error, reason, "Kafka client error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// A reader outside the group.
pub type Reader = BaseConsumer<ReaderContext>;
