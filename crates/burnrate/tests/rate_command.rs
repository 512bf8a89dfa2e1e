//! `burnrate rate` run as a process on the bundled example.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line}: {error}")))
        .collect()
}

fn line_for<'a>(lines: &'a [Value], event_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["event_id"] == event_id)
        .unwrap_or_else(|| panic!("no output line for {event_id}"))
}

#[test]
fn rate_prices_each_example_event() {
    let output = burnrate(&[
        "rate",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "examples/rating/events.jsonl",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 13, "one line per input line");

    // (event, cost, prepaid_applied, billed, currency), checked by hand against the contracts.
    let expected = [
        ("e-0001", "8", "8", "0", "USD"),
        ("e-0002", "1.6", "1.6", "0", "USD"),
        ("e-0003", "0.7", "0.4", "0.3", "USD"),
        ("e-0004", "12", "0", "12", "USD"),
        ("e-0005", "0.5", "0", "0.5", "USD"),
        ("e-0006", "1", "0", "1", "USD"),
        ("e-0008", "-0.5", "0", "-0.5", "USD"),
        ("e-0009", "1800", "0", "1800", "JPY"),
        ("e-0010", "0", "0", "0", "JPY"),
        ("e-0011", "264", "0", "264", "JPY"),
    ];
    for (event_id, cost, prepaid_applied, billed, currency) in expected {
        let line = line_for(&lines, event_id);
        assert_eq!(line["status"], "rated", "{event_id}");
        assert_eq!(line["cost"], cost, "{event_id} cost");
        assert_eq!(
            line["prepaid_applied"], prepaid_applied,
            "{event_id} prepaid_applied"
        );
        assert_eq!(line["billed"], billed, "{event_id} billed");
        assert_eq!(line["currency"], currency, "{event_id} currency");
    }

    let unrated = line_for(&lines, "e-0007");
    assert_eq!(unrated["status"], "unrated");
    assert_eq!(
        unrated["cost"],
        Value::Null,
        "unrated usage is never priced at zero"
    );
    assert!(unrated["reason"].as_str().unwrap().contains("\"images\""));

    let invalid: Vec<&Value> = lines
        .iter()
        .filter(|line| line["status"] == "invalid")
        .collect();
    assert_eq!(invalid.len(), 2);
    assert!(invalid[0]["reason"]
        .as_str()
        .unwrap()
        .contains("time \"2026-05-16T11:00:00\""));
    assert!(invalid[1]["reason"]
        .as_str()
        .unwrap()
        .contains("data.quantity \"NaN\""));

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rated 10 events, unrated 1 (no_price: 1), invalid 2"),
        "{stderr}"
    );
}

#[test]
fn rate_totals_per_period() {
    let output = burnrate(&[
        "rate",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--totals",
        "examples/rating/events.jsonl",
    ]);
    assert!(output.status.success());
    let lines = json_lines(&output);
    let total = |account: &str, meter: &str| -> &Value {
        lines
            .iter()
            .find(|line| {
                line["account"] == account && line["meter"] == meter && line["status"] == "rated"
            })
            .unwrap_or_else(|| panic!("no total for {account} {meter}"))
    };

    let output_tokens = total("acme", "output_tokens");
    assert_eq!(output_tokens["quantity"], "3000000");
    assert_eq!(output_tokens["cost"], "20");
    assert_eq!(output_tokens["prepaid_applied"], "8");
    assert_eq!(output_tokens["billed"], "12");
    assert_eq!(
        output_tokens["period_start"], "2026-04-30T22:00:00Z",
        "May in Europe/Berlin"
    );

    let input_tokens = total("acme", "input_tokens");
    assert_eq!(input_tokens["cost"], "2.3");
    assert_eq!(input_tokens["prepaid_applied"], "2");

    let globex = total("globex", "input_tokens");
    assert_eq!(globex["cost"], "1800");
    assert_eq!(
        globex["period_start"], "2026-05-14T15:00:00Z",
        "anchor day 15 in Asia/Tokyo"
    );

    let unrated: Vec<&Value> = lines
        .iter()
        .filter(|line| line["status"] == "unrated")
        .collect();
    assert_eq!(unrated.len(), 1);
    assert_eq!(unrated[0]["quantity"], "3");
    assert_eq!(unrated[0]["reason"], "no_price");
}

#[test]
fn invalid_contracts_exit_2_with_every_problem() {
    let directory = tempfile::tempdir().unwrap();
    let contracts = directory.path().join("contracts.jsonl");
    std::fs::write(
        &contracts,
        r#"{"id": "bad", "account": "acme", "vendor": "openai", "currency": "USX", "timezone": "Mars/Olympus", "billing_anchor_day": 32, "prices": []}"#,
    )
    .unwrap();
    let output = burnrate(&[
        "rate",
        "--contracts",
        contracts.to_str().unwrap(),
        "examples/rating/events.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(
        stderr.contains("line 1: contract \"bad\": currency"),
        "{stderr}"
    );
    assert!(stderr.contains("timezone"), "{stderr}");
    assert!(stderr.contains("billing_anchor_day"), "{stderr}");
}

#[test]
fn missing_events_file_exits_2() {
    let output = burnrate(&[
        "rate",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "no/such/file.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("cannot open events file no/such/file.jsonl"));
}
