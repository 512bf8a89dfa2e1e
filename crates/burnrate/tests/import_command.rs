//! `burnrate import` and `burnrate replay --format <vendor>` run as processes on the
//! vendor payloads and hand-written fixtures in `crates/feeds/tests/data`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

const DATA: &str = "crates/feeds/tests/data";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn burnrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(args)
        .current_dir(repository_root())
        .output()
        .expect("the burnrate binary runs")
}

/// Runs burnrate with `args` and fails the test, showing standard error, unless it succeeds.
fn burnrate_ok(args: &[&str]) -> Output {
    let output = burnrate(args);
    assert!(
        output.status.success(),
        "burnrate {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// Writes the completions example page of the extracted OpenAI file into `dir`.
fn openai_completions_page(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        repository_root()
            .join(DATA)
            .join("openai/openapi_usage_costs_examples.extracted.json"),
    )
    .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let path = dir.join("completions.json");
    std::fs::write(
        &path,
        file["endpoints"]["/organization/usage/completions"]["example_response"].to_string(),
    )
    .unwrap();
    path
}

#[test]
fn import_focus_carries_billed_cost() {
    let output = burnrate_ok(&[
        "import",
        "--format",
        "focus",
        &format!("{DATA}/focus/focus_sample.csv"),
    ]);
    let events = stdout_lines(&output);
    assert_eq!(events.len(), 1000);

    // Independent sum of BilledCost over the raw CSV.
    let mut reader =
        csv::Reader::from_path(repository_root().join(DATA).join("focus/focus_sample.csv"))
            .unwrap();
    let position = reader
        .headers()
        .unwrap()
        .iter()
        .position(|name| name == "BilledCost")
        .unwrap();
    let expected: Decimal = reader
        .records()
        .map(|row| dec(&row.unwrap()[position]))
        .sum();
    let imported: Decimal = events
        .iter()
        .map(|event| dec(event["data"]["cost"].as_str().unwrap()))
        .sum();
    assert_eq!(imported, expected);
    assert!(events
        .iter()
        .all(|event| event["data"]["currency"] == "USD"));
    assert_eq!(events[0]["source"], "aws");
    assert_eq!(events[0]["subject"], "51738928782");
}

#[test]
fn import_openai_page_to_file() {
    let dir = tempfile::tempdir().unwrap();
    let page = openai_completions_page(dir.path());
    let out = dir.path().join("events.jsonl");
    let output = burnrate_ok(&[
        "import",
        "--format",
        "openai-usage",
        "--out",
        out.to_str().unwrap(),
        page.to_str().unwrap(),
    ]);
    assert!(output.stdout.is_empty());

    let text = std::fs::read_to_string(&out).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // The example bucket has fifteen non-zero meters.
    assert_eq!(events.len(), 15);
    let requests = events
        .iter()
        .find(|event| event["data"]["meter"] == "requests")
        .unwrap();
    assert_eq!(requests["data"]["quantity"], "5");
    assert_eq!(requests["time"], "2024-11-01T00:00:00Z");
    assert_eq!(requests["subject"], "organization");

    // A second import gives the same ids, so the usage topic deduplicates it.
    let again = burnrate(&["import", "--format", "openai-usage", page.to_str().unwrap()]);
    let ids = |events: &[Value]| {
        events
            .iter()
            .map(|event| event["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&stdout_lines(&again)), ids(&events));
}

#[test]
fn replay_reads_openai_usage() {
    let dir = tempfile::tempdir().unwrap();
    let page = openai_completions_page(dir.path());
    let contracts = dir.path().join("contracts.jsonl");
    let contract = r#"{"id": "org-openai", "account": "organization", "vendor": "openai", "currency": "USD", "timezone": "UTC", "billing_anchor_day": 1, "prices": [{"meter": "requests", "effective_from": "2024-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.01"}}]}"#;
    std::fs::write(&contracts, format!("{contract}\n")).unwrap();
    let out = dir.path().join("out");
    burnrate_ok(&[
        "replay",
        "--format",
        "openai-usage",
        "--contracts",
        contracts.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        page.to_str().unwrap(),
    ]);

    // 5 requests at 0.01 USD each in the November 2024 billing period.
    let aggregates = std::fs::read_to_string(out.join("aggregates.jsonl")).unwrap();
    let period: Vec<Value> = aggregates
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|aggregate| aggregate["window"] == "period" && aggregate["meter"] == "requests")
        .collect();
    assert_eq!(period.len(), 1, "{aggregates}");
    assert_eq!(dec(period[0]["quantity"].as_str().unwrap()), dec("5"));
    assert_eq!(dec(period[0]["cost"].as_str().unwrap()), dec("0.05"));
    let dead_letters = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
    assert!(dead_letters.is_empty(), "{dead_letters}");
}

#[test]
fn import_datadog_cassette() {
    let file = format!(
        "{DATA}/datadog/v2/Get-projected-cost-across-your-account-returns-OK-response.json"
    );
    let output = burnrate_ok(&["import", "--format", "datadog-usage", &file]);
    let total: Decimal = stdout_lines(&output)
        .iter()
        .map(|event| dec(event["data"]["quantity"].as_str().unwrap()))
        .sum();
    // The sum of the response's `total` charges, summed separately with Python's json module.
    assert_eq!(total, dec("270247171.451923"));
}

#[test]
fn import_reports_bad_records() {
    let file = format!("{DATA}/datadog/v1/Get-hourly-usage-attribution-returns-OK-response.json");
    let output = burnrate_ok(&["import", "--format", "datadog-usage", &file]);
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!("{file}:1: invalid record")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:16: invalid record")),
        "{stderr}"
    );
    assert!(stderr.contains("16 invalid records skipped"), "{stderr}");
}

#[test]
fn import_twilio_zero_usage() {
    let file =
        format!("{DATA}/twilio/usage_records_daily_example.from_twilio-python_test_daily.json");
    let output = burnrate_ok(&["import", "--format", "twilio-usage", &file]);
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("imported 0 events"));
}

#[test]
fn import_wrong_format_fails() {
    let output = burnrate(&[
        "import",
        "--format",
        "twilio-usage",
        &format!("{DATA}/focus/focus_sample.csv"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid JSON"));

    let output = burnrate(&[
        "import",
        "--format",
        "focus",
        &format!("{DATA}/openai/LICENSE"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a FOCUS file"));
}

#[test]
fn import_missing_file_fails() {
    let output = burnrate(&["import", "--format", "focus", "no-such-file.csv"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-file.csv"));
}

#[test]
fn import_anthropic_usage_and_cost() {
    let usage = format!("{DATA}/anthropic/usage_report_messages.json");
    let cost = format!("{DATA}/anthropic/cost_report.json");
    let output = burnrate_ok(&["import", "--format", "anthropic-usage", &usage, &cost]);
    let events = stdout_lines(&output);
    // Hand-counted: 12 non-zero usage meters and 5 non-zero cost items.
    assert_eq!(events.len(), 17);
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("imported 17 events from 2 files; 0 invalid records skipped"));

    // The cost items' amounts in cents, converted by hand and added: 15189.074 cents.
    let billed: Decimal = events
        .iter()
        .filter_map(|event| event["data"]["cost"].as_str())
        .map(dec)
        .sum();
    assert_eq!(billed, dec("151.89074"));
    let first_cost = events
        .iter()
        .find(|event| event["data"]["meter"] == "uncached_input_tokens_cost")
        .unwrap();
    assert_eq!(first_cost["data"]["quantity"], "123.456");
    assert_eq!(first_cost["source"], "anthropic");
    assert_eq!(first_cost["subject"], "wrkspc_01FixtureSupport00000");

    // A second import gives the same ids, so the usage topic deduplicates it.
    let again = burnrate(&["import", "--format", "anthropic-usage", &usage, &cost]);
    let ids = |events: &[Value]| {
        events
            .iter()
            .map(|event| event["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&stdout_lines(&again)), ids(&events));
}

#[test]
fn import_anthropic_reports_bad_result() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        repository_root()
            .join(DATA)
            .join("anthropic/usage_report_messages.json"),
    )
    .unwrap();
    let mut page: Value = serde_json::from_str(&text).unwrap();
    page["data"][0]["results"][1]["uncached_input_tokens"] = "3100".into();
    let path = dir.path().join("usage.json");
    std::fs::write(&path, page.to_string()).unwrap();

    let output = burnrate_ok(&[
        "import",
        "--format",
        "anthropic-usage",
        path.to_str().unwrap(),
    ]);
    assert_eq!(stdout_lines(&output).len(), 10);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:2: invalid record: invalid uncached_input_tokens",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 invalid records skipped"), "{stderr}");
}

#[test]
fn import_snowflake_daily_matches_billed() {
    let file = format!("{DATA}/snowflake/metering_daily_history.csv");
    let output = burnrate_ok(&["import", "--format", "snowflake-metering", &file]);
    let events = stdout_lines(&output);
    assert_eq!(events.len(), 5);

    // Independent sum of CREDITS_BILLED over the raw CSV.
    let mut reader = csv::Reader::from_path(repository_root().join(&file)).unwrap();
    let position = reader
        .headers()
        .unwrap()
        .iter()
        .position(|name| name == "CREDITS_BILLED")
        .unwrap();
    let expected: Decimal = reader
        .records()
        .map(|row| dec(&row.unwrap()[position]))
        .sum();
    let imported: Decimal = events
        .iter()
        .map(|event| dec(event["data"]["quantity"].as_str().unwrap()))
        .sum();
    assert_eq!(imported, expected);
    assert_eq!(imported, dec("63.178456789"));
    assert_eq!(events[0]["subject"], "snowflake");
    assert_eq!(events[0]["data"]["meter"], "credits");
}

#[test]
fn import_snowflake_reports_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daily.csv");
    std::fs::write(&path, "SERVICE_TYPE,USAGE_DATE,CREDITS_BILLED\nPIPE,2025-03-03,0\nPIPE,2025-03-04,abc\nPIPE,2025-03-05,1.5\n").unwrap();
    let output = burnrate_ok(&[
        "import",
        "--format",
        "snowflake-metering",
        path.to_str().unwrap(),
    ]);
    assert_eq!(stdout_lines(&output).len(), 1);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:3: invalid record: invalid CREDITS_BILLED \"abc\"",
            path.display()
        )),
        "{stderr}"
    );

    let output = burnrate(&[
        "import",
        "--format",
        "snowflake-metering",
        &format!("{DATA}/focus/focus_sample.csv"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a Snowflake metering export"));
}

#[test]
fn replay_reads_snowflake_metering() {
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts.jsonl");
    let contract = r#"{"id": "snowflake-credits", "account": "snowflake", "vendor": "snowflake", "currency": "USD", "timezone": "UTC", "billing_anchor_day": 1, "prices": [{"meter": "credits", "effective_from": "2025-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "2"}}]}"#;
    std::fs::write(&contracts, format!("{contract}\n")).unwrap();
    let out = dir.path().join("out");
    burnrate_ok(&[
        "replay",
        "--format",
        "snowflake-metering",
        "--contracts",
        contracts.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        &format!("{DATA}/snowflake/metering_daily_history.csv"),
    ]);

    // 63.178456789 billed credits at 2 USD each in the March 2025 billing period.
    let aggregates = std::fs::read_to_string(out.join("aggregates.jsonl")).unwrap();
    let period: Vec<Value> = aggregates
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|aggregate| aggregate["window"] == "period" && aggregate["meter"] == "credits")
        .collect();
    // Period aggregates are kept per product (service type): four of them bill credits.
    assert_eq!(period.len(), 4, "{aggregates}");
    let sum = |field: &str| {
        period
            .iter()
            .map(|aggregate| dec(aggregate[field].as_str().unwrap()))
            .sum::<Decimal>()
    };
    assert_eq!(sum("quantity"), dec("63.178456789"));
    assert_eq!(sum("cost"), dec("126.356913578"));
    let dead_letters = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
    assert!(dead_letters.is_empty(), "{dead_letters}");
}

#[test]
fn previous_export_leaves_only_restatements() {
    // A later FOCUS export restates two rows' BilledCost and adds one row.
    let dir = tempfile::tempdir().unwrap();
    let sample = repository_root().join(DATA).join("focus/focus_sample.csv");
    let mut reader = csv::Reader::from_path(&sample).unwrap();
    let header = reader.headers().unwrap().clone();
    let billed = header.iter().position(|name| name == "BilledCost").unwrap();
    let description = header
        .iter()
        .position(|name| name == "ChargeDescription")
        .unwrap();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let expected_total: Decimal = rows.iter().map(|row| dec(&row[billed])).sum::<Decimal>()
        + dec("1.5")
        - dec(&rows[1][billed])
        + dec(&rows[2][billed]);
    rows[0][billed] = (dec(&rows[0][billed]) + dec("1.5")).to_string();
    rows[1][billed] = "0".to_owned();
    let mut added = rows[2].clone();
    added[description] = "A row the vendor added later".to_owned();
    rows.push(added);
    let later = dir.path().join("later.csv");
    let mut writer = csv::Writer::from_path(&later).unwrap();
    writer.write_record(&header).unwrap();
    for row in &rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();

    let sample_text = sample.to_str().unwrap();
    let output = burnrate_ok(&[
        "import",
        "--format",
        "focus",
        "--previous",
        sample_text,
        later.to_str().unwrap(),
    ]);
    let events = stdout_lines(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("wrote 5 events from 1 files against 1 previous files: 1 new records, 2 restated records (each reversed and sent again), 0 reversed missing records; 998 unchanged"),
        "{stderr}"
    );

    assert_eq!(events.len(), 5);
    let ids: Vec<&str> = events
        .iter()
        .map(|event| event["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.iter().filter(|id| id.contains("~reversed-")).count(),
        2,
        "{ids:?}"
    );
    assert_eq!(
        ids.iter().filter(|id| id.contains("~restated-")).count(),
        2,
        "{ids:?}"
    );
    assert_eq!(events[0]["type"], "burnrate.usage.correction");
    assert_eq!(events[0]["data"]["cost"], "-0.0000008");
    assert_eq!(events[1]["data"]["cost"], "1.5000008");

    // The first import plus the restatements count exactly the later export's BilledCost.
    let first = dir.path().join("first.jsonl");
    let delta = dir.path().join("delta.jsonl");
    let imported = burnrate(&[
        "import",
        "--format",
        "focus",
        "--out",
        first.to_str().unwrap(),
        sample_text,
    ]);
    assert!(imported.status.success());
    std::fs::write(&delta, &output.stdout).unwrap();
    let out = dir.path().join("out");
    burnrate_ok(&[
        "replay",
        "--out",
        out.to_str().unwrap(),
        first.to_str().unwrap(),
        delta.to_str().unwrap(),
    ]);
    let period_cost: Decimal = std::fs::read_to_string(out.join("aggregates.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|aggregate| aggregate["window"] == "period")
        .map(|aggregate| dec(aggregate["cost"].as_str().unwrap()))
        .sum();
    assert_eq!(period_cost, expected_total);
}

/// Writes a Twilio usage-records page with one record per (category, usage, price).
fn twilio_page(path: &Path, records: &[(&str, &str, &str)]) {
    let records: Vec<Value> = records
        .iter()
        .map(|(category, usage, price)| {
            serde_json::json!({
                "account_sid": "AC1", "category": category, "start_date": "2026-05-04",
                "end_date": "2026-05-04", "usage": usage, "price": price, "price_unit": "usd"
            })
        })
        .collect();
    std::fs::write(
        path,
        serde_json::json!({ "usage_records": records }).to_string(),
    )
    .unwrap();
}

#[test]
fn restatement_chain_ends_at_last_export() {
    // sms goes back and forth, calls drops to zero (and out of the export) in the
    // third export, and mms appears in the last one.
    let dir = tempfile::tempdir().unwrap();
    let exports = [
        vec![("sms", "100", "0.79"), ("calls", "10", "0.30")],
        vec![("sms", "120", "0.95"), ("calls", "10", "0.30")],
        vec![("sms", "100", "0.79"), ("calls", "0", "0")],
        vec![("sms", "120", "0.95"), ("mms", "3", "0.06")],
    ];
    let paths: Vec<PathBuf> = (0..exports.len())
        .map(|index| dir.path().join(format!("e{index}.json")))
        .collect();
    for (path, records) in paths.iter().zip(&exports) {
        twilio_page(path, records);
    }

    let mut deltas = Vec::new();
    let first = dir.path().join("d0.jsonl");
    let output = burnrate(&[
        "import",
        "--format",
        "twilio-usage",
        "--out",
        first.to_str().unwrap(),
        paths[0].to_str().unwrap(),
    ]);
    assert!(output.status.success());
    deltas.push(first);
    for step in 1..paths.len() {
        let delta = dir.path().join(format!("d{step}.jsonl"));
        burnrate_ok(&[
            "import",
            "--format",
            "twilio-usage",
            "--reverse-missing",
            "--previous",
            paths[step - 1].to_str().unwrap(),
            "--out",
            delta.to_str().unwrap(),
            paths[step].to_str().unwrap(),
        ]);
        deltas.push(delta);
    }

    let out = dir.path().join("out");
    let mut args = vec!["replay", "--out", out.to_str().unwrap()];
    args.extend(deltas.iter().map(|path| path.to_str().unwrap()));
    let replay = burnrate(&args);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap(),
        ""
    );

    let mut cost_by_meter: std::collections::BTreeMap<String, Decimal> =
        std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(out.join("aggregates.jsonl"))
        .unwrap()
        .lines()
    {
        let aggregate: Value = serde_json::from_str(line).unwrap();
        if aggregate["window"] == "period" {
            *cost_by_meter
                .entry(aggregate["meter"].as_str().unwrap().to_owned())
                .or_default() += dec(aggregate["cost"].as_str().unwrap());
        }
    }
    // The last export, by hand: sms 0.95, mms 0.06, and calls no longer billed.
    assert_eq!(cost_by_meter["sms"], dec("0.95"));
    assert_eq!(cost_by_meter["mms"], dec("0.06"));
    assert_eq!(cost_by_meter["calls"], Decimal::ZERO);
}
