//! Checks that the end-to-end test harness works against the Tansu broker: topics,
//! produce and read back, a cooperative-sticky consumer group, transactions, and
//! the schema registry together with the Confluent Python client.
//!
//! These tests exercise the broker and the harness, not burnrate's runtime, so a
//! failure here means that the end-to-end tests of burnrate cannot be trusted.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use burnrate_codec::avro::{decode_confluent_frame, decode_datum, parse_writer_schema, MAGIC_BYTE};
use burnrate_codec::decode_cloudevent;
use burnrate_model::UsageEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use support::broker::broker;
use support::process::repository_root;
use support::registry::SchemaRegistry;
use support::topics::{
    consumer_config, create_topic, list_offsets, partition_count, produce, read_all, stored_record,
    unique_name, wait_for_records, OutgoingRecord, StoredRecord,
};

/// How long a consumer group may take to settle. Each join waits half of the
/// 6 s session timeout on Tansu. A second member joining a cooperative-sticky
/// group took 12 s in total in these tests.
const GROUP_TIMEOUT: Duration = Duration::from_secs(60);

fn numbered_records(count: usize) -> Vec<OutgoingRecord> {
    (0..count)
        .map(|number| {
            OutgoingRecord::new(
                format!("account-{}", number % 17),
                format!("value-{number}"),
            )
            .header("sequence", number.to_string())
        })
        .collect()
}

#[test]
fn produced_records_read_back_exactly() {
    let topic = unique_name("read-back");
    create_topic(&topic, 6);
    let sent = numbered_records(100);

    let positions = produce(&topic, &sent);
    let records = read_all(&topic);

    assert_eq!(records.len(), 100, "read {} of 100 records", records.len());
    let partitions: BTreeSet<i32> = records.iter().map(|record| record.partition).collect();
    assert!(
        partitions.len() > 1,
        "all keys landed in partitions {partitions:?}"
    );
    for ((record, (partition, offset)), number) in sent.iter().zip(&positions).zip(0..) {
        let stored = records
            .iter()
            .find(|stored| stored.partition == *partition && stored.offset == *offset)
            .unwrap_or_else(|| panic!("record {number} at {partition}/{offset} was not read back"));
        assert_eq!(stored.key, record.key, "key of record {number}");
        assert_eq!(stored.value, record.value, "value of record {number}");
        assert_eq!(
            stored.header("sequence"),
            Some(number.to_string().as_bytes()),
            "header of record {number}"
        );
        assert_eq!(stored.headers.len(), 1, "headers of record {number}");
    }

    // The fetch reads to the true end; ListOffsets may lag it on Tansu, never lead.
    for partition in 0..6 {
        let end = records
            .iter()
            .filter(|record| record.partition == partition)
            .count() as i64;
        let (low, high) = list_offsets(&topic, partition);
        eprintln!("partition {partition}: {end} records read, ListOffsets low {low} high {high}");
        assert_eq!(low, 0, "ListOffsets low watermark of partition {partition}");
        assert!(
            high <= end,
            "ListOffsets high {high} is past the {end} records of partition {partition}"
        );
    }
}

#[test]
fn wait_for_records_returns_on_count() {
    let topic = unique_name("wait-for");
    create_topic(&topic, 2);
    produce(&topic, &numbered_records(5));

    let records = wait_for_records(&topic, 5, Duration::from_secs(10));
    assert_eq!(records.len(), 5);

    let started = Instant::now();
    let records = wait_for_records(&topic, 6, Duration::from_secs(2));
    assert_eq!(records.len(), 5, "no sixth record exists");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "returned before the timeout"
    );
}

/// Polls every member once and returns the records they received.
fn poll_members(members: &[BaseConsumer], received: &mut [Vec<StoredRecord>]) {
    for (member, records) in members.iter().zip(received.iter_mut()) {
        if let Some(result) = member.poll(Duration::from_millis(50)) {
            let message = result.unwrap_or_else(|error| panic!("Consuming failed: {error}"));
            records.push(stored_record(&message));
        }
    }
}

fn assigned_partitions(member: &BaseConsumer) -> BTreeSet<i32> {
    let assignment = member.assignment().expect("the assignment can be read");
    assignment
        .elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}

#[test]
fn cooperative_sticky_group_splits_partitions() {
    let topic = unique_name("group");
    let group = unique_name("group");
    create_topic(&topic, 6);
    let members: Vec<BaseConsumer> = (0..2)
        .map(|_| {
            let member: BaseConsumer = consumer_config(&group)
                .set("partition.assignment.strategy", "cooperative-sticky")
                .create()
                .expect("a group member can be created");
            member.subscribe(&[&topic]).expect("a member can subscribe");
            member
        })
        .collect();
    let mut received = vec![Vec::new(), Vec::new()];

    // Records are produced only once the group has settled, so that each record
    // goes to the member that owns its partition and no record is read twice.
    let started = Instant::now();
    let assignments = loop {
        poll_members(&members, &mut received);
        let assignments: Vec<BTreeSet<i32>> = members.iter().map(assigned_partitions).collect();
        let all: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
        if assignments.iter().all(|partitions| !partitions.is_empty()) && all.len() == 6 {
            break assignments;
        }
        assert!(
            started.elapsed() < GROUP_TIMEOUT,
            "the group did not settle within {GROUP_TIMEOUT:?}: {assignments:?}"
        );
    };
    eprintln!(
        "group settled in {:?} with assignments {assignments:?}",
        started.elapsed()
    );
    assert!(
        assignments[0].is_disjoint(&assignments[1]),
        "members share partitions: {assignments:?}"
    );
    assert!(
        received.iter().all(Vec::is_empty),
        "records were read before any was produced"
    );

    let positions: BTreeSet<(i32, i64)> =
        produce(&topic, &numbered_records(60)).into_iter().collect();
    let started = Instant::now();
    while received.iter().map(Vec::len).sum::<usize>() < 60 && started.elapsed() < GROUP_TIMEOUT {
        poll_members(&members, &mut received);
    }

    let read: Vec<(i32, i64)> = received
        .iter()
        .flatten()
        .map(|record| (record.partition, record.offset))
        .collect();
    let distinct: BTreeSet<(i32, i64)> = read.iter().copied().collect();
    assert_eq!(read.len(), distinct.len(), "a record was read twice");
    assert_eq!(
        distinct, positions,
        "the members did not read exactly the produced records"
    );
    for (member, records) in received.iter().enumerate() {
        for record in records {
            assert!(
                assignments[member].contains(&record.partition),
                "member {member} read partition {} outside its assignment {:?}",
                record.partition,
                assignments[member]
            );
        }
    }
    assert_eq!(
        members[0].assignment().unwrap().count() + members[1].assignment().unwrap().count(),
        6
    );
}

#[test]
fn cooperative_rebalance_keeps_owned_partitions() {
    let topic = unique_name("rebalance");
    let group = unique_name("rebalance");
    create_topic(&topic, 6);
    let member = || -> BaseConsumer {
        let member: BaseConsumer = consumer_config(&group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create()
            .expect("a group member can be created");
        member.subscribe(&[&topic]).expect("a member can subscribe");
        member
    };
    let mut received = vec![Vec::new(), Vec::new()];

    let first = member();
    let started = Instant::now();
    while assigned_partitions(&first).len() < 6 {
        poll_members(std::slice::from_ref(&first), &mut received);
        assert!(
            started.elapsed() < GROUP_TIMEOUT,
            "the first member did not get all partitions"
        );
    }
    eprintln!(
        "first member got all 6 partitions in {:?}",
        started.elapsed()
    );

    // A cooperative rebalance revokes only the partitions that move, so the first
    // member keeps consuming some partitions throughout.
    let members = [first, member()];
    let started = Instant::now();
    let mut smallest_first_assignment = 6;
    let assignments = loop {
        poll_members(&members, &mut received);
        let assignments: Vec<BTreeSet<i32>> = members.iter().map(assigned_partitions).collect();
        smallest_first_assignment = smallest_first_assignment.min(assignments[0].len());
        let all: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
        if !assignments[1].is_empty()
            && all.len() == 6
            && assignments[0].is_disjoint(&assignments[1])
        {
            break assignments;
        }
        assert!(
            started.elapsed() < GROUP_TIMEOUT,
            "the group did not rebalance within {GROUP_TIMEOUT:?}: {assignments:?}"
        );
    };
    eprintln!(
        "second member joined in {:?}; assignments {assignments:?}",
        started.elapsed()
    );
    assert!(
        smallest_first_assignment > 0,
        "the first member lost every partition during the rebalance"
    );
    assert_eq!(assignments[0].len() + assignments[1].len(), 6);
}

#[test]
fn consumer_metadata_creates_no_topic() {
    let topic = unique_name("absent");

    assert_eq!(
        partition_count(&topic),
        None,
        "a consumer's metadata request created topic {topic}"
    );
    assert_eq!(
        partition_count(&topic),
        None,
        "topic {topic} appeared later"
    );
}

#[test]
fn transaction_commits_records_and_offsets() {
    let input = unique_name("tx-input");
    let output = unique_name("tx-output");
    let group = unique_name("tx-group");
    create_topic(&input, 1);
    create_topic(&output, 1);
    produce(&input, &numbered_records(3));

    let consumer: BaseConsumer = consumer_config(&group)
        .create()
        .expect("a consumer can be created");
    consumer
        .subscribe(&[&input])
        .expect("the consumer can subscribe");
    let mut consumed = Vec::new();
    let started = Instant::now();
    while consumed.len() < 3 {
        assert!(
            started.elapsed() < GROUP_TIMEOUT,
            "consumed {} of 3 input records",
            consumed.len()
        );
        if let Some(result) = consumer.poll(Duration::from_millis(100)) {
            consumed.push(stored_record(
                &result.expect("consuming the input succeeds"),
            ));
        }
    }

    let producer: ThreadedProducer<DefaultProducerContext> = support::topics::client_config()
        .set("transactional.id", unique_name("tx"))
        .create()
        .expect("a transactional producer can be created");
    let timeout = Duration::from_secs(20);
    producer
        .init_transactions(timeout)
        .expect("init_transactions succeeds");

    producer
        .begin_transaction()
        .expect("begin_transaction succeeds");
    for record in &consumed {
        let value = record.value.clone().unwrap();
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(&output)
                    .key(b"committed")
                    .payload(&value),
            )
            .unwrap_or_else(|(error, _)| panic!("queueing a transactional record failed: {error}"));
    }
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&input, 0, Offset::Offset(3))
        .unwrap();
    let group_metadata = consumer
        .group_metadata()
        .expect("the consumer has group metadata");
    producer
        .send_offsets_to_transaction(&offsets, &group_metadata, timeout)
        .expect("send_offsets_to_transaction succeeds");
    producer
        .commit_transaction(timeout)
        .expect("commit_transaction succeeds");

    producer
        .begin_transaction()
        .expect("a second begin_transaction succeeds");
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(&output)
                .key(b"aborted")
                .payload(b"aborted"),
        )
        .unwrap_or_else(|(error, _)| panic!("queueing a transactional record failed: {error}"));
    producer
        .flush(timeout)
        .expect("the aborted record is written before the abort");
    producer
        .abort_transaction(timeout)
        .expect("abort_transaction succeeds");

    let records = read_all(&output);
    let committed: Vec<&StoredRecord> = records
        .iter()
        .filter(|record| record.key_text() == "committed")
        .collect();
    assert_eq!(committed.len(), 3, "committed records in {records:?}");
    for (record, input_record) in committed.iter().zip(&consumed) {
        assert_eq!(record.value, input_record.value);
    }
    // NOTE: Tansu shows records of aborted transactions to read_committed readers,
    // so this count documents the broker, it is not asserted.
    let aborted = records
        .iter()
        .filter(|record| record.key_text() == "aborted")
        .count();
    eprintln!(
        "read_committed sees {aborted} aborted records; {} records in all",
        records.len()
    );

    let mut query = TopicPartitionList::new();
    query.add_partition(&input, 0);
    let committed_offsets = consumer
        .committed_offsets(query, timeout)
        .expect("committed offsets can be read");
    let offset = committed_offsets
        .find_partition(&input, 0)
        .unwrap()
        .offset();
    assert_eq!(
        offset,
        Offset::Offset(3),
        "offset committed in the transaction"
    );
}

/// Returns the events of the rating example that burnrate's JSON decoder accepts.
fn example_events() -> Vec<(String, UsageEvent)> {
    let text = std::fs::read_to_string(repository_root().join("examples/rating/events.jsonl"))
        .expect("examples/rating/events.jsonl can be read");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            decode_cloudevent(line.as_bytes())
                .ok()
                .map(|event| (line.to_owned(), event))
        })
        .collect()
}

#[test]
fn python_avro_producer_uses_registry() {
    let Some(python) = std::env::var_os("BURNRATE_TEST_PYTHON") else {
        panic!(
            "BURNRATE_TEST_PYTHON is not set. Run scripts/test, or set it to the python of a venv with the \
             packages in tests/interop/requirements.txt."
        );
    };
    let registry = SchemaRegistry::start();
    let topic = unique_name("avro");
    create_topic(&topic, 3);
    let events = example_events();
    assert!(
        events.len() >= 3,
        "the rating example has {} valid events",
        events.len()
    );
    let directory = tempfile::tempdir().unwrap();
    let events_path = directory.path().join("events.jsonl");
    let lines: Vec<&str> = events.iter().map(|(line, _)| line.as_str()).collect();
    std::fs::write(&events_path, lines.join("\n") + "\n").unwrap();

    let output = Command::new(&python)
        .arg(repository_root().join("tests/interop/produce_avro.py"))
        .args([
            "--brokers",
            broker().bootstrap_servers(),
            "--topic",
            &topic,
            "--registry",
            &registry.url(),
        ])
        .arg("--events")
        .arg(&events_path)
        .output()
        .expect("the Python producer runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "produce_avro.py failed with {}\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(
        stdout.lines().count(),
        events.len(),
        "delivery reports:\n{stdout}\n{stderr}"
    );
    eprintln!("registry requests: {:?}", registry.requests());

    let records = read_all(&topic);
    assert_eq!(records.len(), events.len());
    let expected: BTreeMap<&str, &UsageEvent> = events
        .iter()
        .map(|(_, event)| (event.id.as_str(), event))
        .collect();
    let schema_file: Value = serde_json::from_str(
        &std::fs::read_to_string(repository_root().join("schemas/usage_event.avsc")).unwrap(),
    )
    .unwrap();
    let mut seen = BTreeSet::new();
    for record in &records {
        let value = record.value.as_deref().expect("the record has a value");
        assert_eq!(
            value[0], MAGIC_BYTE,
            "magic byte of {}/{}",
            record.partition, record.offset
        );
        let (schema_id, datum) =
            decode_confluent_frame(value).expect("the value is Confluent-framed");

        let response = ureq::get(format!("{}/schemas/ids/{schema_id}", registry.url()))
            .call()
            .unwrap_or_else(|error| panic!("GET /schemas/ids/{schema_id} failed: {error}"));
        let content_type = response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/vnd.schemaregistry.v1+json");
        let body: Value =
            serde_json::from_str(&response.into_body().read_to_string().unwrap()).unwrap();
        let schema_text = body["schema"]
            .as_str()
            .expect("the registry returns the schema text");
        let registered: Value = serde_json::from_str(schema_text).unwrap();
        assert_eq!(
            registered, schema_file,
            "schema {schema_id} is schemas/usage_event.avsc"
        );

        let writer_schema = parse_writer_schema(schema_text).expect("the registered schema parses");
        let event: UsageEvent =
            decode_datum(datum, &writer_schema).expect("the datum decodes as a usage event");
        let original = expected
            .get(event.id.as_str())
            .unwrap_or_else(|| panic!("unexpected event {}", event.id));
        assert_eq!(&&event, original, "event {} read back from Avro", event.id);
        assert_eq!(
            record.key_text(),
            event.account,
            "record key of event {}",
            event.id
        );
        seen.insert(event.id.clone());
    }
    assert_eq!(seen.len(), events.len(), "every event was read once");

    let latest = ureq::get(format!(
        "{}/subjects/{topic}-value/versions/latest",
        registry.url()
    ))
    .call()
    .expect("the latest version of the value subject exists");
    let latest: Value =
        serde_json::from_str(&latest.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(latest["version"], 1);
    assert_eq!(latest["subject"], format!("{topic}-value"));
}
