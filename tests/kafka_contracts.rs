//! End-to-end test of the contracts table that `burnrate run` reads from the
//! contracts topic while it runs: a new price version and a tombstone.
//!
//! Expected costs are worked out by hand from the contract prices in the test.

mod support;

use std::str::FromStr;
use std::time::Duration;

use chrono::DateTime;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use support::run::{RunInstance, RunTopics, OUTPUT_TIMEOUT};
use support::topics::{produce, wait_for_records, OutgoingRecord, StoredRecord};

const CONTRACT_ID: &str = "hooli-openai";

/// How long the processing loop may take to switch to an updated table once
/// the contracts reader has applied it. The loop takes the current table at
/// every checkpoint, and the tests set `checkpoint_interval` to 200 ms.
const TABLE_SWITCH: Duration = Duration::from_secs(1);

/// Builds the JSON of the contract of account `hooli` with vendor `openai` and
/// these `output_tokens` prices.
fn contract(prices: Value) -> Vec<u8> {
    json!({
        "id": CONTRACT_ID, "account": "hooli", "vendor": "openai", "currency": "USD",
        "timezone": "UTC", "billing_anchor_day": 1, "prices": prices
    })
    .to_string()
    .into_bytes()
}

fn usage_record(id: &str, time: &str, quantity: &str) -> OutgoingRecord {
    let event = json!({
        "specversion": "1.0", "id": id, "source": "openai", "type": "burnrate.usage",
        "time": time, "subject": "hooli",
        "data": {"meter": "output_tokens", "quantity": quantity}
    });
    OutgoingRecord::new("hooli", event.to_string())
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|error| panic!("{text:?} is not a decimal: {error}"))
}

fn header_text<'a>(record: &'a StoredRecord, name: &str) -> &'a str {
    let value = record.header(name).unwrap_or_else(|| {
        panic!(
            "record {} has no header {name}: {:?}",
            record.offset, record.headers
        )
    });
    std::str::from_utf8(value).expect("the header is UTF-8")
}

/// Returns (quantity, cost) of the one final hour aggregate from `start`.
fn hour_aggregate(aggregates: &[Value], start: &str) -> (Decimal, Decimal) {
    let start = DateTime::parse_from_rfc3339(start).unwrap();
    let matching: Vec<&Value> = aggregates
        .iter()
        .filter(|aggregate| {
            aggregate["window"] == "hour"
                && DateTime::parse_from_rfc3339(aggregate["window_start"].as_str().unwrap())
                    .unwrap()
                    == start
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "aggregates of the hour from {start}: {aggregates:#?}"
    );
    let aggregate = matching[0];
    assert_eq!(aggregate["kind"], "final", "{aggregate}");
    assert_eq!(aggregate["contract_id"], CONTRACT_ID, "{aggregate}");
    (
        decimal(aggregate["quantity"].as_str().unwrap()),
        decimal(aggregate["cost"].as_str().unwrap()),
    )
}

#[test]
fn contract_updates_apply_while_running() {
    let topics = RunTopics::unique();
    topics.create(1);
    let first_version = json!([{"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z",
                                "pricing": {"model": "per_unit", "unit_price": "0.000008"}}]);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(CONTRACT_ID, contract(first_version))],
    );

    let kafka = topics.kafka_table("");
    let processing = "[processing]\nwindows = [\"hour\"]\nout_of_orderness = \"0s\"\nallowed_lateness = \"0s\"\n";
    let alerts = "[alerts]\nanomaly_detection = false\nunrated_usage = false\n";
    let mut instance = RunInstance::start(&format!("{kafka}\n{processing}\n{alerts}"));
    instance.wait_until_assigned();
    instance.wait_for_log_count("contract updated", 1, Duration::from_secs(5));

    // The second version ends the old price at 12:00 and starts a cheaper one there.
    let second_version = json!([
        {"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "effective_to": "2026-05-06T12:00:00Z",
         "pricing": {"model": "per_unit", "unit_price": "0.000008"}},
        {"meter": "output_tokens", "effective_from": "2026-05-06T12:00:00Z",
         "pricing": {"model": "per_unit", "unit_price": "0.000006"}}
    ]);
    produce(
        &topics.contracts,
        &[OutgoingRecord::new(CONTRACT_ID, contract(second_version))],
    );
    instance.wait_for_log_count("contract updated", 2, OUTPUT_TIMEOUT);
    std::thread::sleep(TABLE_SWITCH);

    // Before 12:00 the old price: 1000 + 500 tokens at 0.000008 = 0.012 USD.
    // From 12:00 (inclusive) the new one: 500 + 1000 tokens at 0.000006 = 0.009 USD.
    let priced = produce(
        &topics.usage,
        &[
            usage_record("h-1", "2026-05-06T11:00:00Z", "1000"),
            usage_record("h-2", "2026-05-06T11:59:59Z", "500"),
            usage_record("h-3", "2026-05-06T12:00:00Z", "500"),
            usage_record("h-4", "2026-05-06T12:30:00Z", "1000"),
        ],
    );
    assert_eq!(
        instance.wait_for_metric("burnrate_events_rated_total", 4.0, OUTPUT_TIMEOUT),
        4.0
    );

    // A tombstone deletes the contract, so later events of the account are unrated.
    produce(
        &topics.contracts,
        &[OutgoingRecord {
            key: Some(CONTRACT_ID.as_bytes().to_vec()),
            ..OutgoingRecord::default()
        }],
    );
    instance.wait_for_log_count("contract deleted", 1, OUTPUT_TIMEOUT);
    assert_eq!(
        instance.wait_for_metric("burnrate_contracts", 0.0, OUTPUT_TIMEOUT),
        0.0
    );
    std::thread::sleep(TABLE_SWITCH);

    let unpriced_records = [
        usage_record("h-5", "2026-05-06T12:40:00Z", "700"),
        usage_record("h-6", "2026-05-06T14:00:00Z", "300"),
    ];
    let unpriced = produce(&topics.usage, &unpriced_records);

    let unrated = wait_for_records(&topics.unrated, 2, OUTPUT_TIMEOUT);
    assert_eq!(
        unrated.len(),
        2,
        "unrated {unrated:#?}\n{}",
        instance.process.describe_output()
    );
    for (record, ((_, offset), source)) in
        unrated.iter().zip(unpriced.iter().zip(&unpriced_records))
    {
        assert_eq!(
            record.value, source.value,
            "value of unrated record {offset}"
        );
        assert_eq!(record.key_text(), "hooli");
        assert_eq!(header_text(record, "burnrate.stage"), "unrated");
        assert_eq!(header_text(record, "burnrate.reason-code"), "no_contract");
        assert!(
            header_text(record, "burnrate.reason").contains("no contract for account \"hooli\""),
            "{:?}",
            record.headers
        );
        assert_eq!(header_text(record, "burnrate.source-topic"), topics.usage);
        assert_eq!(
            header_text(record, "burnrate.source-offset"),
            offset.to_string()
        );
    }

    // h-6 at 14:00 moves the watermark past both hours.
    let aggregates: Vec<Value> = wait_for_records(&topics.aggregates, 2, OUTPUT_TIMEOUT)
        .iter()
        .map(|record| serde_json::from_slice(record.value.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        hour_aggregate(&aggregates, "2026-05-06T11:00:00Z"),
        (decimal("1500"), decimal("0.012"))
    );
    assert_eq!(
        hour_aggregate(&aggregates, "2026-05-06T12:00:00Z"),
        (decimal("1500"), decimal("0.009"))
    );
    assert_eq!(aggregates.len(), 2, "aggregates {aggregates:#?}");

    assert_eq!(
        instance.wait_for_metric("burnrate_events_unrated_total", 2.0, OUTPUT_TIMEOUT),
        2.0
    );
    assert_eq!(instance.metric("burnrate_events_rated_total"), 4.0);
    assert_eq!(priced.len(), 4);
    let status = instance.process.stop(Duration::from_secs(20));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
}

#[test]
fn missing_contracts_topic_blocks_readiness() {
    let topics = RunTopics::unique();
    topics.create_all_but_contracts(1);
    let mut instance = RunInstance::start(&topics.kafka_table(""));
    instance.wait_for_log_count("contracts table cannot load", 1, Duration::from_secs(15));

    // The reader keeps looking the topic up, so the instance stays unready but live.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        instance.get("/readyz"),
        (503, "contracts table not loaded yet\n".to_owned())
    );
    assert_eq!(instance.get("/healthz"), (200, "ok\n".to_owned()));
    assert!(
        instance.process.try_wait().is_none(),
        "burnrate exited\n{}",
        instance.process.describe_output()
    );

    let status = instance.process.stop(Duration::from_secs(10));
    assert!(
        status.success(),
        "burnrate exited with {status}\n{}",
        instance.process.describe_output()
    );
    let output = instance.process.stderr();
    assert!(
        !output.contains("contracts table loaded"),
        "the table counted as loaded without its topic\n{output}"
    );
}
