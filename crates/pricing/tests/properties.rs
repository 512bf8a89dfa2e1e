//! Property tests: a billing period's cost depends only on its total quantity.

use std::collections::BTreeMap;

use burnrate_model::{parse_contract_json, EventKind, UsageEvent};
use burnrate_pricing::{cumulative_cost, rate_event, ContractTable, RatingState};
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

const PRICINGS: [&str; 4] = [
    r#"{"model": "graduated", "tiers": [{"up_to": "1000", "unit_price": "0.10"}, {"up_to": "5000", "unit_price": "0.08"}, {"up_to": null, "unit_price": "0.0000025"}]}"#,
    r#"{"model": "volume", "tiers": [{"up_to": "1000", "unit_price": "0.10"}, {"up_to": "5000", "unit_price": "0.08"}, {"up_to": null, "unit_price": "0.0000025"}]}"#,
    r#"{"model": "package", "package_size": "250", "package_price": "0.37"}"#,
    r#"{"model": "per_unit", "unit_price": "0.0000025"}"#,
];

fn table(pricing: &str, prepaid: &str) -> ContractTable {
    let json = format!(
        r#"{{"id": "c1", "account": "acme", "vendor": "openai", "currency": "USD", {prepaid}
           "prices": [{{"meter": "tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {pricing}}}]}}"#
    );
    ContractTable::new(vec![parse_contract_json(&json).unwrap()]).unwrap()
}

fn event(index: usize, quantity: Decimal) -> UsageEvent {
    let start = DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    UsageEvent {
        id: format!("e{index}"),
        source: "openai".to_owned(),
        kind: EventKind::Usage,
        time: start + Duration::minutes(index as i64),
        account: "acme".to_owned(),
        meter: "tokens".to_owned(),
        quantity,
        product: None,
        dimensions: BTreeMap::new(),
        cost: None,
    }
}

/// Rates the quantities in order and returns (sum of costs, sum of prepaid applied, sum of billed).
fn rate_all(table: &ContractTable, quantities: &[Decimal]) -> (Decimal, Decimal, Decimal) {
    let mut state = RatingState::default();
    let mut totals = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (index, quantity) in quantities.iter().enumerate() {
        let charge = rate_event(table, &mut state, &event(index, *quantity)).unwrap();
        totals.0 += charge.cost;
        totals.1 += charge.prepaid_applied;
        totals.2 += charge.billed;
    }
    totals
}

/// Quantities with up to three decimals, from 0 to 3000.
fn quantity() -> impl Strategy<Value = Decimal> {
    (0u64..3_000_000).prop_map(|thousandths| Decimal::new(thousandths as i64, 3))
}

fn pricing_model() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PRICINGS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn period_cost_ignores_event_order(
        pricing in pricing_model(),
        (quantities, shuffled) in prop::collection::vec(quantity(), 1..40)
            .prop_flat_map(|quantities| (Just(quantities.clone()), Just(quantities).prop_shuffle())),
    ) {
        let table = table(pricing, "");
        let total: Decimal = quantities.iter().sum();
        let expected = cumulative_cost(&parse_pricing(pricing), total).unwrap();
        prop_assert_eq!(rate_all(&table, &quantities).0, expected);
        prop_assert_eq!(rate_all(&table, &shuffled).0, expected);
    }

    #[test]
    fn period_cost_ignores_how_quantity_is_split(
        pricing in pricing_model(),
        total in quantity(),
        cuts in prop::collection::vec(0u32..=1000, 0..20),
    ) {
        let table = table(pricing, "");

        // Cut `total` at the given fractions (per mille) into consecutive parts.
        let mut points: Vec<Decimal> = cuts.iter().map(|per_mille| (total * Decimal::new(i64::from(*per_mille), 3)).round_dp(3)).collect();
        points.sort();
        let mut parts = Vec::new();
        let mut previous = Decimal::ZERO;
        for point in points.into_iter().chain(std::iter::once(total)) {
            parts.push(point - previous);
            previous = point;
        }

        prop_assert_eq!(parts.iter().sum::<Decimal>(), total);
        prop_assert_eq!(rate_all(&table, &parts).0, rate_all(&table, &[total]).0);
    }

    #[test]
    fn prepaid_and_billed_add_up_to_cost(
        pricing in pricing_model(),
        quantities in prop::collection::vec(quantity(), 1..40),
        pool_cents in 0i64..100_000,
    ) {
        let pool = Decimal::new(pool_cents, 2);
        let prepaid = format!(r#""prepaid": {{"amount": "{pool}", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"}},"#);
        let table = table(pricing, &prepaid);
        let (cost, applied, billed) = rate_all(&table, &quantities);
        prop_assert_eq!(applied + billed, cost);
        prop_assert_eq!(applied, cost.max(Decimal::ZERO).min(pool));
    }
}

fn parse_pricing(pricing: &str) -> burnrate_model::Pricing {
    table(pricing, "").contracts().next().unwrap().prices[0]
        .pricing
        .clone()
}
