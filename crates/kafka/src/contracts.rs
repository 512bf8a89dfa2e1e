//! The contracts table: every instance reads the whole contracts topic (keyed by
//! contract id, compacted; an empty value deletes) outside the consumer group,
//! keeps reading it, and shares the current table with the processing loop.
//! The table counts as loaded once every partition was read to its end. While the
//! topic does not exist, the reader looks it up again and the table stays unloaded.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use burnrate_model::parse_contract_json;
use burnrate_pricing::ContractTable;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{error, info, warn};

use crate::clients::Reader;
use crate::health::Health;
use crate::metrics::Metrics;

/// How long one metadata request for the contracts topic may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Maximum pause between two lookups of a missing contracts topic.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How often a contracts topic that is still missing is logged again.
const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The current contracts table, shared between the reader and the processing loop.
#[derive(Clone)]
pub struct SharedContracts {
    current: Arc<RwLock<Arc<ContractTable>>>,
    /// Bumped on every replacement, so the processing loop can check for a new
    /// table on every record without taking the lock.
    version: Arc<AtomicU64>,
}

impl SharedContracts {
    /// Starts from `table` (a bootstrap file, or empty).
    pub fn new(table: ContractTable) -> SharedContracts {
        SharedContracts {
            current: Arc::new(RwLock::new(Arc::new(table))),
            version: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Returns the table as it is now; later updates do not change it.
    pub fn current(&self) -> Arc<ContractTable> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Returns the number of replacements so far.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn replace(&self, table: ContractTable) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(table);
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

/// Reads the contracts topic into the shared table until `stop` is set.
pub struct ContractsReader {
    pub(crate) consumer: Reader,
    pub(crate) topic: String,
    pub(crate) contracts: SharedContracts,
    pub(crate) health: Arc<Health>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl ContractsReader {
    /// Runs the reader on the calling thread.
    pub fn run(self) -> Result<(), KafkaError> {
        let Some(partitions) = self.wait_for_partitions() else {
            return Ok(());
        };
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment.add_partition_offset(&self.topic, *partition, Offset::Beginning)?;
        }
        self.consumer.assign(&assignment)?;

        let mut table = (*self.contracts.current()).clone();
        let mut unread: HashSet<i32> = partitions.into_iter().collect();
        let mut loaded = false;
        while !self.stop.load(Ordering::Relaxed) {
            match self.consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    unread.remove(&partition);
                    if !loaded && unread.is_empty() {
                        loaded = true;
                        self.contracts.replace(table.clone());
                        self.finish_load(&table);
                    }
                }
                Some(Err(error)) => {
                    warn!(topic = %self.topic, %error, "contracts topic read failed; retrying")
                }
                Some(Ok(message)) if self.apply(&mut table, &message) && loaded => {
                    self.contracts.replace(table.clone());
                    self.metrics
                        .contracts_updated(table.len(), chrono::Utc::now());
                }
                Some(Ok(_)) => {}
            }
        }
        Ok(())
    }

    /// Looks the contracts topic up until it exists, or returns `None` once `stop`
    /// is set. A missing topic must not count as an empty, loaded table, because the
    /// instance would then price every event as unrated and never read the topic.
    fn wait_for_partitions(&self) -> Option<Vec<i32>> {
        let mut delay = Duration::from_millis(250);
        let mut last_report: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let problem = match self
                .consumer
                .fetch_metadata(Some(&self.topic), METADATA_TIMEOUT)
            {
                Ok(metadata) => {
                    let partitions: Vec<i32> = metadata
                        .topics()
                        .iter()
                        .filter(|topic| topic.name() == self.topic && topic.error().is_none())
                        .flat_map(|topic| topic.partitions().iter().map(|partition| partition.id()))
                        .collect();
                    if !partitions.is_empty() {
                        return Some(partitions);
                    }
                    "the topic does not exist or has no partitions; create it (compacted) and publish contracts keyed by id".to_owned()
                }
                Err(error) => format!("reading its metadata failed: {error}"),
            };
            if last_report.is_none_or(|reported| reported.elapsed() >= REPORT_INTERVAL) {
                error!(topic = %self.topic, %problem, retry_in = ?delay, "contracts table cannot load; not ready until it does");
                last_report = Some(Instant::now());
            }
            self.sleep_unless_stopped(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
        None
    }

    fn sleep_unless_stopped(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while !self.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish_load(&self, table: &ContractTable) {
        info!(topic = %self.topic, contracts = table.len(), "contracts table loaded");
        self.metrics
            .contracts_updated(table.len(), chrono::Utc::now());
        self.health.set_contracts_loaded();
    }

    /// Applies one record; returns whether the table changed.
    fn apply(&self, table: &mut ContractTable, message: &BorrowedMessage<'_>) -> bool {
        let key = message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned());
        let partition = message.partition();
        let offset = message.offset();
        match message.payload() {
            None | Some([]) => {
                let Some(id) = key else {
                    warn!(
                        partition,
                        offset,
                        "contracts tombstone without a key ignored; key contract records by id"
                    );
                    self.metrics.contract_updates_rejected.inc();
                    return false;
                };
                let removed = table.remove(&id);
                info!(contract_id = %id, partition, offset, removed, "contract deleted");
                removed
            }
            Some(value) => {
                let text = String::from_utf8_lossy(value);
                let contract = match parse_contract_json(&text) {
                    Ok(contract) => contract,
                    Err(problems) => {
                        error!(partition, offset, key = key.as_deref(), problems = %problems.join("; "), "invalid contract ignored; the previous version stays in force");
                        self.metrics.contract_updates_rejected.inc();
                        return false;
                    }
                };
                // A record keyed otherwise could never be deleted or compacted away.
                if key.as_deref() != Some(contract.id.as_str()) {
                    error!(partition, offset, key = key.as_deref().unwrap_or("none"), contract_id = %contract.id, "contract record ignored because its key is not its id; key contract records by id so deletes and compaction work");
                    self.metrics.contract_updates_rejected.inc();
                    return false;
                }
                let id = contract.id.clone();
                match table.upsert(contract) {
                    Ok(()) => {
                        info!(contract_id = %id, partition, offset, "contract updated");
                        true
                    }
                    Err(problems) => {
                        let listing: Vec<String> =
                            problems.iter().map(ToString::to_string).collect();
                        error!(contract_id = %id, partition, offset, problems = %listing.join("; "), "contract conflicts with the table and was ignored");
                        self.metrics.contract_updates_rejected.inc();
                        false
                    }
                }
            }
        }
    }
}
