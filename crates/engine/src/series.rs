//! The spend series: what one aggregate line is about (account, vendor, meter,
//! product, breakdown dimensions, contract) and the running totals kept for it.

use std::sync::Arc;

use burnrate_model::UsageEvent;
use rust_decimal::Decimal;
use rustc_hash::FxHashSet;

/// Shared copies of the strings in series keys, so that building the key of an event
/// clones reference counts instead of allocating.
///
/// NOTE: strings are never removed, so the pool grows with every distinct account,
/// meter, product and dimension value seen since the engine started.
#[derive(Debug, Clone, Default)]
pub struct StringPool {
    strings: FxHashSet<Arc<str>>,
}

impl StringPool {
    /// Returns the shared copy of `text`, adding it on first use.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(Arc::clone(&shared));
        shared
    }
}

/// Identifies one spend series.
///
/// Ordered, so that aggregates of a window are always emitted in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The account charged.
    pub account: Arc<str>,
    /// The vendor.
    pub vendor: Arc<str>,
    /// The meter.
    pub meter: Arc<str>,
    /// The product, when the events name one.
    pub product: Option<Arc<str>>,
    /// Configured breakdown dimensions present on the events, sorted by name.
    pub dimensions: Vec<(Arc<str>, Arc<str>)>,
    /// The contract that priced the usage.
    pub contract_id: Arc<str>,
    /// Currency of the amounts.
    pub currency: Arc<str>,
}

impl SeriesKey {
    /// Builds the series of a rated event, keeping only the configured dimensions.
    pub fn of(
        event: &UsageEvent,
        contract_id: &str,
        currency: &str,
        dimension_names: &[String],
        pool: &mut StringPool,
    ) -> SeriesKey {
        let dimensions = event
            .dimensions
            .iter()
            .filter(|(name, _)| dimension_names.iter().any(|wanted| wanted == *name))
            .map(|(name, value)| (pool.get(name), pool.get(value)))
            .collect();
        SeriesKey {
            account: pool.get(&event.account),
            vendor: pool.get(&event.source),
            meter: pool.get(&event.meter),
            product: event.product.as_deref().map(|product| pool.get(product)),
            dimensions,
            contract_id: pool.get(contract_id),
            currency: pool.get(currency),
        }
    }
}

/// Running totals of a series over a window or period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendTotals {
    /// Quantity used.
    pub quantity: Decimal,
    /// Cost before prepaid credits.
    pub cost: Decimal,
    /// Part of the cost drawn from a prepaid pool.
    pub prepaid_applied: Decimal,
    /// Part of the cost billed.
    pub billed: Decimal,
}

impl SpendTotals {
    /// Returns the sum of two sets of totals, or `None` when a sum leaves the decimal range.
    pub fn checked_add(&self, other: &SpendTotals) -> Option<SpendTotals> {
        Some(SpendTotals {
            quantity: self.quantity.checked_add(other.quantity)?,
            cost: self.cost.checked_add(other.cost)?,
            prepaid_applied: self.prepaid_applied.checked_add(other.prepaid_applied)?,
            billed: self.billed.checked_add(other.billed)?,
        })
    }
}
