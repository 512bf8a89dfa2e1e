//! Delivery reports of the producer: failures, and the changelog offsets of
//! snapshots, which later changes records name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use tracing::error;

use crate::clients::ClientLog;

/// Marks a record whose delivered offset is kept: a snapshot in the changelog.
pub const TRACK_SNAPSHOT: usize = 1;
/// Any other record.
pub const UNTRACKED: usize = 0;

/// Counts failed deliveries and keeps the offsets of delivered snapshots.
#[derive(Default)]
pub struct DeliveryTracker {
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
    snapshot_offsets: Mutex<HashMap<i32, i64>>,
    log: ClientLog,
}

impl DeliveryTracker {
    /// Returns the number of failed deliveries so far and the first failure's reason.
    pub fn failures(&self) -> (u64, Option<String>) {
        let count = self.failures.load(Ordering::Acquire);
        let first = self
            .first_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        (count, first)
    }

    /// Takes the offset of the last snapshot delivered to changelog `partition`.
    pub fn take_snapshot_offset(&self, partition: i32) -> Option<i64> {
        self.snapshot_offsets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&partition)
    }
}

impl ClientContext for DeliveryTracker {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.log.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.log.error(&error, reason);
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, marker: usize) {
        match result {
            Ok(message) => {
                if marker == TRACK_SNAPSHOT {
                    self.snapshot_offsets
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(message.partition(), message.offset());
                }
            }
            Err((kafka_error, message)) => {
                let reason = format!("{}/{}: {kafka_error}", message.topic(), message.partition());
                error!(topic = message.topic(), partition = message.partition(), error = %kafka_error, "record not delivered");
                let mut first = self
                    .first_failure
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                first.get_or_insert(reason);
                self.failures.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}
