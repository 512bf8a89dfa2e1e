//! Rating one event: find its price, place it in its billing period, cost the
//! increment of the period's quantity, and draw the cost from the prepaid pool.

use std::sync::Arc;

use burnrate_model::{BillingPeriod, Contract, UsageEvent};
use rust_decimal::Decimal;

use crate::cost::cumulative_cost;
use crate::costed::rate_costed_event;
use crate::state::{PeriodKey, PoolKey, RatingState};
use crate::table::ContractTable;
use crate::unrated::UnratedReason;

/// The priced outcome of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The contract that priced the event, or under which its vendor cost is counted.
    pub contract: Arc<Contract>,
    /// Key of the price that applied; `None` when the event arrived with the vendor's
    /// cost and no price was used.
    pub price_key: Option<Arc<str>>,
    /// The billing period the event falls in.
    pub period: BillingPeriod,
    /// Cost of the event before prepaid credits, in the contract's currency.
    pub cost: Decimal,
    /// Part of `cost` drawn from the prepaid pool.
    pub prepaid_applied: Decimal,
    /// Part of `cost` billed (`cost - prepaid_applied`).
    pub billed: Decimal,
}

/// Prices `event` against `table` and records it in `state`.
///
/// The event's cost is `C(q_before + q) - C(q_before)` where `C` is the price's
/// cumulative cost over the billing period, so per-event costs always add up to
/// the period's cost. When the contract rounds, `C` is rounded before the
/// difference is taken, which keeps that property. `state` is only changed when
/// the event is rated.
///
/// Delegates an event that carries the vendor's cost to [`crate::costed`], which
/// does not price it.
pub fn rate_event(
    table: &ContractTable,
    state: &mut RatingState,
    event: &UsageEvent,
) -> Result<Charge, UnratedReason> {
    if let Some(vendor_cost) = &event.cost {
        return rate_costed_event(table, state, event, vendor_cost);
    }

    let found = table.find_price(
        &event.account,
        &event.source,
        &event.meter,
        event.product.as_deref(),
        event.time,
    )?;
    let contract = found.contract();
    let price = found.price();
    let overflow = || UnratedReason::Overflow {
        meter: event.meter.clone(),
        quantity: event.quantity,
    };

    let period = state.billing_period(contract, event.time);
    let period_key = PeriodKey {
        price_key: Arc::clone(found.key()),
        period_start: period.start,
    };
    let quantity_before = state.period_quantity(&period_key);
    let quantity_after = quantity_before
        .checked_add(event.quantity)
        .ok_or_else(overflow)?;

    let rounding_decimals = contract.rounding_decimals();
    let rounding_strategy = contract.rounding.map(|rounding| rounding.mode.strategy());
    let round = |amount: Decimal| match (rounding_decimals, rounding_strategy) {
        (Some(decimals), Some(strategy)) => amount.round_dp_with_strategy(decimals, strategy),
        _ => amount,
    };
    let cost_before =
        round(cumulative_cost(&price.pricing, quantity_before).map_err(|_| overflow())?);
    let cost_after =
        round(cumulative_cost(&price.pricing, quantity_after).map_err(|_| overflow())?);
    let cost = cost_after.checked_sub(cost_before).ok_or_else(overflow)?;

    let draw = draw_prepaid(state, contract, event, cost)?;

    state.set_period_quantity(period_key, quantity_after);
    let prepaid_applied = draw.commit(state);
    Ok(Charge {
        contract: Arc::clone(contract),
        price_key: Some(Arc::clone(found.key())),
        period,
        cost,
        prepaid_applied,
        billed: cost - prepaid_applied,
    })
}

/// The share of one event's cost taken from a prepaid pool, not yet recorded.
pub(crate) struct PrepaidDraw {
    applied: Decimal,
    /// The pool and its charged total after the event, to record once the event is rated.
    update: Option<(PoolKey, Decimal)>,
}

impl PrepaidDraw {
    /// Records the draw in `state` and returns the part of the cost the pool covers.
    pub fn commit(self, state: &mut RatingState) -> Decimal {
        if let Some((pool_key, charged_after)) = self.update {
            state.set_pool_charged(pool_key, charged_after);
        }
        self.applied
    }
}

/// Works out how much of `cost` the contract's prepaid pool covers at the event's time.
pub(crate) fn draw_prepaid(
    state: &RatingState,
    contract: &Contract,
    event: &UsageEvent,
    cost: Decimal,
) -> Result<PrepaidDraw, UnratedReason> {
    let Some(prepaid) = contract
        .prepaid
        .as_ref()
        .filter(|prepaid| prepaid.covers(event.time))
    else {
        return Ok(PrepaidDraw {
            applied: Decimal::ZERO,
            update: None,
        });
    };
    let pool_key = PoolKey {
        contract_id: contract.id.as_str().into(),
        starts: prepaid.starts,
    };
    let charged_before = state.pool_charged(&pool_key);
    let charged_after =
        charged_before
            .checked_add(cost)
            .ok_or_else(|| UnratedReason::PrepaidOverflow {
                contract_id: contract.id.clone(),
                cost,
            })?;

    // The pool covers the charged cost clamped to [0, amount], and the event's share
    // is the change of that. So a refund first restores billed spend above the pool,
    // and only then the pool itself.
    let covered = |charged: Decimal| charged.max(Decimal::ZERO).min(prepaid.amount);
    Ok(PrepaidDraw {
        applied: covered(charged_after) - covered(charged_before),
        update: Some((pool_key, charged_after)),
    })
}
