//! Criterion benches of the partition engine.
//!
//! - `engine/process`: 100,000 decoded usage events through `PartitionEngine::process`
//!   (dedup, rating, windows, billing periods and the default alert rules), then
//!   `close_all`. No snapshot is taken, so, as in a replay, the engine keeps no
//!   changed keys for changelog records.
//! - `engine/decode_and_process`: the same events as CloudEvents JSON lines, decoded
//!   with `decode_cloudevent` and processed.
//! - `engine/decode`: only the decoding, to separate its share.
//! - `engine_state/snapshot` and `engine_state/restore`: one million open series.
//!
//! Memory per series and per dedup id is measured by the `state_memory` example
//! instead, because its counting allocator would slow these benches down.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration as StdDuration;

use burnrate_codec::{decode_cloudevent, encode_cloudevent};
use burnrate_engine::{EngineOutput, PartitionEngine, ProcessingConfig};
use burnrate_model::{Contract, EventKind, Prepaid, Price, Pricing, Tier, UsageEvent};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use rust_decimal::Decimal;

const ACCOUNTS: usize = 100;
const METERS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "api_calls",
];
const PRODUCTS: [&str; 2] = ["gpt-4.1", "gpt-4.1-mini"];
const USERS_PER_ACCOUNT: usize = 8;
const EVENTS: usize = 100_000;
/// Event time covered by the stream: 72 hours, across the end of March so that
/// billing periods close in both Europe/Berlin and UTC.
const STREAM_HOURS: i64 = 72;
/// Per mille of events that repeat one of the previous 1,000 events.
const DUPLICATES_PER_MILLE: u64 = 10;
/// Per mille of events that arrive 2 to 6 hours behind the stream.
const LATE_PER_MILLE: u64 = 5;

const SNAPSHOT_SERIES: usize = 1_000_000;

/// SplitMix64: a small, seeded generator so every run feeds the same events.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Returns a value in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn stream_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 30, 0, 0, 0).unwrap()
}

fn per_unit(unit_price: Decimal) -> Pricing {
    Pricing::PerUnit { unit_price }
}

fn graduated(first_tier_units: i64, unit_price: Decimal) -> Pricing {
    Pricing::Graduated {
        tiers: vec![
            Tier {
                up_to: Some(Decimal::from(first_tier_units)),
                unit_price,
            },
            Tier {
                up_to: Some(Decimal::from(first_tier_units * 10)),
                unit_price: unit_price / Decimal::TWO,
            },
            Tier {
                up_to: None,
                unit_price: unit_price / Decimal::TEN,
            },
        ],
    }
}

/// Builds one contract per account. Even accounts bill in Europe/Berlin and odd ones
/// in UTC, and every fourth account has a prepaid pool. Input tokens and API calls
/// are priced in graduated tiers, output and cached input tokens per unit.
fn build_table() -> ContractTable {
    let effective_from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let contracts = (0..ACCOUNTS)
        .map(|account| {
            let pricings = [
                graduated(2_000_000, Decimal::new(20, 7)),
                per_unit(Decimal::new(80, 7)),
                per_unit(Decimal::new(5, 7)),
                graduated(10_000, Decimal::new(1, 3)),
            ];
            let prices = METERS
                .iter()
                .zip(pricings)
                .map(|(meter, pricing)| Price {
                    meter: (*meter).to_owned(),
                    product: None,
                    effective_from,
                    effective_to: None,
                    pricing,
                })
                .collect();
            let timezone = if account % 2 == 0 {
                chrono_tz::Tz::Europe__Berlin
            } else {
                chrono_tz::Tz::UTC
            };
            let prepaid = (account % 4 == 0).then(|| Prepaid {
                amount: Decimal::from(500),
                starts: effective_from,
                ends: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
            });
            Contract {
                id: format!("contract-{account}"),
                account: format!("account-{account}"),
                vendor: "openai".to_owned(),
                currency: "USD".parse().unwrap(),
                timezone,
                billing_anchor_day: 1,
                prices,
                prepaid,
                budgets: Vec::new(),
                rounding: None,
                credit_price: None,
            }
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}

fn dimensions(user: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("team".to_owned(), format!("team-{}", user % 4)),
        ("project".to_owned(), format!("project-{}", user % 7)),
        ("user".to_owned(), format!("user-{user}")),
    ])
}

/// 100,000 events over 72 hours, in time order apart from up to 2 minutes of
/// jitter (within the default 5-minute out-of-orderness), with 1 % duplicates and
/// 0.5 % late events that land in already closed hour windows.
fn build_events() -> Vec<UsageEvent> {
    let mut random = SplitMix64(0x6275_726e_7261_7465);
    let step = Duration::hours(STREAM_HOURS) / EVENTS as i32;
    let mut events: Vec<UsageEvent> = Vec::with_capacity(EVENTS);
    let mut fresh = 0usize;
    while events.len() < EVENTS {
        let roll = random.below(1000);
        if roll < DUPLICATES_PER_MILLE && !events.is_empty() {
            let back = random.below(events.len().min(1000) as u64) as usize;
            let repeat = events[events.len() - 1 - back].clone();
            events.push(repeat);
            continue;
        }

        let nominal = stream_start() + step * fresh as i32;
        let time = if roll < DUPLICATES_PER_MILLE + LATE_PER_MILLE {
            nominal - Duration::minutes(120 + random.below(240) as i64)
        } else {
            nominal - Duration::milliseconds(random.below(120_000) as i64)
        };
        let account = random.below(ACCOUNTS as u64) as usize;
        let user = account * USERS_PER_ACCOUNT + random.below(USERS_PER_ACCOUNT as u64) as usize;
        let (meter, quantity) = match random.below(10) {
            0..=3 => (METERS[0], 1 + random.below(8000)),
            4..=7 => (METERS[1], 1 + random.below(2000)),
            8 => (METERS[2], 1 + random.below(8000)),
            _ => (METERS[3], 1),
        };
        events.push(UsageEvent {
            id: format!("evt-{fresh:08}"),
            source: "openai".to_owned(),
            kind: EventKind::Usage,
            time,
            account: format!("account-{account}"),
            meter: meter.to_owned(),
            quantity: Decimal::from(quantity),
            product: Some(PRODUCTS[random.below(2) as usize].to_owned()),
            dimensions: dimensions(user),
            cost: None,
        });
        fresh += 1;
    }
    events
}

/// Encodes events as newline-delimited CloudEvents JSON.
fn encode_lines(events: &[UsageEvent]) -> Vec<u8> {
    let mut lines = Vec::new();
    for event in events {
        lines.extend_from_slice(encode_cloudevent(event).as_bytes());
        lines.push(b'\n');
    }
    lines
}

fn json_records(lines: &[u8]) -> impl Iterator<Item = &[u8]> {
    lines
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
}

/// Feeds events at offsets 0, 1, 2, ... and closes everything still open. Returns
/// the engine and outputs so that criterion drops them outside the timed part.
fn process_all(
    mut engine: PartitionEngine,
    events: impl Iterator<Item = UsageEvent>,
    table: &ContractTable,
) -> (PartitionEngine, Vec<EngineOutput>) {
    let mut outputs = Vec::new();
    for (offset, event) in events.enumerate() {
        engine.process(event, offset as i64, None, table, &mut outputs);
    }
    engine.close_all(&mut outputs);
    (engine, outputs)
}

/// Checks once, outside the timing, that the stream exercises what the bench
/// claims, and prints its counters.
fn check_stream(events: &[UsageEvent], lines: &[u8], table: &ContractTable) {
    let decoded: Vec<UsageEvent> = json_records(lines)
        .map(|record| decode_cloudevent(record).unwrap())
        .collect();
    assert!(
        decoded == events,
        "CloudEvents round trip changed the events"
    );

    let (engine, outputs) = process_all(
        PartitionEngine::new(ProcessingConfig::default()),
        events.iter().cloned(),
        table,
    );
    let counters = engine.counters();
    eprintln!("engine stream: {counters:?}, {} outputs", outputs.len());
    assert_eq!(counters.unrated, 0, "every event should find a price");
    assert_eq!(
        counters.dead_lettered, 0,
        "no event should be behind retention"
    );
    assert!(
        counters.duplicates > 0,
        "the stream should contain duplicates"
    );
    assert!(counters.late > 0, "the stream should contain late events");
}

fn throughput(criterion: &mut Criterion) {
    let table = build_table();
    let events = build_events();
    let lines = encode_lines(&events);
    check_stream(&events, &lines, &table);

    let mut group = criterion.benchmark_group("engine");
    group.sample_size(20);
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("process", |bencher| {
        bencher.iter_batched(
            || {
                (
                    PartitionEngine::new(ProcessingConfig::default()),
                    events.clone(),
                )
            },
            |(engine, events)| process_all(engine, events.into_iter(), &table),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("decode_and_process", |bencher| {
        bencher.iter_batched(
            || PartitionEngine::new(ProcessingConfig::default()),
            |engine| {
                let decoded = json_records(black_box(&lines))
                    .map(|record| decode_cloudevent(record).unwrap());
                process_all(engine, decoded, &table)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("decode", |bencher| {
        bencher.iter(|| {
            for record in json_records(black_box(&lines)) {
                black_box(decode_cloudevent(record).unwrap());
            }
        })
    });
    group.finish();
}

/// Builds one contract per account, priced per unit in UTC.
fn snapshot_table() -> ContractTable {
    let effective_from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let contracts = (0..ACCOUNTS)
        .map(|account| Contract {
            id: format!("contract-{account}"),
            account: format!("account-{account}"),
            vendor: "openai".to_owned(),
            currency: "USD".parse().unwrap(),
            timezone: chrono_tz::Tz::UTC,
            billing_anchor_day: 1,
            prices: vec![Price {
                meter: METERS[0].to_owned(),
                product: None,
                effective_from,
                effective_to: None,
                pricing: per_unit(Decimal::new(20, 7)),
            }],
            prepaid: None,
            budgets: Vec::new(),
            rounding: None,
            credit_price: None,
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}

/// Builds an engine with one million open series: one event per distinct `user`,
/// all within one hour, so every series has an open hour window, day window and
/// billing period, and the dedup memory contains one million ids.
fn build_million_series() -> PartitionEngine {
    let table = snapshot_table();
    let start = Utc.with_ymd_and_hms(2026, 5, 6, 10, 0, 0).unwrap();
    let events = (0..SNAPSHOT_SERIES).map(|index| UsageEvent {
        id: format!("evt-{index:08}"),
        source: "openai".to_owned(),
        kind: EventKind::Usage,
        time: start + Duration::microseconds(3_000 * index as i64),
        account: format!("account-{}", index % ACCOUNTS),
        meter: METERS[0].to_owned(),
        quantity: Decimal::from(1 + index % 5000),
        product: Some(PRODUCTS[0].to_owned()),
        dimensions: dimensions(index),
        cost: None,
    });

    let mut engine = PartitionEngine::new(ProcessingConfig::default());
    let mut outputs = Vec::new();
    for (offset, event) in events.enumerate() {
        engine.process(event, offset as i64, None, &table, &mut outputs);
    }
    assert!(
        outputs.is_empty(),
        "no window should close while building the state"
    );
    assert_eq!(engine.state().windows.len(), 2 * SNAPSHOT_SERIES);
    assert_eq!(engine.state().periods.len(), SNAPSHOT_SERIES);
    engine
}

/// The million-series engine and its snapshot, built on first use so that a filter
/// that skips these benches also skips the build.
#[derive(Default)]
struct MillionSeries {
    engine: Option<PartitionEngine>,
    snapshot: Option<Vec<u8>>,
}

impl MillionSeries {
    fn engine(&mut self) -> &mut PartitionEngine {
        self.engine.get_or_insert_with(build_million_series)
    }

    fn snapshot(&mut self) -> &[u8] {
        if self.snapshot.is_none() {
            let snapshot = self.engine().snapshot();
            eprintln!(
                "snapshot of {SNAPSHOT_SERIES} series: {} bytes, {:.1} bytes per series",
                snapshot.len(),
                snapshot.len() as f64 / SNAPSHOT_SERIES as f64
            );
            let restored =
                PartitionEngine::restore(ProcessingConfig::default(), &snapshot).unwrap();
            assert!(
                restored.state() == self.engine().state(),
                "restored state differs from the snapshotted one"
            );
            self.snapshot = Some(snapshot);
        }
        self.snapshot.as_deref().unwrap()
    }
}

fn snapshot_and_restore(criterion: &mut Criterion) {
    let mut million = MillionSeries::default();

    // An iteration takes several seconds, so flat sampling takes 10 samples of one
    // iteration each.
    let mut group = criterion.benchmark_group("engine_state");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(StdDuration::from_secs(2));
    group.measurement_time(StdDuration::from_secs(10));
    group.throughput(Throughput::Elements(SNAPSHOT_SERIES as u64));
    // One iteration per batch keeps one output alive at a time and drops it outside
    // the timing. `iter_with_large_drop` (criterion 0.8) panics under
    // `--profile-time` when the profile time leaves room for no whole iteration.
    group.bench_function("snapshot/1m_series", |bencher| {
        million.snapshot();
        let engine = million.engine();
        bencher.iter_batched(|| (), |()| engine.snapshot(), BatchSize::PerIteration)
    });
    group.bench_function("restore/1m_series", |bencher| {
        let snapshot = million.snapshot();
        bencher.iter_batched(
            || (),
            |()| {
                PartitionEngine::restore(ProcessingConfig::default(), black_box(snapshot)).unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, throughput, snapshot_and_restore);
criterion_main!(benches);
