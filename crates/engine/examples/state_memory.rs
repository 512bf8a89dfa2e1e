//! Measures the heap memory of partition state: bytes per open series and window,
//! and bytes per remembered dedup id.
//!
//! A counting global allocator keeps the sum of the sizes of live allocations, so
//! each figure is the growth of that sum while the state is built. The sum counts
//! requested bytes, not the allocator's own rounding and headers.
//!
//! Run with `cargo run --release -p burnrate-engine --example state_memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use burnrate_engine::dedup::{fingerprint, DedupMemory};
use burnrate_engine::{PartitionEngine, PartitionState, ProcessingConfig};
use burnrate_model::{Contract, EventKind, Price, Pricing, UsageEvent};
use burnrate_pricing::ContractTable;
use chrono::{Duration, TimeZone, Utc};
use rust_decimal::Decimal;

/// Wraps the system allocator and counts live requested bytes in [`LIVE_BYTES`].
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`, and the counter does not
// touch the returned memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from this allocator, so from `System`, with `layout`.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `pointer` came from `System` with `layout`, and the caller upholds the
        // rest of the contract.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const ACCOUNTS: usize = 100;

/// Builds one contract per account, priced per unit in UTC, as the snapshot benches
/// in `benches/engine.rs` do.
fn build_table() -> ContractTable {
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
                meter: "input_tokens".to_owned(),
                product: None,
                effective_from,
                effective_to: None,
                pricing: Pricing::PerUnit {
                    unit_price: Decimal::new(20, 7),
                },
            }],
            prepaid: None,
            budgets: Vec::new(),
            rounding: None,
            credit_price: None,
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}

/// Event `index` of a stream in which every event starts its own series (a
/// distinct `user`), all within one hour so that no window closes.
fn series_event(index: usize) -> UsageEvent {
    UsageEvent {
        id: format!("evt-{index:08}"),
        source: "openai".to_owned(),
        kind: EventKind::Usage,
        time: Utc.with_ymd_and_hms(2026, 5, 6, 10, 0, 0).unwrap()
            + Duration::microseconds(3_000 * index as i64),
        account: format!("account-{}", index % ACCOUNTS),
        meter: "input_tokens".to_owned(),
        quantity: Decimal::from(1 + index % 5000),
        product: Some("gpt-4.1".to_owned()),
        dimensions: BTreeMap::from([
            ("team".to_owned(), format!("team-{}", index % 4)),
            ("project".to_owned(), format!("project-{}", index % 7)),
            ("user".to_owned(), format!("user-{index}")),
        ]),
        cost: None,
    }
}

fn per(bytes: usize, count: usize) -> f64 {
    bytes as f64 / count as f64
}

/// Builds `series` open series with the default windows (hour, day) plus the
/// billing period, and prints the bytes each part of the state takes per series.
fn measure_series(series: usize, table: &ContractTable) {
    let config = ProcessingConfig::default();
    let mut engine = PartitionEngine::new(config.clone());
    // The engine keeps changed keys for changelog records only after its first
    // snapshot, as in a deployment that checkpoints. Take one so they are counted.
    drop(engine.snapshot());
    let before = live_bytes();
    let mut outputs = Vec::new();
    for index in 0..series {
        engine.process(series_event(index), index as i64, None, table, &mut outputs);
    }
    assert!(
        outputs.is_empty(),
        "no window may close while the state is built"
    );
    drop(outputs);
    let with_dirty = live_bytes() - before;

    // A snapshot clears the keys kept for the next changelog record.
    let snapshot = engine.snapshot();
    let clean = live_bytes() - snapshot.capacity() - before;

    let windows = engine.state().windows.len();
    let periods = engine.state().periods.len();
    println!("{series} series ({windows} open windows, {periods} open billing periods), state built by processing events:");
    println!(
        "  whole state:                    {:>7.1} bytes per series ({with_dirty} bytes)",
        per(with_dirty, series)
    );
    println!(
        "  whole state after a checkpoint: {:>7.1} bytes per series ({clean} bytes)",
        per(clean, series)
    );
    println!(
        "  changed keys kept until the next checkpoint: {:.1} bytes per series",
        per(with_dirty - clean, series)
    );

    // Attribute the clean state by dropping a copy part by part. A clone keeps each
    // hash table's bucket count and shares the series' strings. So dedup and windows
    // are measured without the strings, which are freed with the periods, dropped last.
    let copy = engine.state().clone();
    drop(engine);
    let PartitionState {
        dedup,
        rating,
        alerts,
        windows: window_map,
        periods: period_map,
        ..
    } = copy;
    let copied = live_bytes();
    let mut last = copied;
    let mut freed = |label: &str, count: usize, unit: &str| {
        let now = live_bytes();
        println!(
            "  {label:<31} {:>7.1} bytes per {unit}",
            per(last - now, count)
        );
        last = now;
    };
    drop(dedup);
    freed("dedup memory:", series, "id");
    drop(rating);
    freed("rating state:", series, "series");
    drop(alerts);
    freed("alert rule state:", series, "series");
    drop(window_map);
    freed("window entries (no strings):", windows, "window");
    drop(period_map);
    freed("periods with series strings:", periods, "series");

    // The rest is held by the engine outside `PartitionState`, such as the pool that
    // shares the strings of series keys.
    let outside_state = clean.saturating_sub(copied - live_bytes());
    println!(
        "  {:<31} {:>7.1} bytes per series",
        "engine outside the state:",
        per(outside_state, series)
    );

    let before_restore = live_bytes();
    let restored = PartitionEngine::restore(config, &snapshot).unwrap();
    let restored_bytes = live_bytes() - before_restore;
    println!(
        "  whole state restored from a snapshot: {:.1} bytes per series ({restored_bytes} bytes)",
        per(restored_bytes, series)
    );
    drop(restored);
}

/// Remembers `ids` fingerprints and prints the bytes per id.
fn measure_dedup(ids: usize) {
    let time = Utc.with_ymd_and_hms(2026, 5, 6, 10, 0, 0).unwrap();
    let before = live_bytes();
    let mut memory = DedupMemory::default();
    for index in 0..ids {
        memory.insert(
            fingerprint("openai", &format!("evt-{index:08}")),
            time,
            index as u32,
        );
    }
    let bytes = live_bytes() - before;
    println!(
        "{ids} dedup ids: {:.1} bytes per id ({bytes} bytes)",
        per(bytes, ids)
    );
}

fn main() {
    let table = build_table();
    for series in [100_000, 1_000_000] {
        measure_series(series, &table);
    }

    // The hash table doubles its buckets when it is 7/8 full: 1,835,008 ids fill
    // 2^21 buckets, and one more id moves them to 2^22.
    for ids in [1_000_000, 1_835_008, 1_835_009] {
        measure_dedup(ids);
    }
}
