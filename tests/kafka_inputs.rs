//! End-to-end tests of what `burnrate run` reads from the usage topic: poison
//! records among good ones, Avro from the schema registry (written by burnrate's
//! tests and by the Confluent Python client), and the metrics and probes that
//! report on it.
//!
//! Each test starts its own `burnrate run` process on its own topics and group.
//! Expected costs are worked out by hand from the contract prices in the test.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use chrono::DateTime;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use support::broker::broker;
use support::process::repository_root;
use support::registry::SchemaRegistry;
use support::run::{metric_sample, RunInstance, RunTopics, OUTPUT_TIMEOUT};
use support::topics::{create_topic, produce, wait_for_records, OutgoingRecord, StoredRecord};

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
const CONFLUENT_AVRO: &str = "application/vnd.confluent.avro";

/// Alert rules that would add alerts these tests do not look at.
const QUIET_ALERTS: &str = "[alerts]\nanomaly_detection = false\nunrated_usage = false\n";

/// Minute windows that close as soon as an event of a later minute arrives.
const MINUTE_WINDOWS: &str =
    "[processing]\nwindows = [\"minute\"]\nout_of_orderness = \"0s\"\nallowed_lateness = \"0s\"\n";

/// The fields of schemas/usage_event.avsc in another order, in both records.
const REORDERED_USAGE_SCHEMA: &str = r#"{"type": "record", "name": "UsageEvent", "namespace": "io.burnrate", "fields": [
    {"name": "data", "type": {"type": "record", "name": "UsageData", "fields": [
        {"name": "dimensions", "type": {"type": "map", "values": "string"}, "default": {}},
        {"name": "quantity", "type": "string"},
        {"name": "product", "type": ["null", "string"], "default": null},
        {"name": "meter", "type": "string"}]}},
    {"name": "subject", "type": "string"},
    {"name": "time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "type", "type": "string"},
    {"name": "source", "type": "string"},
    {"name": "id", "type": "string"},
    {"name": "specversion", "type": "string"}]}"#;

/// Builds a CloudEvents usage event from vendor `openai` without product or dimensions.
fn usage_event(id: &str, account: &str, time: &str, meter: &str, quantity: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "openai", "type": "burnrate.usage",
        "time": time, "subject": account,
        "data": {"meter": meter, "quantity": quantity}
    })
}

/// Builds a JSON usage record keyed by account, with a CloudEvents content type.
fn json_record(account: &str, value: impl Into<Vec<u8>>) -> OutgoingRecord {
    OutgoingRecord::new(account, value).header("content-type", CLOUDEVENTS_JSON)
}

/// Builds the JSON of a contract of `account` with vendor `openai`, billed in USD
/// from the 1st in UTC.
fn contract(id: &str, account: &str, prices: Value, budgets: Value) -> String {
    json!({
        "id": id, "account": account, "vendor": "openai", "currency": "USD",
        "timezone": "UTC", "billing_anchor_day": 1,
        "prices": prices, "budgets": budgets
    })
    .to_string()
}

/// Builds a price list of one per-unit price of `output_tokens` in force from 2026-01-01.
fn output_token_price(unit_price: &str) -> Value {
    json!([{"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z",
            "pricing": {"model": "per_unit", "unit_price": unit_price}}])
}

/// Encodes a usage event as an Avro datum of [`REORDERED_USAGE_SCHEMA`].
fn reordered_datum(id: &str, account: &str, time: &str, meter: &str, quantity: &str) -> Vec<u8> {
    let schema = Schema::parse_str(REORDERED_USAGE_SCHEMA).expect("the reordered schema parses");
    let micros = DateTime::parse_from_rfc3339(time)
        .expect("the time is RFC 3339")
        .timestamp_micros();
    let data = AvroValue::Record(vec![
        ("dimensions".to_owned(), AvroValue::Map(HashMap::new())),
        (
            "quantity".to_owned(),
            AvroValue::String(quantity.to_owned()),
        ),
        (
            "product".to_owned(),
            AvroValue::Union(0, Box::new(AvroValue::Null)),
        ),
        ("meter".to_owned(), AvroValue::String(meter.to_owned())),
    ]);
    let event = AvroValue::Record(vec![
        ("data".to_owned(), data),
        ("subject".to_owned(), AvroValue::String(account.to_owned())),
        ("time".to_owned(), AvroValue::TimestampMicros(micros)),
        (
            "type".to_owned(),
            AvroValue::String("burnrate.usage".to_owned()),
        ),
        ("source".to_owned(), AvroValue::String("openai".to_owned())),
        ("id".to_owned(), AvroValue::String(id.to_owned())),
        (
            "specversion".to_owned(),
            AvroValue::String("1.0".to_owned()),
        ),
    ]);
    let writer = GenericDatumWriter::builder(&schema)
        .build()
        .expect("a datum writer can be built");
    let mut datum = Vec::new();
    writer
        .write_value_ref(&mut datum, &event)
        .expect("the event fits the reordered schema");
    datum
}

/// Frames an Avro datum in the Confluent wire format: magic byte 0, the schema id
/// as a 4-byte big-endian integer, then the datum.
fn confluent_frame(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend_from_slice(&schema_id.to_be_bytes());
    frame.extend_from_slice(datum);
    frame
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|error| panic!("{text:?} is not a decimal: {error}"))
}

/// Returns the decimal in a JSON string field, such as an aggregate's `cost`.
fn decimal_field(value: &Value, field: &str) -> Decimal {
    let text = value[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field} of {value} is not a string"));
    decimal(text)
}

fn header_text<'a>(record: &'a StoredRecord, name: &str) -> &'a str {
    let value = record.header(name).unwrap_or_else(|| {
        panic!(
            "record {}/{} has no header {name}: {:?}",
            record.partition, record.offset, record.headers
        )
    });
    std::str::from_utf8(value).expect("the header is UTF-8")
}

/// Parses the JSON records of an output topic.
fn json_values(records: &[StoredRecord]) -> Vec<Value> {
    records
        .iter()
        .map(|record| {
            serde_json::from_slice(
                record
                    .value
                    .as_deref()
                    .expect("an output record has a value"),
            )
            .expect("an output record is JSON")
        })
        .collect()
}

/// Returns the one final aggregate of `window` starting at `start` for `meter`.
fn aggregate<'a>(aggregates: &'a [Value], window: &str, start: &str, meter: &str) -> &'a Value {
    let start = DateTime::parse_from_rfc3339(start).unwrap();
    let matching: Vec<&Value> = aggregates
        .iter()
        .filter(|aggregate| {
            aggregate["window"] == window
                && aggregate["meter"] == meter
                && DateTime::parse_from_rfc3339(aggregate["window_start"].as_str().unwrap())
                    .unwrap()
                    == start
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "aggregates of {meter} in the {window} from {start}: {aggregates:#?}"
    );
    matching[0]
}

#[test]
fn poison_records_go_to_dead_letters() {
    let registry = SchemaRegistry::start();
    let topics = RunTopics::unique();
    topics.create(1);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(
            "acme-openai",
            contract(
                "acme-openai",
                "acme",
                output_token_price("0.000008"),
                json!([]),
            ),
        )],
    );
    let reordered_id =
        registry.register(&format!("{}-value", topics.usage), REORDERED_USAGE_SCHEMA);
    let unknown_id = reordered_id + 4242;

    let invalid_json = br#"{"specversion": "1.0", "id": "bad-1", "#.to_vec();
    let mut no_subject = usage_event(
        "bad-2",
        "acme",
        "2026-05-06T10:00:12Z",
        "output_tokens",
        "7",
    );
    no_subject.as_object_mut().unwrap().remove("subject");
    let no_subject = no_subject.to_string().into_bytes();
    let unknown_schema = confluent_frame(
        unknown_id,
        &reordered_datum(
            "bad-3",
            "acme",
            "2026-05-06T10:00:14Z",
            "output_tokens",
            "9",
        ),
    );
    let reordered = confluent_frame(
        reordered_id,
        &reordered_datum(
            "e-2",
            "acme",
            "2026-05-06T10:00:20Z",
            "output_tokens",
            "2500",
        ),
    );
    let no_value = OutgoingRecord {
        key: Some(b"acme".to_vec()),
        ..OutgoingRecord::default()
    }
    .header("content-type", CLOUDEVENTS_JSON);

    let records = vec![
        json_record(
            "acme",
            usage_event(
                "e-1",
                "acme",
                "2026-05-06T10:00:10Z",
                "output_tokens",
                "1000",
            )
            .to_string(),
        ),
        json_record("acme", invalid_json.clone()),
        json_record("acme", no_subject.clone()),
        OutgoingRecord::new("acme", unknown_schema.clone()).header("content-type", CONFLUENT_AVRO),
        OutgoingRecord::new("acme", reordered).header("content-type", CONFLUENT_AVRO),
        no_value,
        json_record(
            "acme",
            usage_event(
                "e-3",
                "acme",
                "2026-05-06T10:00:30Z",
                "output_tokens",
                "500",
            )
            .to_string(),
        ),
        // A later minute closes the minute of the events above.
        json_record(
            "acme",
            usage_event(
                "e-4",
                "acme",
                "2026-05-06T10:05:00Z",
                "output_tokens",
                "100",
            )
            .to_string(),
        ),
    ];
    let positions = produce(&topics.usage, &records);
    assert!(
        positions.iter().all(|(partition, _)| *partition == 0),
        "positions {positions:?}"
    );
    let offsets: Vec<i64> = positions.iter().map(|(_, offset)| *offset).collect();

    let kafka = topics.kafka_table(&format!(
        "input_format = \"cloudevents-json\"\nschema_registry_url = \"{}\"",
        registry.url()
    ));
    let mut instance = RunInstance::start(&format!("{kafka}\n{MINUTE_WINDOWS}\n{QUIET_ALERTS}"));
    instance.wait_until_assigned();

    // Dead letters, in the order of their source records.
    let expected: [(usize, &[u8], &str); 4] = [
        (1, &invalid_json, "cloudevents-json: invalid JSON"),
        (2, &no_subject, "missing required field `subject`"),
        (
            3,
            &unknown_schema,
            &format!("schema id {unknown_id} not found in the schema registry"),
        ),
        (5, b"", "record has no value"),
    ];
    let dead_letters = wait_for_records(&topics.dead_letters, expected.len(), OUTPUT_TIMEOUT);
    assert_eq!(
        dead_letters.len(),
        expected.len(),
        "dead letters {dead_letters:#?}\n{}",
        instance.process.describe_output()
    );
    for (dead_letter, (index, value, reason)) in dead_letters.iter().zip(expected) {
        let source = &records[index];
        assert_eq!(
            dead_letter.value.as_deref().unwrap_or_default(),
            value,
            "value of the dead letter of record {index}"
        );
        assert_eq!(
            dead_letter.key, source.key,
            "key of the dead letter of record {index}"
        );
        assert_eq!(
            header_text(dead_letter, "content-type"),
            std::str::from_utf8(&source.headers[0].1).unwrap()
        );
        assert_eq!(
            header_text(dead_letter, "burnrate.source-topic"),
            topics.usage
        );
        assert_eq!(header_text(dead_letter, "burnrate.source-partition"), "0");
        assert_eq!(
            header_text(dead_letter, "burnrate.source-offset"),
            offsets[index].to_string()
        );
        assert_eq!(
            header_text(dead_letter, "burnrate.stage"),
            "decode",
            "stage of record {index}"
        );
        let found = header_text(dead_letter, "burnrate.reason");
        assert!(
            found.contains(reason),
            "reason of record {index} is {found:?}, expected it to contain {reason:?}"
        );
    }

    // e-1, the reordered Avro e-2 and e-3 share the minute from 10:00:
    // (1000 + 2500 + 500) tokens at 0.000008 USD = 0.032 USD.
    let aggregates = json_values(&wait_for_records(&topics.aggregates, 1, OUTPUT_TIMEOUT));
    let minute = aggregate(
        &aggregates,
        "minute",
        "2026-05-06T10:00:00Z",
        "output_tokens",
    );
    assert_eq!(minute["account"], "acme");
    assert_eq!(minute["contract_id"], "acme-openai");
    assert_eq!(minute["kind"], "final");
    assert_eq!(minute["currency"], "USD");
    assert_eq!(decimal_field(minute, "quantity"), decimal("4000"));
    assert_eq!(decimal_field(minute, "cost"), decimal("0.032"));
    assert_eq!(decimal_field(minute, "billed"), decimal("0.032"));
    assert_eq!(aggregates.len(), 1, "aggregates {aggregates:#?}");

    // e-4 after the poison records was rated too.
    assert_eq!(
        instance.wait_for_metric("burnrate_events_rated_total", 4.0, OUTPUT_TIMEOUT),
        4.0
    );
    let (_, scrape) = instance.get("/metrics");
    assert_eq!(
        metric_sample(&scrape, "burnrate_dead_letters_total{reason=\"decode\"}"),
        Some(4.0),
        "{scrape}"
    );
    assert_eq!(
        metric_sample(&scrape, "burnrate_dead_letters_total{reason=\"invalid\"}"),
        Some(0.0),
        "{scrape}"
    );
    assert_eq!(
        support::run::metric_sum(&scrape, "burnrate_records_consumed_total"),
        8.0,
        "{scrape}"
    );

    let status = instance.process.stop(Duration::from_secs(20));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
}

#[test]
fn future_events_dead_lettered() {
    let topics = RunTopics::unique();
    topics.create(1);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(
            "acme-openai",
            contract(
                "acme-openai",
                "acme",
                output_token_price("0.000008"),
                json!([]),
            ),
        )],
    );
    // One event from a producer whose clock is decades ahead would otherwise move
    // the watermark past every window and send all later events to dead letters.
    let records = vec![
        json_record(
            "acme",
            usage_event(
                "e-1",
                "acme",
                "2026-05-06T10:00:10Z",
                "output_tokens",
                "1000",
            )
            .to_string(),
        ),
        json_record(
            "acme",
            usage_event(
                "ahead",
                "acme",
                "2100-01-01T00:00:00Z",
                "output_tokens",
                "5",
            )
            .to_string(),
        ),
        json_record(
            "acme",
            usage_event(
                "e-2",
                "acme",
                "2026-05-06T10:00:20Z",
                "output_tokens",
                "500",
            )
            .to_string(),
        ),
    ];
    produce(&topics.usage, &records);

    let kafka = topics.kafka_table("max_time_ahead = \"1h\"");
    let mut instance = RunInstance::start(&format!("{kafka}\n{MINUTE_WINDOWS}\n{QUIET_ALERTS}"));
    instance.wait_until_assigned();

    let dead_letters = wait_for_records(&topics.dead_letters, 1, OUTPUT_TIMEOUT);
    assert_eq!(
        dead_letters.len(),
        1,
        "dead letters {dead_letters:#?}\n{}",
        instance.process.describe_output()
    );
    assert_eq!(header_text(&dead_letters[0], "burnrate.stage"), "invalid");
    let reason = header_text(&dead_letters[0], "burnrate.reason");
    assert!(
        reason.contains("event time 2100-01-01T00:00:00+00:00 is more than 1h ahead"),
        "reason {reason:?}"
    );

    assert_eq!(
        instance.wait_for_metric("burnrate_events_rated_total", 2.0, OUTPUT_TIMEOUT),
        2.0
    );
    let (_, scrape) = instance.get("/metrics");
    assert_eq!(
        metric_sample(&scrape, "burnrate_dead_letters_total{reason=\"invalid\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        metric_sample(&scrape, "burnrate_late_events_total"),
        Some(0.0),
        "{scrape}"
    );

    let status = instance.process.stop(Duration::from_secs(20));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
}

#[test]
fn metrics_and_probes_follow_the_run() {
    let topics = RunTopics::unique();
    // The contracts topic does not exist yet, so the table cannot load.
    topics.create_all_but_contracts(1);
    let kafka = topics.kafka_table("");
    let mut instance = RunInstance::start(&format!("{kafka}\n{MINUTE_WINDOWS}\n{QUIET_ALERTS}"));
    instance.wait_for_log_count("contracts table cannot load", 1, Duration::from_secs(15));

    assert_eq!(
        instance.get("/readyz"),
        (503, "contracts table not loaded yet\n".to_owned())
    );
    assert_eq!(instance.get("/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(instance.metric("burnrate_records_consumed_total"), 0.0);

    // A budget of 0.01 USD with thresholds at 50 % and 100 %.
    create_topic(&topics.contracts, 1);
    let budgets = json!([{"id": "initech-monthly", "amount": "0.01", "thresholds_pct": [50, 100], "forecast": false}]);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(
            "initech-openai",
            contract(
                "initech-openai",
                "initech",
                output_token_price("0.000008"),
                budgets,
            ),
        )],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while instance.get("/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "/readyz did not turn 200: {:?}\n{}",
            instance.get("/readyz"),
            instance.process.describe_output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(instance.get("/readyz"), (200, "ready\n".to_owned()));
    assert_eq!(instance.metric("burnrate_contracts"), 1.0);

    // 1000 tokens cost 0.008 USD (80 %: the 50 % threshold fires); 500 more cost
    // 0.004 USD, 0.012 USD in all (120 %: 100 % fires and supersedes 50 %).
    produce(
        &topics.usage,
        &[
            json_record(
                "initech",
                usage_event(
                    "m-1",
                    "initech",
                    "2026-05-06T10:00:10Z",
                    "output_tokens",
                    "1000",
                )
                .to_string(),
            ),
            json_record("initech", "not json"),
            json_record(
                "initech",
                usage_event(
                    "m-2",
                    "initech",
                    "2026-05-06T10:00:20Z",
                    "output_tokens",
                    "500",
                )
                .to_string(),
            ),
        ],
    );
    assert_eq!(
        instance.wait_for_metric("burnrate_records_consumed_total", 3.0, OUTPUT_TIMEOUT),
        3.0
    );
    assert_eq!(
        instance.wait_for_metric("burnrate_events_rated_total", 2.0, OUTPUT_TIMEOUT),
        2.0
    );

    let alerts = json_values(&wait_for_records(&topics.alerts, 3, OUTPUT_TIMEOUT));
    let (status, scrape) = instance.get("/metrics");
    assert_eq!(status, 200);
    let consumed = format!(
        "burnrate_records_consumed_total{{partition=\"0\",topic=\"{}\"}}",
        topics.usage
    );
    assert_eq!(metric_sample(&scrape, &consumed), Some(3.0), "{scrape}");
    assert_eq!(
        metric_sample(&scrape, "burnrate_events_rated_total"),
        Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        metric_sample(&scrape, "burnrate_events_unrated_total"),
        Some(0.0),
        "{scrape}"
    );
    assert_eq!(
        metric_sample(&scrape, "burnrate_dead_letters_total{reason=\"decode\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        support::run::metric_sum(&scrape, "burnrate_dead_letters_total"),
        1.0,
        "{scrape}"
    );
    let firing = "burnrate_alerts_total{kind=\"budget_threshold\",status=\"firing\"}";
    let resolved = "burnrate_alerts_total{kind=\"budget_threshold\",status=\"resolved\"}";
    assert_eq!(metric_sample(&scrape, firing), Some(2.0), "{scrape}");
    assert_eq!(metric_sample(&scrape, resolved), Some(1.0), "{scrape}");
    assert_eq!(
        support::run::metric_sum(&scrape, "burnrate_alerts_total"),
        3.0,
        "{scrape}"
    );

    let mut published: Vec<(String, u64, String)> = alerts
        .iter()
        .map(|alert| {
            assert_eq!(alert["kind"], "budget_threshold", "{alert}");
            let threshold = alert["threshold_pct"]
                .as_u64()
                .unwrap_or_else(|| panic!("alert without threshold_pct: {alert}"));
            (
                alert["status"].as_str().unwrap().to_owned(),
                threshold,
                alert["account"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    published.sort();
    let expected = [
        ("firing", 50, "initech"),
        ("firing", 100, "initech"),
        ("resolved", 50, "initech"),
    ];
    let expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(status, threshold, account)| (status.to_string(), *threshold, account.to_string()))
        .collect();
    assert_eq!(published, expected, "alerts {alerts:#?}");

    assert_eq!(instance.get("/healthz"), (200, "ok\n".to_owned()));
    let status = instance.process.stop(Duration::from_secs(20));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
}

#[test]
fn python_avro_events_are_priced() {
    let Some(python) = std::env::var_os("BURNRATE_TEST_PYTHON") else {
        panic!(
            "BURNRATE_TEST_PYTHON is not set. Run scripts/test, or set it to the python of a venv with the \
             packages in tests/interop/requirements.txt."
        );
    };
    let registry = SchemaRegistry::start();
    let topics = RunTopics::unique();
    topics.create(1);
    let prices = json!([
        {"meter": "input_tokens", "effective_from": "2026-01-01T00:00:00Z",
         "pricing": {"model": "graduated", "tiers": [
            {"up_to": "1000000", "unit_price": "0.000002"},
            {"up_to": null, "unit_price": "0.0000015"}]}},
        {"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z",
         "pricing": {"model": "package", "package_size": "1000", "package_price": "0.50"}}
    ]);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(
            "globex-openai",
            contract("globex-openai", "globex", prices, json!([])),
        )],
    );

    let events = [
        usage_event(
            "p-1",
            "globex",
            "2026-05-06T10:00:05Z",
            "input_tokens",
            "600000",
        ),
        usage_event(
            "p-2",
            "globex",
            "2026-05-06T10:00:40Z",
            "input_tokens",
            "700000",
        ),
        usage_event("p-3", "globex", "2026-05-06T10:00:50Z", "api_calls", "1500"),
        // No contract covers this account: it is unrated, and its time closes the minute.
        usage_event("p-4", "nobody", "2026-05-06T10:10:00Z", "input_tokens", "1"),
    ];
    let directory = tempfile::tempdir().unwrap();
    let events_path = directory.path().join("events.jsonl");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&events_path, lines.join("\n") + "\n").unwrap();
    let output = Command::new(&python)
        .arg(repository_root().join("tests/interop/produce_avro.py"))
        .args([
            "--brokers",
            broker().bootstrap_servers(),
            "--topic",
            &topics.usage,
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

    let kafka = topics.kafka_table(&format!(
        "input_format = \"avro-confluent\"\nschema_registry_url = \"{}\"",
        registry.url()
    ));
    let mut instance = RunInstance::start(&format!("{kafka}\n{MINUTE_WINDOWS}\n{QUIET_ALERTS}"));
    instance.wait_until_assigned();

    // input_tokens, graduated over the period's cumulative quantity:
    // p-1: 600000 x 0.000002 = 1.2; p-2: 400000 x 0.000002 + 300000 x 0.0000015
    // = 0.8 + 0.45 = 1.25; together 1.3 million tokens for 2.45 USD.
    // api_calls: 1500 calls start 2 packages of 1000 at 0.50 USD = 1.00 USD.
    let aggregates = json_values(&wait_for_records(&topics.aggregates, 2, OUTPUT_TIMEOUT));
    let tokens = aggregate(
        &aggregates,
        "minute",
        "2026-05-06T10:00:00Z",
        "input_tokens",
    );
    assert_eq!(tokens["account"], "globex");
    assert_eq!(decimal_field(tokens, "quantity"), decimal("1300000"));
    assert_eq!(decimal_field(tokens, "cost"), decimal("2.45"));
    let calls = aggregate(&aggregates, "minute", "2026-05-06T10:00:00Z", "api_calls");
    assert_eq!(decimal_field(calls, "quantity"), decimal("1500"));
    assert_eq!(decimal_field(calls, "cost"), decimal("1.00"));
    assert_eq!(aggregates.len(), 2, "aggregates {aggregates:#?}");

    let unrated = wait_for_records(&topics.unrated, 1, OUTPUT_TIMEOUT);
    assert_eq!(unrated.len(), 1, "unrated {unrated:#?}");
    assert_eq!(unrated[0].key_text(), "nobody");
    assert_eq!(header_text(&unrated[0], "burnrate.stage"), "unrated");
    assert_eq!(
        header_text(&unrated[0], "burnrate.reason-code"),
        "no_contract"
    );
    assert_eq!(header_text(&unrated[0], "burnrate.source-offset"), "3");

    assert_eq!(
        instance.wait_for_metric("burnrate_events_rated_total", 3.0, OUTPUT_TIMEOUT),
        3.0
    );
    assert_eq!(instance.metric("burnrate_events_unrated_total"), 1.0);
    assert_eq!(instance.metric("burnrate_dead_letters_total"), 0.0);
    let status = instance.process.stop(Duration::from_secs(20));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
}
