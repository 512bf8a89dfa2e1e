//! JSON round trips of the output records, with exact decimals.

use std::collections::BTreeMap;
use std::str::FromStr;

use burnrate_model::{
    AggregateKind, Alert, AlertKind, AlertStatus, Contributor, DeadLetter, Severity,
    SpendAggregate, WindowKind,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> (T, String) {
    let json = serde_json::to_string(value).unwrap();
    (serde_json::from_str(&json).unwrap(), json)
}

#[test]
fn spend_aggregate_round_trips() {
    let aggregate = SpendAggregate {
        account: "acme".into(),
        vendor: "openai".into(),
        meter: "output_tokens".into(),
        product: Some("gpt-4.1".into()),
        dimensions: BTreeMap::from([("team".into(), "search".into())]),
        contract_id: "acme-openai-2026".into(),
        window: WindowKind::Hour,
        window_start: utc("2026-05-06T10:00:00Z"),
        window_end: utc("2026-05-06T11:00:00Z"),
        quantity: dec("12345678901234567890.5"),
        cost: dec("0.0000025"),
        prepaid_applied: dec("0"),
        billed: dec("0.0000025"),
        currency: "USD".into(),
        kind: AggregateKind::Correction,
    };
    let (decoded, json) = round_trip(&aggregate);
    assert_eq!(decoded, aggregate);
    assert!(
        json.contains(r#""quantity":"12345678901234567890.5""#),
        "{json}"
    );
    assert!(json.contains(r#""cost":"0.0000025""#), "{json}");
    assert!(json.contains(r#""window":"hour""#), "{json}");
    assert!(json.contains(r#""kind":"correction""#), "{json}");
}

#[test]
fn alert_round_trips() {
    let alert = Alert {
        key: "budget_threshold/acme/c1/monthly/2026-05-01T00:00:00Z/80".into(),
        kind: AlertKind::BudgetThreshold,
        status: AlertStatus::Firing,
        severity: Severity::Warning,
        account: "acme".into(),
        contract_id: Some("c1".into()),
        scope: BTreeMap::from([("team".into(), "search".into())]),
        period_start: utc("2026-05-01T00:00:00Z"),
        period_end: utc("2026-06-01T00:00:00Z"),
        at: utc("2026-05-20T10:00:00Z"),
        observed: Some(dec("4000.10")),
        budget: Some(dec("5000")),
        threshold_pct: Some(80),
        forecast: Some(dec("6200.5")),
        forecast_low: Some(dec("5100")),
        forecast_high: Some(dec("7300")),
        baseline: None,
        expected_at: None,
        currency: Some("USD".into()),
        top_contributors: vec![Contributor {
            dimension: "team".into(),
            value: "search".into(),
            cost: dec("2500"),
            share: dec("0.625"),
        }],
        summary: "budget reached 80 %".into(),
        runbook_url: None,
    };
    let (decoded, json) = round_trip(&alert);
    assert_eq!(decoded, alert);
    assert!(json.contains(r#""observed":"4000.1""#), "{json}");
    assert!(json.contains(r#""baseline":null"#), "{json}");
    assert!(json.contains(r#""kind":"budget_threshold""#), "{json}");
}

#[test]
fn dead_letter_round_trips() {
    let dead = DeadLetter {
        source_topic: "usage".into(),
        partition: Some(3),
        offset: Some(42),
        reason: "invalid JSON".into(),
        key: Some(b"acme".to_vec()),
        value: vec![0, 159, 146, 150],
        headers: BTreeMap::from([("content-type".into(), b"application/json".to_vec())]),
    };
    let (decoded, _) = round_trip(&dead);
    assert_eq!(decoded, dead);
}
