//! The benchmark's own Kafka clients: topic creation, a bulk producer, the bare
//! consumer that sets the reference rate, and the reader of the alerts topic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::workload::Record;

/// `session.timeout.ms` of every group member in the benchmark. Tansu completes
/// a group join only after half of the session timeout, so librdkafka's default
/// of 45 s would add 22.5 s to each join.
pub const SESSION_TIMEOUT_MS: i64 = 6000;

/// How long a client request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a consumer may go without a record before the benchmark gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    config
}

/// Creates `topics` as (name, partitions) and waits until the metadata lists every
/// partition.
pub fn create_topics(brokers: &str, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers)
        .create()
        .context("cannot create an admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    for result in
        block_on(admin.create_topics(&new_topics, &options)).context("creating topics failed")?
    {
        if let Err((topic, code)) = result {
            bail!("creating topic {topic} failed: {code}");
        }
    }

    let metadata_client: BaseConsumer = client_config(brokers)
        .create()
        .context("cannot create a metadata client")?;
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    for (name, partitions) in topics {
        loop {
            let metadata = metadata_client.fetch_metadata(Some(name), REQUEST_TIMEOUT)?;
            let listed = metadata
                .topics()
                .iter()
                .find(|topic| topic.name() == *name && topic.error().is_none())
                .map_or(0, |topic| topic.partitions().len());
            if listed == *partitions as usize {
                break;
            }
            if Instant::now() > deadline {
                bail!("topic {name} lists {listed} partitions, not {partitions}, {REQUEST_TIMEOUT:?} after its creation");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Counts failed deliveries.
#[derive(Default)]
pub struct DeliveryCounter {
    failures: AtomicU64,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            eprintln!(
                "Delivery to {}/{} failed: {error}",
                message.topic(),
                message.partition()
            );
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A producer whose deliveries are served by a background thread.
pub struct BenchProducer {
    producer: ThreadedProducer<DeliveryCounter>,
}

impl BenchProducer {
    /// Creates an idempotent producer with `linger` as its `linger.ms`.
    pub fn new(brokers: &str, linger: Duration) -> anyhow::Result<BenchProducer> {
        let producer = client_config(brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", linger.as_millis().to_string())
            .set("queue.buffering.max.messages", "500000")
            .create_with_context(DeliveryCounter::default())
            .context("cannot create a producer")?;
        Ok(BenchProducer { producer })
    }

    /// Queues one record, waiting while the producer's queue is full.
    pub fn send(&self, topic: &str, record: &Record) -> anyhow::Result<()> {
        let mut outgoing = BaseRecord::to(topic)
            .key(record.key.as_bytes())
            .payload(record.value.as_bytes());
        loop {
            match self.producer.send(outgoing) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    outgoing = returned;
                    thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => bail!("queueing a record for topic {topic} failed: {error}"),
            }
        }
    }

    /// Waits until every queued record is delivered, and fails if any delivery failed.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.producer
            .flush(Duration::from_secs(120))
            .context("waiting for deliveries timed out")?;
        let failures = self.producer.context().failures.load(Ordering::Relaxed);
        if failures > 0 {
            bail!("{failures} records were not delivered");
        }
        Ok(())
    }
}

/// Time and count of the first and the last record a consumer read.
#[derive(Debug, Clone, Copy)]
pub struct ConsumeTiming {
    /// When the first record arrived, after the group join and the first fetch.
    pub first: Instant,
    /// When the last expected record arrived.
    pub last: Instant,
    /// Records read, which is the expected count.
    pub records: u64,
    /// Key and value bytes read.
    pub bytes: u64,
}

impl ConsumeTiming {
    /// Records per second after the first record.
    pub fn rate(&self) -> f64 {
        (self.records - 1) as f64 / (self.last - self.first).as_secs_f64()
    }
}

/// Reads `expected` records of `topic` as a member of a new consumer group and
/// touches each key and payload, without decoding anything.
///
/// The member reads `read_committed` from the earliest offset, as `burnrate run`
/// does, so both pay for the same broker work.
pub fn consume_bare(
    brokers: &str,
    group: &str,
    topic: &str,
    expected: u64,
) -> anyhow::Result<ConsumeTiming> {
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", group)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create()
        .context("cannot create the bare consumer")?;
    consumer.subscribe(&[topic])?;

    let mut first = None;
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut checksum = 0u8;
    let mut last_progress = Instant::now();
    while records < expected {
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if last_progress.elapsed() > STALL_TIMEOUT {
                    bail!("the bare consumer read {records} of {expected} records and then nothing for {STALL_TIMEOUT:?}");
                }
            }
            Some(Ok(message)) => {
                first.get_or_insert_with(Instant::now);
                let payload = message.payload().unwrap_or_default();
                let key = message.key().unwrap_or_default();
                // Reading a byte of each buffer keeps the loop from being optimized
                // into counting alone.
                checksum ^=
                    payload.first().copied().unwrap_or(0) ^ key.last().copied().unwrap_or(0);
                bytes += (payload.len() + key.len()) as u64;
                records += 1;
                last_progress = Instant::now();
            }
            Some(Err(error)) => eprintln!("The bare consumer got an error: {error}"),
        }
    }
    let last = Instant::now();
    std::hint::black_box(checksum);
    consumer.unsubscribe();
    Ok(ConsumeTiming {
        first: first.expect("at least one record was read"),
        last,
        records,
        bytes,
    })
}

/// A firing budget threshold alert: its account and threshold in percent.
pub type ThresholdKey = (String, u32);

/// Reads the alerts topic from the beginning until `stop` is set and returns the
/// arrival time of the first firing budget threshold alert of each alert account
/// and threshold. `ready` is set after the first poll, and `received` counts the
/// alerts kept so far.
pub fn receive_alerts(
    brokers: &str,
    topic: &str,
    partitions: i32,
    ready: &AtomicBool,
    received: &AtomicUsize,
    stop: &AtomicBool,
) -> anyhow::Result<HashMap<ThresholdKey, Instant>> {
    // A short fetch wait, so the benchmark's own reader adds little to the latency
    // it measures.
    let consumer: BaseConsumer = client_config(brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .context("cannot create the alerts reader")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let mut arrivals = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let polled = consumer.poll(Duration::from_millis(10));
        ready.store(true, Ordering::Relaxed);
        let message = match polled {
            None => continue,
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                eprintln!("The alerts reader got an error: {error}");
                continue;
            }
        };
        let arrived = Instant::now();
        let Some(key) = message.payload().and_then(threshold_key) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(entry) = arrivals.entry(key) {
            entry.insert(arrived);
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(arrivals)
}

/// Returns the account and threshold of a firing budget threshold alert of an
/// alert account, or `None` for any other record.
fn threshold_key(payload: &[u8]) -> Option<ThresholdKey> {
    let alert: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let is_firing_threshold = alert["kind"] == "budget_threshold" && alert["status"] == "firing";
    let account = alert["account"].as_str()?;
    if !is_firing_threshold || !account.starts_with("alert-") {
        return None;
    }
    let threshold = u32::try_from(alert["threshold_pct"].as_u64()?).ok()?;
    Some((account.to_owned(), threshold))
}
