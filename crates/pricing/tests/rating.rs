//! Rating of events against contracts, with exact expected amounts.

mod common;

use std::collections::BTreeMap;

use burnrate_model::{parse_contract_json, EventKind, UsageEvent};
use burnrate_pricing::{rate_event, Charge, ContractTable, RatingState, UnratedReason};
use common::{dec, table, utc};
use rust_decimal::Decimal;

fn event(id: &str, time: &str, meter: &str, quantity: &str) -> UsageEvent {
    UsageEvent {
        id: id.to_owned(),
        source: "openai".to_owned(),
        kind: EventKind::Usage,
        time: utc(time),
        account: "acme".to_owned(),
        meter: meter.to_owned(),
        quantity: dec(quantity),
        product: None,
        dimensions: BTreeMap::new(),
        cost: None,
    }
}

fn with_product(mut event: UsageEvent, product: &str) -> UsageEvent {
    event.product = Some(product.to_owned());
    event
}

fn contract_with_pricing(currency: &str, pricing: &str) -> String {
    format!(
        r#"{{"id": "c1", "account": "acme", "vendor": "openai", "currency": "{currency}",
           "prices": [{{"meter": "tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {pricing}}}]}}"#
    )
}

fn rate(table: &ContractTable, state: &mut RatingState, event: &UsageEvent) -> Charge {
    rate_event(table, state, event)
        .unwrap_or_else(|reason| panic!("event {} unrated: {reason}", event.id))
}

/// Rates `quantities` one after another in May 2026 and returns each event's cost.
fn costs_of(table: &ContractTable, quantities: &[&str]) -> Vec<Decimal> {
    let mut state = RatingState::default();
    quantities
        .iter()
        .enumerate()
        .map(|(index, quantity)| {
            rate(
                table,
                &mut state,
                &event(
                    &format!("e{index}"),
                    "2026-05-06T10:00:00Z",
                    "tokens",
                    quantity,
                ),
            )
            .cost
        })
        .collect()
}

#[test]
fn per_unit_billion_tokens_cost_2500() {
    let table = table(&[&contract_with_pricing(
        "USD",
        r#"{"model": "per_unit", "unit_price": "0.0000025"}"#,
    )]);
    assert_eq!(costs_of(&table, &["1000000000"]), vec![dec("2500")]);
}

#[test]
fn thousand_tiny_costs_sum_exactly() {
    let table = table(&[&contract_with_pricing(
        "USD",
        r#"{"model": "per_unit", "unit_price": "0.0000001"}"#,
    )]);
    let quantities = vec!["1"; 1000];
    let costs = costs_of(&table, &quantities);
    assert!(costs.iter().all(|cost| *cost == dec("0.0000001")));
    assert_eq!(costs.iter().sum::<Decimal>(), dec("0.0001"));
}

#[test]
fn package_counts_packages_over_the_period() {
    let table = table(&[&contract_with_pricing(
        "USD",
        r#"{"model": "package", "package_size": "1000", "package_price": "0.50"}"#,
    )]);
    // 1 unit starts the first package; 999 more fill it; the next unit starts the second.
    assert_eq!(
        costs_of(&table, &["1", "999", "1", "998", "1"]),
        vec![dec("0.50"), dec("0"), dec("0.50"), dec("0"), dec("0")]
    );
}

const TIERS: &str = r#"[{"up_to": "1000", "unit_price": "0.10"}, {"up_to": "5000", "unit_price": "0.08"}, {"up_to": null, "unit_price": "0.05"}]"#;

#[test]
fn graduated_edges_at_up_to() {
    let table = table(&[&contract_with_pricing(
        "USD",
        &format!(r#"{{"model": "graduated", "tiers": {TIERS}}}"#),
    )]);
    assert_eq!(costs_of(&table, &["999"]), vec![dec("99.90")]);
    assert_eq!(costs_of(&table, &["1000"]), vec![dec("100.00")]);
    assert_eq!(costs_of(&table, &["1001"]), vec![dec("100.08")]);
    // Crossing the edge inside a period: 999, then 1 at tier one, then 1 at tier two.
    assert_eq!(
        costs_of(&table, &["999", "1", "1"]),
        vec![dec("99.90"), dec("0.10"), dec("0.08")]
    );
    // 5000 more after 500: 500 at 0.10, 4000 at 0.08 and 500 at 0.05.
    assert_eq!(
        costs_of(&table, &["500", "5000"]),
        vec![dec("50"), dec("395.00")]
    );
}

#[test]
fn volume_edges_at_up_to() {
    let table = table(&[&contract_with_pricing(
        "USD",
        &format!(r#"{{"model": "volume", "tiers": {TIERS}}}"#),
    )]);
    assert_eq!(costs_of(&table, &["999"]), vec![dec("99.90")]);
    assert_eq!(costs_of(&table, &["1000"]), vec![dec("100.00")]);
    assert_eq!(costs_of(&table, &["1001"]), vec![dec("80.08")]);
    // Entering tier two re-prices the whole period: the step's cost is negative.
    assert_eq!(
        costs_of(&table, &["1000", "1"]),
        vec![dec("100.00"), dec("-19.92")]
    );
}

#[test]
fn product_price_wins_over_meter_wide() {
    let table = table(&[
        r#"{"id": "c1", "account": "acme", "vendor": "openai", "currency": "USD",
        "prices": [
          {"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.00001"}},
          {"meter": "output_tokens", "product": "gpt-4.1", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.000008"}}
        ]}"#,
    ]);
    let mut state = RatingState::default();
    let specific = rate(
        &table,
        &mut state,
        &with_product(
            event("e1", "2026-05-06T10:00:00Z", "output_tokens", "1000"),
            "gpt-4.1",
        ),
    );
    assert_eq!(specific.cost, dec("0.008"));
    let other_model = rate(
        &table,
        &mut state,
        &with_product(
            event("e2", "2026-05-06T10:00:00Z", "output_tokens", "1000"),
            "gpt-4o",
        ),
    );
    assert_eq!(other_model.cost, dec("0.01"));
    let no_model = rate(
        &table,
        &mut state,
        &event("e3", "2026-05-06T10:00:00Z", "output_tokens", "1000"),
    );
    assert_eq!(no_model.cost, dec("0.01"));
}

#[test]
fn price_change_mid_period_uses_event_time() {
    let table = table(&[
        r#"{"id": "c1", "account": "acme", "vendor": "openai", "currency": "USD",
        "prices": [
          {"meter": "tokens", "effective_from": "2026-01-01T00:00:00Z", "effective_to": "2026-05-15T12:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.002"}},
          {"meter": "tokens", "effective_from": "2026-05-15T12:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.001"}}
        ]}"#,
    ]);
    let mut state = RatingState::default();
    let before = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-15T11:59:59.999Z", "tokens", "1000"),
    );
    let at_change = rate(
        &table,
        &mut state,
        &event("e2", "2026-05-15T12:00:00Z", "tokens", "1000"),
    );
    let after = rate(
        &table,
        &mut state,
        &event("e3", "2026-05-20T00:00:00Z", "tokens", "1000"),
    );
    // Processed after the change, but it happened before it: the old price applies.
    let late_before = rate(
        &table,
        &mut state,
        &event("e4", "2026-05-10T00:00:00Z", "tokens", "1000"),
    );
    assert_eq!(before.cost, dec("2"));
    assert_eq!(at_change.cost, dec("1"));
    assert_eq!(after.cost, dec("1"));
    assert_eq!(late_before.cost, dec("2"));
    assert_eq!(
        before.period, after.period,
        "all four events share May's billing period"
    );
}

#[test]
fn jpy_is_never_scaled_by_100() {
    let table = table(&[&contract_with_pricing(
        "JPY",
        r#"{"model": "per_unit", "unit_price": "1.5"}"#,
    )]);
    let mut state = RatingState::default();
    let charge = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "1000"),
    );
    assert_eq!(charge.cost, dec("1500"));
    assert_eq!(charge.contract.currency.code(), "JPY");
    assert_eq!(charge.contract.currency.minor_units(), Some(0));
}

#[test]
fn rounding_follows_the_currency_minor_unit() {
    let jpy = r#"{"id": "c1", "account": "acme", "vendor": "openai", "currency": "JPY", "rounding": {"mode": "half_up"},
           "prices": [{"meter": "tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.3"}}]}"#;
    let table_jpy = table(&[jpy]);
    // 0.3, 0.6, 0.9, 1.2 rounded to whole yen cumulatively: 0, 1, 1, 1.
    assert_eq!(
        costs_of(&table_jpy, &["1", "1", "1", "1"]),
        vec![dec("0"), dec("1"), dec("0"), dec("0")]
    );

    let bhd = jpy.replace("JPY", "BHD").replace("0.3", "0.0004");
    let table_bhd = table(&[&bhd]);
    // Three decimals kept: 0.0004 rounds to 0.000, 0.0008 to 0.001, 1.0004 to 1.000.
    assert_eq!(
        costs_of(&table_bhd, &["1", "1"]),
        vec![dec("0.000"), dec("0.001")]
    );
    assert_eq!(costs_of(&table_bhd, &["2501"]), vec![dec("1.000")]);
}

#[test]
fn without_rounding_amounts_keep_all_digits() {
    let table = table(&[&contract_with_pricing(
        "BHD",
        r#"{"model": "per_unit", "unit_price": "0.0004"}"#,
    )]);
    assert_eq!(costs_of(&table, &["1"]), vec![dec("0.0004")]);
}

#[test]
fn virtual_currency_prices_credits() {
    let table = table(&[&contract_with_pricing(
        "credits",
        r#"{"model": "per_unit", "unit_price": "0.25"}"#,
    )]);
    let mut state = RatingState::default();
    let charge = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "10"),
    );
    assert_eq!(charge.cost, dec("2.5"));
    assert!(charge.contract.currency.is_virtual());
}

fn prepaid_contract(amount: &str) -> String {
    format!(
        r#"{{"id": "c1", "account": "acme", "vendor": "openai", "currency": "USD",
           "prepaid": {{"amount": "{amount}", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"}},
           "prices": [{{"meter": "tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {{"model": "per_unit", "unit_price": "1"}}}}]}}"#
    )
}

#[test]
fn prepaid_pool_runs_out_exactly_at_zero() {
    let table = table(&[&prepaid_contract("100.00")]);
    let mut state = RatingState::default();
    let first = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "60"),
    );
    let second = rate(
        &table,
        &mut state,
        &event("e2", "2026-05-06T11:00:00Z", "tokens", "40"),
    );
    let third = rate(
        &table,
        &mut state,
        &event("e3", "2026-05-06T12:00:00Z", "tokens", "5"),
    );
    assert_eq!((first.prepaid_applied, first.billed), (dec("60"), dec("0")));
    assert_eq!(
        (second.prepaid_applied, second.billed),
        (dec("40"), dec("0"))
    );
    assert_eq!((third.prepaid_applied, third.billed), (dec("0"), dec("5")));
}

#[test]
fn event_crossing_the_pool_is_split() {
    let table = table(&[&prepaid_contract("100.00")]);
    let mut state = RatingState::default();
    rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "90"),
    );
    let crossing = rate(
        &table,
        &mut state,
        &event("e2", "2026-05-06T11:00:00Z", "tokens", "25"),
    );
    assert_eq!(crossing.cost, dec("25"));
    assert_eq!(crossing.prepaid_applied, dec("10"));
    assert_eq!(crossing.billed, dec("15"));
}

#[test]
fn pool_does_not_cover_usage_outside_its_range() {
    let table = table(&[&prepaid_contract("100.00").replace(
        "2026-01-01T00:00:00Z\", \"ends",
        "2026-06-01T00:00:00Z\", \"ends",
    )]);
    let mut state = RatingState::default();
    let before_pool = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "10"),
    );
    assert_eq!(
        (before_pool.prepaid_applied, before_pool.billed),
        (dec("0"), dec("10"))
    );
    let in_pool = rate(
        &table,
        &mut state,
        &event("e2", "2026-06-06T10:00:00Z", "tokens", "10"),
    );
    assert_eq!(
        (in_pool.prepaid_applied, in_pool.billed),
        (dec("10"), dec("0"))
    );
}

#[test]
fn correction_refunds_billed_spend_before_the_pool() {
    let table = table(&[&prepaid_contract("100.00")]);
    let mut state = RatingState::default();
    rate(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "120"),
    );
    let mut refund = event("e2", "2026-05-06T11:00:00Z", "tokens", "-30");
    refund.kind = EventKind::Correction;
    let charge = rate(&table, &mut state, &refund);
    assert_eq!(charge.cost, dec("-30"));
    assert_eq!(charge.billed, dec("-20"));
    assert_eq!(charge.prepaid_applied, dec("-10"));
}

#[test]
fn unrated_events_say_why() {
    let table = table(&[
        r#"{"id": "c1", "account": "acme", "vendor": "openai", "currency": "USD",
        "prices": [{"meter": "tokens", "effective_from": "2026-06-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "1"}}]}"#,
    ]);
    let mut state = RatingState::default();

    let mut other_account = event("e1", "2026-06-06T10:00:00Z", "tokens", "1");
    other_account.account = "globex".to_owned();
    let reason = rate_event(&table, &mut state, &other_account).unwrap_err();
    assert_eq!(reason.code(), "no_contract");
    assert!(reason.to_string().contains("\"globex\""), "{reason}");

    let reason = rate_event(
        &table,
        &mut state,
        &event("e2", "2026-06-06T10:00:00Z", "images", "1"),
    )
    .unwrap_err();
    assert_eq!(reason.code(), "no_price");
    assert!(reason.to_string().contains("\"images\""), "{reason}");

    let reason = rate_event(
        &table,
        &mut state,
        &event("e3", "2026-05-31T23:59:59Z", "tokens", "1"),
    )
    .unwrap_err();
    assert!(
        matches!(&reason, UnratedReason::PriceNotInForce { next_effective_from: Some(next), .. } if *next == utc("2026-06-01T00:00:00Z")),
        "{reason:?}"
    );
    assert!(
        reason.to_string().contains("2026-06-01T00:00:00Z"),
        "{reason}"
    );

    assert_eq!(
        state,
        RatingState::default(),
        "unrated events leave no trace in the rating state"
    );
}

#[test]
fn tombstoned_contract_leaves_events_unrated() {
    let mut table = table(&[&contract_with_pricing(
        "USD",
        r#"{"model": "per_unit", "unit_price": "1"}"#,
    )]);
    let mut state = RatingState::default();
    assert!(rate_event(
        &table,
        &mut state,
        &event("e1", "2026-05-06T10:00:00Z", "tokens", "1")
    )
    .is_ok());
    assert!(table.remove("c1"));
    let reason = rate_event(
        &table,
        &mut state,
        &event("e2", "2026-05-06T10:00:00Z", "tokens", "1"),
    )
    .unwrap_err();
    assert_eq!(reason.code(), "no_contract");
}

#[test]
fn overlapping_contracts_are_rejected() {
    let first = parse_contract_json(&contract_with_pricing(
        "USD",
        r#"{"model": "per_unit", "unit_price": "1"}"#,
    ))
    .unwrap();
    let second = parse_contract_json(
        &contract_with_pricing("USD", r#"{"model": "per_unit", "unit_price": "2"}"#)
            .replace("\"c1\"", "\"c2\""),
    )
    .unwrap();
    let errors = ContractTable::new(vec![first, second]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].contract_id, "c2");
    assert!(errors[0].problem.contains("\"c1\""), "{}", errors[0]);
}

#[test]
fn billing_period_follows_contract_time_zone() {
    let table = table(&[&contract_with_pricing("USD", r#"{"model": "graduated", "tiers": [{"up_to": "10", "unit_price": "1"}, {"up_to": null, "unit_price": "0.5"}]}"#)
        .replace("\"currency\": \"USD\"", "\"currency\": \"USD\", \"timezone\": \"Europe/Berlin\"")]);
    let mut state = RatingState::default();
    // 23:30 UTC on 31 May is already June in Berlin: a new period with fresh tiers.
    let may = rate(
        &table,
        &mut state,
        &event("e1", "2026-05-31T21:30:00Z", "tokens", "10"),
    );
    let june = rate(
        &table,
        &mut state,
        &event("e2", "2026-05-31T22:30:00Z", "tokens", "10"),
    );
    assert_eq!(may.cost, dec("10"));
    assert_eq!(june.cost, dec("10"));
    assert_eq!(june.period.start, utc("2026-05-31T22:00:00Z"));
}

#[test]
fn republished_contract_replaces_its_prices() {
    let mut table = table(&[&contract_with_pricing(
        "USD",
        r#"{"model": "per_unit", "unit_price": "1"}"#,
    )]);
    let mut state = RatingState::default();
    assert_eq!(
        rate(
            &table,
            &mut state,
            &event("e1", "2026-05-06T10:00:00Z", "tokens", "10")
        )
        .cost,
        dec("10")
    );

    let updated = contract_with_pricing("USD", r#"{"model": "per_unit", "unit_price": "2"}"#)
        .replace(
            r#""currency": "USD""#,
            r#""currency": "USD", "timezone": "Asia/Tokyo""#,
        );
    table
        .upsert(parse_contract_json(&updated).unwrap())
        .unwrap();
    assert_eq!(table.len(), 1);
    let charge = rate(
        &table,
        &mut state,
        &event("e2", "2026-05-31T16:00:00Z", "tokens", "10"),
    );
    assert_eq!(charge.cost, dec("20"));
    assert_eq!(
        charge.period.start,
        utc("2026-05-31T15:00:00Z"),
        "the new time zone applies at once"
    );
}
