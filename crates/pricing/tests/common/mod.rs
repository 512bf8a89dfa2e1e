//! Helpers shared by the rating tests.

use std::str::FromStr;

use burnrate_model::parse_contract_json;
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Parses an exact decimal.
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// Parses an RFC 3339 time.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Builds a contracts table from contract JSON texts, which must be valid.
pub fn table(contracts: &[&str]) -> ContractTable {
    let contracts = contracts
        .iter()
        .map(|json| {
            parse_contract_json(json)
                .unwrap_or_else(|errors| panic!("fixture contract invalid: {errors:?}"))
        })
        .collect();
    ContractTable::new(contracts).unwrap()
}
