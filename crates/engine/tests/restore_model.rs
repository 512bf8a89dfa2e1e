//! Model-based test: random event streams with shuffles, duplicates, late events and
//! restarts at random points give the same outputs as an uninterrupted run, and
//! billing-period totals equal a plain sum over the deduplicated input.

mod common;

use std::collections::{BTreeMap, HashSet};

use burnrate_engine::{EngineOutput, PartitionEngine};
use burnrate_model::{AggregateKind, UsageEvent, WindowKind};
use burnrate_pricing::{cumulative_cost, ContractTable};
use chrono::{DateTime, Duration, Utc};
use common::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// How the state is saved before a restart.
#[derive(Debug, Clone, Copy)]
enum Checkpoint {
    /// A full snapshot.
    Snapshot,
    /// A changelog record on top of the last snapshot.
    Changelog,
}

#[derive(Debug, Clone)]
struct Scenario {
    events: Vec<UsageEvent>,
    /// Positions before which the engine saves its state, and whether it restarts from it there.
    checkpoints: BTreeMap<usize, (Checkpoint, bool)>,
}

/// Distinct events over three days, then a stream that repeats some and shuffles them
/// locally. Meter `images` has no price, so those events are unrated.
fn scenario() -> impl Strategy<Value = Scenario> {
    let distinct = prop::collection::vec(
        (
            0usize..2,
            0usize..3,
            0i64..(3 * 24 * 60),
            1u32..200_000,
            0usize..3,
        ),
        1..80,
    );
    distinct
        .prop_flat_map(|specs| {
            let count = specs.len();
            let picks = prop::collection::vec(0..count, count..count * 2);
            (
                Just(specs),
                picks,
                prop::collection::vec((0usize..200, any::<bool>(), any::<bool>()), 0..8),
            )
        })
        .prop_map(|(specs, picks, checkpoint_specs)| {
            let start: DateTime<Utc> = utc("2026-04-29T00:00:00Z");
            let teams = ["search", "support", "research"];
            let distinct: Vec<UsageEvent> = specs
                .iter()
                .enumerate()
                .map(|(index, (account, meter, minutes, quantity, team))| {
                    let mut usage = event(
                        &format!("e{index}"),
                        ["acme", "globex"][*account],
                        "2026-01-01T00:00:00Z",
                        ["input_tokens", "output_tokens", "images"][*meter],
                        &quantity.to_string(),
                    );
                    usage.time = start + Duration::minutes(*minutes);
                    usage
                        .dimensions
                        .insert("team".to_owned(), teams[*team].to_owned());
                    usage
                })
                .collect();

            // Every distinct event appears at least once; `picks` adds repeats. Sorting by
            // time and then swapping neighbours yields mostly ordered input with late events.
            let mut stream: Vec<UsageEvent> = distinct.clone();
            stream.extend(picks.iter().map(|index| distinct[*index].clone()));
            stream.sort_by_key(|usage| usage.time);
            for (index, value) in picks.iter().enumerate() {
                let first = index % stream.len();
                let second = (first + value % 7) % stream.len();
                stream.swap(first, second);
            }

            let checkpoints = checkpoint_specs
                .into_iter()
                .map(|(position, full, restart)| {
                    let kind = if full {
                        Checkpoint::Snapshot
                    } else {
                        Checkpoint::Changelog
                    };
                    (position % (stream.len() + 1), (kind, restart))
                })
                .collect();
            Scenario {
                events: stream,
                checkpoints,
            }
        })
}

fn run_uninterrupted(
    table: &ContractTable,
    events: &[UsageEvent],
) -> (Vec<EngineOutput>, PartitionEngine) {
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(&mut engine, table, events);
    engine.close_all(&mut outputs);
    (outputs, engine)
}

fn run_with_restarts(
    table: &ContractTable,
    scenario: &Scenario,
) -> (Vec<EngineOutput>, PartitionEngine) {
    let mut engine = PartitionEngine::new(config());
    let mut snapshot = engine.snapshot();
    let mut changelog: Vec<Vec<u8>> = Vec::new();
    let mut outputs = Vec::new();

    for (offset, usage) in scenario.events.iter().enumerate() {
        if let Some((checkpoint, restart)) = scenario.checkpoints.get(&offset) {
            match checkpoint {
                Checkpoint::Snapshot => {
                    snapshot = engine.snapshot();
                    changelog.clear();
                }
                Checkpoint::Changelog => changelog.extend(engine.changelog_record()),
            }
            if *restart {
                drop(engine);
                engine = PartitionEngine::restore(config(), &snapshot).expect("snapshot restores");
                for record in &changelog {
                    engine
                        .apply_changelog_record(record)
                        .expect("changelog record applies");
                }
            }
        }
        engine.process(usage.clone(), offset as i64, None, table, &mut outputs);
    }
    engine.close_all(&mut outputs);
    (outputs, engine)
}

/// Period quantity and cost per (account, meter, period start), computed without the engine.
fn expected_period_totals(
    table: &ContractTable,
    events: &[UsageEvent],
) -> BTreeMap<(String, String, DateTime<Utc>), (Decimal, Decimal)> {
    let mut seen = HashSet::new();
    let mut quantities: BTreeMap<(String, String, DateTime<Utc>), Decimal> = BTreeMap::new();
    for usage in events {
        if !seen.insert((usage.source.clone(), usage.id.clone())) || usage.meter == "images" {
            continue;
        }
        let contract = table
            .contracts()
            .find(|contract| contract.account == usage.account)
            .unwrap();
        let period = contract.billing_period(usage.time);
        *quantities
            .entry((usage.account.clone(), usage.meter.clone(), period.start))
            .or_default() += usage.quantity;
    }
    quantities
        .into_iter()
        .map(|((account, meter, start), quantity)| {
            let contract = table
                .contracts()
                .find(|contract| contract.account == account)
                .unwrap();
            let price = contract
                .prices
                .iter()
                .find(|price| price.meter == meter)
                .unwrap();
            let cost = cumulative_cost(&price.pricing, quantity).unwrap();
            ((account, meter, start), (quantity, cost))
        })
        .collect()
}

fn engine_period_totals(
    outputs: &[EngineOutput],
) -> BTreeMap<(String, String, DateTime<Utc>), (Decimal, Decimal)> {
    let mut totals: BTreeMap<(String, String, DateTime<Utc>), (Decimal, Decimal)> = BTreeMap::new();
    for aggregate in aggregates(outputs)
        .into_iter()
        .filter(|aggregate| aggregate.window == WindowKind::Period)
    {
        let entry = totals
            .entry((
                aggregate.account.clone(),
                aggregate.meter.clone(),
                aggregate.window_start,
            ))
            .or_default();
        entry.0 += aggregate.quantity;
        entry.1 += aggregate.cost;
    }
    totals
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn restarts_never_change_outputs(scenario in scenario()) {
        let table = table();
        let (expected, uninterrupted) = run_uninterrupted(&table, &scenario.events);
        let (actual, restarted) = run_with_restarts(&table, &scenario);

        prop_assert_eq!(&actual, &expected);
        let alerts = expected.iter().filter(|output| matches!(output, EngineOutput::Alert(_))).count();
        prop_assert_eq!(restarted.counters().alerts as usize, alerts);
        prop_assert_eq!(restarted.counters(), uninterrupted.counters());
        prop_assert_eq!(restarted.state(), uninterrupted.state());
    }

    #[test]
    fn period_totals_equal_plain_sum(scenario in scenario()) {
        let table = table();
        let (outputs, engine) = run_uninterrupted(&table, &scenario.events);

        prop_assert_eq!(engine_period_totals(&outputs), expected_period_totals(&table, &scenario.events));

        let distinct: HashSet<&str> = scenario.events.iter().map(|usage| usage.id.as_str()).collect();
        let distinct_unrated: HashSet<&str> = scenario.events.iter().filter(|usage| usage.meter == "images").map(|usage| usage.id.as_str()).collect();
        prop_assert_eq!(engine.counters().rated as usize, distinct.len() - distinct_unrated.len());
        prop_assert_eq!(engine.counters().unrated as usize, distinct_unrated.len());
        prop_assert_eq!(engine.counters().duplicates as usize, scenario.events.len() - distinct.len());
    }

    #[test]
    fn hour_totals_add_up_to_period_totals(scenario in scenario()) {
        let table = table();
        let (outputs, _) = run_uninterrupted(&table, &scenario.events);
        let mut hours: Decimal = Decimal::ZERO;
        let mut periods: Decimal = Decimal::ZERO;
        for aggregate in aggregates(&outputs) {
            match aggregate.window {
                WindowKind::Hour => hours += aggregate.cost,
                WindowKind::Period => periods += aggregate.cost,
                _ => {}
            }
            prop_assert!(aggregate.kind == AggregateKind::Final || aggregate.kind == AggregateKind::Correction);
        }
        prop_assert_eq!(hours, periods);
    }
}

#[test]
fn first_changelog_record_carries_whole_state() {
    let table = table();
    let events: Vec<UsageEvent> = (0..50)
        .map(|index| {
            let mut usage = event(
                &format!("e{index}"),
                "acme",
                "2026-05-01T00:00:00Z",
                "input_tokens",
                "1000",
            );
            usage.time += Duration::minutes(index * 7);
            usage
        })
        .collect();

    let empty_snapshot = PartitionEngine::new(config()).snapshot();
    let mut engine = PartitionEngine::new(config());
    run(&mut engine, &table, &events);
    let record = engine.changelog_record().expect("a record after events");

    let mut restored = PartitionEngine::restore(config(), &empty_snapshot).unwrap();
    restored.apply_changelog_record(&record).unwrap();
    assert_eq!(restored.state(), engine.state());
}
