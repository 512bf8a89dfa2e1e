//! The work of one instance: an engine per assigned partition, the records they
//! publish, and checkpoints that write their state to the changelog before the
//! input offsets are committed.
//!
//! A checkpoint first waits until every output produced so far is delivered, then
//! writes each changed partition's changelog record and waits again, then commits
//! the input offsets. A crash anywhere in between leaves the changelog at or behind
//! the outputs, never ahead, so restored state never claims an output that was
//! lost. With `exactly_once`, the same records and the offsets commit in one
//! transaction instead.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use burnrate_codec::encode_cloudevent;
use burnrate_engine::{AlertConfig, Counters, EngineOutput, PartitionEngine, ProcessingConfig};
use burnrate_model::{focus_charge_window, Alert, SpendAggregate, FOCUS_COLUMNS};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Utc};
use prometheus::IntCounter;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{error, info, warn};

use crate::changelog::{self, restore_partition, CHANGES, SNAPSHOT};
use crate::clients::Reader;
use crate::config::{Guarantee, KafkaConfig};
use crate::contracts::SharedContracts;
use crate::dead_letter_kind::DeadLetterKind;
use crate::decode::{DecodeFailure, Decoder};
use crate::delivery::{DeliveryTracker, TRACK_SNAPSHOT, UNTRACKED};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::outputs::OutputEncoder;

/// Headers burnrate adds to dead letters and unrated records.
pub mod headers {
    /// Topic the record was read from.
    pub const SOURCE_TOPIC: &str = "burnrate.source-topic";
    /// Its partition.
    pub const SOURCE_PARTITION: &str = "burnrate.source-partition";
    /// Its offset.
    pub const SOURCE_OFFSET: &str = "burnrate.source-offset";
    /// Reason the record was set aside.
    pub const REASON: &str = "burnrate.reason";
    /// The stage that set it aside: `decode`, `engine` or `unrated`.
    pub const STAGE: &str = "burnrate.stage";
    /// Short code of an unrated reason, such as `no_contract`.
    pub const REASON_CODE: &str = "burnrate.reason-code";
    /// Identity of an output: `<usage topic>/<partition>/<input offset>/<index>`
    /// for the outputs of one input record. The engine is deterministic, so a
    /// record sent again after a crash has the same identity and contents, and
    /// consumers can drop repeats by it. Outputs of an idle partition's watermark
    /// end in `idle-<watermark in microseconds>-<index>` instead: they depend on the
    /// clock, so a re-send after a crash can differ.
    pub const OUTPUT_ID: &str = "burnrate.output-id";
}

/// An error after which the instance must stop; its partitions are then restored
/// from the last checkpoint by whichever instance owns them next.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// Records of a checkpoint were not delivered.
    #[error("{count} records were not delivered (first: {first}); stopping so that the partitions restart from the last checkpoint")]
    Delivery {
        /// Failed deliveries.
        count: u64,
        /// The first failure.
        first: String,
    },
    /// A client call failed.
    #[error("{what} failed: {source}")]
    Kafka {
        /// The call.
        what: &'static str,
        /// The client's error.
        source: KafkaError,
    },
    /// Partitions were lost while a transaction was open (`exactly_once`).
    #[error("partitions were lost while a transaction was open; stopping so that every partition restarts from its last committed state")]
    LostInTransaction,
    /// A partition's state could not be restored.
    #[error("cannot restore partition state: {0}")]
    Restore(#[from] changelog::RestoreError),
    /// A record could not be decoded because a service it needs stayed unavailable.
    #[error("usage record {topic}/{partition} offset {offset} could not be decoded after retries: {reason}")]
    Unavailable {
        /// Usage topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// The last failure.
        reason: String,
    },
}

/// One assigned partition.
struct Slot {
    engine: PartitionEngine,
    /// The next input offset to process; earlier records are already in the state.
    next_offset: i64,
    /// Whether the state changed since the last checkpoint.
    changed: bool,
    /// Changelog offset of the snapshot the next changes record builds on.
    snapshot_offset: Option<i64>,
    changes_since_snapshot: u32,
    /// Size of the last snapshot, and of the changes records written since it.
    snapshot_bytes: u64,
    changes_bytes: u64,
    /// This partition's `burnrate_records_consumed_total` series.
    consumed: IntCounter,
}

/// Everything an instance needs to process its partitions.
pub struct Pipeline {
    pub(crate) kafka: KafkaConfig,
    pub(crate) processing: ProcessingConfig,
    pub(crate) alerts: AlertConfig,
    pub(crate) producer: ThreadedProducer<DeliveryTracker>,
    /// Reads changelog partitions on assignment.
    pub(crate) reader: Reader,
    pub(crate) contracts: SharedContracts,
    pub(crate) decoder: Decoder,
    pub(crate) encoder: OutputEncoder,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health: Arc<Health>,
    slots: Mutex<BTreeMap<i32, Slot>>,
    /// Whether a transaction is open (`exactly_once`).
    in_transaction: AtomicBool,
    /// The first fatal error raised inside a rebalance callback, for the loop to return.
    fatal: Mutex<Option<FatalError>>,
    /// Set on SIGTERM; partitions assigned after it are not restored.
    stop: Arc<AtomicBool>,
}

impl Pipeline {
    /// Assembles a pipeline with no partitions.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kafka: KafkaConfig,
        processing: ProcessingConfig,
        alerts: AlertConfig,
        producer: ThreadedProducer<DeliveryTracker>,
        reader: Reader,
        contracts: SharedContracts,
        decoder: Decoder,
        encoder: OutputEncoder,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        stop: Arc<AtomicBool>,
    ) -> Pipeline {
        Pipeline {
            kafka,
            processing,
            alerts,
            producer,
            reader,
            contracts,
            decoder,
            encoder,
            metrics,
            health,
            slots: Mutex::new(BTreeMap::new()),
            in_transaction: AtomicBool::new(false),
            fatal: Mutex::new(None),
            stop,
        }
    }

    fn slots(&self) -> MutexGuard<'_, BTreeMap<i32, Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the fatal error a rebalance callback raised, if any.
    pub fn take_fatal(&self) -> Option<FatalError> {
        self.fatal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Keeps a fatal error raised inside a callback for the loop to return.
    pub fn raise_from_callback(&self, error: FatalError) {
        self.raise(error);
    }

    fn raise(&self, error: FatalError) {
        error!(%error, "fatal error");
        self.fatal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert(error);
    }

    /// Returns the partitions this instance owns now.
    pub fn owned_partitions(&self) -> Vec<i32> {
        self.slots().keys().copied().collect()
    }

    /// Processes one usage record.
    pub fn process(
        &self,
        message: &BorrowedMessage<'_>,
        table: &ContractTable,
        outputs: &mut Vec<EngineOutput>,
    ) -> Result<(), FatalError> {
        let partition = message.partition();
        let offset = message.offset();
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&partition) else {
            // Fetched before a revocation took effect; the new owner reads it again.
            return Ok(());
        };
        if offset < slot.next_offset {
            // Already reflected in the restored state.
            return Ok(());
        }
        slot.next_offset = offset + 1;
        slot.changed = true;
        slot.consumed.inc();

        let now = Utc::now();
        let decoded = self
            .decode_with_retries(message)
            .and_then(|event| self.check_not_ahead(event, now));
        match decoded {
            Ok(event) => {
                let before = slot.engine.counters();
                slot.engine
                    .process(event, offset, Some(now), table, outputs);
                self.metrics
                    .record_engine_counts(&difference(&slot.engine.counters(), &before));
                let id_prefix = format!("{}/{partition}/{offset}/", self.kafka.topics.usage);
                self.publish(outputs, partition, &id_prefix, Some(message))
            }
            Err(DecodeFailure::Rejected(rejection)) => {
                slot.engine.skip_offset(offset);
                warn!(topic = message.topic(), partition, offset, reason = %rejection.reason, "usage record sent to dead letters");
                self.metrics.dead_lettered(rejection.kind);
                self.send_aside(
                    &self.kafka.topics.dead_letters,
                    message,
                    rejection.kind.as_str(),
                    &rejection.reason,
                    None,
                )
            }
            Err(DecodeFailure::Transient(error)) => Err(FatalError::Unavailable {
                topic: message.topic().to_owned(),
                partition,
                offset,
                reason: error.to_string(),
            }),
        }
    }

    /// Rejects an event whose time is further ahead of the clock than
    /// `[kafka] max_time_ahead`: one such event would move its partition's
    /// watermark into the future and close every open window early.
    fn check_not_ahead(
        &self,
        event: burnrate_model::UsageEvent,
        now: DateTime<Utc>,
    ) -> Result<burnrate_model::UsageEvent, DecodeFailure> {
        let limit =
            chrono::Duration::from_std(self.kafka.max_time_ahead).unwrap_or(chrono::Duration::MAX);
        if event.time <= now + limit {
            return Ok(event);
        }
        Err(DecodeFailure::Rejected(crate::decode::Rejection {
            kind: DeadLetterKind::Invalid,
            reason: format!(
                "event time {} is more than {} ahead of the time it was processed ({}); check the clock of the producer, or raise [kafka] max_time_ahead",
                event.time.to_rfc3339(),
                humantime::format_duration(self.kafka.max_time_ahead),
                now.to_rfc3339()
            ),
        }))
    }

    /// Decodes a record, retrying while a service it needs (the schema registry)
    /// is unreachable.
    fn decode_with_retries(
        &self,
        message: &BorrowedMessage<'_>,
    ) -> Result<burnrate_model::UsageEvent, DecodeFailure> {
        let content_type = header_text(message, "content-type");
        let mut delay = Duration::from_millis(200);
        let deadline = Instant::now() + self.kafka.delivery_timeout;
        loop {
            match self
                .decoder
                .decode(message.payload(), content_type.as_deref())
            {
                Err(DecodeFailure::Transient(error)) if Instant::now() + delay < deadline => {
                    warn!(topic = message.topic(), partition = message.partition(), offset = message.offset(), %error, retry_in = ?delay, "decoding needs a service that is unavailable; retrying");
                    self.metrics.processing_retries.inc();
                    self.health.beat();
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                result => return result,
            }
        }
    }

    /// Sends the engine's outputs; `source` is the record that caused them.
    /// `id_prefix` identifies the step that produced them (see [`headers::OUTPUT_ID`]).
    fn publish(
        &self,
        outputs: &mut Vec<EngineOutput>,
        partition: i32,
        id_prefix: &str,
        source: Option<&BorrowedMessage<'_>>,
    ) -> Result<(), FatalError> {
        for (index, output) in outputs.drain(..).enumerate() {
            let output_id = format!("{id_prefix}{index}");
            match output {
                EngineOutput::Aggregate(aggregate) => {
                    let value = self.encoder.aggregate(&aggregate);
                    self.send(
                        &self.kafka.topics.aggregates,
                        None,
                        Some(aggregate.account.as_bytes()),
                        &value,
                        self.content_headers(&output_id),
                        UNTRACKED,
                    )?;
                    self.publish_focus_row(&aggregate, &output_id)?;
                }
                EngineOutput::Alert(alert) => {
                    let value = self.encoder.alert(&alert);
                    self.send(
                        &self.kafka.topics.alerts,
                        None,
                        Some(alert.key.as_bytes()),
                        &value,
                        self.content_headers(&output_id),
                        UNTRACKED,
                    )?;
                    self.count_alert(&alert, source);
                }
                EngineOutput::DeadLetter {
                    event,
                    offset,
                    reason,
                } => {
                    self.metrics.dead_lettered(DeadLetterKind::Engine);
                    warn!(partition, offset, event_id = %event.id, %reason, "usage event sent to dead letters");
                    match source {
                        Some(message) => self.send_aside(
                            &self.kafka.topics.dead_letters,
                            message,
                            "engine",
                            &reason,
                            None,
                        )?,
                        None => {
                            let value = encode_cloudevent(&event);
                            let headers = aside_headers(
                                &self.kafka.topics.usage,
                                partition,
                                offset,
                                "engine",
                                &reason,
                                None,
                            );
                            self.send(
                                &self.kafka.topics.dead_letters,
                                None,
                                Some(event.account.as_bytes()),
                                value.as_bytes(),
                                headers,
                                UNTRACKED,
                            )?;
                        }
                    }
                }
                EngineOutput::Unrated {
                    event,
                    offset,
                    reason,
                } => {
                    let text = reason.to_string();
                    match source {
                        Some(message) => self.send_aside(
                            &self.kafka.topics.unrated,
                            message,
                            "unrated",
                            &text,
                            Some(reason.code()),
                        )?,
                        None => {
                            let value = encode_cloudevent(&event);
                            let headers = aside_headers(
                                &self.kafka.topics.usage,
                                partition,
                                offset,
                                "unrated",
                                &text,
                                Some(reason.code()),
                            );
                            self.send(
                                &self.kafka.topics.unrated,
                                None,
                                Some(event.account.as_bytes()),
                                value.as_bytes(),
                                headers,
                                UNTRACKED,
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Publishes the FOCUS row of an aggregate of the exported window kind, when a
    /// FOCUS topic is configured.
    fn publish_focus_row(
        &self,
        aggregate: &SpendAggregate,
        output_id: &str,
    ) -> Result<(), FatalError> {
        let Some(topic) = &self.kafka.topics.focus else {
            return Ok(());
        };
        if Some(aggregate.window) != focus_charge_window(&self.processing.windows) {
            return Ok(());
        }
        let table = self.contracts.current();
        let row = match table.focus_row(aggregate) {
            Some(Ok(row)) => row,
            None => {
                warn!(contract_id = %aggregate.contract_id, account = %aggregate.account, "no FOCUS row for an aggregate whose contract was deleted");
                return Ok(());
            }
            Some(Err(error)) => {
                warn!(contract_id = %aggregate.contract_id, account = %aggregate.account, %error, "no FOCUS row for an aggregate");
                return Ok(());
            }
        };
        let object: serde_json::Map<String, serde_json::Value> = FOCUS_COLUMNS
            .iter()
            .zip(row.values())
            .map(|(column, cell)| {
                (
                    column.to_string(),
                    cell.map_or(serde_json::Value::Null, |text| text.into()),
                )
            })
            .collect();
        let value = serde_json::to_vec(&object).expect("a map of strings serializes to JSON");
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            })
            .insert(Header {
                key: headers::OUTPUT_ID,
                value: Some(output_id),
            });
        self.send(
            topic,
            None,
            Some(aggregate.account.as_bytes()),
            &value,
            headers,
            UNTRACKED,
        )
    }

    fn count_alert(&self, alert: &Alert, source: Option<&BorrowedMessage<'_>>) {
        self.metrics.alert_published(alert.kind, alert.status);
        // Latency from the moment the triggering record reached the usage topic.
        let written = source
            .and_then(|message| message.timestamp().to_millis())
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        if let Some(written) = written {
            self.metrics
                .observe_event_to_alert(alert.kind, written, Utc::now());
        }
    }

    fn content_headers(&self, output_id: &str) -> OwnedHeaders {
        OwnedHeaders::new()
            .insert(Header {
                key: "content-type",
                value: Some(self.encoder.content_type()),
            })
            .insert(Header {
                key: headers::OUTPUT_ID,
                value: Some(output_id),
            })
    }

    /// Sends a usage record with its key, value and headers to `topic`, with the
    /// reason in added headers.
    fn send_aside(
        &self,
        topic: &str,
        message: &BorrowedMessage<'_>,
        stage: &str,
        reason: &str,
        code: Option<&str>,
    ) -> Result<(), FatalError> {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = message.headers() {
            for header in original.iter() {
                headers = headers.insert(header);
            }
        }
        let added = aside_headers(
            message.topic(),
            message.partition(),
            message.offset(),
            stage,
            reason,
            code,
        );
        for header in added.iter() {
            headers = headers.insert(header);
        }
        self.send(
            topic,
            None,
            message.key(),
            message.payload().unwrap_or_default(),
            headers,
            UNTRACKED,
        )
    }

    /// Sends one record, waiting while the producer's queue is full.
    fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
        headers: OwnedHeaders,
        marker: usize,
    ) -> Result<(), FatalError> {
        self.ensure_transaction()?;
        let mut record = BaseRecord::with_opaque_to(topic, marker)
            .payload(value)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((source, _)) => {
                    return Err(FatalError::Kafka {
                        what: "producing a record",
                        source,
                    })
                }
            }
        }
    }

    fn ensure_transaction(&self) -> Result<(), FatalError> {
        if self.kafka.guarantee == Guarantee::ExactlyOnce
            && !self.in_transaction.swap(true, Ordering::AcqRel)
        {
            self.producer
                .begin_transaction()
                .map_err(|source| FatalError::Kafka {
                    what: "beginning a transaction",
                    source,
                })?;
        }
        Ok(())
    }

    /// Waits until every record sent so far is delivered.
    fn flush(&self) -> Result<(), FatalError> {
        self.producer
            .flush(self.kafka.delivery_timeout)
            .map_err(|source| FatalError::Kafka {
                what: "waiting for deliveries",
                source,
            })?;
        let (count, first) = self.producer.context().failures();
        if count > 0 {
            return Err(FatalError::Delivery {
                count,
                first: first.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Advances idle partitions by processing time.
    pub fn advance_idle(
        &self,
        now: DateTime<Utc>,
        outputs: &mut Vec<EngineOutput>,
    ) -> Result<(), FatalError> {
        let mut slots = self.slots();
        for (partition, slot) in slots.iter_mut() {
            slot.engine.advance_idle(now, outputs);
            if !outputs.is_empty() {
                slot.changed = true;
                // The watermark moves on every idle advance that emits, so it keeps
                // the ids of successive idle steps apart.
                let state = slot.engine.state();
                let offset = state
                    .input_offset
                    .map_or_else(|| "none".to_owned(), |offset| offset.to_string());
                let watermark = state
                    .watermark
                    .current
                    .map_or(0, |watermark| watermark.timestamp_micros());
                let id_prefix = format!(
                    "{}/{partition}/{offset}/idle-{watermark}-",
                    self.kafka.topics.usage
                );
                self.publish(outputs, *partition, &id_prefix, None)?;
            }
        }
        Ok(())
    }

    /// Writes the changed partitions' state and commits their input offsets.
    /// `snapshot` partitions get a full snapshot (they are being handed over).
    pub fn checkpoint<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        snapshot: &[i32],
        mode: CommitMode,
    ) -> Result<(), FatalError> {
        let mut slots = self.slots();
        let due: Vec<i32> = slots
            .iter()
            // A partition handed over gets a snapshot, unless its last changelog
            // record already is one of its current state.
            .filter(|(partition, slot)| {
                let snapshot_is_current = !slot.changed
                    && slot.snapshot_offset.is_some()
                    && slot.changes_since_snapshot == 0;
                slot.changed || (snapshot.contains(partition) && !snapshot_is_current)
            })
            .map(|(partition, _)| *partition)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let exactly_once = self.kafka.guarantee == Guarantee::ExactlyOnce;
        if !exactly_once {
            self.flush()?;
        }

        let mut offsets = TopicPartitionList::new();
        let mut written = Vec::new();
        for partition in &due {
            let slot = slots.get_mut(partition).expect("due partitions are owned");
            // A new snapshot once the changes since the last one are as large as it.
            // A restore then reads at most about twice the state, and snapshots of a
            // large, slowly changing state, which stall the loop while written, stay rare.
            let full = snapshot.contains(partition)
                || slot.snapshot_offset.is_none()
                || slot.changes_since_snapshot + 1 >= self.kafka.snapshot_every
                || slot.changes_bytes >= slot.snapshot_bytes;
            let (kind, bytes) = if full {
                (SNAPSHOT, Some(slot.engine.snapshot()))
            } else {
                (CHANGES, slot.engine.changelog_record())
            };
            if let Some(bytes) = bytes {
                let input_offset = slot.engine.state().input_offset.unwrap_or(-1).to_string();
                let snapshot_offset = slot.snapshot_offset.unwrap_or(-1).to_string();
                let key = changelog::record_key(&self.kafka.topics.usage, *partition);
                let chunks = changelog::split_into_chunks(&bytes, self.kafka.state_chunk_bytes);
                for (index, chunk) in chunks.iter().enumerate() {
                    let position = format!("{index}/{}", chunks.len());
                    let mut headers = OwnedHeaders::new()
                        .insert(Header {
                            key: changelog::KIND_HEADER,
                            value: Some(kind),
                        })
                        .insert(Header {
                            key: changelog::INPUT_OFFSET_HEADER,
                            value: Some(&input_offset),
                        })
                        .insert(Header {
                            key: changelog::CHUNK_HEADER,
                            value: Some(&position),
                        });
                    if kind == CHANGES {
                        headers = headers.insert(Header {
                            key: changelog::SNAPSHOT_OFFSET_HEADER,
                            value: Some(&snapshot_offset),
                        });
                    }
                    // The first chunk's offset is where a restore starts reading.
                    let marker = if full && index == 0 {
                        TRACK_SNAPSHOT
                    } else {
                        UNTRACKED
                    };
                    self.send(
                        &self.kafka.topics.changelog,
                        Some(*partition),
                        Some(key.as_bytes()),
                        chunk,
                        headers,
                        marker,
                    )?;
                }
                self.metrics
                    .changelog_written_bytes
                    .inc_by(bytes.len() as u64);
                written.push((*partition, full, bytes.len() as u64));
            }
            offsets
                .add_partition_offset(
                    &self.kafka.topics.usage,
                    *partition,
                    Offset::Offset(slot.next_offset),
                )
                .map_err(|source| FatalError::Kafka {
                    what: "listing offsets",
                    source,
                })?;
        }

        if exactly_once {
            self.ensure_transaction()?;
            let group = consumer.group_metadata().ok_or(FatalError::Kafka {
                what: "reading the consumer group metadata",
                source: KafkaError::ClientCreation("no group metadata".to_owned()),
            })?;
            self.producer
                .send_offsets_to_transaction(&offsets, &group, self.kafka.delivery_timeout)
                .map_err(|source| FatalError::Kafka {
                    what: "adding offsets to the transaction",
                    source,
                })?;
            self.producer
                .commit_transaction(self.kafka.delivery_timeout)
                .map_err(|source| FatalError::Kafka {
                    what: "committing the transaction",
                    source,
                })?;
            self.in_transaction.store(false, Ordering::Release);
        }
        // Serves the delivery reports, so the snapshot offsets below are known.
        self.flush()?;
        if !exactly_once {
            if let Err(error) = consumer.commit(&offsets, mode) {
                // The state in the changelog is what counts; a failed commit only
                // means a restart skips ahead from the state's own offset.
                warn!(%error, "committing input offsets failed; the changelog keeps the position");
                self.metrics.processing_retries.inc();
            }
        }

        for (partition, full, size) in written {
            let slot = slots
                .get_mut(&partition)
                .expect("written partitions are owned");
            if full {
                match self.producer.context().take_snapshot_offset(partition) {
                    Some(offset) => slot.snapshot_offset = Some(offset),
                    None => {
                        return Err(FatalError::Delivery {
                            count: 1,
                            first: format!(
                                "the snapshot of partition {partition} has no delivery report"
                            ),
                        })
                    }
                }
                slot.changes_since_snapshot = 0;
                slot.snapshot_bytes = size;
                slot.changes_bytes = 0;
            } else {
                slot.changes_since_snapshot += 1;
                slot.changes_bytes += size;
            }
        }
        for partition in due {
            if let Some(slot) = slots.get_mut(&partition) {
                slot.changed = false;
            }
        }
        Ok(())
    }

    /// Restores newly assigned partitions and sets where their input resumes.
    pub fn on_assign(&self, assignment: &mut TopicPartitionList) {
        let partitions: Vec<i32> = assignment
            .elements()
            .iter()
            .filter(|element| element.topic() == self.kafka.topics.usage)
            .map(|element| element.partition())
            .collect();
        for partition in partitions {
            if self.stop.load(Ordering::Relaxed) {
                // Its records are ignored until the next owner restores it.
                info!(partition, "stop requested; partition left unrestored");
                continue;
            }
            let started = Instant::now();
            let restored = match restore_partition(
                &self.reader,
                &self.kafka.topics.changelog,
                partition,
                &self.processing,
                &self.alerts,
                self.kafka.delivery_timeout,
            ) {
                Ok(restored) => restored,
                Err(error) => {
                    self.raise(FatalError::Restore(error));
                    continue;
                }
            };
            // Restoring many partitions can take a while; it is progress, not a hang.
            self.health.beat();
            let seconds = started.elapsed().as_secs_f64();
            self.metrics
                .observe_restore(started.elapsed(), restored.bytes);
            let (engine, next_offset) = match restored.engine {
                Some(engine) => {
                    let next = engine.state().input_offset.map_or(0, |offset| offset + 1);
                    if let Err(error) = assignment.set_partition_offset(
                        &self.kafka.topics.usage,
                        partition,
                        Offset::Offset(next),
                    ) {
                        self.raise(FatalError::Kafka {
                            what: "setting the resume offset",
                            source: error,
                        });
                    }
                    info!(
                        partition,
                        resume_offset = next,
                        restore_seconds = seconds,
                        bytes = restored.bytes,
                        "partition assigned; state restored"
                    );
                    (engine, next)
                }
                None => {
                    info!(partition, restore_seconds = seconds, "partition assigned; no state yet, starting from the committed offset or the beginning");
                    (
                        PartitionEngine::with_alerts(self.processing.clone(), self.alerts.clone()),
                        0,
                    )
                }
            };
            self.slots().insert(
                partition,
                Slot {
                    engine,
                    next_offset,
                    changed: false,
                    snapshot_offset: restored.snapshot_offset,
                    changes_since_snapshot: restored.changes_since_snapshot,
                    // The bytes the restore read approximate the snapshot's size.
                    snapshot_bytes: restored.bytes,
                    changes_bytes: 0,
                    consumed: self
                        .metrics
                        .consumed_counter(&self.kafka.topics.usage, partition),
                },
            );
        }
        self.health.set_consumer_joined(true);
    }

    /// Hands revoked partitions over: checkpoints with a snapshot, commits, and
    /// drops their engines. A lost assignment (the group moved on without this
    /// instance) writes nothing, because another instance may already own them.
    pub fn on_revoke<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        revoked: &TopicPartitionList,
    ) {
        let partitions: Vec<i32> = revoked
            .elements()
            .iter()
            .filter(|element| element.topic() == self.kafka.topics.usage)
            .map(|element| element.partition())
            .collect();
        if consumer.assignment_lost() {
            warn!(?partitions, "partitions lost without a hand-over; their state restarts from the last checkpoint");
            self.health.set_consumer_joined(false);
            if self.in_transaction.swap(false, Ordering::AcqRel) {
                // The open transaction also held the outputs of partitions still
                // owned, so their engines are now ahead of what is committed. Only a
                // restart restores them consistently.
                match self.producer.abort_transaction(self.kafka.delivery_timeout) {
                    Ok(()) => self.raise(FatalError::LostInTransaction),
                    Err(error) => self.raise(FatalError::Kafka {
                        what: "aborting the transaction",
                        source: error,
                    }),
                }
            }
        } else if let Err(error) = self.checkpoint(consumer, &partitions, CommitMode::Sync) {
            self.raise(error);
        }
        let mut slots = self.slots();
        for partition in &partitions {
            slots.remove(partition);
            self.metrics
                .remove_consumer_lag(&self.kafka.topics.usage, *partition);
        }
        info!(?partitions, "partitions revoked");
    }

    /// Calls `visit` with the engine of every owned partition.
    pub fn with_engines(&self, mut visit: impl FnMut(i32, &PartitionEngine)) {
        for (partition, slot) in self.slots().iter() {
            visit(*partition, &slot.engine);
        }
    }
}

fn aside_headers(
    topic: &str,
    partition: i32,
    offset: i64,
    stage: &str,
    reason: &str,
    code: Option<&str>,
) -> OwnedHeaders {
    let partition = partition.to_string();
    let offset = offset.to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: headers::SOURCE_TOPIC,
            value: Some(topic),
        })
        .insert(Header {
            key: headers::SOURCE_PARTITION,
            value: Some(&partition),
        })
        .insert(Header {
            key: headers::SOURCE_OFFSET,
            value: Some(&offset),
        })
        .insert(Header {
            key: headers::STAGE,
            value: Some(stage),
        })
        .insert(Header {
            key: headers::REASON,
            value: Some(reason),
        });
    if let Some(code) = code {
        headers = headers.insert(Header {
            key: headers::REASON_CODE,
            value: Some(code),
        });
    }
    headers
}

fn header_text(message: &BorrowedMessage<'_>, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key.eq_ignore_ascii_case(name))
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

fn difference(after: &Counters, before: &Counters) -> Counters {
    Counters {
        events: after.events - before.events,
        rated: after.rated - before.rated,
        unrated: after.unrated - before.unrated,
        duplicates: after.duplicates - before.duplicates,
        late: after.late - before.late,
        dead_lettered: after.dead_lettered - before.dead_lettered,
        corrections: after.corrections - before.corrections,
        alerts: after.alerts - before.alerts,
    }
}
