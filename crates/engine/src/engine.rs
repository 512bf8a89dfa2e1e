//! The partition engine: turns usage events into spend aggregates in event time.
//!
//! Each event goes through these steps in order. An event older than the retention
//! horizon goes to dead letters, and a repeat of a counted (source, id) is dropped.
//! Otherwise the event is rated and added to its windows and billing period, or
//! emitted as a correction where one of them has closed. Then the watermark moves
//! and every window it has passed closes.

use std::sync::Arc;

use burnrate_model::{AggregateKind, Alert, SpendAggregate, UsageEvent, WindowKind};
use burnrate_pricing::{rate_event, Charge, ContractTable, PeriodKey, PoolKey, UnratedReason};
use chrono::{DateTime, Duration, Utc};

use crate::alerts::{AlertConfig, RuleContext};
use crate::config::ProcessingConfig;
use crate::dedup::{content_hash, fingerprint};
use crate::series::{SeriesKey, SpendTotals, StringPool};
use crate::state::{Counters, PartitionState, PeriodEntry, PeriodId, WindowId};
use crate::window::window_bounds;

/// Something the engine produced for the caller to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineOutput {
    /// A window's final aggregate, or a correction to a closed window.
    Aggregate(SpendAggregate),
    /// An event the engine will not count, with the reason.
    DeadLetter {
        /// The rejected event.
        event: UsageEvent,
        /// The input offset it came from.
        offset: i64,
        /// The reason it was rejected.
        reason: String,
    },
    /// An alert firing or resolving.
    Alert(Alert),
    /// An event no price covers; counted as unrated usage, never as zero cost.
    Unrated {
        /// The event.
        event: UsageEvent,
        /// The input offset it came from.
        offset: i64,
        /// The reason no price applied.
        reason: UnratedReason,
    },
}

/// Settings converted to the types the engine computes with.
#[derive(Debug, Clone)]
struct Timing {
    out_of_orderness: Duration,
    allowed_lateness: Duration,
    idle_timeout: Duration,
    dedup_horizon: Duration,
    retention: Duration,
}

impl Timing {
    fn of(config: &ProcessingConfig) -> Timing {
        let convert = |span: std::time::Duration| Duration::from_std(span).unwrap_or(Duration::MAX);
        Timing {
            out_of_orderness: convert(config.out_of_orderness),
            allowed_lateness: convert(config.allowed_lateness),
            idle_timeout: convert(config.idle_timeout),
            dedup_horizon: convert(config.dedup_horizon),
            retention: convert(config.retention),
        }
    }
}

/// Runs one partition's state machine. Deterministic: the same events, offsets and
/// contracts give the same outputs, whether or not the engine was snapshotted and
/// restored in between.
#[derive(Debug, Clone)]
pub struct PartitionEngine {
    config: ProcessingConfig,
    alert_config: AlertConfig,
    timing: Timing,
    state: PartitionState,
    /// Earliest `end + allowed_lateness` of a period whose final is not emitted yet;
    /// derived from the state, so never snapshotted.
    next_period_close: Option<DateTime<Utc>>,
    /// Alerts produced by the current step, before they become outputs.
    alert_buffer: Vec<Alert>,
    /// Shared strings of series keys; a cache, never snapshotted.
    strings: StringPool,
    /// Whether changed keys are kept for the next changelog record. It is off until
    /// the first snapshot, so an engine that never writes a changelog (a replay)
    /// does not accumulate them.
    tracking_changes: bool,
}

impl PartitionEngine {
    /// Creates an engine with empty state and the default alert rules.
    pub fn new(config: ProcessingConfig) -> PartitionEngine {
        PartitionEngine::with_state(config, PartitionState::default())
    }

    /// Creates an engine with empty state and the given alert rules.
    pub fn with_alerts(config: ProcessingConfig, alert_config: AlertConfig) -> PartitionEngine {
        let mut engine = PartitionEngine::new(config);
        engine.alert_config = alert_config;
        engine
    }

    /// Replaces the alert rules' settings (used after restoring a snapshot).
    pub fn set_alert_config(&mut self, alert_config: AlertConfig) {
        self.alert_config = alert_config;
    }

    /// Creates an engine around restored state.
    pub fn with_state(config: ProcessingConfig, state: PartitionState) -> PartitionEngine {
        let timing = Timing::of(&config);
        let mut engine = PartitionEngine {
            config,
            alert_config: AlertConfig::default(),
            timing,
            state,
            next_period_close: None,
            alert_buffer: Vec::new(),
            strings: StringPool::default(),
            tracking_changes: false,
        };
        engine.next_period_close = engine.compute_next_period_close();
        engine
    }

    /// Returns the state (for snapshots and inspection).
    pub fn state(&self) -> &PartitionState {
        &self.state
    }

    /// Returns the mutable state, for restoring changelog records.
    pub(crate) fn state_mut(&mut self) -> &mut PartitionState {
        &mut self.state
    }

    /// Starts keeping changed keys for changelog records, from an empty set.
    pub(crate) fn start_tracking_changes(&mut self) {
        self.tracking_changes = true;
        self.state.dirty = Default::default();
        self.state.alerts.dirty = Default::default();
    }

    /// Returns whether changed keys are kept for changelog records.
    pub(crate) fn is_tracking_changes(&self) -> bool {
        self.tracking_changes
    }

    /// Drops the changed keys of the last step when no changelog is being written.
    fn forget_changes_unless_tracking(&mut self) {
        if !self.tracking_changes {
            self.state.dirty = Default::default();
            self.state.alerts.dirty = Default::default();
        }
    }

    /// Recomputes values derived from the state after it was changed wholesale.
    pub(crate) fn refresh_derived(&mut self) {
        self.next_period_close = self.compute_next_period_close();
    }

    /// Returns the counters.
    pub fn counters(&self) -> Counters {
        self.state.counters
    }

    /// Returns the settings.
    pub fn config(&self) -> &ProcessingConfig {
        &self.config
    }

    /// Processes one event read at input `offset`; `arrival` is the processing time
    /// when the caller has one (it drives the idle timeout).
    pub fn process(
        &mut self,
        event: UsageEvent,
        offset: i64,
        arrival: Option<DateTime<Utc>>,
        table: &ContractTable,
        outputs: &mut Vec<EngineOutput>,
    ) {
        self.state.counters.events += 1;
        self.state.input_offset = Some(offset);

        if let Some(watermark) = self.state.watermark.current {
            let horizon = watermark - self.timing.retention;
            if event.time < horizon {
                self.state.counters.dead_lettered += 1;
                let reason = format!(
                    "event time {} is older than the retention horizon {} (watermark {} minus retention {}); its billing period is no longer kept",
                    event.time.to_rfc3339(),
                    horizon.to_rfc3339(),
                    watermark.to_rfc3339(),
                    crate::config::format_span(self.config.retention)
                );
                outputs.push(EngineOutput::DeadLetter {
                    event,
                    offset,
                    reason,
                });
                return;
            }
        }

        let id = fingerprint(&event.source, &event.id);
        let content = content_hash(&event);
        if let Some(remembered) = self.state.dedup.lookup(id, self.dedup_cutoff()) {
            if remembered == content {
                self.state.counters.duplicates += 1;
            } else {
                // A reused id with other data is not a repeat to drop silently: the
                // first version was counted, and this one is kept for a person to look at.
                self.state.counters.dead_lettered += 1;
                let reason = format!(
                    "duplicate (source, id) ({:?}, {:?}) with content that differs from the event already counted; send changes as type \"burnrate.usage.correction\" with a new id",
                    event.source, event.id
                );
                outputs.push(EngineOutput::DeadLetter {
                    event,
                    offset,
                    reason,
                });
            }
            return;
        }

        let event_time = event.time;
        match rate_event(table, &mut self.state.rating, &event) {
            Ok(charge) => {
                if self.count_rated(&event, &charge, offset, outputs) {
                    let context = RuleContext {
                        config: &self.alert_config,
                        track_changes: self.tracking_changes,
                    };
                    self.state.alerts.on_rated(
                        &context,
                        &event,
                        &charge,
                        &self.state.rating,
                        &mut self.alert_buffer,
                    );
                }
            }
            Err(reason) => {
                self.state.counters.unrated += 1;
                let context = RuleContext {
                    config: &self.alert_config,
                    track_changes: self.tracking_changes,
                };
                self.state
                    .alerts
                    .on_unrated(&context, &event, &reason, &mut self.alert_buffer);
                outputs.push(EngineOutput::Unrated {
                    event,
                    offset,
                    reason,
                });
            }
        }
        self.flush_alerts(outputs);
        self.state.dedup.insert(id, event_time, content);
        self.state.dirty.dedup.insert(id);

        let previous = self.state.watermark.current;
        if self
            .state
            .watermark
            .observe(event_time, self.timing.out_of_orderness, arrival)
        {
            self.close_passed_windows(previous, outputs);
        }
        self.forget_changes_unless_tracking();
    }

    /// Records that the input record at `offset` was handled outside the engine (a
    /// record that did not decode went to dead letters), so that the state reflects
    /// it and a restore resumes after it instead of dead-lettering it again.
    pub fn skip_offset(&mut self, offset: i64) {
        self.state.input_offset = Some(offset);
    }

    /// Moves buffered alerts to the outputs, counting them.
    fn flush_alerts(&mut self, outputs: &mut Vec<EngineOutput>) {
        self.state.counters.alerts += self.alert_buffer.len() as u64;
        outputs.extend(self.alert_buffer.drain(..).map(EngineOutput::Alert));
    }

    /// Advances an idle partition's watermark by processing time `now` and closes
    /// the windows it passes.
    pub fn advance_idle(&mut self, now: DateTime<Utc>, outputs: &mut Vec<EngineOutput>) {
        let previous = self.state.watermark.current;
        let moved = self.state.watermark.advance_idle(
            now,
            self.timing.idle_timeout,
            self.timing.out_of_orderness,
        );
        if moved {
            self.close_passed_windows(previous, outputs);
        }
        self.forget_changes_unless_tracking();
    }

    /// Closes every open window and billing period and emits their final aggregates,
    /// as at the end of a replayed input.
    pub fn close_all(&mut self, outputs: &mut Vec<EngineOutput>) {
        self.close_windows_through(None, outputs);
        self.close_periods_through(None, outputs);
        self.forget_changes_unless_tracking();
    }

    fn dedup_cutoff(&self) -> DateTime<Utc> {
        match self.state.watermark.current {
            Some(watermark) => watermark - self.timing.dedup_horizon,
            None => DateTime::<Utc>::MIN_UTC,
        }
    }

    /// Returns whether a window or period ending at `end` has closed.
    fn is_closed(&self, end: DateTime<Utc>) -> bool {
        self.state
            .watermark
            .current
            .is_some_and(|watermark| end + self.timing.allowed_lateness <= watermark)
    }

    /// Adds a rated event to its windows and period; returns false when it was
    /// dead-lettered instead.
    fn count_rated(
        &mut self,
        event: &UsageEvent,
        charge: &Charge,
        offset: i64,
        outputs: &mut Vec<EngineOutput>,
    ) -> bool {
        self.mark_rating_dirty(event, charge);

        let contract = &charge.contract;
        let series = SeriesKey::of(
            event,
            &contract.id,
            contract.currency.code(),
            &self.config.dimensions,
            &mut self.strings,
        );
        let delta = SpendTotals {
            quantity: event.quantity,
            cost: charge.cost,
            prepaid_applied: charge.prepaid_applied,
            billed: charge.billed,
        };

        // Check every sum first, so an overflow leaves all aggregates untouched.
        let windows: Vec<WindowId> = self
            .config
            .windows
            .iter()
            .map(|kind| {
                let (start, end) = window_bounds(*kind, event.time);
                WindowId {
                    end,
                    kind: *kind,
                    start,
                }
            })
            .collect();
        let period = PeriodId {
            end: charge.period.end,
            start: charge.period.start,
        };
        let period_before = self
            .state
            .periods
            .get(&period, &series)
            .copied()
            .unwrap_or_default();
        let fits = period_before.totals.checked_add(&delta).is_some()
            && windows.iter().all(|window| {
                self.state
                    .windows
                    .get(window, &series)
                    .is_none_or(|totals| totals.checked_add(&delta).is_some())
            });
        if !fits {
            // NOTE: the rating state already counts this event's quantity, so later
            // tier positions include it; only reachable with totals near 7.9e28.
            self.state.counters.dead_lettered += 1;
            outputs.push(EngineOutput::DeadLetter {
                event: event.clone(),
                offset,
                reason: "aggregate totals would exceed the decimal range (about 7.9e28)".to_owned(),
            });
            return false;
        }

        self.state.counters.rated += 1;
        let mut late = false;
        for window in windows {
            if self.is_closed(window.end) {
                late = true;
                outputs.push(self.aggregate(
                    &series,
                    window.kind,
                    window.start,
                    window.end,
                    &delta,
                    AggregateKind::Correction,
                ));
                self.state.counters.corrections += 1;
                continue;
            }
            let totals = self.state.windows.get_or_default(window, &series);
            *totals = totals.checked_add(&delta).expect("checked above");
            if self.tracking_changes {
                self.state.dirty.windows.insert((window, series.clone()));
            }
        }

        let period_closed = period_before.final_emitted || self.is_closed(period.end);
        let entry = PeriodEntry {
            totals: period_before
                .totals
                .checked_add(&delta)
                .expect("checked above"),
            final_emitted: period_closed,
        };
        if period_closed {
            late = true;
            outputs.push(self.aggregate(
                &series,
                WindowKind::Period,
                period.start,
                period.end,
                &delta,
                AggregateKind::Correction,
            ));
            self.state.counters.corrections += 1;
        } else {
            let close_at = period.end + self.timing.allowed_lateness;
            self.next_period_close = Some(
                self.next_period_close
                    .map_or(close_at, |next| next.min(close_at)),
            );
        }
        self.state.periods.insert(period, series.clone(), entry);
        if self.tracking_changes {
            self.state.dirty.periods.insert((period, series));
        }

        if late {
            self.state.counters.late += 1;
        }
        true
    }

    fn mark_rating_dirty(&mut self, event: &UsageEvent, charge: &Charge) {
        if let Some(price_key) = &charge.price_key {
            self.state.dirty.rating_periods.insert(PeriodKey {
                price_key: Arc::clone(price_key),
                period_start: charge.period.start,
            });
        }
        if let Some(prepaid) = charge
            .contract
            .prepaid
            .as_ref()
            .filter(|prepaid| prepaid.covers(event.time))
        {
            self.state.dirty.pools.insert(PoolKey {
                contract_id: charge.contract.id.as_str().into(),
                starts: prepaid.starts,
            });
        }
    }

    fn close_passed_windows(
        &mut self,
        previous: Option<DateTime<Utc>>,
        outputs: &mut Vec<EngineOutput>,
    ) {
        let Some(watermark) = self.state.watermark.current else {
            return;
        };
        let limit = watermark - self.timing.allowed_lateness;
        self.close_windows_through(Some(limit), outputs);
        if self.next_period_close.is_some_and(|next| next <= watermark) {
            self.close_periods_through(Some(limit), outputs);
        }

        // Housekeeping runs when the watermark enters a new hour, a schedule that
        // depends only on the watermark, so a restored engine keeps it too.
        let hour = |time: DateTime<Utc>| time.timestamp().div_euclid(3600);
        if previous.is_none_or(|previous| hour(previous) != hour(watermark)) {
            let context = RuleContext {
                config: &self.alert_config,
                track_changes: self.tracking_changes,
            };
            self.state
                .alerts
                .on_watermark(&context, watermark, &mut self.alert_buffer);
            self.flush_alerts(outputs);
            let day = |time: DateTime<Utc>| time.timestamp().div_euclid(86_400);
            let new_day = previous.is_none_or(|previous| day(previous) != day(watermark));
            self.trim_memory(watermark, new_day);
        }
    }

    /// Emits and removes windows whose end is at or before `limit` (all when `None`).
    fn close_windows_through(
        &mut self,
        limit: Option<DateTime<Utc>>,
        outputs: &mut Vec<EngineOutput>,
    ) {
        while let Some(window) = self.state.windows.first_group().copied() {
            if limit.is_some_and(|limit| window.end > limit) {
                break;
            }
            let Some((window, members)) = self.state.windows.pop_first_group() else {
                break;
            };
            for (series, totals) in members {
                outputs.push(self.aggregate(
                    &series,
                    window.kind,
                    window.start,
                    window.end,
                    &totals,
                    AggregateKind::Final,
                ));
                if self.tracking_changes {
                    self.state.dirty.windows.insert((window, series));
                }
            }
        }
    }

    /// Emits the finals of periods whose end is at or before `limit` (all when `None`)
    /// and keeps their totals for late corrections and alerts.
    fn close_periods_through(
        &mut self,
        limit: Option<DateTime<Utc>>,
        outputs: &mut Vec<EngineOutput>,
    ) {
        let mut closed: Vec<(PeriodId, SeriesKey, SpendTotals)> = Vec::new();
        for (period, members) in self.state.periods.groups_mut() {
            if limit.is_some_and(|limit| period.end > limit) {
                break;
            }
            let mut pending: Vec<(SeriesKey, SpendTotals)> = Vec::new();
            for (series, entry) in members.iter_mut().filter(|(_, entry)| !entry.final_emitted) {
                entry.final_emitted = true;
                pending.push((series.clone(), entry.totals));
            }
            pending.sort_by(|left, right| left.0.cmp(&right.0));
            closed.extend(
                pending
                    .into_iter()
                    .map(|(series, totals)| (*period, series, totals)),
            );
        }
        for (period, series, totals) in closed {
            outputs.push(self.aggregate(
                &series,
                WindowKind::Period,
                period.start,
                period.end,
                &totals,
                AggregateKind::Final,
            ));
            if self.tracking_changes {
                self.state.dirty.periods.insert((period, series));
            }
        }
        self.next_period_close = self.compute_next_period_close();
    }

    fn compute_next_period_close(&self) -> Option<DateTime<Utc>> {
        self.state
            .periods
            .groups()
            .find(|(_, members)| members.values().any(|entry| !entry.final_emitted))
            .map(|(period, _)| period.end + self.timing.allowed_lateness)
    }

    /// Forgets what no future event can touch: dedup ids behind the dedup horizon,
    /// and periods and tier positions behind the retention horizon. It never changes
    /// an output, because lookups already ignore entries behind those horizons.
    ///
    /// Evicting dedup ids scans every remembered id, so it runs once per day of
    /// watermark progress (`new_day`), keeping at most a day of expired ids.
    fn trim_memory(&mut self, watermark: DateTime<Utc>, new_day: bool) {
        if new_day {
            for id in self
                .state
                .dedup
                .evict_before(watermark - self.timing.dedup_horizon)
            {
                self.state.dirty.dedup.insert(id);
            }
        }

        let horizon = watermark - self.timing.retention;
        let mut expired: Vec<(PeriodId, SeriesKey)> = Vec::new();
        for (period, members) in self.state.periods.groups_mut() {
            if period.end >= horizon {
                break;
            }
            members.retain(|series, entry| {
                if entry.final_emitted {
                    expired.push((*period, series.clone()));
                }
                !entry.final_emitted
            });
        }
        self.state.periods.drop_empty_groups();
        if self.tracking_changes {
            self.state.dirty.periods.extend(expired);
        }
        // A billing period lasts at most 31 days and one DST hour, so one that started
        // 32 days before the horizon has ended before it.
        for key in self
            .state
            .rating
            .forget_periods_before(horizon - Duration::days(32))
        {
            self.state.dirty.rating_periods.insert(key);
        }
    }

    fn aggregate(
        &self,
        series: &SeriesKey,
        window: WindowKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        totals: &SpendTotals,
        kind: AggregateKind,
    ) -> EngineOutput {
        EngineOutput::Aggregate(SpendAggregate {
            account: series.account.to_string(),
            vendor: series.vendor.to_string(),
            meter: series.meter.to_string(),
            product: series.product.as_deref().map(str::to_owned),
            dimensions: series
                .dimensions
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            contract_id: series.contract_id.to_string(),
            window,
            window_start: start,
            window_end: end,
            quantity: totals.quantity,
            cost: totals.cost,
            prepaid_applied: totals.prepaid_applied,
            billed: totals.billed,
            currency: series.currency.to_string(),
            kind,
        })
    }
}
