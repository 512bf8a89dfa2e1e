//! Rating state: how far each price's tiers have been used in each billing period,
//! and how much of each prepaid pool has been drawn.
//!
//! This is the only memory rating needs, and it belongs to the partition that
//! rates the events, so it is snapshotted and restored with the rest of the
//! partition's state.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

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
    /// The contract that holds the pool.
    pub contract_id: Arc<str>,
    /// When the pool starts; a re-published contract with a new pool gets a fresh one.
    pub starts: DateTime<Utc>,
}

/// Cumulative quantities per price and period, and cumulative cost drawn against each pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RatingState {
    period_quantity: HashMap<PeriodKey, Decimal>,
    pool_charged: HashMap<PoolKey, Decimal>,
}

impl RatingState {
    /// Returns the quantity rated so far for a price in a period.
    pub fn period_quantity(&self, key: &PeriodKey) -> Decimal {
        self.period_quantity.get(key).copied().unwrap_or_default()
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
    /// for them can be accepted any more.
    pub fn forget_periods_before(&mut self, cutoff: DateTime<Utc>) {
        self.period_quantity.retain(|key, _| key.period_start >= cutoff);
    }
}
