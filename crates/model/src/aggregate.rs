//! The spend aggregate: quantity and cost of one series over one window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decimal::serde_exact;

/// The length of an aggregation window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// A UTC-aligned minute.
    Minute,
    /// A UTC-aligned hour.
    Hour,
    /// A UTC-aligned day.
    Day,
    /// The contract's billing period.
    Period,
}

/// Whether an aggregate is a window's first and final result or a later correction to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// Emitted once when the window closes.
    Final,
    /// Emitted for usage that arrived after the window closed; it adds to the final aggregate.
    Correction,
}

/// Spend of one series (account, vendor, meter, product, dimensions) over one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendAggregate {
    /// The account charged.
    pub account: String,
    /// The vendor that metered the usage.
    pub vendor: String,
    /// The meter.
    pub meter: String,
    /// The product, when the events named one.
    pub product: Option<String>,
    /// Breakdown labels, limited to the configured dimensions.
    pub dimensions: BTreeMap<String, String>,
    /// The contract that priced the usage.
    pub contract_id: String,
    /// Window length.
    pub window: WindowKind,
    /// First instant of the window (inclusive).
    pub window_start: DateTime<Utc>,
    /// End of the window (exclusive).
    pub window_end: DateTime<Utc>,
    /// Quantity used in the window.
    #[serde(with = "serde_exact")]
    pub quantity: Decimal,
    /// Cost of that quantity, before prepaid credits.
    #[serde(with = "serde_exact")]
    pub cost: Decimal,
    /// Part of the cost drawn from the prepaid pool.
    #[serde(with = "serde_exact")]
    pub prepaid_applied: Decimal,
    /// Part of the cost billed.
    #[serde(with = "serde_exact")]
    pub billed: Decimal,
    /// Currency of the amounts.
    pub currency: String,
    /// Final or correction.
    pub kind: AggregateKind,
}
