//! Rating events that arrive with the vendor's cost: FOCUS rows, cost reports and
//! other feeds that state what the vendor charged.
//!
//! Such an event is not priced again. Its cost is the vendor's amount, exact and
//! unrounded, and a contract only decides where the cost is counted: its billing
//! period, its prepaid pool and its budgets. The contract is chosen in this order:
//!
//! 1. the contract whose price covers the event's meter and product at its time, as
//!    for any event, when it is in the cost's currency, so vendor-costed and priced
//!    usage of one meter share budgets;
//! 2. otherwise the account's contract with the vendor in the cost's currency (the
//!    first by id), which may have no prices at all;
//! 3. otherwise, when the account has no contract with the vendor, the implicit
//!    vendor-billed contract of [`Contract::vendor_billed`], so the spend is counted
//!    even before anyone writes a contract.
//!
//! When the account has contracts with the vendor but none in the cost's currency,
//! the event is unrated: burnrate does not convert currencies.

use std::sync::Arc;

use burnrate_model::{Contract, UsageEvent, VendorCost};

use crate::rate::{draw_prepaid, Charge};
use crate::state::RatingState;
use crate::table::ContractTable;
use crate::unrated::UnratedReason;

/// Counts `event` at the vendor's cost under the contract chosen as described in
/// the module documentation, and records any prepaid draw in `state`.
pub fn rate_costed_event(
    table: &ContractTable,
    state: &mut RatingState,
    event: &UsageEvent,
    vendor_cost: &VendorCost,
) -> Result<Charge, UnratedReason> {
    let contract = contract_for(table, event, vendor_cost)?;
    let period = state.billing_period(&contract, event.time);
    let cost = vendor_cost.amount;

    let prepaid_applied = draw_prepaid(state, &contract, event, cost)?.commit(state);
    Ok(Charge {
        contract,
        price_key: None,
        period,
        cost,
        prepaid_applied,
        billed: cost - prepaid_applied,
    })
}

fn contract_for(
    table: &ContractTable,
    event: &UsageEvent,
    vendor_cost: &VendorCost,
) -> Result<Arc<Contract>, UnratedReason> {
    let pricing_contract = table
        .find_price(
            &event.account,
            &event.source,
            &event.meter,
            event.product.as_deref(),
            event.time,
        )
        .ok()
        .map(|found| Arc::clone(found.contract()));
    let in_cost_currency = |contract: &Contract| contract.currency == vendor_cost.currency;
    if let Some(contract) = pricing_contract
        .as_ref()
        .filter(|contract| in_cost_currency(contract))
    {
        return Ok(Arc::clone(contract));
    }

    // Only looked up when the pricing contract does not fit, because it sorts a list.
    let pair_contracts = table.contracts_of(&event.account, &event.source);
    if let Some(contract) = pair_contracts
        .iter()
        .find(|contract| in_cost_currency(contract))
    {
        return Ok(Arc::clone(contract));
    }
    match pricing_contract
        .as_ref()
        .or(pair_contracts.first().copied())
    {
        Some(contract) => Err(currency_mismatch(contract, vendor_cost)),
        None => Ok(Arc::new(Contract::vendor_billed(
            &event.account,
            &event.source,
            vendor_cost.currency.clone(),
        ))),
    }
}

fn currency_mismatch(contract: &Contract, vendor_cost: &VendorCost) -> UnratedReason {
    UnratedReason::CurrencyMismatch {
        contract_id: contract.id.clone(),
        contract_currency: contract.currency.code().to_owned(),
        cost_currency: vendor_cost.currency.code().to_owned(),
    }
}
