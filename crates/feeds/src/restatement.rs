//! Restatements: what changed between two exports that cover the same usage.
//!
//! Vendors restate quantities and costs in later exports, under the same record. The
//! adapters give a restated record the id it had before, so importing the new export
//! in full would drop the record as a duplicate, or dead-letter it as a reused id with
//! other content once its amounts changed. [`restate`] compares the two exports and
//! keeps only what changed:
//!
//! - a record that is new in the current export, unchanged;
//! - for a record that changed in any way, a correction that reverses the previous
//!   record (`ID~reversed-FP`) and the current record as a new event
//!   (`ID~restated-FP`). Reversing in full, rather than sending the difference, keeps
//!   every total right when a dimension, the currency or the presence of a cost
//!   changed too.
//!
//! `FP` is a fingerprint of the whole previous export. Importing the same pair twice
//! gives the same ids, so it deduplicates, and each step of a chain of exports gets
//! ids of its own, so a value that comes back in a later export is counted again.
//! Comparing against an older export than the last imported (e1 → e2, then e1 → e3)
//! repeats the reversals under the same ids, so they deduplicate. The new versions
//! are dead-lettered as reused ids with other content.
//!
//! NOTE: a step whose previous export equals an earlier step's previous export in
//! every record and amount (the vendor reverted a whole export) gets that step's ids,
//! so its changes are dropped as duplicates.
//!
//! A record of the previous export that is missing from the current one is reversed
//! only on request, because exports of different date ranges would undo each other.
//! Adapters skip records whose amounts are zero, so a record restated to zero is one
//! of these.

use std::collections::{HashMap, HashSet};

use burnrate_model::{EventKind, UsageEvent, VendorCost};
use xxhash_rust::xxh3::Xxh3;

/// The export a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// The export imported before.
    Previous,
    /// The export being imported.
    Current,
}

/// A record that could not be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestatementProblem {
    /// The export the record belongs to.
    pub export: Export,
    /// Position of the record among the events of its export, from 0.
    pub index: usize,
    /// The reason it could not be compared.
    pub problem: String,
}

/// The events to publish for a current export, given the previous one.
#[derive(Debug, Default)]
pub struct Restatement {
    /// New records, and the reversals and new versions of changed ones, in the order of
    /// the current export.
    pub events: Vec<UsageEvent>,
    /// Records that could not be compared.
    pub problems: Vec<RestatementProblem>,
    /// Records new in the current export.
    pub new: usize,
    /// Records that changed, each sent as a reversal and a new version.
    pub restated: usize,
    /// Records that did not change, left out.
    pub unchanged: usize,
    /// Records of the previous export that the current one does not have.
    pub missing: usize,
    /// Missing records that were reversed, when requested.
    pub reversed_missing: usize,
}

/// Compares `current` with `previous` by (`source`, `id`) and returns what changed.
/// With `reverse_missing`, records of `previous` absent from `current` are reversed.
pub fn restate(
    previous: &[UsageEvent],
    current: &[UsageEvent],
    reverse_missing: bool,
) -> Restatement {
    let mut restatement = Restatement::default();
    let fingerprint = fingerprint(previous);

    let mut before: HashMap<(&str, &str), &UsageEvent> = HashMap::new();
    for (index, event) in previous.iter().enumerate() {
        if before.insert((&event.source, &event.id), event).is_some() {
            restatement.problems.push(RestatementProblem {
                export: Export::Previous,
                index,
                problem: twice(event, "previous"),
            });
        }
    }

    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (index, event) in current.iter().enumerate() {
        let key = (event.source.as_str(), event.id.as_str());
        if !seen.insert(key) {
            restatement.problems.push(RestatementProblem {
                export: Export::Current,
                index,
                problem: twice(event, "current"),
            });
            continue;
        }

        match before.get(&key) {
            None => {
                restatement.events.push(event.clone());
                restatement.new += 1;
            }
            Some(old) if same_record(old, event) => restatement.unchanged += 1,
            Some(old) => {
                restatement.events.push(reversal(old, &fingerprint));
                restatement.events.push(UsageEvent {
                    id: format!("{}~restated-{fingerprint}", event.id),
                    ..event.clone()
                });
                restatement.restated += 1;
            }
        }
    }

    for event in previous {
        if seen.contains(&(event.source.as_str(), event.id.as_str())) {
            continue;
        }
        restatement.missing += 1;
        if reverse_missing {
            restatement.events.push(reversal(event, &fingerprint));
            restatement.reversed_missing += 1;
        }
    }
    restatement
}

fn twice(event: &UsageEvent, export: &str) -> String {
    format!(
        "id {:?} of source {:?} appears twice in the {export} export; only its first record is compared",
        event.id, event.source
    )
}

/// Returns whether two records describe the same usage at the same amounts. Amounts
/// compare by value, so `5.0` and `5` are the same.
fn same_record(old: &UsageEvent, new: &UsageEvent) -> bool {
    old.kind == new.kind
        && old.time == new.time
        && old.account == new.account
        && old.meter == new.meter
        && old.quantity == new.quantity
        && old.product == new.product
        && old.dimensions == new.dimensions
        && old.cost == new.cost
}

/// Returns the correction that takes `old` back out of every total.
fn reversal(old: &UsageEvent, fingerprint: &str) -> UsageEvent {
    UsageEvent {
        id: format!("{}~reversed-{fingerprint}", old.id),
        kind: EventKind::Correction,
        quantity: -old.quantity,
        cost: old.cost.as_ref().map(|cost| VendorCost {
            amount: -cost.amount,
            currency: cost.currency.clone(),
        }),
        ..old.clone()
    }
}

/// Returns a 64-bit hash of every record's identity and amounts, in export order, as
/// 16 hex digits.
fn fingerprint(events: &[UsageEvent]) -> String {
    let mut hasher = Xxh3::new();
    for event in events {
        for part in [event.source.as_str(), event.id.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update(&[0]);
        }
        hasher.update(event.quantity.normalize().to_string().as_bytes());
        hasher.update(&[0]);
        if let Some(cost) = &event.cost {
            hasher.update(cost.amount.normalize().to_string().as_bytes());
            hasher.update(cost.currency.code().as_bytes());
        }
        hasher.update(&[1]);
    }
    format!("{:016x}", hasher.digest())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use chrono::{TimeZone, Utc};
    use rust_decimal::Decimal;

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

    fn cost(event: &UsageEvent) -> Decimal {
        event
            .cost
            .as_ref()
            .map_or(Decimal::ZERO, |cost| cost.amount)
    }

    #[test]
    fn restated_record_is_reversed_and_sent_again() {
        let previous = [row("a", "2", "0.80"), row("b", "5", "1.00")];
        let current = [
            row("a", "2", "0.80"),
            row("b", "6", "1.25"),
            row("c", "1", "0.10"),
        ];

        let restatement = restate(&previous, &current, false);
        let events = &restatement.events;

        assert_eq!(
            (restatement.new, restatement.restated, restatement.unchanged),
            (1, 1, 1)
        );
        assert_eq!(events.len(), 3);
        assert!(events[0].id.starts_with("b~reversed-"), "{}", events[0].id);
        assert_eq!(events[0].kind, EventKind::Correction);
        assert_eq!(
            (events[0].quantity, cost(&events[0])),
            (dec("-5"), dec("-1.00"))
        );
        assert!(events[1].id.starts_with("b~restated-"), "{}", events[1].id);
        assert_eq!(
            (events[1].quantity, cost(&events[1])),
            (dec("6"), dec("1.25"))
        );
        assert_eq!(events[2], current[2]);
        assert!(events.iter().all(|event| event.validate().is_ok()));
    }

    #[test]
    fn changed_dimension_or_currency_is_restated() {
        let mut counted = row("a", "120", "0.95");
        counted
            .dimensions
            .insert("count".to_owned(), "108".to_owned());
        let mut euros = row("b", "2", "0.80");
        euros.cost = VendorCost::from_parts(Some(dec("0.80")), Some("EUR")).unwrap();
        let mut priced_later = row("c", "2", "0");
        priced_later.cost = None;

        let restatement = restate(
            &[
                row("a", "100", "0.79"),
                row("b", "2", "0.80"),
                priced_later.clone(),
            ],
            &[counted, euros, row("c", "2", "0.95")],
            false,
        );

        assert_eq!(restatement.restated, 3);
        assert!(restatement.problems.is_empty());
        assert_eq!(
            restatement.events[3].cost.as_ref().unwrap().currency.code(),
            "EUR"
        );
        assert_eq!(restatement.events[4].cost, None);
        assert_eq!(cost(&restatement.events[5]), dec("0.95"));
    }

    #[test]
    fn value_that_comes_back_gets_new_ids() {
        // Exports 1 → 2 → 3 → 4 of two records, where record a goes back and forth.
        let exports = [
            [row("a", "2", "0.79"), row("b", "1", "0.10")],
            [row("a", "2", "0.95"), row("b", "1", "0.10")],
            [row("a", "2", "0.79"), row("b", "1", "0.20")],
            [row("a", "2", "0.95"), row("b", "1", "0.20")],
        ];
        let ids = |restatement: &Restatement| {
            restatement
                .events
                .iter()
                .map(|event| event.id.clone())
                .collect::<Vec<_>>()
        };
        let steps: Vec<Vec<String>> = exports
            .windows(2)
            .map(|pair| ids(&restate(&pair[0], &pair[1], false)))
            .collect();

        assert_eq!(
            ids(&restate(&exports[0], &exports[1], false)),
            steps[0],
            "the same step twice"
        );
        assert!(
            steps[0].iter().all(|id| !steps[2].contains(id)),
            "{steps:?}"
        );
        assert!(
            steps[0].iter().all(|id| !steps[1].contains(id)),
            "{steps:?}"
        );
    }

    #[test]
    fn missing_records_reversed_on_request() {
        let previous = [row("a", "2", "0.80"), row("b", "1", "0.1")];
        let current = [row("a", "2", "0.80")];

        let without_reversal = restate(&previous, &current, false);
        let reversed = restate(&previous, &current, true);

        assert!(without_reversal.events.is_empty());
        assert_eq!(without_reversal.missing, 1);
        assert_eq!(reversed.reversed_missing, 1);
        assert_eq!(cost(&reversed.events[0]), dec("-0.1"));
    }

    #[test]
    fn twice_in_an_export_is_reported() {
        let restatement = restate(
            &[row("b", "1", "1"), row("b", "1", "2")],
            &[row("a", "2", "0.80"), row("a", "2", "0.80")],
            false,
        );

        assert_eq!(restatement.events.len(), 1);
        assert_eq!(restatement.problems.len(), 2);
        assert_eq!(
            (
                restatement.problems[0].export,
                restatement.problems[0].index
            ),
            (Export::Previous, 1)
        );
        assert_eq!(
            (
                restatement.problems[1].export,
                restatement.problems[1].index
            ),
            (Export::Current, 1)
        );
        assert!(restatement.problems[1].problem.contains("appears twice"));
    }
}
