//! The reasons an event could not be priced. Unrated usage is never counted as zero cost:
//! it is reported with one of these reasons so it can be re-rated once a price exists.

use chrono::{DateTime, SecondsFormat, Utc};

/// The reason an event is unrated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum UnratedReason {
    /// No contract covers the event's account and vendor.
    #[error("no contract for account {account:?} and vendor {vendor:?}")]
    NoContract {
        /// The event's `subject`.
        account: String,
        /// The event's `source`.
        vendor: String,
    },
    /// Contracts exist for the account and vendor, but none prices the meter (and product).
    #[error("no price for meter {meter:?}{} in the contracts of account {account:?} and vendor {vendor:?}", describe_product(.product))]
    NoPrice {
        /// The event's `subject`.
        account: String,
        /// The event's `source`.
        vendor: String,
        /// The event's meter.
        meter: String,
        /// The event's product.
        product: Option<String>,
    },
    /// The meter has prices, but none is in force at the event's time.
    #[error("no price for meter {meter:?}{} is in force at {}{}", describe_product(.product), .time.to_rfc3339_opts(SecondsFormat::AutoSi, true), describe_next(.next_effective_from))]
    PriceNotInForce {
        /// The event's meter.
        meter: String,
        /// The event's product.
        product: Option<String>,
        /// The event's time.
        time: DateTime<Utc>,
        /// When the next price for the meter starts, if one starts later.
        next_effective_from: Option<DateTime<Utc>>,
    },
    /// The event carries the vendor's cost in another currency than the contract it
    /// falls under, and burnrate does not convert currencies.
    #[error("the event's cost is in {cost_currency} but contract {contract_id:?} bills in {contract_currency}; burnrate does not convert currencies: send the cost in {contract_currency}, or add a contract with this vendor in {cost_currency} (it may have no prices)")]
    CurrencyMismatch {
        /// The contract the event falls under.
        contract_id: String,
        /// The contract's currency.
        contract_currency: String,
        /// The currency of the event's cost.
        cost_currency: String,
    },
    /// The cost drawn from a prepaid pool so far, plus this event's, does not fit a decimal.
    #[error("cost {cost} added to what contract {contract_id:?} has drawn from its prepaid pool exceeds the decimal range; check the event's cost")]
    PrepaidOverflow {
        /// The contract with the pool.
        contract_id: String,
        /// The event's cost.
        cost: rust_decimal::Decimal,
    },
    /// The cost does not fit a decimal (a quantity or price near 7.9e28).
    #[error("quantity {quantity} of meter {meter:?} would take the billing period's quantity or cost beyond the decimal range (about 7.9e28); check the quantity")]
    Overflow {
        /// The event's meter.
        meter: String,
        /// The event's quantity.
        quantity: rust_decimal::Decimal,
    },
}

impl UnratedReason {
    /// Returns a short stable code for metrics labels and summaries.
    pub fn code(&self) -> &'static str {
        match self {
            UnratedReason::NoContract { .. } => "no_contract",
            UnratedReason::NoPrice { .. } => "no_price",
            UnratedReason::PriceNotInForce { .. } => "price_not_in_force",
            UnratedReason::CurrencyMismatch { .. } => "currency_mismatch",
            UnratedReason::Overflow { .. } | UnratedReason::PrepaidOverflow { .. } => "overflow",
        }
    }
}

fn describe_product(product: &Option<String>) -> String {
    product
        .as_deref()
        .map(|product| format!(" (product {product:?})"))
        .unwrap_or_default()
}

fn describe_next(next: &Option<DateTime<Utc>>) -> String {
    next.map(|from| {
        format!(
            "; the next price starts at {}",
            from.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    })
    .unwrap_or_default()
}
