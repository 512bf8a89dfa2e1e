//! Rating state: how far each price's tiers have been used in each billing period,
//! and how much of each prepaid pool has been drawn.
//!
//! This is the only memory rating needs, and it belongs to the partition that
//! rates the events, so it is snapshotted and restored with the rest of the
//! partition's state.

use std::sync::Arc;

use burnrate_model::{BillingPeriod, Contract};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap as HashMap;

/// Identifies one price's usage in one billing period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeriodKey {
    /// The price's key (see `PriceRef::key`).
    pub price_key: Arc<str>,
    /// Start of the billing period.
    pub period_start: DateTime<Utc>,
}

/// Identifies one prepaid pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolKey {
    /// The contract with the pool.
    pub contract_id: Arc<str>,
    /// When the pool starts; a re-published contract with a new pool gets a fresh one.
    pub starts: DateTime<Utc>,
}

/// Cumulative quantities per price and period, and cumulative cost drawn against each pool.
#[derive(Debug, Clone, Default)]
pub struct RatingState {
    period_quantity: HashMap<PeriodKey, Decimal>,
    pool_charged: HashMap<PoolKey, Decimal>,
    /// The last billing period computed per contract id; only a cache, never snapshotted.
    period_cache: HashMap<String, CachedPeriod>,
}

/// A billing period with the calendar settings it was computed from, so that a
/// contract re-published with another time zone or anchor day misses the cache.
#[derive(Debug, Clone, Copy)]
struct CachedPeriod {
    timezone: Tz,
    anchor_day: u32,
    period: BillingPeriod,
}

/// Two states are equal when they hold the same quantities and pool charges; the
/// period cache does not count.
impl PartialEq for RatingState {
    fn eq(&self, other: &Self) -> bool {
        self.period_quantity == other.period_quantity && self.pool_charged == other.pool_charged
    }
}

impl Eq for RatingState {}

impl RatingState {
    /// Returns the billing period of `contract` that contains `time`.
    ///
    /// Computing a period converts between UTC and the contract's time zone, which
    /// costs more than the rest of rating, so the last period per contract is kept.
    pub fn billing_period(&mut self, contract: &Contract, time: DateTime<Utc>) -> BillingPeriod {
        if let Some(cached) = self.period_cache.get(contract.id.as_str()) {
            let same_calendar = cached.timezone == contract.timezone
                && cached.anchor_day == contract.billing_anchor_day;
            if same_calendar && cached.period.contains(time) {
                return cached.period;
            }
        }
        let period = contract.billing_period(time);
        self.period_cache.insert(
            contract.id.clone(),
            CachedPeriod {
                timezone: contract.timezone,
                anchor_day: contract.billing_anchor_day,
                period,
            },
        );
        period
    }

    /// Returns the quantity rated so far for a price in a period.
    pub fn period_quantity(&self, key: &PeriodKey) -> Decimal {
        self.period_quantity.get(key).copied().unwrap_or_default()
    }

    /// Returns the quantity recorded for a price in a period, or `None` when there is none.
    pub fn recorded_period_quantity(&self, key: &PeriodKey) -> Option<Decimal> {
        self.period_quantity.get(key).copied()
    }

    /// Returns the cost charged so far against a pool; it may exceed the pool's
    /// amount, and the excess is what was billed.
    pub fn pool_charged(&self, key: &PoolKey) -> Decimal {
        self.pool_charged.get(key).copied().unwrap_or_default()
    }

    /// Records a new cumulative quantity for a price in a period.
    pub fn set_period_quantity(&mut self, key: PeriodKey, quantity: Decimal) {
        self.period_quantity.insert(key, quantity);
    }

    /// Records a new cumulative cost charged against a pool.
    pub fn set_pool_charged(&mut self, key: PoolKey, charged: Decimal) {
        self.pool_charged.insert(key, charged);
    }

    /// Returns every (price, period) quantity, in no particular order.
    pub fn period_quantities(&self) -> impl Iterator<Item = (&PeriodKey, &Decimal)> {
        self.period_quantity.iter()
    }

    /// Returns every pool's charged cost, in no particular order.
    pub fn pool_charges(&self) -> impl Iterator<Item = (&PoolKey, &Decimal)> {
        self.pool_charged.iter()
    }

    /// Forgets the quantities of periods that started before `cutoff`, once no event
    /// for them can be accepted any more, and returns their keys.
    pub fn forget_periods_before(&mut self, cutoff: DateTime<Utc>) -> Vec<PeriodKey> {
        let expired: Vec<PeriodKey> = self
            .period_quantity
            .keys()
            .filter(|key| key.period_start < cutoff)
            .cloned()
            .collect();
        for key in &expired {
            self.period_quantity.remove(key);
        }
        expired
    }

    /// Restores or removes one period quantity (used when applying a changelog record).
    pub fn restore_period_quantity(&mut self, key: PeriodKey, quantity: Option<Decimal>) {
        match quantity {
            Some(quantity) => {
                self.period_quantity.insert(key, quantity);
            }
            None => {
                self.period_quantity.remove(&key);
            }
        }
    }
}
