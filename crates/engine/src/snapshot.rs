//! Snapshots and changelog records of a partition's state.
//!
//! A snapshot contains the whole state. A changelog record contains only the
//! entries changed since the previous snapshot or record, with a removed entry
//! written as an absent value. Restoring is: decode the latest snapshot, then apply the records that
//! follow it in order. Both carry the input offset they reflect.
//!
//! Encoding: a 4-byte magic (`BRSS` for snapshots, `BRCL` for changelog records),
//! a format version byte, then the body in postcard (compact varint binary).
//! Decimals travel as their 16-byte `rust_decimal` representation and instants as
//! microseconds since the epoch, so nothing is rounded. The strings of series keys
//! are written once, in a table that window and period entries refer to by index.

use std::sync::Arc;

use burnrate_model::WindowKind;
use burnrate_pricing::{PeriodKey, PoolKey};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::alerts::{
    AnomalyKey, AnomalyTrack, BudgetKey, BudgetTrack, PoolTrack, PoolTrackKey, UnratedKey,
    UnratedTrack,
};
use crate::config::ProcessingConfig;
use crate::engine::PartitionEngine;
use crate::series::{SeriesKey, SpendTotals};
use crate::state::{Counters, PartitionState, PeriodEntry, PeriodId, WindowId};
use crate::watermark::Watermark;

const SNAPSHOT_MAGIC: &[u8; 4] = b"BRSS";
const CHANGELOG_MAGIC: &[u8; 4] = b"BRCL";
const FORMAT_VERSION: u8 = 2;

/// A failure to restore a snapshot or changelog record.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start with the expected magic and version.
    #[error("not a burnrate {expected} of format version {FORMAT_VERSION}: {found}")]
    WrongHeader {
        /// `snapshot` or `changelog record`.
        expected: &'static str,
        /// The header bytes found instead.
        found: String,
    },
    /// The body does not decode.
    #[error("corrupt {what}: {source}")]
    Corrupt {
        /// `snapshot` or `changelog record`.
        what: &'static str,
        /// The decoder's error.
        source: postcard::Error,
    },
    /// A value in the body is out of range (an instant beyond chrono's range).
    #[error("corrupt {what}: {problem}")]
    OutOfRange {
        /// `snapshot` or `changelog record`.
        what: &'static str,
        /// The value that is out of range.
        problem: String,
    },
}

type Micros = i64;
type DecimalBytes = [u8; 16];

/// A series key as indices into the image's string table, so that each account,
/// meter or user name is written once however many windows mention it.
#[derive(Serialize, Deserialize)]
struct SeriesImage {
    account: u32,
    vendor: u32,
    meter: u32,
    product: Option<u32>,
    dimensions: Vec<(u32, u32)>,
    contract_id: u32,
    currency: u32,
}

/// The strings of an image being written, each once.
#[derive(Default)]
struct StringTable {
    index: rustc_hash::FxHashMap<Arc<str>, u32>,
    strings: Vec<String>,
}

impl StringTable {
    fn index_of(&mut self, text: &Arc<str>) -> u32 {
        if let Some(index) = self.index.get(text) {
            return *index;
        }
        let index = self.strings.len() as u32;
        self.strings.push(text.to_string());
        self.index.insert(Arc::clone(text), index);
        index
    }
}

#[derive(Serialize, Deserialize)]
struct TotalsImage {
    quantity: DecimalBytes,
    cost: DecimalBytes,
    prepaid_applied: DecimalBytes,
    billed: DecimalBytes,
}

#[derive(Serialize, Deserialize)]
struct WindowImage {
    kind: u8,
    start: Micros,
    end: Micros,
    series: SeriesImage,
    totals: Option<TotalsImage>,
}

#[derive(Serialize, Deserialize)]
struct PeriodImage {
    start: Micros,
    end: Micros,
    series: SeriesImage,
    entry: Option<(TotalsImage, bool)>,
}

#[derive(Serialize, Deserialize)]
struct ScalarsImage {
    input_offset: Option<i64>,
    max_event_time: Option<Micros>,
    watermark: Option<Micros>,
    last_arrival: Option<Micros>,
    counters: Counters,
}

/// Body of both snapshots and changelog records; in a snapshot every value is present.
#[derive(Serialize, Deserialize)]
struct StateImage {
    scalars: ScalarsImage,
    strings: Vec<String>,
    dedup: Vec<(u128, Option<(i64, u32)>)>,
    rating_periods: Vec<(String, Micros, Option<DecimalBytes>)>,
    pools: Vec<(String, Micros, Option<DecimalBytes>)>,
    windows: Vec<WindowImage>,
    periods: Vec<PeriodImage>,
    alert_budgets: Vec<(BudgetKey, Option<BudgetTrack>)>,
    alert_pools: Vec<(PoolTrackKey, Option<PoolTrack>)>,
    alert_unrated: Vec<(UnratedKey, Option<UnratedTrack>)>,
    alert_anomalies: Vec<(AnomalyKey, Option<AnomalyTrack>)>,
}

impl PartitionEngine {
    /// Builds the image of the whole state.
    fn full_image(&self) -> StateImage {
        let state = self.state();
        let mut dedup: Vec<(u128, Option<(i64, u32)>)> = state
            .dedup
            .entries()
            .map(|(id, seen)| (id, Some(seen)))
            .collect();
        dedup.sort_unstable();
        let mut rating_periods: Vec<_> = state
            .rating
            .period_quantities()
            .map(|(key, quantity)| {
                (
                    key.price_key.to_string(),
                    micros(key.period_start),
                    Some(quantity.serialize()),
                )
            })
            .collect();
        rating_periods.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut pools: Vec<_> = state
            .rating
            .pool_charges()
            .map(|(key, charged)| {
                (
                    key.contract_id.to_string(),
                    micros(key.starts),
                    Some(charged.serialize()),
                )
            })
            .collect();
        pools.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut table = StringTable::default();
        let windows = state
            .windows
            .iter()
            .map(|(window, series, totals)| window_image(window, series, Some(totals), &mut table))
            .collect();
        let periods = state
            .periods
            .iter()
            .map(|(period, series, entry)| period_image(period, series, Some(entry), &mut table))
            .collect();

        let alerts = &state.alerts;
        StateImage {
            scalars: scalars_image(state),
            strings: table.strings,
            dedup,
            rating_periods,
            pools,
            windows,
            periods,
            alert_budgets: all_tracks(&alerts.budgets),
            alert_pools: all_tracks(&alerts.pools),
            alert_unrated: all_tracks(&alerts.unrated),
            alert_anomalies: all_tracks(&alerts.anomalies),
        }
    }

    /// Encodes the whole state; the next changelog record starts from here, and from
    /// now on the engine tracks which entries change.
    pub fn snapshot(&mut self) -> Vec<u8> {
        let image = self.full_image();
        self.start_tracking_changes();
        encode(SNAPSHOT_MAGIC, &image)
    }

    /// Encodes the entries changed since the last snapshot or changelog record, or
    /// returns `None` when nothing changed.
    ///
    /// Changes are tracked from the first snapshot, record or restore on. Before
    /// that, the record contains the whole state.
    pub fn changelog_record(&mut self) -> Option<Vec<u8>> {
        if !self.is_tracking_changes() {
            let image = self.full_image();
            self.start_tracking_changes();
            return Some(encode(CHANGELOG_MAGIC, &image));
        }
        let dirty = std::mem::take(&mut self.state_mut().dirty);
        let alert_dirty = std::mem::take(&mut self.state_mut().alerts.dirty);
        let state = self.state();
        if dirty.is_empty() && alert_dirty.is_empty() && state.input_offset.is_none() {
            return None;
        }

        let mut dedup: Vec<(u128, Option<(i64, u32)>)> = dirty
            .dedup
            .iter()
            .map(|id| (*id, state.dedup.get(*id)))
            .collect();
        dedup.sort_unstable();
        let rating_periods = dirty
            .rating_periods
            .iter()
            .map(|key| {
                let quantity = state
                    .rating
                    .recorded_period_quantity(key)
                    .map(|quantity| quantity.serialize());
                (
                    key.price_key.to_string(),
                    micros(key.period_start),
                    quantity,
                )
            })
            .collect();
        let pools = dirty
            .pools
            .iter()
            .map(|key| {
                (
                    key.contract_id.to_string(),
                    micros(key.starts),
                    Some(state.rating.pool_charged(key).serialize()),
                )
            })
            .collect();
        let mut table = StringTable::default();
        let windows = dirty
            .windows
            .iter()
            .map(|key| {
                window_image(
                    &key.0,
                    &key.1,
                    state.windows.get(&key.0, &key.1),
                    &mut table,
                )
            })
            .collect();
        let periods = dirty
            .periods
            .iter()
            .map(|key| {
                period_image(
                    &key.0,
                    &key.1,
                    state.periods.get(&key.0, &key.1),
                    &mut table,
                )
            })
            .collect();

        let alerts = &state.alerts;
        let image = StateImage {
            scalars: scalars_image(state),
            strings: table.strings,
            dedup,
            rating_periods,
            pools,
            windows,
            periods,
            alert_budgets: changed_tracks(&alerts.budgets, &alert_dirty.budgets),
            alert_pools: changed_tracks(&alerts.pools, &alert_dirty.pools),
            alert_unrated: changed_tracks(&alerts.unrated, &alert_dirty.unrated),
            alert_anomalies: changed_tracks(&alerts.anomalies, &alert_dirty.anomalies),
        };
        Some(encode(CHANGELOG_MAGIC, &image))
    }

    /// Restores an engine from a snapshot. Its alert rules use the default settings
    /// until [`PartitionEngine::set_alert_config`] sets others.
    pub fn restore(
        config: ProcessingConfig,
        snapshot: &[u8],
    ) -> Result<PartitionEngine, SnapshotError> {
        let image = decode(SNAPSHOT_MAGIC, "snapshot", snapshot)?;
        let mut state = PartitionState::default();
        apply(&mut state, image, "snapshot")?;
        let mut engine = PartitionEngine::with_state(config, state);
        engine.start_tracking_changes();
        Ok(engine)
    }

    /// Applies a changelog record written after the snapshot this engine was restored from.
    pub fn apply_changelog_record(&mut self, record: &[u8]) -> Result<(), SnapshotError> {
        let image = decode(CHANGELOG_MAGIC, "changelog record", record)?;
        apply(self.state_mut(), image, "changelog record")?;
        self.refresh_derived();
        Ok(())
    }
}

fn encode(magic: &[u8; 4], image: &StateImage) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1024);
    bytes.extend_from_slice(magic);
    bytes.push(FORMAT_VERSION);
    postcard::to_extend(image, bytes).expect("writing to a Vec cannot fail")
}

fn decode(magic: &[u8; 4], what: &'static str, bytes: &[u8]) -> Result<StateImage, SnapshotError> {
    let header_matches = bytes.len() >= 5 && &bytes[..4] == magic && bytes[4] == FORMAT_VERSION;
    if !header_matches {
        let found = bytes
            .iter()
            .take(5)
            .map(|byte| format!("{byte:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(SnapshotError::WrongHeader {
            expected: what,
            found: format!("header bytes {found}"),
        });
    }
    postcard::from_bytes(&bytes[5..]).map_err(|source| SnapshotError::Corrupt { what, source })
}

fn apply(
    state: &mut PartitionState,
    image: StateImage,
    what: &'static str,
) -> Result<(), SnapshotError> {
    let instant = |value: Micros| -> Result<DateTime<Utc>, SnapshotError> {
        DateTime::from_timestamp_micros(value).ok_or_else(|| SnapshotError::OutOfRange {
            what,
            problem: format!("instant {value} µs since the epoch"),
        })
    };
    let optional_instant = |value: Option<Micros>| value.map(instant).transpose();

    let scalars = image.scalars;
    state.input_offset = scalars.input_offset;
    state.counters = scalars.counters;
    state.watermark = Watermark {
        max_event_time: optional_instant(scalars.max_event_time)?,
        current: optional_instant(scalars.watermark)?,
        last_arrival: optional_instant(scalars.last_arrival)?,
    };

    for (id, seen) in image.dedup {
        state.dedup.set(id, seen);
    }
    for (price_key, start, quantity) in image.rating_periods {
        let key = PeriodKey {
            price_key: Arc::from(price_key),
            period_start: instant(start)?,
        };
        state
            .rating
            .restore_period_quantity(key, quantity.map(Decimal::deserialize));
    }
    for (contract_id, starts, charged) in image.pools {
        let key = PoolKey {
            contract_id: Arc::from(contract_id),
            starts: instant(starts)?,
        };
        state
            .rating
            .set_pool_charged(key, charged.map(Decimal::deserialize).unwrap_or_default());
    }

    apply_tracks(&mut state.alerts.budgets, image.alert_budgets);
    apply_tracks(&mut state.alerts.pools, image.alert_pools);
    apply_tracks(&mut state.alerts.unrated, image.alert_unrated);
    apply_tracks(&mut state.alerts.anomalies, image.alert_anomalies);

    let strings: Vec<Arc<str>> = image.strings.into_iter().map(Arc::from).collect();
    let resolve = |index: u32| -> Result<Arc<str>, SnapshotError> {
        strings
            .get(index as usize)
            .cloned()
            .ok_or_else(|| SnapshotError::OutOfRange {
                what,
                problem: format!("string index {index} beyond a table of {}", strings.len()),
            })
    };
    let series_of = |image: SeriesImage| -> Result<SeriesKey, SnapshotError> {
        Ok(SeriesKey {
            account: resolve(image.account)?,
            vendor: resolve(image.vendor)?,
            meter: resolve(image.meter)?,
            product: image.product.map(resolve).transpose()?,
            dimensions: image
                .dimensions
                .into_iter()
                .map(|(name, value)| Ok((resolve(name)?, resolve(value)?)))
                .collect::<Result<_, SnapshotError>>()?,
            contract_id: resolve(image.contract_id)?,
            currency: resolve(image.currency)?,
        })
    };
    for window in image.windows {
        let kind = window_kind(window.kind).ok_or_else(|| SnapshotError::OutOfRange {
            what,
            problem: format!("window kind {}", window.kind),
        })?;
        let id = WindowId {
            end: instant(window.end)?,
            kind,
            start: instant(window.start)?,
        };
        let series = series_of(window.series)?;
        match window.totals {
            Some(totals) => state.windows.insert(id, series, totals_from(totals)),
            None => {
                state.windows.remove(&id, &series);
            }
        }
    }
    for period in image.periods {
        let id = PeriodId {
            end: instant(period.end)?,
            start: instant(period.start)?,
        };
        let series = series_of(period.series)?;
        match period.entry {
            Some((totals, final_emitted)) => {
                let entry = PeriodEntry {
                    totals: totals_from(totals),
                    final_emitted,
                };
                state.periods.insert(id, series, entry);
            }
            None => {
                state.periods.remove(&id, &series);
            }
        }
    }
    Ok(())
}

/// Sets each alert track present in an image and removes each absent one.
fn apply_tracks<K: Ord, V>(
    tracks: &mut std::collections::BTreeMap<K, V>,
    entries: Vec<(K, Option<V>)>,
) {
    for (key, track) in entries {
        match track {
            Some(track) => tracks.insert(key, track),
            None => tracks.remove(&key),
        };
    }
}

/// Lists every track of a map as present, for a full image.
fn all_tracks<K: Clone, V: Clone>(
    tracks: &std::collections::BTreeMap<K, V>,
) -> Vec<(K, Option<V>)> {
    tracks
        .iter()
        .map(|(key, track)| (key.clone(), Some(track.clone())))
        .collect()
}

/// Lists the changed tracks of a map, absent where a track was removed.
fn changed_tracks<K: Ord + Clone, V: Clone>(
    tracks: &std::collections::BTreeMap<K, V>,
    changed: &std::collections::BTreeSet<K>,
) -> Vec<(K, Option<V>)> {
    changed
        .iter()
        .map(|key| (key.clone(), tracks.get(key).cloned()))
        .collect()
}

fn micros(time: DateTime<Utc>) -> Micros {
    time.timestamp_micros()
}

fn scalars_image(state: &PartitionState) -> ScalarsImage {
    ScalarsImage {
        input_offset: state.input_offset,
        max_event_time: state.watermark.max_event_time.map(micros),
        watermark: state.watermark.current.map(micros),
        last_arrival: state.watermark.last_arrival.map(micros),
        counters: state.counters,
    }
}

fn series_image(series: &SeriesKey, table: &mut StringTable) -> SeriesImage {
    SeriesImage {
        account: table.index_of(&series.account),
        vendor: table.index_of(&series.vendor),
        meter: table.index_of(&series.meter),
        product: series
            .product
            .as_ref()
            .map(|product| table.index_of(product)),
        dimensions: series
            .dimensions
            .iter()
            .map(|(name, value)| (table.index_of(name), table.index_of(value)))
            .collect(),
        contract_id: table.index_of(&series.contract_id),
        currency: table.index_of(&series.currency),
    }
}

fn totals_image(totals: &SpendTotals) -> TotalsImage {
    TotalsImage {
        quantity: totals.quantity.serialize(),
        cost: totals.cost.serialize(),
        prepaid_applied: totals.prepaid_applied.serialize(),
        billed: totals.billed.serialize(),
    }
}

fn totals_from(image: TotalsImage) -> SpendTotals {
    SpendTotals {
        quantity: Decimal::deserialize(image.quantity),
        cost: Decimal::deserialize(image.cost),
        prepaid_applied: Decimal::deserialize(image.prepaid_applied),
        billed: Decimal::deserialize(image.billed),
    }
}

fn window_image(
    window: &WindowId,
    series: &SeriesKey,
    totals: Option<&SpendTotals>,
    table: &mut StringTable,
) -> WindowImage {
    WindowImage {
        kind: window_kind_code(window.kind),
        start: micros(window.start),
        end: micros(window.end),
        series: series_image(series, table),
        totals: totals.map(totals_image),
    }
}

fn period_image(
    period: &PeriodId,
    series: &SeriesKey,
    entry: Option<&PeriodEntry>,
    table: &mut StringTable,
) -> PeriodImage {
    PeriodImage {
        start: micros(period.start),
        end: micros(period.end),
        series: series_image(series, table),
        entry: entry.map(|entry| (totals_image(&entry.totals), entry.final_emitted)),
    }
}

fn window_kind_code(kind: WindowKind) -> u8 {
    match kind {
        WindowKind::Minute => 0,
        WindowKind::Hour => 1,
        WindowKind::Day => 2,
        WindowKind::Period => 3,
    }
}

fn window_kind(code: u8) -> Option<WindowKind> {
    match code {
        0 => Some(WindowKind::Minute),
        1 => Some(WindowKind::Hour),
        2 => Some(WindowKind::Day),
        3 => Some(WindowKind::Period),
        _ => None,
    }
}
