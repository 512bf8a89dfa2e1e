//! The contracts table: every contract in force, indexed for finding the price of
//! an event by account, vendor, meter, product and event time.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use burnrate_model::{Contract, ContractError, FocusError, FocusRow, Price, SpendAggregate};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::unrated::UnratedReason;

/// A price found for an event, with the contract it belongs to.
#[derive(Debug, Clone)]
pub struct PriceRef {
    contract: Arc<Contract>,
    price_index: usize,
    key: Arc<str>,
}

impl PriceRef {
    /// Returns the contract with the price.
    pub fn contract(&self) -> &Arc<Contract> {
        &self.contract
    }

    /// Returns the price.
    pub fn price(&self) -> &Price {
        &self.contract.prices[self.price_index]
    }

    /// Returns an identifier of the price that stays the same when the contract is
    /// re-published unchanged: contract id, meter, product and `effective_from`.
    ///
    /// Billing-period quantities are counted per price key, so tiers restart when a
    /// new price version starts.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }
}

type MeterIndex = HashMap<String, Vec<PriceRef>>;

/// All contracts, by id and indexed by account, vendor and meter.
#[derive(Debug, Clone, Default)]
pub struct ContractTable {
    contracts: BTreeMap<String, Arc<Contract>>,
    /// Ids of the contracts of each (account, vendor), so that a change re-indexes only its own pair.
    ids_by_pair: HashMap<(String, String), Vec<String>>,
    index: HashMap<String, HashMap<String, MeterIndex>>,
}

impl ContractTable {
    /// Builds a table, rejecting contracts whose prices overlap another contract's
    /// for the same account, vendor, meter and product.
    pub fn new(contracts: Vec<Contract>) -> Result<Self, Vec<ContractError>> {
        let mut table = ContractTable::default();
        let mut errors = Vec::new();
        for contract in contracts {
            if let Err(mut problems) = table.upsert(contract) {
                errors.append(&mut problems);
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Inserts or replaces a contract by id.
    ///
    /// The table is left unchanged when the contract would make an event's price
    /// ambiguous.
    pub fn upsert(&mut self, contract: Contract) -> Result<(), Vec<ContractError>> {
        let conflicts = self.conflicts_with(&contract);
        if !conflicts.is_empty() {
            return Err(conflicts);
        }

        let pair = (contract.account.clone(), contract.vendor.clone());
        let id = contract.id.clone();
        if let Some(old) = self.contracts.insert(id.clone(), Arc::new(contract)) {
            self.forget_id(&old);
        }
        self.ids_by_pair.entry(pair.clone()).or_default().push(id);
        self.reindex_pair(&pair);
        Ok(())
    }

    /// Removes a contract by id (a tombstone on the contracts topic); returns whether it existed.
    pub fn remove(&mut self, contract_id: &str) -> bool {
        match self.contracts.remove(contract_id) {
            Some(old) => {
                self.forget_id(&old);
                true
            }
            None => false,
        }
    }

    /// Drops `old` from its (account, vendor) pair and re-indexes that pair.
    fn forget_id(&mut self, old: &Contract) {
        let pair = (old.account.clone(), old.vendor.clone());
        if let Some(ids) = self.ids_by_pair.get_mut(&pair) {
            ids.retain(|id| id != &old.id);
        }
        self.reindex_pair(&pair);
    }

    /// Returns the contract with this id.
    pub fn get(&self, contract_id: &str) -> Option<&Arc<Contract>> {
        self.contracts.get(contract_id)
    }

    /// Maps an aggregate to its FOCUS row, with the billing period and credit price of
    /// its contract. Returns `None` when the contract is neither in the table nor an
    /// implicit vendor-billed one (it was deleted).
    pub fn focus_row(&self, aggregate: &SpendAggregate) -> Option<Result<FocusRow, FocusError>> {
        let start = aggregate.window_start;
        let (period, credit_price) =
            match Contract::vendor_billed_period(&aggregate.contract_id, start) {
                Some(period) => (period, None),
                None => {
                    let contract = self.get(&aggregate.contract_id)?;
                    (
                        contract.billing_period(start),
                        contract.credit_price.as_ref(),
                    )
                }
            };
        Some(FocusRow::from_aggregate(aggregate, period, credit_price))
    }

    /// Returns every contract, ordered by id.
    pub fn contracts(&self) -> impl Iterator<Item = &Arc<Contract>> {
        self.contracts.values()
    }

    /// Returns the number of contracts.
    pub fn len(&self) -> usize {
        self.contracts.len()
    }

    /// Returns whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty()
    }

    /// Returns the contracts of `account` with `vendor`, ordered by id.
    pub fn contracts_of(&self, account: &str, vendor: &str) -> Vec<&Arc<Contract>> {
        let pair = (account.to_owned(), vendor.to_owned());
        let mut contracts: Vec<&Arc<Contract>> = self
            .ids_by_pair
            .get(&pair)
            .into_iter()
            .flatten()
            .filter_map(|id| self.contracts.get(id))
            .collect();
        contracts.sort_by(|first, second| first.id.cmp(&second.id));
        contracts
    }

    /// Finds the price that applies to usage of `meter` (and `product`) by `account`
    /// from `vendor` at `time`.
    ///
    /// A price naming the product wins over a price for the whole meter. Among
    /// prices of one kind, the one in force at `time` applies, because validation
    /// rules out two in force at once.
    pub fn find_price(
        &self,
        account: &str,
        vendor: &str,
        meter: &str,
        product: Option<&str>,
        time: DateTime<Utc>,
    ) -> Result<&PriceRef, UnratedReason> {
        let no_contract = || UnratedReason::NoContract {
            account: account.to_owned(),
            vendor: vendor.to_owned(),
        };
        let meters = self
            .index
            .get(account)
            .and_then(|vendors| vendors.get(vendor))
            .ok_or_else(no_contract)?;
        let no_price = || UnratedReason::NoPrice {
            account: account.to_owned(),
            vendor: vendor.to_owned(),
            meter: meter.to_owned(),
            product: product.map(str::to_owned),
        };
        let candidates = meters.get(meter).ok_or_else(no_price)?;

        let mut meter_wide = None;
        let mut applicable_exists = false;
        for candidate in candidates {
            let price = candidate.price();
            let applies = match &price.product {
                Some(priced_product) => Some(priced_product.as_str()) == product,
                None => true,
            };
            if !applies {
                continue;
            }
            applicable_exists = true;
            if !price.is_in_force(time) {
                continue;
            }
            if price.product.is_some() {
                return Ok(candidate);
            }
            meter_wide.get_or_insert(candidate);
        }
        if let Some(found) = meter_wide {
            return Ok(found);
        }
        if !applicable_exists {
            return Err(no_price());
        }

        let next_effective_from = candidates
            .iter()
            .map(|candidate| candidate.price())
            .filter(|price| price.product.is_none() || price.product.as_deref() == product)
            .map(|price| price.effective_from)
            .filter(|from| *from > time)
            .min();
        Err(UnratedReason::PriceNotInForce {
            meter: meter.to_owned(),
            product: product.map(str::to_owned),
            time,
            next_effective_from,
        })
    }

    /// Lists prices of other contracts that would be in force at the same time as
    /// one of `contract`'s for the same account, vendor, meter and product.
    fn conflicts_with(&self, contract: &Contract) -> Vec<ContractError> {
        let mut conflicts = Vec::new();
        let pair = (contract.account.clone(), contract.vendor.clone());
        let others = self
            .ids_by_pair
            .get(&pair)
            .into_iter()
            .flatten()
            .filter(|id| **id != contract.id)
            .filter_map(|id| self.contracts.get(id));
        for other in others {
            for (index, price) in contract.prices.iter().enumerate() {
                let overlapping = other.prices.iter().find(|theirs| {
                    theirs.meter == price.meter
                        && theirs.product == price.product
                        && ranges_overlap(price, theirs)
                });
                if let Some(theirs) = overlapping {
                    conflicts.push(ContractError {
                        contract_id: contract.id.clone(),
                        field: format!("prices[{index}].effective_from"),
                        problem: format!(
                            "overlaps contract {:?} for account {:?}, vendor {:?}, meter {:?} (its price starts at {}); end one contract's price where the other's starts",
                            other.id,
                            contract.account,
                            contract.vendor,
                            price.meter,
                            theirs.effective_from.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                        ),
                    });
                }
            }
        }
        conflicts
    }

    /// Rebuilds the price index of one (account, vendor) pair from its contracts.
    fn reindex_pair(&mut self, pair: &(String, String)) {
        let mut meters = MeterIndex::default();
        let ids = self
            .ids_by_pair
            .get(pair)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let has_contracts = !ids.is_empty();
        for contract in ids.iter().filter_map(|id| self.contracts.get(id)) {
            for (price_index, price) in contract.prices.iter().enumerate() {
                let key = format!(
                    "{}/{}/{}/{}",
                    contract.id,
                    price.meter,
                    price.product.as_deref().unwrap_or("*"),
                    price
                        .effective_from
                        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                );
                meters
                    .entry(price.meter.clone())
                    .or_default()
                    .push(PriceRef {
                        contract: Arc::clone(contract),
                        price_index,
                        key: key.into(),
                    });
            }
        }

        // A pair stays indexed while it has contracts, even ones without prices, so
        // that its events are unrated for "no price" rather than "no contract".
        let (account, vendor) = pair;
        if !has_contracts {
            if let Some(vendors) = self.index.get_mut(account) {
                vendors.remove(vendor);
                if vendors.is_empty() {
                    self.index.remove(account);
                }
            }
            self.ids_by_pair.remove(pair);
        } else {
            self.index
                .entry(account.clone())
                .or_default()
                .insert(vendor.clone(), meters);
        }
    }
}

fn ranges_overlap(first: &Price, second: &Price) -> bool {
    let first_ends_after_second_starts = first
        .effective_to
        .is_none_or(|to| to > second.effective_from);
    let second_ends_after_first_starts = second
        .effective_to
        .is_none_or(|to| to > first.effective_from);
    first_ends_after_second_starts && second_ends_after_first_starts
}
