//! The state changelog topic: how a partition's state is written and restored.
//!
//! Partition `p` of the usage topic keeps its state in partition `p` of the
//! changelog topic, as full snapshots and the changes between them. Every record
//! carries the input offset it reflects inside the state. A changes record also
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
use tracing::{info, warn};

use crate::clients::Reader;

/// Header naming what a record holds: [`SNAPSHOT`] or [`CHANGES`].
pub const KIND_HEADER: &str = "burnrate.state-kind";
/// Header with the input offset the record reflects, for people reading the topic.
pub const INPUT_OFFSET_HEADER: &str = "burnrate.input-offset";
/// Header of a changes record: the changelog offset of the snapshot it builds on.
pub const SNAPSHOT_OFFSET_HEADER: &str = "burnrate.snapshot-offset";
/// Header with a chunk's position, `index/count`: a state record larger than
/// `[kafka] state_chunk_bytes` is sent as several Kafka records in a row, because
/// brokers limit the size of one record (1 MB by default).
pub const CHUNK_HEADER: &str = "burnrate.chunk";
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
    /// A client call to the broker failed.
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
        /// The problem found.
        problem: String,
    },
}

/// One changelog record as read.
struct StateRecord {
    offset: i64,
    kind: String,
    snapshot_offset: Option<i64>,
    /// (index, count); (0, 1) for a record sent whole.
    chunk: (u32, u32),
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

    // Find the last complete state record. The watermark a broker reports can
    // trail the real end by a batch, so each read goes to the end of the
    // partition. The last offsets can be transaction markers, which a reader never
    // receives, or the first chunks of a record whose writer crashed. So the read
    // starts further back until it finds a complete record and its first chunk.
    let mut span = 16;
    let start = loop {
        let read_from = (high - span).max(low);
        let tail = read_to_end(reader, topic, partition, read_from, timeout)?;
        if let Some(start) = replay_start(&tail, topic, partition)? {
            break start;
        }
        if read_from == low {
            // Only markers or an incomplete first record: no state yet.
            return Ok(restored);
        }
        span = span.saturating_mul(16);
    };

    let records = read_to_end(reader, topic, partition, start, timeout)?;
    let mut assembler = ChunkAssembler::default();
    for record in records {
        let Some(whole) = assembler.push(record) else {
            continue;
        };
        let corrupt = |problem: String| RestoreError::Corrupt {
            topic: topic.to_owned(),
            partition,
            offset: whole.offset,
            problem,
        };
        restored.bytes += whole.value.len() as u64;
        match (whole.kind.as_str(), restored.engine.as_mut()) {
            (SNAPSHOT, _) => {
                let mut engine =
                    PartitionEngine::restore(processing.clone(), &whole.value).map_err(|error| corrupt(error.to_string()))?;
                engine.set_alert_config(alerts.clone());
                restored.engine = Some(engine);
                restored.snapshot_offset = Some(whole.offset);
                restored.changes_since_snapshot = 0;
            }
            (CHANGES, Some(engine)) => {
                engine
                    .apply_changelog_record(&whole.value)
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
    if assembler.is_incomplete() {
        warn!(topic, partition, "the last state record is incomplete (its writer stopped while writing it) and was skipped");
    }
    info!(
        topic,
        partition,
        bytes = restored.bytes,
        snapshot_offset = restored.snapshot_offset,
        "read partition state"
    );
    Ok(restored)
}

/// Returns where restoring starts, from records at the end of the partition: the
/// first chunk of the last complete snapshot, or the snapshot the last complete
/// changes record names. `None` when `tail` does not reach back far enough.
fn replay_start(
    tail: &[StateRecord],
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, RestoreError> {
    let Some(last_index) = tail
        .iter()
        .rposition(|record| record.chunk.0 + 1 == record.chunk.1)
    else {
        return Ok(None);
    };
    let last = &tail[last_index];
    match (last.kind.as_str(), last.snapshot_offset) {
        (SNAPSHOT, _) => {
            let first_chunk = last_index
                .checked_sub(last.chunk.0 as usize)
                .map(|index| &tail[index]);
            Ok(first_chunk
                .filter(|record| record.chunk.0 == 0)
                .map(|record| record.offset))
        }
        (CHANGES, Some(snapshot_offset)) => Ok(Some(snapshot_offset)),
        _ => Err(RestoreError::Corrupt {
            topic: topic.to_owned(),
            partition,
            offset: last.offset,
            problem: format!(
                "record of kind {:?} without the {SNAPSHOT_OFFSET_HEADER} header",
                last.kind
            ),
        }),
    }
}

/// A whole state record put together from its chunks.
struct WholeRecord {
    /// Offset of the first chunk.
    offset: i64,
    kind: String,
    value: Vec<u8>,
}

/// Puts chunks back together. A record whose chunks stop before the last one (its
/// writer crashed) is dropped when the next record starts.
#[derive(Default)]
struct ChunkAssembler {
    pending: Option<(WholeRecord, u32, u32)>,
}

impl ChunkAssembler {
    /// Adds a chunk; returns the record it completes.
    fn push(&mut self, record: StateRecord) -> Option<WholeRecord> {
        let (index, count) = record.chunk;
        if index == 0 {
            let whole = WholeRecord {
                offset: record.offset,
                kind: record.kind,
                value: record.value,
            };
            self.pending = Some((whole, 1, count));
        } else {
            match &mut self.pending {
                Some((whole, next, _)) if *next == index => {
                    whole.value.extend_from_slice(&record.value);
                    *next += 1;
                }
                // A chunk without its predecessors: left over from a crashed writer.
                _ => {
                    self.pending = None;
                    return None;
                }
            }
        }
        match &self.pending {
            Some((_, next, count)) if next == count => {
                self.pending.take().map(|(whole, _, _)| whole)
            }
            _ => None,
        }
    }

    /// Returns whether chunks of an unfinished record are held.
    fn is_incomplete(&self) -> bool {
        self.pending.is_some()
    }
}

/// Splits a state record into chunks of at most `chunk_bytes`, each to be sent as
/// one Kafka record with [`CHUNK_HEADER`] `index/count`.
pub fn split_into_chunks(bytes: &[u8], chunk_bytes: usize) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return vec![bytes];
    }
    bytes.chunks(chunk_bytes.max(1)).collect()
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
                let snapshot_offset =
                    header(SNAPSHOT_OFFSET_HEADER).and_then(|text| text.parse().ok());
                let chunk = header(CHUNK_HEADER)
                    .and_then(|text| parse_chunk(&text))
                    .unwrap_or((0, 1));
                records.push(StateRecord {
                    offset: message.offset(),
                    kind: header(KIND_HEADER).unwrap_or_default(),
                    snapshot_offset,
                    chunk,
                    value: message.payload().unwrap_or_default().to_vec(),
                });
            }
        }
    }
    reader.unassign().map_err(kafka_error)?;
    Ok(records)
}

/// Reads `index/count`, with `index < count`.
fn parse_chunk(text: &str) -> Option<(u32, u32)> {
    let (index, count) = text.split_once('/')?;
    let (index, count): (u32, u32) = (index.parse().ok()?, count.parse().ok()?);
    (index < count).then_some((index, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: i64, kind: &str, chunk: (u32, u32), value: &[u8]) -> StateRecord {
        StateRecord {
            offset,
            kind: kind.to_owned(),
            snapshot_offset: (kind == CHANGES).then_some(0),
            chunk,
            value: value.to_vec(),
        }
    }

    #[test]
    fn assembler_drops_broken_records() {
        let mut assembler = ChunkAssembler::default();
        assert!(assembler.push(chunk(0, SNAPSHOT, (0, 2), b"ab")).is_none());
        let whole = assembler.push(chunk(1, SNAPSHOT, (1, 2), b"cd")).unwrap();
        assert_eq!(
            (whole.offset, whole.value.as_slice()),
            (0, b"abcd".as_slice())
        );

        // A writer crashed after the first of three chunks; the next record replaces it.
        assert!(assembler.push(chunk(2, CHANGES, (0, 3), b"x")).is_none());
        let whole = assembler.push(chunk(3, CHANGES, (0, 1), b"y")).unwrap();
        assert_eq!((whole.offset, whole.value.as_slice()), (3, b"y".as_slice()));

        // A continuation without its first chunk is ignored.
        assert!(assembler.push(chunk(4, CHANGES, (1, 2), b"z")).is_none());
        assert!(!assembler.is_incomplete());
    }

    #[test]
    fn replay_start_of_complete_snapshot() {
        let tail = [
            chunk(10, SNAPSHOT, (0, 2), b"a"),
            chunk(11, SNAPSHOT, (1, 2), b"b"),
            // The next snapshot's writer stopped after one chunk.
            chunk(12, SNAPSHOT, (0, 2), b"c"),
        ];
        assert_eq!(replay_start(&tail, "state", 0).unwrap(), Some(10));
        // Without its first chunk in view, the read must reach further back.
        assert_eq!(replay_start(&tail[1..], "state", 0).unwrap(), None);
    }

    #[test]
    fn replay_start_of_changes() {
        let tail = [chunk(20, CHANGES, (0, 1), b"a")];
        assert_eq!(replay_start(&tail, "state", 0).unwrap(), Some(0));
    }

    #[test]
    fn chunk_header_parsing() {
        assert_eq!(parse_chunk("1/3"), Some((1, 3)));
        assert_eq!(parse_chunk("3/3"), None);
        assert_eq!(parse_chunk("x/3"), None);
        assert_eq!(
            split_into_chunks(b"abcde", 2),
            vec![b"ab".as_slice(), b"cd", b"e"]
        );
        assert_eq!(split_into_chunks(b"", 2).len(), 1);
    }
}
