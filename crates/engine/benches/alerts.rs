//! Cost of alert evaluation: the same events through an engine whose contracts have
//! no budgets or prepaid pools and whose anomaly rule is off, and through one with
//! budgets (thresholds and forecast), a prepaid pool and anomaly detection on.

use std::collections::BTreeMap;
use std::hint::black_box;

use burnrate_engine::anomaly::DetectorState;
use burnrate_engine::{AlertConfig, PartitionEngine, ProcessingConfig};
use burnrate_model::{parse_contract_json, EventKind, UsageEvent};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;

const ACCOUNTS: usize = 100;
const EVENTS: usize = 100_000;

fn table(with_alerts: bool) -> ContractTable {
    let extras = if with_alerts {
        r#""prepaid": {"amount": "500", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"},
           "budgets": [{"id": "monthly", "amount": "2000", "thresholds_pct": [50, 80, 100], "forecast": true},
                       {"id": "search", "amount": "300", "thresholds_pct": [100], "scope": {"team": "search"}}],"#
    } else {
        ""
    };
    let contracts = (0..ACCOUNTS)
        .map(|account| {
            let json = format!(
                r#"{{"id": "c{account}", "account": "account-{account}", "vendor": "openai", "currency": "USD", "timezone": "Europe/Berlin", {extras}
                   "prices": [{{"meter": "input_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {{"model": "per_unit", "unit_price": "0.0000025"}}}},
                              {{"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {{"model": "graduated", "tiers": [{{"up_to": "1000000", "unit_price": "0.00001"}}, {{"up_to": null, "unit_price": "0.000008"}}]}}}}]}}"#
            );
            parse_contract_json(&json).unwrap()
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}

/// Events over ten days in time order, spread over accounts, meters and teams.
fn events() -> Vec<UsageEvent> {
    let start: DateTime<Utc> = "2026-05-01T00:00:00Z".parse().unwrap();
    let teams = ["search", "support", "research"];
    (0..EVENTS)
        .map(|index| UsageEvent {
            id: format!("e-{index}"),
            source: "openai".to_owned(),
            kind: EventKind::Usage,
            time: start + Duration::seconds(index as i64 * 8),
            account: format!("account-{}", (index * 7) % ACCOUNTS),
            meter: if index % 2 == 0 {
                "input_tokens"
            } else {
                "output_tokens"
            }
            .to_owned(),
            quantity: Decimal::from(100 + (index % 3000) as i64),
            product: None,
            dimensions: BTreeMap::from([("team".to_owned(), teams[index % 3].to_owned())]),
            cost: None,
        })
        .collect()
}

fn alerts(criterion: &mut Criterion) {
    let events = events();
    let mut group = criterion.benchmark_group("alerts");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);

    for (name, with_alerts) in [
        ("process/without_alert_rules", false),
        ("process/with_alert_rules", true),
    ] {
        let table = table(with_alerts);
        let alert_config = AlertConfig {
            anomaly_detection: with_alerts,
            unrated_usage: with_alerts,
            ..AlertConfig::default()
        };
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                let mut engine =
                    PartitionEngine::with_alerts(ProcessingConfig::default(), alert_config.clone());
                let mut outputs = Vec::new();
                for (offset, event) in events.iter().enumerate() {
                    engine.process(event.clone(), offset as i64, None, &table, &mut outputs);
                    outputs.clear();
                }
                black_box(engine.counters())
            })
        });
    }
    group.finish();

    let detector = DetectorState::default();
    let serialized = postcard::to_allocvec(&detector).unwrap();
    eprintln!(
        "anomaly detector state per series: {} bytes inline, {} bytes serialized",
        std::mem::size_of::<DetectorState>(),
        serialized.len()
    );
}

criterion_group!(benches, alerts);
criterion_main!(benches);
