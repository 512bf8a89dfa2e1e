//! The Anthropic and Snowflake adapters on fixtures hand-written from the vendors'
//! documented response shapes (see `data/{anthropic,snowflake}/SOURCE.md`), because no
//! real export is available. Expected values are worked out by hand from the fixture or
//! recomputed here from the raw file, never taken from the adapters' output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burnrate_feeds::{anthropic_usage, snowflake_metering, FeedRecord};
use burnrate_model::{EventKind, UsageEvent};
use chrono::{DateTime, Utc};
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

fn json_file(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data(path)).unwrap()).unwrap()
}

fn read_anthropic(payload: &Value) -> Vec<FeedRecord> {
    anthropic_usage::read_events(payload.to_string().as_bytes()).unwrap()
}

const USAGE_FILE: &str = "anthropic/usage_report_messages.json";
const COST_FILE: &str = "anthropic/cost_report.json";

#[test]
fn anthropic_usage_maps_every_meter() {
    let events = events_only(read_anthropic(&json_file(USAGE_FILE)));

    // Hand-read: 6 non-zero meters in the first result, 2 in the second, 4 in the third.
    assert_eq!(events.len(), 12);
    let mut first_result: Vec<(&str, Decimal)> = events[..6]
        .iter()
        .map(|event| (event.meter.as_str(), event.quantity))
        .collect();
    first_result.sort();
    let expected = [
        ("cache_creation_1h_input_tokens", dec("6000")),
        ("cache_creation_5m_input_tokens", dec("2750")),
        ("cache_read_input_tokens", dec("91500")),
        ("output_tokens", dec("12034")),
        ("uncached_input_tokens", dec("48210")),
        ("web_search_requests", dec("7")),
    ];
    assert_eq!(first_result, expected);

    let output = &events
        .iter()
        .find(|event| event.meter == "output_tokens")
        .unwrap();
    assert_eq!(output.source, "anthropic");
    assert_eq!(output.kind, EventKind::Usage);
    assert_eq!(output.time, time("2025-09-15T00:00:00Z"));
    assert_eq!(output.account, "wrkspc_01FixtureSupport00000");
    assert_eq!(output.product.as_deref(), Some("claude-sonnet-4-20250514"));
    let dimensions: Vec<(&str, &str)> = output
        .dimensions
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        dimensions,
        [
            ("api_key_id", "apikey_01FixtureSupportBot000"),
            ("context_window", "0-200k"),
            ("service_tier", "standard"),
            ("workspace", "wrkspc_01FixtureSupport00000"),
        ]
    );
    assert_eq!(
        output.id,
        "1757894400-1757980800-usage-output_tokens-api_key_id=apikey_01FixtureSupportBot000-context_window=0-200k\
         -model=claude-sonnet-4-20250514-service_tier=standard-workspace_id=wrkspc_01FixtureSupport00000"
    );
}

#[test]
fn anthropic_default_workspace_and_zeros() {
    let events = events_only(read_anthropic(&json_file(USAGE_FILE)));

    // The second result has a null workspace and only two non-zero meters.
    let haiku: Vec<&UsageEvent> = events
        .iter()
        .filter(|event| event.product.as_deref() == Some("claude-3-5-haiku-20241022"))
        .collect();
    let meters: Vec<(&str, Decimal)> = haiku
        .iter()
        .map(|event| (event.meter.as_str(), event.quantity))
        .collect();
    assert_eq!(
        meters,
        [
            ("output_tokens", dec("845")),
            ("uncached_input_tokens", dec("3100"))
        ]
    );
    for event in haiku {
        assert_eq!(event.account, anthropic_usage::DEFAULT_WORKSPACE_ACCOUNT);
        assert!(!event.dimensions.contains_key("workspace"));
        assert_eq!(event.dimensions["service_tier"], "batch");
    }

    // Totals of the whole file per meter, added by hand.
    let mut totals: BTreeMap<&str, Decimal> = BTreeMap::new();
    for event in &events {
        *totals.entry(event.meter.as_str()).or_default() += event.quantity;
    }
    assert_eq!(totals["uncached_input_tokens"], dec("301710"));
    assert_eq!(totals["cache_creation_5m_input_tokens"], dec("20750"));
    assert_eq!(totals["cache_read_input_tokens"], dec("493500"));
    assert_eq!(totals["output_tokens"], dec("42979"));
}

#[test]
fn anthropic_ids_are_stable_and_unique() {
    let ids = |path: &str| -> Vec<String> {
        events_only(read_anthropic(&json_file(path)))
            .into_iter()
            .map(|event| event.id)
            .collect()
    };
    let mut all = BTreeSet::new();
    for path in [USAGE_FILE, COST_FILE] {
        let first = ids(path);
        assert_eq!(first, ids(path), "{path}");
        for id in first {
            assert!(all.insert(id.clone()), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), 12 + 5);
}

#[test]
fn anthropic_cost_cents_to_dollars() {
    let events = events_only(read_anthropic(&json_file(COST_FILE)));

    // Hand-converted: cents / 100, the zero row skipped.
    let costs: Vec<(&str, String)> = events
        .iter()
        .map(|event| {
            (
                event.meter.as_str(),
                event.cost.as_ref().unwrap().amount.to_string(),
            )
        })
        .collect();
    assert_eq!(
        costs,
        [
            ("uncached_input_tokens_cost", "123.456".to_owned()),
            ("output_tokens_cost", "18.051".to_owned()),
            ("cache_creation_5m_input_tokens_cost", "10.3125".to_owned()),
            ("web_search_cost", "0.07".to_owned()),
            ("uncached_input_tokens_cost", "0.00124".to_owned()),
        ]
    );
    for event in &events {
        let cost = event.cost.as_ref().unwrap();
        assert_eq!(event.quantity, cost.amount, "{}", event.id);
        assert_eq!(cost.currency.code(), "USD");
        assert!(
            !event.dimensions.contains_key("billed_cost"),
            "{}",
            event.id
        );
        assert_eq!(event.kind, EventKind::Usage);
    }
    assert_eq!(
        events.iter().map(|event| event.quantity).sum::<Decimal>(),
        dec("151.89074")
    );

    let search = &events[3];
    assert_eq!(search.account, "wrkspc_01FixtureSupport00000");
    assert_eq!(search.product, None);
    assert_eq!(search.dimensions["cost_type"], "web_search");
    assert!(!search.dimensions.contains_key("token_type"));
    assert_eq!(
        events[4].account,
        anthropic_usage::DEFAULT_WORKSPACE_ACCOUNT
    );
    assert_eq!(events[0].dimensions["token_type"], "uncached_input_tokens");
    assert_eq!(
        events[0].dimensions["description"],
        "Sonnet 4 uncached input tokens, standard tier"
    );
}

#[test]
fn anthropic_restated_cost_keeps_id() {
    let mut page = json_file(COST_FILE);
    let original = events_only(read_anthropic(&page));
    page["data"][0]["results"][0]["amount"] = "99999.99".into();
    page["data"][0]["results"][3]["amount"] = "-250".into();
    let restated = events_only(read_anthropic(&page));

    assert_eq!(original[0].id, restated[0].id);
    assert_eq!(restated[0].quantity, dec("999.9999"));

    // A negative amount is a credit, so it becomes a correction.
    assert_eq!(restated[3].quantity, dec("-2.5"));
    assert_eq!(restated[3].kind, EventKind::Correction);
}

#[test]
fn anthropic_bad_results_are_reported() {
    let mut page = json_file(USAGE_FILE);
    page["data"][1]["results"][0]["output_tokens"] = "30100 tokens".into();
    let records = read_anthropic(&page);
    let errors: Vec<&burnrate_feeds::FeedError> = records
        .iter()
        .filter_map(|record| record.as_ref().err())
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].row, 3);
    assert!(
        errors[0]
            .problem
            .contains("invalid output_tokens \"30100 tokens\""),
        "{}",
        errors[0]
    );
    assert_eq!(records.iter().filter(|record| record.is_ok()).count(), 8);

    let mut page = json_file(COST_FILE);
    page["data"][0]["results"][1]["amount"] = "18,05".into();
    page["data"][0]["starting_at"] = "15/09/2025".into();
    let records = read_anthropic(&page);
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(Result::is_err));
    let error = records[1].as_ref().unwrap_err();
    assert_eq!(error.row, 2);
    assert!(
        error
            .problem
            .contains("invalid bucket starting_at \"15/09/2025\""),
        "{error}"
    );
}

#[test]
fn anthropic_bad_amount_is_reported() {
    let mut page = json_file(COST_FILE);
    page["data"][0]["results"][1]["amount"] = "18,05".into();
    let records = read_anthropic(&page);
    let error = records[1].as_ref().unwrap_err();
    assert_eq!(error.row, 2);
    assert!(
        error.problem.contains("invalid amount \"18,05\""),
        "{error}"
    );
}

#[test]
fn anthropic_reads_pages_as_json_lines() {
    let usage = json_file(USAGE_FILE);
    let cost = json_file(COST_FILE);
    let lines = format!("{usage}\n{cost}\n");
    let records = anthropic_usage::read_events(lines.as_bytes()).unwrap();
    assert_eq!(events_only(records).len(), 12 + 5);

    // An array of buckets works too.
    let buckets = usage["data"].clone();
    assert_eq!(events_only(read_anthropic(&buckets)).len(), 12);
}

#[test]
fn anthropic_flattened_cache_fields() {
    let page = serde_json::json!({"data": [{"starting_at": "2025-09-15T00:00:00Z", "ending_at": "2025-09-16T00:00:00Z",
        "results": [{"uncached_input_tokens": 10, "ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30,
                     "output_tokens": 0, "workspace_id": null, "model": null}]}], "has_more": false, "next_page": null});
    let events = events_only(read_anthropic(&page));
    let meters: Vec<(&str, Decimal)> = events
        .iter()
        .map(|event| (event.meter.as_str(), event.quantity))
        .collect();
    assert_eq!(
        meters,
        [
            ("cache_creation_1h_input_tokens", dec("30")),
            ("cache_creation_5m_input_tokens", dec("20")),
            ("uncached_input_tokens", dec("10"))
        ]
    );
    assert_eq!(
        events[0].id,
        "1757894400-1757980800-usage-cache_creation_1h_input_tokens"
    );
}

#[test]
fn anthropic_rejects_other_json() {
    let error = anthropic_usage::read_events(r#"{"usage_records": []}"#.as_bytes()).unwrap_err();
    assert!(
        error
            .problem
            .contains("expected an Anthropic usage or cost report page"),
        "{error}"
    );
    let error = anthropic_usage::read_events("starting_at,amount\n".as_bytes()).unwrap_err();
    assert!(error.problem.contains("invalid JSON"), "{error}");
}

const DAILY_FILE: &str = "snowflake/metering_daily_history.csv";
const HOURLY_FILE: &str = "snowflake/metering_history.csv";

fn read_snowflake_text(text: &str) -> Vec<FeedRecord> {
    snowflake_metering::read_events(text.as_bytes())
        .unwrap()
        .map(|(_, record)| record)
        .collect()
}

fn read_snowflake(path: &str) -> Vec<UsageEvent> {
    events_only(read_snowflake_text(
        &std::fs::read_to_string(data(path)).unwrap(),
    ))
}

/// Sums a column of the raw CSV per value of a key column.
fn raw_sums(path: &str, key: &str, column: &str) -> BTreeMap<String, Decimal> {
    let mut reader = csv::Reader::from_path(data(path)).unwrap();
    let headers = reader.headers().unwrap().clone();
    let key_position = headers.iter().position(|name| name == key).unwrap();
    let position = headers.iter().position(|name| name == column).unwrap();
    let mut sums = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        *sums.entry(row[key_position][..10].to_owned()).or_default() += dec(&row[position]);
    }
    sums
}

fn event_sums(events: &[UsageEvent]) -> BTreeMap<String, Decimal> {
    let mut sums = BTreeMap::new();
    for event in events {
        *sums
            .entry(event.time.format("%Y-%m-%d").to_string())
            .or_default() += event.quantity;
    }
    sums
}

#[test]
fn snowflake_daily_totals_match_billed() {
    let events = read_snowflake(DAILY_FILE);
    assert_eq!(events.len(), 5);

    // Added by hand: 40 + 1.125 + 0.5, and 21.55 + 0.003456789.
    let expected: BTreeMap<String, Decimal> = [
        ("2025-03-03".to_owned(), dec("41.625")),
        ("2025-03-04".to_owned(), dec("21.553456789")),
    ]
    .into_iter()
    .collect();
    assert_eq!(event_sums(&events), expected);
    assert_eq!(
        raw_sums(DAILY_FILE, "USAGE_DATE", "CREDITS_BILLED"),
        expected
    );

    // CREDITS_BILLED is compute + cloud services + the adjustment, recomputed from the raw columns.
    let mut recomputed = raw_sums(DAILY_FILE, "USAGE_DATE", "CREDITS_USED_COMPUTE");
    for column in [
        "CREDITS_USED_CLOUD_SERVICES",
        "CREDITS_ADJUSTMENT_CLOUD_SERVICES",
    ] {
        for (day, sum) in raw_sums(DAILY_FILE, "USAGE_DATE", column) {
            *recomputed.get_mut(&day).unwrap() += sum;
        }
    }
    assert_eq!(recomputed, expected);
}

#[test]
fn snowflake_daily_row_by_hand() {
    let events = read_snowflake(DAILY_FILE);
    let first = &events[0];
    assert_eq!(first.id, "daily-snowflake-WAREHOUSE_METERING-2025-03-03");
    assert_eq!(first.source, "snowflake");
    assert_eq!(first.account, snowflake_metering::DEFAULT_ACCOUNT);
    assert_eq!(first.meter, "credits");
    assert_eq!(first.product.as_deref(), Some("WAREHOUSE_METERING"));
    assert_eq!(first.time, time("2025-03-03T00:00:00Z"));
    assert_eq!(first.quantity, dec("40"));
    assert_eq!(first.kind, EventKind::Usage);
    assert_eq!(first.dimensions["credits_used"], "43.250000000");
    assert_eq!(
        first.dimensions["credits_adjustment_cloud_services"],
        "-3.250000000"
    );

    // The SERVERLESS_TASK row bills zero credits and is skipped.
    assert!(events
        .iter()
        .all(|event| event.product.as_deref() != Some("SERVERLESS_TASK")));
}

#[test]
fn snowflake_hourly_rows_by_hand() {
    let events = read_snowflake(HOURLY_FILE);
    assert_eq!(events.len(), 4);

    // The second row starts at 02:00 -0800, which is 10:00 UTC.
    let second = &events[1];
    assert_eq!(second.time, time("2025-03-04T10:00:00Z"));
    assert_eq!(second.quantity, dec("5.4"));
    assert_eq!(second.dimensions["warehouse"], "ANALYTICS_WH");
    assert_eq!(second.dimensions["entity_id"], "101");
    assert_eq!(second.dimensions["entity_type"], "WAREHOUSE");
    assert_eq!(
        second.id,
        "hourly-snowflake-WAREHOUSE_METERING-101-ANALYTICS_WH-1741082400"
    );

    // `\N` cells are null, so the LOAD_WH row is valid and has no database dimension.
    assert_eq!(events[2].dimensions["entity_name"], "LOAD_WH");
    assert_eq!(events[2].quantity, dec("9"));

    let view = &events[3];
    assert_eq!(view.product.as_deref(), Some("MATERIALIZED_VIEW"));
    assert!(!view.dimensions.contains_key("warehouse"));
    assert_eq!(view.quantity, dec("0.003580245"));
}

#[test]
fn snowflake_hourly_exceeds_billed() {
    // The hourly view ignores the daily cloud-services adjustment: its CREDITS_USED add
    // up to the daily CREDITS_USED, which is more than CREDITS_BILLED by the adjustment.
    let hourly = event_sums(&read_snowflake(HOURLY_FILE))["2025-03-04"];
    let daily_used = raw_sums(DAILY_FILE, "USAGE_DATE", "CREDITS_USED")["2025-03-04"];
    let daily_adjustment = raw_sums(
        DAILY_FILE,
        "USAGE_DATE",
        "CREDITS_ADJUSTMENT_CLOUD_SERVICES",
    )["2025-03-04"];
    let daily_billed = event_sums(&read_snowflake(DAILY_FILE))["2025-03-04"];
    assert_eq!(hourly, dec("23.603580245"));
    assert_eq!(hourly, daily_used);
    assert_eq!(hourly + daily_adjustment, daily_billed);
}

#[test]
fn snowflake_ids_are_stable_and_unique() {
    let mut all = BTreeSet::new();
    for path in [DAILY_FILE, HOURLY_FILE] {
        let first: Vec<String> = read_snowflake(path)
            .into_iter()
            .map(|event| event.id)
            .collect();
        let second: Vec<String> = read_snowflake(path)
            .into_iter()
            .map(|event| event.id)
            .collect();
        assert_eq!(first, second, "{path}");
        for id in first {
            assert!(all.insert(id.clone()), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), 9);
}

#[test]
fn snowflake_account_name_column() {
    let text = "usage_date,service_type,account_name,credits_billed\n2025-03-03,WAREHOUSE_METERING,ACME_PROD,2.5\n";
    let records = read_snowflake_text(text);
    let event = records[0].as_ref().unwrap();
    assert_eq!(event.account, "ACME_PROD");
    assert_eq!(event.id, "daily-ACME_PROD-WAREHOUSE_METERING-2025-03-03");
    assert_eq!(event.quantity, dec("2.5"));
}

#[test]
fn snowflake_bad_rows_and_header() {
    let error = snowflake_metering::read_events("SERVICE_TYPE,START_TIME,CREDITS\n".as_bytes())
        .err()
        .unwrap();
    assert!(
        error.problem.contains("not a Snowflake metering export"),
        "{error}"
    );
    let error = snowflake_metering::read_events("USAGE_DATE,CREDITS_BILLED\n".as_bytes())
        .err()
        .unwrap();
    assert!(error.problem.contains("no SERVICE_TYPE"), "{error}");

    let text = "SERVICE_TYPE,USAGE_DATE,CREDITS_BILLED\n\
                PIPE,2025-03-03,\"1,5\"\n\
                PIPE,03/04/2025,1.5\n\
                ,2025-03-05,1.5\n\
                PIPE,2025-03-06,-0.25\n";
    let records = read_snowflake_text(text);
    let errors: Vec<(u64, &str)> = records
        .iter()
        .filter_map(|record| record.as_ref().err())
        .map(|error| (error.row, error.problem.as_str()))
        .collect();
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0].0, 2);
    assert!(
        errors[0].1.contains("invalid CREDITS_BILLED \"1,5\""),
        "{}",
        errors[0].1
    );
    assert_eq!(errors[1].0, 3);
    assert!(
        errors[1].1.contains("invalid USAGE_DATE \"03/04/2025\""),
        "{}",
        errors[1].1
    );
    assert_eq!(errors[2], (4, "missing SERVICE_TYPE"));

    // Rows are numbered with the header as row 1.
    let rows: Vec<u64> = snowflake_metering::read_events(text.as_bytes())
        .unwrap()
        .map(|(row, _)| row)
        .collect();
    assert_eq!(rows, [2, 3, 4, 5]);

    // A negative day can only be a correction.
    let credit = records[3].as_ref().unwrap();
    assert_eq!(credit.kind, EventKind::Correction);
    assert_eq!(credit.quantity, dec("-0.25"));
}
