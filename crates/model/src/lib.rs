//! Domain types of burnrate: usage events, contracts and their prices, billing
//! periods, currencies, exact decimals, and the records burnrate publishes.

pub mod aggregate;
pub mod alert;
pub mod billing_period;
pub mod contract;
pub mod contract_file;
pub mod currency;
pub mod dead_letter;
pub mod decimal;
pub mod event;
pub mod focus;

pub use aggregate::{AggregateKind, SpendAggregate, WindowKind};
pub use alert::{Alert, AlertKind, AlertStatus, Contributor, Severity};
pub use billing_period::{billing_period_containing, BillingPeriod};
pub use contract::{
    Budget, Contract, ContractError, ContractSpec, CreditPrice, Prepaid, Price, Pricing, Rounding,
    RoundingMode, Tier, VENDOR_BILLED_ID_PREFIX,
};
pub use contract_file::{
    parse_contract_json, parse_contracts_jsonl, parse_contracts_yaml, ContractLoadError,
};
pub use currency::Currency;
pub use dead_letter::DeadLetter;
pub use decimal::{format_decimal, parse_decimal, DecimalError};
pub use event::{EventError, EventKind, UsageEvent, VendorCost};
pub use focus::{focus_charge_window, FocusError, FocusRow, FOCUS_COLUMNS, FOCUS_VERSION};
