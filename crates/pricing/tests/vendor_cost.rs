//! Rating of events that arrive with the vendor's cost: the cost is counted as
//! stated, and the contract only decides the billing period, pool and budgets.

mod common;

use std::collections::BTreeMap;

use burnrate_model::{
    AggregateKind, Contract, EventKind, SpendAggregate, UsageEvent, VendorCost, WindowKind,
};
use burnrate_pricing::{rate_event, Charge, ContractTable, RatingState, UnratedReason};
use common::{dec, table, utc};
use rust_decimal::Decimal;

/// Builds a FOCUS-like event: 2 requests of SQS that AWS billed at `cost` in `currency`.
fn costed(id: &str, time: &str, cost: &str, currency: &str) -> UsageEvent {
    UsageEvent {
        id: id.to_owned(),
        source: "aws".to_owned(),
        kind: EventKind::Usage,
        time: utc(time),
        account: "51738928782".to_owned(),
        meter: "Requests".to_owned(),
        quantity: dec("2"),
        product: Some("Amazon Simple Queue Service".to_owned()),
        dimensions: BTreeMap::new(),
        cost: VendorCost::from_parts(Some(dec(cost)), Some(currency)).unwrap(),
    }
}

fn rate(table: &ContractTable, state: &mut RatingState, event: &UsageEvent) -> Charge {
    rate_event(table, state, event)
        .unwrap_or_else(|reason| panic!("event {} unrated: {reason}", event.id))
}

/// Builds a contract of the FOCUS account with AWS, with the given currency, prices and extras.
fn aws_contract(id: &str, currency: &str, prices: &str, extra: &str) -> String {
    format!(
        r#"{{"id": "{id}", "account": "51738928782", "vendor": "aws", "currency": "{currency}",
           "timezone": "Europe/Berlin", "prices": [{prices}]{extra}}}"#
    )
}

#[test]
fn no_contract_counts_vendor_cost() {
    let table = ContractTable::default();
    let mut state = RatingState::default();

    let first = rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "0.00000080000", "USD"),
    );
    let second = rate(
        &table,
        &mut state,
        &costed("r2", "2024-09-18T23:00:00Z", "0.00000040000", "USD"),
    );

    assert_eq!(first.cost, dec("0.0000008"));
    assert_eq!(first.billed, dec("0.0000008"));
    assert_eq!(first.prepaid_applied, Decimal::ZERO);
    assert_eq!(first.cost + second.cost, dec("0.0000012"));
    assert_eq!(first.price_key, None);

    // The implicit contract bills calendar months in UTC and sums each currency apart.
    assert_eq!(first.contract.id, "vendor-billed:aws:51738928782:USD");
    assert_eq!(first.contract.currency.code(), "USD");
    assert_eq!(first.period.start, utc("2024-09-01T00:00:00Z"));
    assert_eq!(first.period.end, utc("2024-10-01T00:00:00Z"));
    assert!(first.contract.budgets.is_empty());
    assert!(first.contract.prepaid.is_none());
    let euros = rate(
        &table,
        &mut state,
        &costed("r3", "2024-09-18T22:00:00Z", "1.5", "EUR"),
    );
    assert_eq!(euros.contract.id, "vendor-billed:aws:51738928782:EUR");
}

#[test]
fn contract_price_not_applied_again() {
    let prices = r#"{"meter": "Requests", "effective_from": "2024-01-01T00:00:00Z",
                     "pricing": {"model": "per_unit", "unit_price": "1000"}}"#;
    let table = table(&[&aws_contract("aws-2024", "USD", prices, "")]);
    let mut state = RatingState::default();

    let charge = rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-30T22:30:00Z", "0.00000080000", "USD"),
    );

    assert_eq!(charge.cost, dec("0.0000008"));
    assert_eq!(charge.contract.id, "aws-2024");
    // The contract's calendar applies: 22:30 UTC on 30 September is October in Berlin.
    assert_eq!(charge.period.start, utc("2024-09-30T22:00:00Z"));

    // Its tiers do not count vendor-costed quantities: a priced event starts at zero.
    let mut priced = costed("r2", "2024-09-30T23:00:00Z", "0", "USD");
    priced.cost = None;
    assert_eq!(rate(&table, &mut state, &priced).cost, dec("2000"));
}

#[test]
fn priceless_contract_gives_pool_and_period() {
    let pool = r#", "prepaid": {"amount": "1.00", "starts": "2024-09-01T00:00:00Z", "ends": "2024-10-01T00:00:00Z"},
                  "budgets": [{"id": "aws-monthly", "amount": "5.00", "thresholds_pct": [100]}]"#;
    let table = table(&[&aws_contract("aws-budget", "USD", "", pool)]);
    let mut state = RatingState::default();

    let first = rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "0.75", "USD"),
    );
    let second = rate(
        &table,
        &mut state,
        &costed("r2", "2024-09-18T23:00:00Z", "0.50", "USD"),
    );

    assert_eq!(first.contract.id, "aws-budget");
    assert_eq!(
        (first.prepaid_applied, first.billed),
        (dec("0.75"), dec("0"))
    );
    assert_eq!(
        (second.prepaid_applied, second.billed),
        (dec("0.25"), dec("0.25"))
    );

    // A credit restores billed spend first, then the pool.
    let mut credit = costed("r3", "2024-09-19T00:00:00Z", "-0.40", "USD");
    credit.kind = EventKind::Correction;
    let refund = rate(&table, &mut state, &credit);
    assert_eq!(
        (refund.prepaid_applied, refund.billed),
        (dec("-0.15"), dec("-0.25"))
    );
}

#[test]
fn contract_in_cost_currency_chosen() {
    let table = table(&[
        &aws_contract("aws-eur", "EUR", "", ""),
        &aws_contract("aws-usd", "USD", "", ""),
    ]);
    let mut state = RatingState::default();
    let charge = rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "0.5", "USD"),
    );
    assert_eq!(charge.contract.id, "aws-usd");
}

#[test]
fn other_currency_unrated_not_converted() {
    let prices = r#"{"meter": "Requests", "effective_from": "2024-01-01T00:00:00Z",
                     "pricing": {"model": "per_unit", "unit_price": "0.0000004"}}"#;
    let table = table(&[&aws_contract("aws-eur", "EUR", prices, "")]);
    let mut state = RatingState::default();

    let reason = rate_event(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "0.5", "USD"),
    )
    .unwrap_err();

    assert_eq!(
        reason,
        UnratedReason::CurrencyMismatch {
            contract_id: "aws-eur".to_owned(),
            contract_currency: "EUR".to_owned(),
            cost_currency: "USD".to_owned(),
        }
    );
    assert_eq!(reason.code(), "currency_mismatch");
    assert!(
        reason.to_string().contains("send the cost in EUR"),
        "{reason}"
    );
    assert_eq!(
        state,
        RatingState::default(),
        "an unrated event leaves the state unchanged"
    );
}

#[test]
fn cost_currency_contract_beats_pricing_contract() {
    // The USD contract prices the meter, but the cost is in EUR and the account has
    // a contract in EUR for such costs.
    let prices = r#"{"meter": "Requests", "effective_from": "2024-01-01T00:00:00Z",
                     "pricing": {"model": "per_unit", "unit_price": "0.0000004"}}"#;
    let table = table(&[
        &aws_contract("aws-usd", "USD", prices, ""),
        &aws_contract("aws-eur", "EUR", "", ""),
    ]);
    let mut state = RatingState::default();

    let euros = rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "0.5", "EUR"),
    );
    let dollars = rate(
        &table,
        &mut state,
        &costed("r2", "2024-09-18T22:00:00Z", "0.5", "USD"),
    );

    assert_eq!(euros.contract.id, "aws-eur");
    assert_eq!(dollars.contract.id, "aws-usd");
}

#[test]
fn implicit_period_found_by_id() {
    let period = Contract::vendor_billed_period(
        "vendor-billed:aws:51738928782:USD",
        utc("2024-02-29T23:59:59Z"),
    )
    .unwrap();
    assert_eq!(
        (period.start, period.end),
        (utc("2024-02-01T00:00:00Z"), utc("2024-03-01T00:00:00Z"))
    );
    assert_eq!(
        Contract::vendor_billed_period("aws-2024", utc("2024-02-29T23:59:59Z")),
        None
    );
}

#[test]
fn focus_row_of_implicit_contract() {
    let aggregate = SpendAggregate {
        account: "51738928782".into(),
        vendor: "aws".into(),
        meter: "Requests".into(),
        product: None,
        dimensions: BTreeMap::new(),
        contract_id: "vendor-billed:aws:51738928782:USD".into(),
        window: WindowKind::Hour,
        window_start: utc("2024-02-29T23:00:00Z"),
        window_end: utc("2024-03-01T00:00:00Z"),
        quantity: dec("2"),
        cost: dec("0.0000008"),
        prepaid_applied: Decimal::ZERO,
        billed: dec("0.0000008"),
        currency: "USD".into(),
        kind: AggregateKind::Final,
    };
    let table = ContractTable::default();

    let row = table.focus_row(&aggregate).unwrap().unwrap();

    assert_eq!(row.get("BillingPeriodStart"), Some("2024-02-01T00:00:00Z"));
    assert_eq!(row.get("BillingPeriodEnd"), Some("2024-03-01T00:00:00Z"));
    assert_eq!(row.get("BilledCost"), Some("0.0000008"));

    let deleted = SpendAggregate {
        contract_id: "aws-2024".into(),
        ..aggregate
    };
    assert!(table.focus_row(&deleted).is_none());
}

#[test]
fn priceless_contract_leaves_priced_events_unrated() {
    let table = table(&[&aws_contract("aws-budget", "USD", "", "")]);
    let mut state = RatingState::default();
    let mut priced = costed("r1", "2024-09-18T22:00:00Z", "0", "USD");
    priced.cost = None;
    let reason = rate_event(&table, &mut state, &priced).unwrap_err();
    assert_eq!(reason.code(), "no_price", "{reason}");
}

#[test]
fn pool_overflow_names_the_cost() {
    let pool = r#", "prepaid": {"amount": "1.00", "starts": "2024-09-01T00:00:00Z", "ends": "2024-10-01T00:00:00Z"}"#;
    let table = table(&[&aws_contract("aws-pool", "USD", "", pool)]);
    let mut state = RatingState::default();
    rate(
        &table,
        &mut state,
        &costed("r1", "2024-09-18T22:00:00Z", "5", "USD"),
    );

    let huge = costed(
        "r2",
        "2024-09-18T23:00:00Z",
        "79228162514264337593543950335",
        "USD",
    );
    let reason = rate_event(&table, &mut state, &huge).unwrap_err();

    assert_eq!(reason.code(), "overflow");
    assert!(
        reason
            .to_string()
            .contains("cost 79228162514264337593543950335"),
        "{reason}"
    );
    assert!(reason.to_string().contains("aws-pool"), "{reason}");
}
