//! `burnrate run`: starts the contracts reader, waits for the first full load,
//! joins the consumer group and processes usage records until asked to stop, then
//! checkpoints and leaves the group.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnrate_engine::{AlertConfig, EngineOutput, ProcessingConfig};
use burnrate_pricing::ContractTable;
use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{Producer, ThreadedProducer};
use tracing::{info, warn};

use crate::clients::{self, ClientLog, Reader, ReaderContext};
use crate::config::{Guarantee, KafkaConfig};
use crate::contracts::{ContractsReader, SharedContracts};
use crate::decode::Decoder;
use crate::delivery::DeliveryTracker;
use crate::group::GroupContext;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::outputs::OutputEncoder;
use crate::pipeline::{FatalError, Pipeline};
use crate::spend::SpendCollector;

/// How often the spend series of the metrics endpoint are recomputed.
const SPEND_METRICS_INTERVAL: Duration = Duration::from_secs(10);

/// Settings of `burnrate run`, already validated.
pub struct RunSettings {
    /// The `[kafka]` table.
    pub kafka: KafkaConfig,
    /// Event-time settings.
    pub processing: ProcessingConfig,
    /// Alert rule settings.
    pub alerts: AlertConfig,
    /// Contracts from a bootstrap file, or an empty table.
    pub bootstrap_contracts: ContractTable,
    /// The usage record decoder.
    pub decoder: Decoder,
    /// The output encoder.
    pub encoder: OutputEncoder,
}

/// A failure that stops `burnrate run`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A client could not be created or configured.
    #[error("cannot create the {role}; check [kafka.properties]")]
    Client {
        /// The client's role.
        role: &'static str,
        /// The client's error.
        source: KafkaError,
    },
    /// A metadata request to the brokers failed.
    #[error("reading the metadata of topic {topic:?} from {brokers} failed; check [kafka] brokers and the TLS or SASL settings in [kafka.properties]")]
    Metadata {
        /// The topic asked about.
        topic: String,
        /// The configured bootstrap servers.
        brokers: String,
        /// The client's error.
        source: Box<KafkaError>,
    },
    /// A topic is missing or has too few partitions.
    #[error("{0}")]
    Topics(String),
    /// Processing stopped on an error.
    #[error(transparent)]
    Fatal(#[from] FatalError),
}

/// Runs until `stop` is set or a fatal error occurs.
pub fn run(
    settings: RunSettings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Arc<AtomicBool>,
) -> Result<(), RunError> {
    let kafka = settings.kafka;
    info!(guarantee = kafka.guarantee.name(), group_id = %kafka.group_id, usage_topic = %kafka.topics.usage, "starting");

    let reader: Reader = create_reader(&kafka, "changelog-reader")?;
    check_topics(&reader, &kafka)?;

    let contracts = SharedContracts::new(settings.bootstrap_contracts);
    let contracts_reader = ContractsReader {
        consumer: create_reader(&kafka, "contracts-reader")?,
        topic: kafka.topics.contracts.clone(),
        contracts: contracts.clone(),
        health: health.clone(),
        metrics: metrics.clone(),
        stop: stop.clone(),
    };
    let contracts_thread = std::thread::Builder::new()
        .name("contracts".into())
        .spawn(move || {
            if let Err(error) = contracts_reader.run() {
                tracing::error!(%error, "contracts reader stopped");
            }
        })
        .expect("spawning a thread");

    let transactional_id = format!(
        "{}-{}-{}",
        kafka.group_id,
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    let producer: ThreadedProducer<DeliveryTracker> =
        clients::producer(&kafka, Some(&transactional_id))
            .create_with_context(DeliveryTracker::default())
            .map_err(|source| RunError::Client {
                role: "producer",
                source,
            })?;
    if kafka.guarantee == Guarantee::ExactlyOnce {
        producer
            .init_transactions(kafka.delivery_timeout)
            .map_err(|source| RunError::Client {
                role: "transactional producer",
                source,
            })?;
        info!(transactional_id = %transactional_id, "transactions ready");
    }

    // Records are priced against the whole table, so nothing is consumed before it
    // has been read to its end once.
    while !health.contracts_loaded() {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        health.beat();
        std::thread::sleep(Duration::from_millis(50));
    }

    let member_config = clients::group_member(&kafka);
    let pipeline = Arc::new(Pipeline::new(
        kafka.clone(),
        settings.processing,
        settings.alerts,
        producer,
        reader,
        contracts.clone(),
        settings.decoder,
        settings.encoder,
        metrics.clone(),
        health.clone(),
        stop.clone(),
    ));
    let mut member_config = member_config;
    if !kafka.properties.contains_key("statistics.interval.ms") {
        member_config.set("statistics.interval.ms", "5000");
    }
    let consumer: BaseConsumer<GroupContext> = member_config
        .create_with_context(GroupContext {
            pipeline: pipeline.clone(),
            log: ClientLog::default(),
        })
        .map_err(|source| RunError::Client {
            role: "consumer group member",
            source,
        })?;
    consumer
        .subscribe(&[&kafka.topics.usage])
        .map_err(|source| RunError::Client {
            role: "consumer group member",
            source,
        })?;
    info!(topic = %kafka.topics.usage, "subscribed; waiting for the group to assign partitions");

    let result = process_until_stopped(&consumer, &pipeline, &kafka, &stop);

    // Graceful stop: hand every partition over with a snapshot, then leave.
    if result.is_ok() {
        let owned = pipeline.owned_partitions();
        if let Err(error) = pipeline.checkpoint(&consumer, &owned, CommitMode::Sync) {
            warn!(%error, "final checkpoint failed; the partitions restart from the previous one");
        }
    }
    consumer.unsubscribe();
    let leave_deadline = Instant::now() + Duration::from_secs(10);
    while !pipeline.owned_partitions().is_empty() && Instant::now() < leave_deadline {
        consumer.poll(Duration::from_millis(100));
    }
    drop(consumer);
    stop.store(true, Ordering::Relaxed);
    let _ = contracts_thread.join();
    info!("stopped");
    result.map_err(RunError::from)
}

fn process_until_stopped(
    consumer: &BaseConsumer<GroupContext>,
    pipeline: &Pipeline,
    kafka: &KafkaConfig,
    stop: &AtomicBool,
) -> Result<(), FatalError> {
    let mut outputs: Vec<EngineOutput> = Vec::new();
    let mut batch_started = Instant::now();
    let mut records = 0u32;
    let mut table_version = pipeline.contracts.version();
    let mut table = pipeline.contracts.current();
    let mut spend_published = Instant::now();
    let mut consume_errors = RepeatedErrors::default();
    while !stop.load(Ordering::Relaxed) {
        if let Some(error) = pipeline.take_fatal() {
            return Err(error);
        }
        let wait = kafka
            .checkpoint_interval
            .saturating_sub(batch_started.elapsed())
            .min(Duration::from_millis(100));
        match consumer.poll(wait) {
            None => {}
            Some(Ok(message)) => {
                // A contract update applies from the next record on.
                if pipeline.contracts.version() != table_version {
                    table_version = pipeline.contracts.version();
                    table = pipeline.contracts.current();
                }
                pipeline.process(&message, &table, &mut outputs)?;
                records += 1;
            }
            Some(Err(error)) => {
                pipeline.metrics.processing_errors.inc();
                consume_errors.report(&error);
            }
        }
        pipeline.health.beat();

        if records >= kafka.checkpoint_records
            || batch_started.elapsed() >= kafka.checkpoint_interval
        {
            pipeline.advance_idle(Utc::now(), &mut outputs)?;
            pipeline.checkpoint(consumer, &[], CommitMode::Async)?;
            batch_started = Instant::now();
            records = 0;
        }
        if spend_published.elapsed() >= SPEND_METRICS_INTERVAL {
            let mut collector = SpendCollector::default();
            pipeline.with_engines(|_, engine| collector.add(engine));
            collector.publish(&pipeline.metrics);
            spend_published = Instant::now();
        }
    }
    Ok(())
}

fn create_reader(kafka: &KafkaConfig, role: &'static str) -> Result<Reader, RunError> {
    clients::reader(kafka, role)
        .create_with_context(ReaderContext::default())
        .map_err(|source| RunError::Client { role, source })
}

/// Checks that the usage topic exists and the changelog has a partition for each
/// of its partitions.
fn check_topics(reader: &Reader, kafka: &KafkaConfig) -> Result<(), RunError> {
    let count = |topic: &str| -> Result<usize, RunError> {
        let metadata = reader
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .map_err(|source| RunError::Metadata {
                topic: topic.to_owned(),
                brokers: kafka.brokers.clone(),
                source: Box::new(source),
            })?;
        Ok(metadata
            .topics()
            .iter()
            .find(|found| found.name() == topic && found.error().is_none())
            .map_or(0, |found| found.partitions().len()))
    };
    let usage = count(&kafka.topics.usage)?;
    if usage == 0 {
        return Err(RunError::Topics(format!(
            "usage topic {:?} does not exist; create it or set [kafka.topics] usage",
            kafka.topics.usage
        )));
    }
    let changelog = count(&kafka.topics.changelog)?;
    if changelog == 0 {
        return Err(RunError::Topics(format!(
            "state changelog topic {:?} does not exist; create it with {usage} partitions like usage topic {:?} (cleanup.policy=delete, retention longer than a few snapshot intervals) or set [kafka.topics] changelog",
            kafka.topics.changelog, kafka.topics.usage
        )));
    }
    if changelog < usage {
        return Err(RunError::Topics(format!(
            "state changelog topic {:?} has {changelog} partitions but usage topic {:?} has {usage}; create the changelog with {usage} partitions (cleanup.policy=delete, retention longer than a few snapshot intervals)",
            kafka.topics.changelog, kafka.topics.usage
        )));
    }
    Ok(())
}

/// Logs a consume error the first time and then at most once a minute with the
/// number of repeats, so an unreachable broker does not flood the log.
#[derive(Default)]
struct RepeatedErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl RepeatedErrors {
    fn report(&mut self, error: &KafkaError) {
        let due = self
            .last_logged
            .is_none_or(|logged| logged.elapsed() >= Duration::from_secs(60));
        if !due {
            self.suppressed += 1;
            return;
        }
        warn!(%error, repeats_since_last_report = self.suppressed, "consuming failed; the client retries");
        self.last_logged = Some(Instant::now());
        self.suppressed = 0;
    }
}
