//! Spend figures of the owned partitions for the metrics endpoint: the current
//! billing period's cost per account, vendor, meter and currency, and the use of
//! each budget.

use std::collections::BTreeMap;

use burnrate_engine::PartitionEngine;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::metrics::{BudgetUse, Metrics, PeriodSpend};

/// (account, vendor, meter, currency)
type SpendKey = (String, String, String, String);

/// Collects spend from engines, then hands it to the metrics.
#[derive(Default)]
pub struct SpendCollector {
    /// Latest period start and its cost per key.
    periods: BTreeMap<SpendKey, (DateTime<Utc>, Decimal)>,
    /// (account, budget, currency) → (spent, amount).
    budgets: BTreeMap<(String, String, String), (Decimal, Decimal)>,
}

impl SpendCollector {
    /// Adds one partition's open billing periods and budgets.
    pub fn add(&mut self, engine: &PartitionEngine) {
        let state = engine.state();
        for (period, series, entry) in state.periods.iter() {
            if entry.final_emitted {
                continue;
            }
            let key = (
                series.account.to_string(),
                series.vendor.to_string(),
                series.meter.to_string(),
                series.currency.to_string(),
            );
            let slot = self
                .periods
                .entry(key)
                .or_insert((period.start, Decimal::ZERO));
            // Only the latest open period counts; an earlier one still waiting for
            // late events is not this period's spend.
            if period.start > slot.0 {
                *slot = (period.start, Decimal::ZERO);
            }
            if period.start == slot.0 {
                slot.1 = slot.1.checked_add(entry.totals.cost).unwrap_or(slot.1);
            }
        }
        for track in state.alerts.budgets.values() {
            let budget = track.scope.get("budget").cloned().unwrap_or_default();
            let slot = self
                .budgets
                .entry((track.account.clone(), budget, track.currency.clone()))
                .or_insert((Decimal::ZERO, track.amount));
            slot.0 = slot.0.checked_add(track.spent).unwrap_or(slot.0);
        }
    }

    /// Replaces the spend series of `metrics` with what was collected.
    pub fn publish(&self, metrics: &Metrics) {
        metrics.set_period_spend(self.periods.iter().map(
            |((account, vendor, meter, currency), (_, amount))| PeriodSpend {
                account,
                vendor,
                meter,
                currency,
                amount: *amount,
            },
        ));
        metrics.set_budget_use(
            self.budgets
                .iter()
                .filter(|(_, (_, amount))| !amount.is_zero())
                .map(|((account, budget, currency), (spent, amount))| BudgetUse {
                    account,
                    budget,
                    currency,
                    ratio: spent.checked_div(*amount).unwrap_or_default(),
                }),
        );
    }
}
