//! Everything one partition remembers: watermark, dedup memory, rating state, open
//! windows, billing-period totals and counters, plus the keys changed since the
//! last checkpoint so a changelog record carries only those.

use std::collections::BTreeSet;

use burnrate_model::WindowKind;
use burnrate_pricing::{PeriodKey, PoolKey, RatingState};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertBook;
use crate::dedup::{DedupMemory, Fingerprint};
use crate::grouped::Grouped;
use crate::series::{SeriesKey, SpendTotals};
use crate::watermark::Watermark;

/// A tumbling window, ordered by end first so that windows close in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowId {
    /// End of the window (exclusive).
    pub end: DateTime<Utc>,
    /// Window length.
    pub kind: WindowKind,
    /// Start of the window (inclusive).
    pub start: DateTime<Utc>,
}

/// A billing period, ordered by end first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeriodId {
    /// End of the period (exclusive).
    pub end: DateTime<Utc>,
    /// Start of the period (inclusive).
    pub start: DateTime<Utc>,
}

/// A series' totals over one billing period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodEntry {
    /// Totals so far, corrections included.
    pub totals: SpendTotals,
    /// Whether the period's final aggregate was emitted; later events become corrections.
    pub final_emitted: bool,
}

/// Counts of what a partition processed, for summaries and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events handed to the engine.
    pub events: u64,
    /// Events priced.
    pub rated: u64,
    /// Events no price covered.
    pub unrated: u64,
    /// Repeats of an already counted (source, id), not counted again.
    pub duplicates: u64,
    /// Events that arrived after one of their windows had closed.
    pub late: u64,
    /// Events sent to dead letters: older than the retention horizon, or with totals
    /// beyond the decimal range.
    pub dead_lettered: u64,
    /// Correction aggregates emitted.
    pub corrections: u64,
    /// Alerts emitted (firing and resolved).
    pub alerts: u64,
}

/// Keys changed since the last snapshot or changelog record.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dirty {
    pub dedup: FxHashSet<Fingerprint>,
    pub rating_periods: BTreeSet<PeriodKey>,
    pub pools: BTreeSet<PoolKey>,
    pub windows: BTreeSet<(WindowId, SeriesKey)>,
    pub periods: BTreeSet<(PeriodId, SeriesKey)>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.dedup.is_empty()
            && self.rating_periods.is_empty()
            && self.pools.is_empty()
            && self.windows.is_empty()
            && self.periods.is_empty()
    }
}

/// The whole state of one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionState {
    /// Event-time progress.
    pub watermark: Watermark,
    /// Event ids already counted.
    pub dedup: DedupMemory,
    /// Tier positions and prepaid draw-down.
    pub rating: RatingState,
    /// Totals of windows that have not closed yet.
    pub windows: Grouped<WindowId, SpendTotals>,
    /// Billing-period totals, kept until the period leaves the retention horizon.
    pub periods: Grouped<PeriodId, PeriodEntry>,
    /// Alert rule state.
    pub alerts: AlertBook,
    /// Counts of what happened.
    pub counters: Counters,
    /// The last input offset this state reflects.
    pub input_offset: Option<i64>,
    pub(crate) dirty: Dirty,
}

impl PartialEq for PartitionState {
    /// Compares what the partition remembers; pending changelog keys do not count.
    fn eq(&self, other: &Self) -> bool {
        self.watermark == other.watermark
            && self.dedup == other.dedup
            && self.rating == other.rating
            && self.windows == other.windows
            && self.periods == other.periods
            && self.alerts == other.alerts
            && self.counters == other.counters
            && self.input_offset == other.input_offset
    }
}

impl Eq for PartitionState {}
