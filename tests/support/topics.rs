//! Topics on the test broker: create them, produce records and read every record
//! back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use futures_executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::broker::broker;

/// `session.timeout.ms` for test consumers. Tansu completes a group join only after
/// half of the session timeout, so the broker default of 45 s would make every
/// join take 22.5 s.
pub const TEST_SESSION_TIMEOUT_MS: &str = "6000";

/// How long a client request to the test broker may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`read_all`] may take to reach the end of every partition.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A record to produce. Without a partition the producer's partitioner picks one
/// from the key.
#[derive(Clone, Debug, Default)]
pub struct OutgoingRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: Option<i32>,
}

impl OutgoingRecord {
    /// Creates a record with a key and a value and no headers.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        OutgoingRecord {
            key: Some(key.into()),
            value: Some(value.into()),
            ..OutgoingRecord::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A record read from a topic. A header without a value has `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl StoredRecord {
    /// Returns the key as UTF-8 text. Panics if there is none or it is not UTF-8.
    pub fn key_text(&self) -> &str {
        std::str::from_utf8(self.key.as_deref().expect("the record has a key"))
            .expect("the key is UTF-8")
    }

    /// Returns the value as UTF-8 text. Panics if there is none or it is not UTF-8.
    pub fn value_text(&self) -> &str {
        std::str::from_utf8(self.value.as_deref().expect("the record has a value"))
            .expect("the value is UTF-8")
    }

    /// Returns the value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .and_then(|(_, value)| value.as_deref())
    }
}

/// Returns a name that no other test of any test process has used on this
/// broker, such as `usage-4711-3`. Use it for topics, groups and transactional ids.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let number = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{number}", std::process::id())
}

/// Returns a client configuration for the test broker.
pub fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker().bootstrap_servers());
    config
}

/// Returns a consumer configuration for `group`: the test session timeout, reading
/// from the earliest offset, no automatic commits.
pub fn consumer_config(group: &str) -> ClientConfig {
    let mut config = client_config();
    config
        .set("group.id", group)
        .set("session.timeout.ms", TEST_SESSION_TIMEOUT_MS)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    config
}

/// Creates a topic with `partitions` partitions and waits until its metadata lists
/// all of them.
pub fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config()
        .create()
        .expect("an admin client can be created");
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));

    let results = block_on(admin.create_topics([&topic], &options))
        .unwrap_or_else(|error| panic!("Creating topic {name} failed: {error}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("Creating topic {topic} failed: {code}");
        }
    }

    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while partition_count(name) != Some(partitions as usize) {
        if Instant::now() > deadline {
            panic!("Topic {name} did not show {partitions} partitions in the metadata within {REQUEST_TIMEOUT:?}.");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Returns the number of partitions of `topic`, or `None` if the broker does not
/// list the topic.
pub fn partition_count(topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = client_config()
        .create()
        .expect("a metadata client can be created");
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .unwrap_or_else(|error| panic!("Fetching metadata of topic {topic} failed: {error}"));
    let topic = metadata
        .topics()
        .iter()
        .find(|candidate| candidate.name() == topic)?;
    if topic.error().is_some() || topic.partitions().is_empty() {
        return None;
    }
    Some(topic.partitions().len())
}

/// Produces `records` to `topic` in order, waits for every delivery and returns
/// the (partition, offset) of each record.
pub fn produce(topic: &str, records: &[OutgoingRecord]) -> Vec<(i32, i64)> {
    let producer: FutureProducer = client_config()
        .set("enable.idempotence", "true")
        .create()
        .expect("a producer can be created");

    let mut deliveries = Vec::with_capacity(records.len());
    for record in records {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut outgoing: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
        if let Some(key) = &record.key {
            outgoing = outgoing.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            outgoing = outgoing.payload(value.as_slice());
        }
        if let Some(partition) = record.partition {
            outgoing = outgoing.partition(partition);
        }
        match producer.send_result(outgoing) {
            Ok(delivery) => deliveries.push(delivery),
            Err((error, _)) => panic!("Queueing a record for topic {topic} failed: {error}"),
        }
    }

    deliveries
        .into_iter()
        .map(|delivery| match block_on(delivery) {
            Ok(Ok(delivered)) => (delivered.partition, delivered.offset),
            Ok(Err((error, _))) => panic!("Producing to topic {topic} failed: {error}"),
            Err(_) => panic!("The producer for topic {topic} dropped a delivery report."),
        })
        .collect()
}

/// Reads every record of `topic` from the start of each partition to its end, in
/// (partition, offset) order, as a `read_committed` consumer.
///
/// The end of a partition is the high watermark of the fetch response (librdkafka
/// reports it as a partition EOF), not the `ListOffsets` result that
/// `fetch_watermarks` returns, because Tansu's `ListOffsets` can be behind by up to
/// one batch. Panics if a partition does not reach its end within [`READ_TIMEOUT`].
pub fn read_all(topic: &str) -> Vec<StoredRecord> {
    let partitions =
        partition_count(topic).unwrap_or_else(|| panic!("Topic {topic} does not exist."));
    let consumer: BaseConsumer = consumer_config(&unique_name("read-all"))
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .expect("a consumer can be created");

    // Assigning partitions directly skips the group protocol, so reading takes
    // no group join and commits nothing.
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition can be added to the assignment");
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|error| panic!("Assigning topic {topic} failed: {error}"));

    let mut records = Vec::new();
    let mut at_end: BTreeMap<i32, bool> = (0..partitions as i32)
        .map(|partition| (partition, false))
        .collect();
    let deadline = Instant::now() + READ_TIMEOUT;
    while at_end.values().any(|done| !done) {
        if Instant::now() > deadline {
            let waiting: Vec<i32> = at_end
                .iter()
                .filter(|(_, done)| !**done)
                .map(|(partition, _)| *partition)
                .collect();
            panic!(
                "Reading topic {topic} did not reach the end of partitions {waiting:?} within {READ_TIMEOUT:?} after \
                 reading {} records.",
                records.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                at_end.insert(message.partition(), false);
                records.push(stored_record(&message));
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition, true);
            }
            Some(Err(error)) => panic!("Reading topic {topic} failed: {error}"),
        }
    }

    records.sort_by_key(|record| (record.partition, record.offset));
    records
}

/// Reads `topic` until it contains at least `count` records or `timeout` expires,
/// and returns the records read last. Tests assert on the exact records afterwards.
pub fn wait_for_records(topic: &str, count: usize, timeout: Duration) -> Vec<StoredRecord> {
    let deadline = Instant::now() + timeout;
    loop {
        let records = if partition_count(topic).is_some() {
            read_all(topic)
        } else {
            Vec::new()
        };
        if records.len() >= count || Instant::now() > deadline {
            return records;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Returns the (low, high) offsets of a partition as `ListOffsets` reports them.
///
/// NOTE: on Tansu the high offset can be behind the true end by up to one batch;
/// use [`read_all`] to find the end.
pub fn list_offsets(topic: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = client_config().create().expect("a consumer can be created");
    consumer
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .unwrap_or_else(|error| panic!("ListOffsets for {topic}/{partition} failed: {error}"))
}

/// Converts a consumed message into a [`StoredRecord`].
pub fn stored_record<M: Message>(message: &M) -> StoredRecord {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    StoredRecord {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}
