//! Top contributors: which team, project, user or model a scope's spend comes from.

use std::collections::BTreeMap;

use burnrate_model::Contributor;
use rust_decimal::Decimal;

/// Dimensions that contributors are reported by; `model` is the event's product.
pub const CONTRIBUTOR_DIMENSIONS: [&str; 4] = ["team", "project", "user", "model"];

/// How many contributors an alert lists.
pub const TOP_CONTRIBUTORS: usize = 5;

/// Spend per dimension and value within one scope and period.
pub type Breakdown = BTreeMap<String, BTreeMap<String, Decimal>>;

/// Adds `cost` to every contributor dimension the event carries.
pub fn add_to_breakdown(
    breakdown: &mut Breakdown,
    dimensions: &BTreeMap<String, String>,
    product: Option<&str>,
    cost: Decimal,
) {
    for dimension in CONTRIBUTOR_DIMENSIONS {
        let value = if dimension == "model" {
            product
        } else {
            dimensions.get(dimension).map(String::as_str)
        };
        let Some(value) = value else { continue };
        // Look up by reference first: allocating the names is only needed once.
        let values = match breakdown.get_mut(dimension) {
            Some(values) => values,
            None => breakdown.entry(dimension.to_owned()).or_default(),
        };
        match values.get_mut(value) {
            Some(entry) => *entry = entry.saturating_add(cost),
            None => {
                values.insert(value.to_owned(), cost);
            }
        }
    }
}

/// Returns the largest contributors, each with its share of `total`.
///
/// Ties are broken by dimension and value so the list is the same on every run.
pub fn top_contributors(breakdown: &Breakdown, total: Decimal) -> Vec<Contributor> {
    let mut entries: Vec<((&String, &String), &Decimal)> = breakdown
        .iter()
        .flat_map(|(dimension, values)| {
            values
                .iter()
                .map(move |(value, cost)| ((dimension, value), cost))
        })
        .collect();
    entries.sort_by(|(left_key, left_cost), (right_key, right_cost)| {
        right_cost.cmp(left_cost).then(left_key.cmp(right_key))
    });
    entries
        .into_iter()
        .take(TOP_CONTRIBUTORS)
        .map(|((dimension, value), cost)| Contributor {
            dimension: dimension.clone(),
            value: value.clone(),
            cost: *cost,
            share: if total.is_zero() {
                Decimal::ZERO
            } else {
                (*cost / total).round_dp(4)
            },
        })
        .collect()
}
