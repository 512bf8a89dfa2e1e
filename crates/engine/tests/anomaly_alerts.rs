//! Spend-anomaly alerts through the engine: a spike fires within its hour, resolves
//! after, and a snapshot in between changes nothing.

mod common;

use burnrate_engine::{EngineOutput, PartitionEngine};
use burnrate_model::{parse_contract_json, Alert, AlertKind, AlertStatus, UsageEvent};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Datelike, Duration, Utc};
use common::*;

fn table() -> ContractTable {
    let json = r#"{"id": "shop-2026", "account": "shop", "vendor": "openai", "currency": "USD",
        "prices": [{"meter": "calls", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "1"}}]}"#;
    ContractTable::new(vec![parse_contract_json(json).unwrap()]).unwrap()
}

/// Four weeks of two events per hour, busy on weekdays (20 per hour by day, 5 at
/// night) and quiet at weekends (3), then `spike_hours` of ten times the weekday rate.
fn stream(start: DateTime<Utc>) -> Vec<UsageEvent> {
    let mut events = Vec::new();
    for hour in 0..(28 * 24 + 30) {
        let time = start + Duration::hours(hour);
        let weekend = time.weekday().num_days_from_monday() >= 5;
        let daytime = (8..20).contains(&chrono::Timelike::hour(&time));
        let per_hour = match (weekend, daytime) {
            (true, _) => 3,
            (false, true) => 20,
            (false, false) => 5,
        };
        // The hour 28 days and 10 hours in (a Monday 10:00) spends ten times its usual.
        let per_hour = if hour == 28 * 24 + 10 {
            per_hour * 10
        } else {
            per_hour
        };
        for half in 0..2 {
            let mut usage = event(
                &format!("a{hour}-{half}"),
                "shop",
                "2026-01-01T00:00:00Z",
                "calls",
                &(per_hour / 2).to_string(),
            );
            usage.time = time + Duration::minutes(15 + 30 * half);
            events.push(usage);
        }
    }
    events
}

fn anomaly_alerts(outputs: &[EngineOutput]) -> Vec<&Alert> {
    outputs
        .iter()
        .filter_map(|output| match output {
            EngineOutput::Alert(alert) if alert.kind == AlertKind::Anomaly => Some(alert),
            _ => None,
        })
        .collect()
}

#[test]
fn spike_fires_within_its_hour_and_resolves() {
    let table = table();
    let start = utc("2026-03-02T00:00:00Z"); // a Monday
    let events = stream(start);
    let mut engine = PartitionEngine::new(config());
    let outputs = run(&mut engine, &table, &events);

    let alerts = anomaly_alerts(&outputs);
    let spike_hour = start + Duration::hours(28 * 24 + 10);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(alerts[0].status, AlertStatus::Firing);
    assert_eq!(alerts[0].period_start, spike_hour);
    assert!(
        alerts[0].at < spike_hour + Duration::hours(1),
        "fired at {}",
        alerts[0].at
    );
    assert!(alerts[0].baseline.unwrap() < alerts[0].observed.unwrap());
    assert_eq!(alerts[1].status, AlertStatus::Resolved);
    assert_eq!(alerts[1].key, alerts[0].key);
    assert_eq!(
        alerts[1].at,
        spike_hour + Duration::hours(2),
        "the next normal hour resolves it"
    );
}

#[test]
fn weekly_pattern_alone_never_fires() {
    let table = table();
    let start = utc("2026-03-02T00:00:00Z");
    let events: Vec<UsageEvent> = stream(start)
        .into_iter()
        .filter(|usage| usage.time < start + Duration::hours(28 * 24))
        .collect();
    let mut engine = PartitionEngine::new(config());
    let outputs = run(&mut engine, &table, &events);
    assert!(
        anomaly_alerts(&outputs).is_empty(),
        "{:#?}",
        anomaly_alerts(&outputs)
    );
}

#[test]
fn snapshot_during_stream_keeps_alerts_identical() {
    let table = table();
    let events = stream(utc("2026-03-02T00:00:00Z"));
    let mut uninterrupted = PartitionEngine::new(config());
    let expected = run(&mut uninterrupted, &table, &events);

    let split = events.len() - 40;
    let mut first = PartitionEngine::new(config());
    let mut outputs = run(&mut first, &table, &events[..split]);
    let snapshot = first.snapshot();
    drop(first);
    let mut restored = PartitionEngine::restore(config(), &snapshot).unwrap();
    for (index, usage) in events[split..].iter().enumerate() {
        restored.process(
            usage.clone(),
            (split + index) as i64,
            None,
            &table,
            &mut outputs,
        );
    }
    assert_eq!(outputs, expected);
    assert_eq!(anomaly_alerts(&outputs).len(), 2);
}
