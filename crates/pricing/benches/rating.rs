//! Rating throughput with a realistic contracts table: 1,000 accounts with 20
//! meters each and 3 effective-dated price versions per meter.

use std::collections::BTreeMap;
use std::hint::black_box;

use burnrate_model::{Contract, EventKind, Price, Pricing, Tier, UsageEvent};
use burnrate_pricing::{rate_event, ContractTable, RatingState};
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;

const ACCOUNTS: usize = 1_000;
const METERS: usize = 20;
const EVENTS: usize = 100_000;

fn version_start(version: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(60 * version)
}

/// Cycles through the four pricing models so the bench covers each.
fn pricing(meter: usize, version: i64) -> Pricing {
    let price = Decimal::new(25 + version, 7);
    match meter % 4 {
        0 => Pricing::PerUnit { unit_price: price },
        1 => Pricing::Package {
            package_size: Decimal::from(1000),
            package_price: Decimal::new(50, 2),
        },
        2 => Pricing::Graduated {
            tiers: vec![
                Tier {
                    up_to: Some(Decimal::from(1_000_000)),
                    unit_price: price,
                },
                Tier {
                    up_to: Some(Decimal::from(10_000_000)),
                    unit_price: price / Decimal::TWO,
                },
                Tier {
                    up_to: None,
                    unit_price: price / Decimal::TEN,
                },
            ],
        },
        _ => Pricing::Volume {
            tiers: vec![
                Tier {
                    up_to: Some(Decimal::from(1_000_000)),
                    unit_price: price,
                },
                Tier {
                    up_to: None,
                    unit_price: price / Decimal::TWO,
                },
            ],
        },
    }
}

fn build_table() -> ContractTable {
    let contracts = (0..ACCOUNTS)
        .map(|account| {
            let prices = (0..METERS)
                .flat_map(|meter| {
                    (0..3).map(move |version| Price {
                        meter: format!("meter-{meter}"),
                        product: None,
                        effective_from: version_start(version),
                        effective_to: (version < 2).then(|| version_start(version + 1)),
                        pricing: pricing(meter, version),
                    })
                })
                .collect();
            Contract {
                id: format!("contract-{account}"),
                account: format!("account-{account}"),
                vendor: "openai".to_owned(),
                currency: "USD".parse().unwrap(),
                timezone: chrono_tz::Tz::Europe__Berlin,
                billing_anchor_day: 1,
                prices,
                prepaid: None,
                budgets: Vec::new(),
                rounding: None,
                credit_price: None,
            }
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}

/// Events spread over accounts, meters and all three price versions, in time order.
fn build_events() -> Vec<UsageEvent> {
    let start = version_start(0);
    (0..EVENTS)
        .map(|index| UsageEvent {
            id: format!("e-{index}"),
            source: "openai".to_owned(),
            kind: EventKind::Usage,
            time: start + Duration::seconds((index as i64) * 150),
            account: format!("account-{}", (index * 7919) % ACCOUNTS),
            meter: format!("meter-{}", (index * 31) % METERS),
            quantity: Decimal::from(1 + (index % 5000) as i64),
            product: None,
            dimensions: BTreeMap::new(),
            cost: None,
        })
        .collect()
}

fn rating(criterion: &mut Criterion) {
    let table = build_table();
    let events = build_events();
    let mut group = criterion.benchmark_group("rating");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(
        "rate_event/1000_accounts_x_20_meters_x_3_versions",
        |bencher| {
            bencher.iter(|| {
                let mut state = RatingState::default();
                for event in &events {
                    black_box(rate_event(&table, &mut state, event).unwrap());
                }
            })
        },
    );
    group.finish();
}

criterion_group!(benches, rating);
criterion_main!(benches);
