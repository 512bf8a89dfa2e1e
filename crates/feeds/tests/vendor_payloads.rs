//! The vendor adapters on real payloads copied from the vendors' public API
//! descriptions and test suites (see `data/*/SOURCE.md`). Expected values are either
//! read off the payload by hand or recomputed here from the raw file, never taken from
//! the adapters' output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burnrate_feeds::{datadog_usage, focus, openai_usage, twilio_usage, FeedRecord};
use burnrate_model::{EventKind, UsageEvent};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn events_only(records: Vec<FeedRecord>) -> Vec<UsageEvent> {
    records
        .into_iter()
        .map(|record| record.expect("every record is valid"))
        .collect()
}

fn by_meter(events: &[UsageEvent]) -> BTreeMap<&str, Decimal> {
    let mut totals = BTreeMap::new();
    for event in events {
        *totals.entry(event.meter.as_str()).or_default() += event.quantity;
    }
    totals
}

/// Returns the example response of one endpoint in the extracted OpenAI file.
fn openai_page(endpoint: &str) -> Value {
    let text = std::fs::read_to_string(data("openai/openapi_usage_costs_examples.extracted.json"))
        .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["endpoints"][endpoint]["example_response"].clone()
}

fn read_openai(page: &Value) -> Vec<FeedRecord> {
    openai_usage::read_events(page.to_string().as_bytes()).unwrap()
}

#[test]
fn openai_completions_bucket_gives_every_meter() {
    let events = events_only(read_openai(&openai_page("/organization/usage/completions")));

    // Hand-read from the example response: fifteen non-zero numeric fields.
    let expected: BTreeMap<&str, Decimal> = [
        ("input_tokens", "1000"),
        ("input_cached_tokens", "400"),
        ("input_cache_write_tokens", "100"),
        ("input_uncached_tokens", "500"),
        ("output_tokens", "500"),
        ("input_text_tokens", "400"),
        ("output_text_tokens", "400"),
        ("input_cached_text_tokens", "300"),
        ("input_audio_tokens", "50"),
        ("input_cached_audio_tokens", "50"),
        ("output_audio_tokens", "50"),
        ("input_image_tokens", "50"),
        ("input_cached_image_tokens", "50"),
        ("output_image_tokens", "50"),
        ("requests", "5"),
    ]
    .into_iter()
    .map(|(meter, quantity)| (meter, dec(quantity)))
    .collect();
    assert_eq!(by_meter(&events), expected);
    assert_eq!(events.len(), 15);

    let requests = events
        .iter()
        .find(|event| event.meter == "requests")
        .unwrap();
    assert_eq!(requests.time, time("2024-11-01T00:00:00Z"));
    assert_eq!(requests.account, openai_usage::ORGANIZATION_ACCOUNT);
    assert_eq!(requests.source, "openai");
    assert_eq!(requests.product, None);
    assert_eq!(requests.kind, EventKind::Usage);
    assert_eq!(requests.id, "1730419200-1730505600-completions-requests");
    assert_eq!(requests.dimensions["usage_kind"], "completions");
}

#[test]
fn openai_grouped_result_maps_fields() {
    // The result example of the completions schema, grouped by every field, in a bucket.
    let text = std::fs::read_to_string(data("openai/openapi_usage_costs_examples.extracted.json"))
        .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let example = file["schemas"]["UsageCompletionsResult"]["x-oaiMeta"]["example"]
        .as_str()
        .unwrap();
    let result: Value = serde_json::from_str(example).unwrap();
    let page = serde_json::json!({"object": "page", "data": [
        {"object": "bucket", "start_time": 1730419200, "end_time": 1730422800, "results": [result]}]});
    let events = events_only(read_openai(&page));

    let output = events
        .iter()
        .find(|event| event.meter == "output_tokens")
        .unwrap();
    assert_eq!(output.quantity, dec("1000"));
    assert_eq!(output.account, "proj_abc");
    assert_eq!(output.product.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    let dimensions: Vec<(&str, &str)> = output
        .dimensions
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        dimensions,
        [
            ("api_key_id", "key_abc"),
            ("batch", "false"),
            ("project", "proj_abc"),
            ("service_tier", "default"),
            ("usage_kind", "completions"),
            ("user", "user-abc"),
        ]
    );
    assert_eq!(by_meter(&events)["input_tokens"], dec("5000"));
    assert_eq!(by_meter(&events)["requests"], dec("5"));
    assert!(
        output.id.contains("-model=gpt-4o-mini-2024-07-18"),
        "{}",
        output.id
    );
    assert!(output.id.contains("-project_id=proj_abc"), "{}", output.id);
}

#[test]
fn openai_ids_are_stable_and_unique() {
    let mut ids = BTreeSet::new();
    let endpoints = [
        "completions",
        "embeddings",
        "moderations",
        "images",
        "audio_speeches",
        "audio_transcriptions",
    ];
    for endpoint in endpoints {
        let page = openai_page(&format!("/organization/usage/{endpoint}"));
        let first: Vec<String> = events_only(read_openai(&page))
            .into_iter()
            .map(|event| event.id)
            .collect();
        let second: Vec<String> = events_only(read_openai(&page))
            .into_iter()
            .map(|event| event.id)
            .collect();
        assert_eq!(first, second, "{endpoint}");
        for id in first {
            assert!(ids.insert(id.clone()), "duplicate id {id}");
        }
    }

    // Embeddings and moderations report the same meters (16 input tokens, 2 requests);
    // the usage kind in the id keeps them apart.
    assert!(ids.contains("1730419200-1730505600-embeddings-input_tokens"));
    assert!(ids.contains("1730419200-1730505600-moderations-input_tokens"));
}

#[test]
fn openai_other_endpoints_map_quantities() {
    let cases = [
        ("vector_stores", "usage_bytes", "1024"),
        ("code_interpreter_sessions", "num_sessions", "1"),
        ("audio_speeches", "characters", "45"),
        ("audio_transcriptions", "seconds", "20"),
        ("images", "images", "2"),
        ("web_search_calls", "num_requests", "2"),
    ];
    for (endpoint, meter, quantity) in cases {
        let events = events_only(read_openai(&openai_page(&format!(
            "/organization/usage/{endpoint}"
        ))));
        assert_eq!(
            by_meter(&events).get(meter),
            Some(&dec(quantity)),
            "{endpoint}"
        );
    }
}

#[test]
fn openai_cost_bucket_is_reported() {
    let records = read_openai(&openai_page("/organization/costs"));
    assert_eq!(records.len(), 1);
    let error = records[0].as_ref().unwrap_err();
    assert_eq!(error.row, 1);
    assert!(
        error.problem.contains("organization.costs.result"),
        "{error}"
    );
}

#[test]
fn openai_rejects_other_json() {
    let error = openai_usage::read_events(r#"{"usage_records": []}"#.as_bytes()).unwrap_err();
    assert!(
        error.problem.contains("expected an OpenAI Usage API page"),
        "{error}"
    );
}

#[test]
fn twilio_zero_record_is_skipped() {
    let file = std::fs::File::open(data(
        "twilio/usage_records_daily_example.from_twilio-python_test_daily.json",
    ))
    .unwrap();
    let records = twilio_usage::read_events(file).unwrap();
    // The only record has usage "0" and price "0".
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn twilio_record_maps_string_numbers() {
    let text = std::fs::read_to_string(data(
        "twilio/usage_records_daily_example.from_twilio-python_test_daily.json",
    ))
    .unwrap();
    let mut page: Value = serde_json::from_str(&text).unwrap();
    let record = &mut page["usage_records"][0];
    record["usage"] = "12.25".into();
    record["count"] = "7".into();
    record["price"] = "-0.0875".into();
    let records = twilio_usage::read_events(page.to_string().as_bytes()).unwrap();
    let event = records[0].as_ref().unwrap();

    assert_eq!(event.meter, "sms-inbound-shortcode");
    assert_eq!(event.quantity, dec("12.25"));
    assert_eq!(event.account, "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(event.time, time("2015-09-06T00:00:00Z"));
    assert_eq!(
        event.id,
        "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-sms-inbound-shortcode-2015-09-06-2015-09-06"
    );
    assert_eq!(event.source, "twilio");
    assert_eq!(event.dimensions["usage_unit"], "messages");
    assert_eq!(event.dimensions["count"], "7");
    let cost = event.cost.as_ref().unwrap();
    assert_eq!(cost.amount.to_string(), "-0.0875");
    assert_eq!(cost.currency.code(), "USD");
    // Only a correction may carry a negative cost: this record is a credit.
    assert_eq!(event.kind, EventKind::Correction);
}

#[test]
fn twilio_bad_usage_is_reported() {
    let text = std::fs::read_to_string(data(
        "twilio/usage_records_daily_example.from_twilio-python_test_daily.json",
    ))
    .unwrap();
    let mut page: Value = serde_json::from_str(&text).unwrap();
    page["usage_records"][0]["usage"] = "12,5".into();
    let records = twilio_usage::read_events(page.to_string().as_bytes()).unwrap();
    let error = records[0].as_ref().unwrap_err();
    assert!(error.problem.contains("invalid usage \"12,5\""), "{error}");
}

#[test]
fn twilio_null_price_has_no_cost() {
    let text = std::fs::read_to_string(data(
        "twilio/usage_records_daily_example.from_twilio-python_test_daily.json",
    ))
    .unwrap();
    let mut page: Value = serde_json::from_str(&text).unwrap();
    page["usage_records"][0]["usage"] = "5".into();
    page["usage_records"][0]["price"] = Value::Null;
    let records = twilio_usage::read_events(page.to_string().as_bytes()).unwrap();
    let event = records[0].as_ref().unwrap();

    // The sample keeps "price_unit": "usd", which means nothing without a price.
    assert_eq!(event.quantity, dec("5"));
    assert_eq!(event.cost, None);
}

fn read_datadog(path: &str) -> Vec<FeedRecord> {
    datadog_usage::read_events(std::fs::File::open(data(path)).unwrap()).unwrap()
}

/// Returns the first response body of a cassette.
fn cassette_body(path: &str) -> Value {
    let text = std::fs::read_to_string(data(path)).unwrap();
    let cassette: Value = serde_json::from_str(&text).unwrap();
    serde_json::from_str(
        cassette["http_interactions"][0]["response"]["body"]["string"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn datadog_hourly_usage_by_family() {
    const FILE: &str = "datadog/v2/Get-hourly-usage-by-product-family-returns-OK-response.json";
    let events = events_only(read_datadog(FILE));

    // Independent sums of the non-null, non-zero measurements per usage type.
    let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
    for hour in cassette_body(FILE)["data"].as_array().unwrap() {
        for measurement in hour["attributes"]["measurements"].as_array().unwrap() {
            if let Some(value) = measurement["value"].as_u64().filter(|value| *value != 0) {
                *expected
                    .entry(measurement["usage_type"].as_str().unwrap().to_owned())
                    .or_default() += Decimal::from(value);
            }
        }
    }
    let actual: BTreeMap<String, Decimal> = by_meter(&events)
        .into_iter()
        .map(|(meter, total)| (meter.to_owned(), total))
        .collect();
    assert_eq!(actual, expected);

    // Hand-read: the first hour has agent_host_count 14, apm_host_count 4, host_count 14.
    let first_hour: Vec<(&str, Decimal)> = events
        .iter()
        .filter(|event| event.time == time("2022-07-16T14:00:00Z"))
        .map(|event| (event.meter.as_str(), event.quantity))
        .collect();
    assert_eq!(
        first_hour,
        [
            ("agent_host_count", dec("14")),
            ("apm_host_count", dec("4")),
            ("host_count", dec("14"))
        ]
    );
    let event = &events[0];
    assert_eq!(event.account, "fasjyydbcgwwc2uc");
    assert_eq!(event.product.as_deref(), Some("infra_hosts"));
    assert_eq!(
        event.dimensions["org_name"],
        "DD Integration Tests (321813)"
    );
    assert_eq!(
        event.id,
        "fasjyydbcgwwc2uc-1657980000-infra_hosts-agent_host_count"
    );
}

#[test]
fn datadog_v1_logs_usage() {
    const FILE: &str = "datadog/v1/Get-hourly-usage-for-Logs-returns-OK-response.json";
    let events = events_only(read_datadog(FILE));

    let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in cassette_body(FILE)["usage"].as_array().unwrap() {
        for (field, value) in row.as_object().unwrap() {
            if let Some(value) = value.as_u64().filter(|value| *value != 0) {
                *expected.entry(field.clone()).or_default() += Decimal::from(value);
            }
        }
    }
    let actual: BTreeMap<String, Decimal> = by_meter(&events)
        .into_iter()
        .map(|(meter, total)| (meter.to_owned(), total))
        .collect();
    assert_eq!(actual, expected);
    assert!(events
        .iter()
        .all(|event| event.account == datadog_usage::ORGANIZATION_ACCOUNT));

    // Hand-read: the first hour indexed 11232 events, all of them live.
    let first: Vec<(&str, Decimal)> = events
        .iter()
        .filter(|event| event.time == time("2022-03-27T15:00:00Z"))
        .map(|event| (event.meter.as_str(), event.quantity))
        .collect();
    assert_eq!(
        first,
        [
            ("indexed_events_count", dec("11232")),
            ("logs_live_indexed_count", dec("11232"))
        ]
    );
}

#[test]
fn datadog_attribution_is_reported() {
    let records = read_datadog("datadog/v1/Get-hourly-usage-attribution-returns-OK-response.json");
    assert_eq!(records.len(), 16);
    assert!(records.iter().all(|record| record
        .as_ref()
        .is_err_and(|error| error.problem.contains("attribution"))));
}

#[test]
fn datadog_cost_without_total_rows() {
    let events = events_only(read_datadog(
        "datadog/v2/Get-cost-across-multi-org-account-returns-OK-response.json",
    ));

    // Hand-read: committed 0 (skipped) and 1.17 for infra_host, on_demand 72 for
    // synthetics_api_tests; together the response's total_cost of 73.17.
    let charges: Vec<(&str, Decimal, &str)> = events
        .iter()
        .map(|event| {
            (
                event.product.as_deref().unwrap(),
                event.quantity,
                event.dimensions["charge_type"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        charges,
        [
            ("synthetics_api_tests", dec("72"), "on_demand"),
            ("infra_host", dec("1.17"), "committed")
        ]
    );
    assert_eq!(
        events.iter().map(|event| event.quantity).sum::<Decimal>(),
        dec("73.17")
    );
    assert!(events
        .iter()
        .all(|event| event.meter == "cost" && event.time == time("2022-04-25T17:00:00Z")));
}

#[test]
fn datadog_cost_counts_totals_once() {
    const FILE: &str = "datadog/v2/Get-projected-cost-across-your-account-returns-OK-response.json";
    let events = events_only(read_datadog(FILE));

    // Independent sums from the raw charges: the `total` rows alone, and all rows.
    let body = cassette_body(FILE);
    let charges = body["data"][0]["attributes"]["charges"].as_array().unwrap();
    let amount = |charge: &Value| dec(&charge["cost"].to_string());
    let total_rows: Decimal = charges
        .iter()
        .filter(|charge| charge["charge_type"] == "total")
        .map(amount)
        .sum();
    let all_rows: Decimal = charges.iter().map(amount).sum();

    let counted: Decimal = events.iter().map(|event| event.quantity).sum();
    assert_eq!(counted, total_rows);
    assert_ne!(counted, all_rows);
    assert_eq!(total_rows, dec("270247171.451923"));
    assert!(events
        .iter()
        .all(|event| event.dimensions["charge_type"] == "total"));
    assert!(events
        .iter()
        .all(|event| event.dimensions["cost_kind"] == "projected_cost"));

    // Hand-read: apm_host's total is 3621671.999987 (0 committed + 3621671.999987 on demand).
    let apm_host = events
        .iter()
        .find(|event| event.product.as_deref() == Some("apm_host"))
        .unwrap();
    assert_eq!(apm_host.quantity, dec("3621671.999987"));
}

#[test]
fn datadog_rejects_other_json() {
    let error = datadog_usage::read_events(r#"{"object": "page"}"#.as_bytes()).unwrap_err();
    assert!(
        error.problem.contains("expected a Datadog response"),
        "{error}"
    );
}

const FOCUS_FILE: &str = "focus/focus_sample.csv";

fn read_focus() -> Vec<UsageEvent> {
    let file = std::fs::File::open(data(FOCUS_FILE)).unwrap();
    focus::read_events(file)
        .unwrap()
        .map(|record| record.expect("every row is valid"))
        .collect()
}

/// Returns a cell of the sample, with empty cells and the literal NULL as absent.
fn focus_cell<'a>(
    headers: &csv::StringRecord,
    row: &'a csv::StringRecord,
    name: &str,
) -> Option<&'a str> {
    let position = headers.iter().position(|header| header == name).unwrap();
    Some(&row[position]).filter(|value| !value.is_empty() && *value != "NULL")
}

#[test]
fn focus_totals_match_group_by() {
    let events = read_focus();
    assert_eq!(events.len(), 1000);

    // Independent group-by of the raw CSV: (SubAccountId, ServiceName, hour) to
    // (quantity, BilledCost, EffectiveCost).
    let mut reader = csv::Reader::from_path(data(FOCUS_FILE)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut expected: BTreeMap<(String, String, String), [Decimal; 3]> = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let cell = |name| focus_cell(&headers, &row, name);
        let hour = cell("ChargePeriodStart").unwrap()[..13].to_owned();
        let quantity = cell("ConsumedQuantity")
            .or(cell("PricingQuantity"))
            .map_or(Decimal::ZERO, dec);
        let key = (
            cell("SubAccountId").unwrap().to_owned(),
            cell("ServiceName").unwrap().to_owned(),
            hour,
        );
        let entry = expected.entry(key).or_default();
        entry[0] += quantity;
        entry[1] += dec(cell("BilledCost").unwrap());
        entry[2] += dec(cell("EffectiveCost").unwrap());
    }

    let mut actual: BTreeMap<(String, String, String), [Decimal; 3]> = BTreeMap::new();
    for event in &events {
        let hour = event
            .time
            .duration_trunc(TimeDelta::hours(1))
            .unwrap()
            .format("%Y-%m-%d %H")
            .to_string();
        let key = (event.account.clone(), event.product.clone().unwrap(), hour);
        let entry = actual.entry(key).or_default();
        entry[0] += event.quantity;
        entry[1] += event.cost.as_ref().unwrap().amount;
        entry[2] += dec(&event.dimensions["effective_cost"]);
    }
    assert_eq!(actual.len(), expected.len());
    for (key, totals) in &expected {
        assert_eq!(actual.get(key), Some(totals), "{key:?}");
    }
}

#[test]
fn focus_first_row_by_hand() {
    let events = read_focus();
    let first = &events[0];

    // Hand-read from the first data row of the sample.
    assert_eq!(first.source, "aws");
    assert_eq!(first.account, "51738928782");
    assert_eq!(
        first.product.as_deref(),
        Some("Amazon Simple Queue Service")
    );
    assert_eq!(first.meter, "Requests");
    assert_eq!(first.quantity, dec("2"));
    assert_eq!(first.quantity.to_string(), "2.000000000000000");
    assert_eq!(first.time, time("2024-09-18T22:00:00Z"));
    assert_eq!(first.kind, EventKind::Usage);
    let cost = first.cost.as_ref().unwrap();
    assert_eq!(cost.amount.to_string(), "0.00000080000");
    assert_eq!(cost.currency.code(), "USD");
    assert_eq!(first.dimensions["effective_cost"], "0.00000000000");
    assert_eq!(first.dimensions["sku_id"], "G95FST5FTYV3JSRX");
    assert!(!first.dimensions.contains_key("commitment_discount_id"));
}

#[test]
fn focus_credit_and_negative_rows_are_corrections() {
    let events = read_focus();

    // The one Credit row (One-Time, ConsumedQuantity NULL, PricingQuantity 0 Hours).
    let credits: Vec<&UsageEvent> = events
        .iter()
        .filter(|event| event.dimensions["charge_category"] == "Credit")
        .collect();
    assert_eq!(credits.len(), 1);
    assert_eq!(credits[0].kind, EventKind::Correction);
    assert_eq!(credits[0].meter, "Hours");
    assert_eq!(credits[0].quantity, Decimal::ZERO);
    assert_eq!(
        credits[0].cost.as_ref().unwrap().amount.to_string(),
        "-2.61370000000"
    );

    // Corrections are exactly the rows that are not Usage or carry a negative amount,
    // counted from the raw CSV.
    let mut reader = csv::Reader::from_path(data(FOCUS_FILE)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let expected = reader
        .records()
        .map(Result::unwrap)
        .filter(|row| {
            let cell = |name| focus_cell(&headers, row, name).unwrap_or("");
            !cell("ChargeCategory").eq_ignore_ascii_case("usage")
                || cell("ConsumedQuantity").starts_with('-')
                || cell("BilledCost").starts_with('-')
        })
        .count();
    let corrections = events
        .iter()
        .filter(|event| event.kind == EventKind::Correction)
        .count();
    assert_eq!(corrections, expected);
}

#[test]
fn focus_ids_are_unique_and_stable() {
    let first: Vec<String> = read_focus().into_iter().map(|event| event.id).collect();
    let second: Vec<String> = read_focus().into_iter().map(|event| event.id).collect();
    assert_eq!(first, second);
    assert_eq!(first.iter().collect::<BTreeSet<_>>().len(), 1000);
}

#[test]
fn focus_restated_cost_keeps_id() {
    let header = "ChargePeriodStart,BilledCost,BillingCurrency,ProviderName,SubAccountId,ServiceName,ConsumedQuantity,ConsumedUnit\n";
    let read = |row: &str| {
        let text = format!("{header}{row}\n");
        let event = focus::read_events(text.as_bytes())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        event
    };
    let original = read("2024-09-18T22:00:00Z,0.40,USD,AWS,acct-1,Amazon S3,10,GB");
    let restated = read("2024-09-18T22:00:00Z,0.35,USD,AWS,acct-1,Amazon S3,9,GB");
    assert_eq!(original.id, restated.id);
    assert_eq!(restated.quantity, dec("9"));
}

#[test]
fn focus_bad_rows_and_header() {
    let error = focus::read_events("time,cost\n1,2\n".as_bytes())
        .err()
        .unwrap();
    assert!(error.problem.contains("not a FOCUS file"), "{error}");

    let text = "ChargePeriodStart,BilledCost,BillingCurrency,ProviderName,BillingAccountId\n5/1/25,$10.00,USD,ACME,12345\n2025-05-01 00:00:00,10.00,USD,ACME,12345\n";
    let records: Vec<FeedRecord> = focus::read_events(text.as_bytes()).unwrap().collect();
    let error = records[0].as_ref().unwrap_err();
    assert_eq!(error.row, 2);
    assert!(
        error.problem.contains("ChargePeriodStart \"5/1/25\""),
        "{error}"
    );
    let event = records[1].as_ref().unwrap();
    assert_eq!(event.account, "12345");
    assert_eq!(event.meter, "Usage");
    assert_eq!(event.quantity, Decimal::ZERO);
}
