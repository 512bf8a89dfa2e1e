//! The consumer group member's callbacks: rebalances restore and hand over
//! partition state; statistics report consumer lag.

use std::sync::Arc;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::{info, warn};

use crate::clients::ClientLog;
use crate::pipeline::{FatalError, Pipeline};

/// Context of the group member.
pub struct GroupContext {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) log: ClientLog,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.pipeline.kafka.topics.usage) else {
            return;
        };
        let owned = self.pipeline.owned_partitions();
        for partition in topic.partitions.values() {
            if owned.contains(&partition.partition) && partition.consumer_lag >= 0 {
                self.pipeline.metrics.set_consumer_lag(
                    &self.pipeline.kafka.topics.usage,
                    partition.partition,
                    partition.consumer_lag,
                );
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(&error, reason);
    }
}

impl ConsumerContext for GroupContext {
    /// Replaces the default handler so that assigned partitions start where their
    /// restored state ends, and revoked ones are checkpointed before they go.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        result: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        match result {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                info!(partitions = ?partition_ids(partitions), "partitions assigned");
                self.pipeline.on_assign(partitions);
                if let Err(source) = consumer.incremental_assign(partitions) {
                    self.pipeline.raise_from_callback(FatalError::Kafka {
                        what: "taking the assignment",
                        source,
                    });
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(partitions = ?partition_ids(partitions), "partitions revoked");
                self.pipeline.on_revoke(consumer, partitions);
                if let Err(source) = consumer.incremental_unassign(partitions) {
                    self.pipeline.raise_from_callback(FatalError::Kafka {
                        what: "giving up the assignment",
                        source,
                    });
                }
            }
            other => warn!(error = ?other, "rebalance failed; the group retries"),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {}
}

fn partition_ids(partitions: &TopicPartitionList) -> Vec<i32> {
    partitions
        .elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}
