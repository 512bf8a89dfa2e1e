//! Fixtures shared by the engine tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::str::FromStr;

use burnrate_engine::{EngineOutput, PartitionEngine, ProcessingConfig};
use burnrate_model::{
    parse_contract_json, AggregateKind, EventKind, SpendAggregate, UsageEvent, WindowKind,
};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Account `acme` at vendor `openai`, billed in Europe/Berlin: graduated input
/// tokens, per-unit output tokens, a prepaid pool of 50 USD, a monthly budget of
/// 500 USD with a forecast and a 40 USD budget for team search.
pub const ACME: &str = r#"{"id": "acme-2026", "account": "acme", "vendor": "openai", "currency": "USD", "timezone": "Europe/Berlin",
  "prepaid": {"amount": "50", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"},
  "budgets": [
    {"id": "acme-monthly", "amount": "500", "thresholds_pct": [50, 80, 100], "forecast": true},
    {"id": "acme-search", "amount": "40", "thresholds_pct": [100], "scope": {"team": "search"}}
  ],
  "prices": [
    {"meter": "input_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "graduated", "tiers": [{"up_to": "100000", "unit_price": "0.0001"}, {"up_to": null, "unit_price": "0.00005"}]}},
    {"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.0000025"}}
  ]}"#;

/// Account `globex` at vendor `openai`, billed in UTC per unit.
pub const GLOBEX: &str = r#"{"id": "globex-2026", "account": "globex", "vendor": "openai", "currency": "USD",
  "prices": [
    {"meter": "input_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.000002"}},
    {"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.000008"}}
  ]}"#;

pub fn table() -> ContractTable {
    ContractTable::new(vec![
        parse_contract_json(ACME).unwrap(),
        parse_contract_json(GLOBEX).unwrap(),
    ])
    .unwrap()
}

pub fn event(id: &str, account: &str, time: &str, meter: &str, quantity: &str) -> UsageEvent {
    UsageEvent {
        id: id.to_owned(),
        source: "openai".to_owned(),
        kind: EventKind::Usage,
        time: utc(time),
        account: account.to_owned(),
        meter: meter.to_owned(),
        quantity: dec(quantity),
        product: None,
        dimensions: BTreeMap::from([("team".to_owned(), "search".to_owned())]),
        cost: None,
    }
}

/// Returns a config with hour windows, a 1-minute out-of-orderness bound and 10 minutes of lateness.
pub fn config() -> ProcessingConfig {
    ProcessingConfig {
        windows: vec![WindowKind::Hour],
        out_of_orderness: std::time::Duration::from_secs(60),
        allowed_lateness: std::time::Duration::from_secs(600),
        ..ProcessingConfig::default()
    }
}

/// Feeds events in order with offsets 0, 1, 2, ... and returns all outputs.
pub fn run(
    engine: &mut PartitionEngine,
    table: &ContractTable,
    events: &[UsageEvent],
) -> Vec<EngineOutput> {
    let mut outputs = Vec::new();
    for (offset, event) in events.iter().enumerate() {
        engine.process(event.clone(), offset as i64, None, table, &mut outputs);
    }
    outputs
}

pub fn aggregates(outputs: &[EngineOutput]) -> Vec<&SpendAggregate> {
    outputs
        .iter()
        .filter_map(|output| match output {
            EngineOutput::Aggregate(aggregate) => Some(aggregate),
            _ => None,
        })
        .collect()
}

pub fn of_kind(
    outputs: &[EngineOutput],
    window: WindowKind,
    kind: AggregateKind,
) -> Vec<&SpendAggregate> {
    aggregates(outputs)
        .into_iter()
        .filter(|aggregate| aggregate.window == window && aggregate.kind == kind)
        .collect()
}
