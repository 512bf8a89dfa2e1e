//! The state changelog topic: how a partition's state is written and restored.
//!
//! Partition `p` of the usage topic keeps its state in partition `p` of the
//! changelog topic, as full snapshots and the changes between them. Every record
//! carries the input offset it reflects inside the state; a changes record also
//! names, in a header, the changelog offset of the snapshot it builds on. Restoring
//! reads the last record, jumps to that snapshot and applies what follows, so a
//! restore reads one snapshot and at most `snapshot_every` changes records however
//! long the topic is.

use std::time::{Duration, Instant};

use burnrate_engine::{AlertConfig, PartitionEngine, ProcessingConfig};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tracing::info;

use crate::clients::Reader;

/// Header naming what a record holds: [`SNAPSHOT`] or [`CHANGES`].
pub const KIND_HEADER: &str = "burnrate.state-kind";
/// Header with the input offset the record reflects, for people reading the topic.
pub const INPUT_OFFSET_HEADER: &str = "burnrate.input-offset";
/// Header of a changes record: the changelog offset of the snapshot it builds on.
pub const SNAPSHOT_OFFSET_HEADER: &str = "burnrate.snapshot-offset";
/// A full snapshot.
pub const SNAPSHOT: &str = "snapshot";
/// The entries changed since the previous record.
pub const CHANGES: &str = "changes";

/// Key of partition `partition`'s changelog records.
pub fn record_key(usage_topic: &str, partition: i32) -> String {
    format!("{usage_topic}/{partition}")
}

/// A restored partition.
pub struct Restored {
    /// The engine, or `None` when the partition has no state yet.
    pub engine: Option<PartitionEngine>,
    /// Changelog offset of the snapshot the state builds on.
    pub snapshot_offset: Option<i64>,
    /// Changes records applied after that snapshot.
    pub changes_since_snapshot: u32,
    /// Bytes of state read.
    pub bytes: u64,
}

/// A failure to restore a partition's state; the instance cannot own the
/// partition without it.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The broker did not answer.
    #[error("cannot read changelog {topic}/{partition}: {source}")]
    Kafka {
        /// Changelog topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The client's error.
        source: KafkaError,
    },
    /// The end of the partition was not reached in time.
    #[error("reading changelog {topic}/{partition} took longer than {timeout:?}; check the brokers and raise [kafka] delivery_timeout")]
    Timeout {
        /// Changelog topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The time allowed.
        timeout: Duration,
    },
    /// A record does not decode or is out of order.
    #[error("changelog {topic}/{partition} offset {offset}: {problem}")]
    Corrupt {
        /// Changelog topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offending record.
        offset: i64,
        /// What is wrong.
        problem: String,
    },
}

/// One changelog record as read.
struct StateRecord {
    offset: i64,
    kind: String,
    snapshot_offset: Option<i64>,
    value: Vec<u8>,
}

/// Restores the state of `partition` from `topic` with `reader`, a consumer
/// outside the group with `enable.partition.eof` set.
pub fn restore_partition(
    reader: &Reader,
    topic: &str,
    partition: i32,
    processing: &ProcessingConfig,
    alerts: &AlertConfig,
    timeout: Duration,
) -> Result<Restored, RestoreError> {
    let kafka_error = |source| RestoreError::Kafka {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let (low, high) = reader
        .fetch_watermarks(topic, partition, timeout)
        .map_err(kafka_error)?;
    let mut restored = Restored {
        engine: None,
        snapshot_offset: None,
        changes_since_snapshot: 0,
        bytes: 0,
    };
    if high <= low {
        return Ok(restored);
    }

    // Find the last state record. The watermark a broker reports can trail the
    // real end by a batch, so each read goes to the end of the partition. The
    // last offsets can also be transaction markers, which a reader never sees,
    // so the read starts further back until it finds a record.
    let mut span = 16;
    let last = loop {
        let start = (high - span).max(low);
        let tail = read_to_end(reader, topic, partition, start, timeout)?;
        if let Some(last) = tail.into_iter().last() {
            break last;
        }
        if start == low {
            return Ok(restored);
        }
        span = span.saturating_mul(16);
    };
    let start = match (last.kind.as_str(), last.snapshot_offset) {
        (SNAPSHOT, _) => last.offset,
        (CHANGES, Some(snapshot_offset)) => snapshot_offset,
        _ => {
            return Err(RestoreError::Corrupt {
                topic: topic.to_owned(),
                partition,
                offset: last.offset,
                problem: format!("record of kind {:?} without the {SNAPSHOT_OFFSET_HEADER} header", last.kind),
            })
        }
    };

    let records = read_to_end(reader, topic, partition, start, timeout)?;
    for record in records {
        let corrupt = |problem: String| RestoreError::Corrupt {
            topic: topic.to_owned(),
            partition,
            offset: record.offset,
            problem,
        };
        restored.bytes += record.value.len() as u64;
        match (record.kind.as_str(), restored.engine.as_mut()) {
            (SNAPSHOT, _) => {
                let mut engine =
                    PartitionEngine::restore(processing.clone(), &record.value).map_err(|error| corrupt(error.to_string()))?;
                engine.set_alert_config(alerts.clone());
                restored.engine = Some(engine);
                restored.snapshot_offset = Some(record.offset);
                restored.changes_since_snapshot = 0;
            }
            (CHANGES, Some(engine)) => {
                engine
                    .apply_changelog_record(&record.value)
                    .map_err(|error| corrupt(error.to_string()))?;
                restored.changes_since_snapshot += 1;
            }
            (CHANGES, None) => {
                return Err(corrupt(format!(
                    "changes record before any snapshot; the snapshot at offset {start} is gone (is the changelog retention shorter than the snapshot interval?)"
                )))
            }
            (other, _) => return Err(corrupt(format!("unknown {KIND_HEADER} {other:?}"))),
        }
    }
    info!(topic, partition, bytes = restored.bytes, snapshot_offset = restored.snapshot_offset, "read partition state");
    Ok(restored)
}

/// Reads `partition` from `start` to its end.
fn read_to_end(
    reader: &Reader,
    topic: &str,
    partition: i32,
    start: i64,
    timeout: Duration,
) -> Result<Vec<StateRecord>, RestoreError> {
    let kafka_error = |source| RestoreError::Kafka {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(kafka_error)?;
    reader.assign(&assignment).map_err(kafka_error)?;

    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err(RestoreError::Timeout {
                topic: topic.to_owned(),
                partition,
                timeout,
            });
        }
        match reader.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(error)) => return Err(kafka_error(error)),
            Some(Ok(message)) => {
                let header = |name: &str| -> Option<String> {
                    let headers = message.headers()?;
                    headers
                        .iter()
                        .find(|header| header.key == name)
                        .and_then(|header| header.value)
                        .map(|value| String::from_utf8_lossy(value).into_owned())
                };
                let snapshot_offset = header(SNAPSHOT_OFFSET_HEADER).and_then(|text| text.parse().ok());
                records.push(StateRecord {
                    offset: message.offset(),
                    kind: header(KIND_HEADER).unwrap_or_default(),
                    snapshot_offset,
                    value: message.payload().unwrap_or_default().to_vec(),
                });
            }
        }
    }
    reader.unassign().map_err(kafka_error)?;
    Ok(records)
}
