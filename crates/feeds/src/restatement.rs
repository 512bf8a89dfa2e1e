//! Restatements: what changed between two exports that cover the same usage.
//!
//! Vendors restate quantities and costs in later exports, under the same record. The
//! adapters give a restated record the id it had before, so importing the new export
//! in full would drop the record as a duplicate, or dead-letter it as a reused id with
//! other content once its amounts changed. [`restate`] compares the two exports and
//! keeps only what changed:
//!
//! - a record that is new in the current export, unchanged;
//! - for a record whose quantity or cost changed, a correction carrying the difference,
//!   at the record's time, with the id `ID~restated-HASH` where `HASH` is taken from
//!   the new amounts, so importing the same pair twice still deduplicates.
//!
//! A record of the previous export that is missing from the current one is not
//! reversed, because exports of different date ranges would undo each other: it is
//! only counted in [`Restatement::missing`].

use std::collections::{HashMap, HashSet};

use burnrate_model::{EventKind, UsageEvent, VendorCost};
use rust_decimal::Decimal;

/// The events to publish for a current export, given the previous one.
#[derive(Debug, Default)]
pub struct Restatement {
    /// New records and corrections of restated ones, or why a record could not be compared.
    pub events: Vec<Result<UsageEvent, String>>,
    /// Records whose amounts did not change, left out.
    pub unchanged: usize,
    /// Records of the previous export that the current one does not have.
    pub missing: usize,
}

/// Compares `current` with `previous` by (`source`, `id`) and returns what changed.
pub fn restate(previous: &[UsageEvent], current: &[UsageEvent]) -> Restatement {
    let mut before: HashMap<(&str, &str), &UsageEvent> = HashMap::new();
    for event in previous {
        before.insert((&event.source, &event.id), event);
    }

    let mut restatement = Restatement::default();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for event in current {
        let key = (event.source.as_str(), event.id.as_str());
        if !seen.insert(key) {
            restatement.events.push(Err(format!(
                "id {:?} of source {:?} appears twice in the current export; only its first record is compared",
                event.id, event.source
            )));
            continue;
        }

        match before.get(&key) {
            None => restatement.events.push(Ok(event.clone())),
            Some(old) => match difference(old, event) {
                Ok(Some(correction)) => restatement.events.push(Ok(correction)),
                Ok(None) => restatement.unchanged += 1,
                Err(problem) => restatement.events.push(Err(problem)),
            },
        }
    }

    restatement.missing = before.keys().filter(|key| !seen.contains(*key)).count();
    restatement
}

/// Returns the correction from `old` to `new`, `None` when the amounts are equal.
fn difference(old: &UsageEvent, new: &UsageEvent) -> Result<Option<UsageEvent>, String> {
    let same_usage = old.time == new.time
        && old.account == new.account
        && old.meter == new.meter
        && old.product == new.product
        && old.dimensions == new.dimensions;
    if !same_usage {
        return Err(format!(
            "record {:?} changed its time, account, meter, product or dimensions, not only its amounts; import it as a new record with another id",
            new.id
        ));
    }

    let overflow = || {
        format!(
            "the restatement of record {:?} exceeds the decimal range",
            new.id
        )
    };
    let quantity = new
        .quantity
        .checked_sub(old.quantity)
        .ok_or_else(overflow)?;
    let cost = match (&old.cost, &new.cost) {
        (None, None) => None,
        (Some(old_cost), Some(new_cost)) if old_cost.currency == new_cost.currency => Some(VendorCost {
            amount: new_cost.amount.checked_sub(old_cost.amount).ok_or_else(overflow)?,
            currency: new_cost.currency.clone(),
        }),
        _ => {
            return Err(format!(
                "record {:?} changed the currency of its cost, or gained or lost a cost; correct it by hand",
                new.id
            ))
        }
    };
    let cost_unchanged = cost.as_ref().is_none_or(|cost| cost.amount.is_zero());
    if quantity.is_zero() && cost_unchanged {
        return Ok(None);
    }

    // The hash of the new amounts keeps the ids of successive restatements apart.
    let amounts = format!(
        "{}|{}",
        new.quantity.normalize(),
        new.cost
            .as_ref()
            .map_or(Decimal::ZERO, |cost| cost.amount)
            .normalize()
    );
    let hash = xxhash_rust::xxh3::xxh3_64(amounts.as_bytes());
    Ok(Some(UsageEvent {
        id: format!("{}~restated-{hash:016x}", new.id),
        kind: EventKind::Correction,
        quantity,
        cost,
        ..new.clone()
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use chrono::{TimeZone, Utc};

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn row(id: &str, quantity: &str, cost: &str) -> UsageEvent {
        UsageEvent {
            id: id.to_owned(),
            source: "aws".to_owned(),
            kind: EventKind::Usage,
            time: Utc.with_ymd_and_hms(2024, 9, 18, 22, 0, 0).unwrap(),
            account: "51738928782".to_owned(),
            meter: "Requests".to_owned(),
            quantity: dec(quantity),
            product: Some("Amazon Simple Queue Service".to_owned()),
            dimensions: BTreeMap::new(),
            cost: VendorCost::from_parts(Some(dec(cost)), Some("USD")).unwrap(),
        }
    }

    #[test]
    fn restated_cost_becomes_difference() {
        let previous = [row("a", "2", "0.80"), row("b", "5", "1.00")];
        let current = [
            row("a", "2", "0.80"),
            row("b", "6", "1.25"),
            row("c", "1", "0.10"),
        ];

        let restatement = restate(&previous, &current);
        let events: Vec<UsageEvent> = restatement.events.into_iter().map(Result::unwrap).collect();

        assert_eq!(restatement.unchanged, 1);
        assert_eq!(restatement.missing, 0);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, EventKind::Correction);
        assert!(events[0].id.starts_with("b~restated-"), "{}", events[0].id);
        assert_eq!(events[0].quantity, dec("1"));
        assert_eq!(events[0].cost.as_ref().unwrap().amount, dec("0.25"));
        assert_eq!(events[1], current[2]);
    }

    #[test]
    fn lower_restatement_is_negative() {
        let restatement = restate(&[row("a", "2", "0.80")], &[row("a", "2", "0.55")]);
        let correction = restatement.events[0].as_ref().unwrap();

        assert_eq!(correction.quantity, Decimal::ZERO);
        assert_eq!(correction.cost.as_ref().unwrap().amount, dec("-0.25"));
        assert!(correction.validate().is_ok());
    }

    #[test]
    fn restatement_ids_follow_new_amounts() {
        let first = restate(&[row("a", "2", "0.80")], &[row("a", "2", "0.90")]);
        let again = restate(&[row("a", "2", "0.80")], &[row("a", "2", "0.90")]);
        let later = restate(&[row("a", "2", "0.90")], &[row("a", "2", "1.00")]);
        let id = |restatement: &Restatement| restatement.events[0].as_ref().unwrap().id.clone();

        assert_eq!(id(&first), id(&again));
        assert_ne!(id(&first), id(&later));
    }

    #[test]
    fn missing_records_stay_counted() {
        let restatement = restate(
            &[row("a", "2", "0.80"), row("b", "1", "0.1")],
            &[row("a", "2", "0.80")],
        );

        assert!(restatement.events.is_empty());
        assert_eq!(restatement.missing, 1);
    }

    #[test]
    fn changed_currency_is_reported() {
        let mut euros = row("a", "2", "0.80");
        euros.cost = VendorCost::from_parts(Some(dec("0.80")), Some("EUR")).unwrap();
        let restatement = restate(&[row("a", "2", "0.80")], &[euros]);

        let problem = restatement.events[0].as_ref().unwrap_err();
        assert!(problem.contains("currency"), "{problem}");
    }

    #[test]
    fn twice_in_current_is_reported() {
        let restatement = restate(&[], &[row("a", "2", "0.80"), row("a", "2", "0.80")]);

        assert!(restatement.events[0].is_ok());
        assert!(restatement.events[1]
            .as_ref()
            .unwrap_err()
            .contains("appears twice"));
    }
}
