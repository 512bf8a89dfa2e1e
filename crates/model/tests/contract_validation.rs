//! Contract validation on load: every problem named with contract id, field and fix.

use std::str::FromStr;

use burnrate_model::{
    parse_contract_json, parse_contracts_jsonl, parse_contracts_yaml, Contract, Pricing,
};
use rust_decimal::Decimal;

const VALID: &str = r#"{"id": "acme-openai-2026", "account": "acme", "vendor": "openai", "currency": "USD",
 "timezone": "Europe/Berlin", "billing_anchor_day": 1,
 "prices": [
   {"meter": "output_tokens", "product": "gpt-4.1",
    "effective_from": "2026-01-01T00:00:00Z", "effective_to": null,
    "pricing": {"model": "per_unit", "unit_price": "0.000008"}},
   {"meter": "input_tokens",
    "effective_from": "2026-01-01T00:00:00Z",
    "pricing": {"model": "graduated", "tiers": [
      {"up_to": "1000000", "unit_price": "0.000002"},
      {"up_to": null, "unit_price": "0.0000015"}]}},
   {"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z",
    "pricing": {"model": "package", "package_size": "1000", "package_price": "0.50"}}
 ],
 "prepaid": {"amount": "2000.00", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"},
 "budgets": [
   {"id": "acme-monthly", "amount": "5000.00", "thresholds_pct": [50, 80, 100], "forecast": true},
   {"id": "acme-search", "amount": "800.00", "thresholds_pct": [100], "scope": {"team": "search"}}
 ]}"#;

/// Parses `json` expecting failure and returns the messages.
fn problems(json: &str) -> Vec<String> {
    match parse_contract_json(json) {
        Ok(contract) => panic!("contract {} should have been rejected", contract.id),
        Err(messages) => messages,
    }
}

fn assert_one_problem(json: &str, expected_fragments: &[&str]) {
    let messages = problems(json);
    assert_eq!(messages.len(), 1, "expected one problem, got {messages:#?}");
    for fragment in expected_fragments {
        assert!(
            messages[0].contains(fragment),
            "{:?} does not contain {fragment:?}",
            messages[0]
        );
    }
}

#[test]
fn interface_example_is_valid() {
    let contract = parse_contract_json(VALID).unwrap();
    assert_eq!(contract.prices.len(), 3);
    assert_eq!(contract.budgets[1].scope["team"], "search");
    assert_eq!(
        contract.prices[0].pricing,
        Pricing::PerUnit {
            unit_price: Decimal::from_str("0.000008").unwrap()
        }
    );
}

#[test]
fn overlapping_effective_ranges_are_rejected() {
    let json = VALID.replace(
        r#"{"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z","#,
        r#"{"meter": "input_tokens", "effective_from": "2026-06-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "1"}},
           {"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z","#,
    );
    assert_one_problem(
        &json,
        &[
            "\"acme-openai-2026\"",
            "prices[2].effective_from",
            "overlaps prices[1]",
            "\"input_tokens\"",
        ],
    );
}

#[test]
fn adjacent_effective_ranges_are_accepted() {
    let json = VALID.replace(
        r#""effective_from": "2026-01-01T00:00:00Z", "effective_to": null,"#,
        r#""effective_from": "2026-01-01T00:00:00Z", "effective_to": "2026-06-01T00:00:00Z","#,
    ).replace(
        r#"{"meter": "api_calls","#,
        r#"{"meter": "output_tokens", "product": "gpt-4.1", "effective_from": "2026-06-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.000006"}},
           {"meter": "api_calls","#,
    );
    let contract = parse_contract_json(&json).unwrap();
    assert_eq!(contract.prices.len(), 4);
}

#[test]
fn tiers_not_ascending_are_rejected() {
    let json = VALID.replace(r#"{"up_to": "1000000", "unit_price": "0.000002"},"#, r#"{"up_to": "1000000", "unit_price": "0.000002"}, {"up_to": "500", "unit_price": "0.000001"},"#);
    assert_one_problem(
        &json,
        &["prices[1].pricing.tiers[1].up_to", "500 follows 1000000"],
    );
}

#[test]
fn open_ended_tier_must_be_last() {
    let json = VALID.replace(
        r#"{"up_to": null, "unit_price": "0.0000015"}"#,
        r#"{"up_to": "2000000", "unit_price": "0.0000015"}"#,
    );
    assert_one_problem(
        &json,
        &["prices[1].pricing.tiers[1].up_to", "set it to null"],
    );
}

#[test]
fn unknown_currency_is_rejected() {
    assert_one_problem(
        &VALID.replace(r#""currency": "USD""#, r#""currency": "USX""#),
        &[
            "\"acme-openai-2026\"",
            "currency",
            "unknown ISO 4217 currency code \"USX\"",
        ],
    );
}

#[test]
fn unknown_time_zone_is_rejected() {
    assert_one_problem(
        &VALID.replace("Europe/Berlin", "Europe/Berlinn"),
        &["timezone", "unknown time zone \"Europe/Berlinn\""],
    );
}

#[test]
fn contract_without_prices_is_valid() {
    // It gives usage that arrives with the vendor's cost its budgets and prepaid pool.
    let json =
        r#"{"id": "c0", "account": "acme", "vendor": "openai", "currency": "USD", "prices": []}"#;
    let contract = parse_contract_json(json).unwrap();
    assert!(contract.prices.is_empty());
}

#[test]
fn credit_price_needs_virtual_contract_currency() {
    let credits = r#"{"id": "c0", "account": "acme", "vendor": "snowflake", "currency": "credits", "prices": [],
                      "credit_price": {"amount": "3.00", "currency": "USD"}}"#;
    let contract = parse_contract_json(credits).unwrap();
    assert_eq!(contract.credit_price.unwrap().amount.to_string(), "3.00");

    let dollars = credits.replace(r#""currency": "credits""#, r#""currency": "EUR""#);
    assert_one_problem(
        &dollars,
        &["credit_price", "national currency EUR", "remove it"],
    );
}

#[test]
fn credit_price_rejects_bad_values() {
    let with = |credit_price: &str| {
        format!(
            r#"{{"id": "c0", "account": "acme", "vendor": "snowflake", "currency": "credits", "prices": [], "credit_price": {credit_price}}}"#
        )
    };
    assert_one_problem(
        &with(r#"{"amount": "3", "currency": "tokens"}"#),
        &["credit_price.currency", "virtual currency"],
    );
    assert_one_problem(
        &with(r#"{"amount": "3", "currency": "usd"}"#),
        &["credit_price.currency", "upper case"],
    );
    assert_one_problem(
        &with(r#"{"amount": "0", "currency": "USD"}"#),
        &["credit_price.amount", "not positive"],
    );
    assert_one_problem(
        &with(r#"{"amount": "-1", "currency": "USD"}"#),
        &["credit_price.amount", "not positive"],
    );
}

#[test]
fn implicit_contract_ids_are_reserved() {
    let json = r#"{"id": "vendor-billed:openai:acme:USD", "account": "acme", "vendor": "openai", "currency": "USD", "prices": []}"#;
    assert_one_problem(json, &["id", "vendor-billed:", "choose another id"]);
}

#[test]
fn negative_prices_are_rejected() {
    assert_one_problem(
        &VALID.replace(
            r#""unit_price": "0.000008""#,
            r#""unit_price": "-0.000008""#,
        ),
        &["prices[0].pricing.unit_price", "negative price -0.000008"],
    );
    assert_one_problem(
        &VALID.replace(r#""unit_price": "0.0000015""#, r#""unit_price": "-1""#),
        &["prices[1].pricing.tiers[1].unit_price", "negative"],
    );
    assert_one_problem(
        &VALID.replace(r#""package_price": "0.50""#, r#""package_price": "-0.50""#),
        &["prices[2].pricing.package_price", "negative"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let json = VALID
        .replace("Europe/Berlin", "Mars/Olympus")
        .replace(r#""currency": "USD""#, r#""currency": "usd""#);
    let messages = problems(&json);
    assert_eq!(messages.len(), 2, "{messages:#?}");
}

#[test]
fn unknown_fields_and_models_are_rejected() {
    let messages =
        problems(&VALID.replace(r#""effective_to": null"#, r#""effective_until": null"#));
    assert!(
        messages[0].contains("prices[0].effective_until")
            || messages[0].contains("unknown field `effective_until`"),
        "{messages:?}"
    );

    assert_one_problem(
        &VALID.replace(r#""model": "package""#, r#""model": "bundle""#),
        &[
            "prices[2].pricing.model",
            "unknown pricing model \"bundle\"",
        ],
    );
}

#[test]
fn float_numbers_in_json_stay_exact() {
    let contract = parse_contract_json(
        &VALID.replace(r#""unit_price": "0.000008""#, r#""unit_price": 0.000008"#),
    )
    .unwrap();
    assert_eq!(
        contract.prices[0].pricing,
        Pricing::PerUnit {
            unit_price: Decimal::from_str("0.000008").unwrap()
        }
    );
}

#[test]
fn jsonl_errors_carry_line_numbers() {
    let bad = VALID
        .replace('\n', " ")
        .replace("Europe/Berlin", "Nowhere/City");
    let good = VALID
        .replace('\n', " ")
        .replace("acme-openai-2026", "other")
        .replace("\"acme\"", "\"globex\"");
    let text = format!("# contracts\n{good}\n\n{bad}\n");
    let errors = parse_contracts_jsonl(&text).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].location, "line 4");
    assert!(errors[0].message.contains("Nowhere/City"));
}

#[test]
fn duplicate_ids_in_a_file_are_rejected() {
    let line = VALID.replace('\n', " ");
    let errors = parse_contracts_jsonl(&format!("{line}\n{line}\n")).unwrap_err();
    assert!(errors[0].message.contains("defined twice"), "{errors:?}");
}

#[test]
fn yaml_numbers_keep_every_digit() {
    let yaml = r#"
- id: acme-openai-2026
  account: acme
  vendor: openai
  currency: USD
  prices:
    - meter: output_tokens
      effective_from: "2026-01-01T00:00:00Z"
      pricing:
        model: graduated
        tiers:
          - {up_to: 1000000, unit_price: 0.0000025}
          - {up_to: null, unit_price: 0.00000123456789012345678}
"#;
    let contracts: Vec<Contract> = parse_contracts_yaml(yaml).unwrap();
    let Pricing::Graduated { tiers } = &contracts[0].prices[0].pricing else {
        panic!("expected graduated pricing");
    };
    assert_eq!(tiers[0].up_to, Some(Decimal::from(1_000_000)));
    assert_eq!(tiers[0].unit_price.to_string(), "0.0000025");
    assert_eq!(tiers[1].unit_price.to_string(), "0.00000123456789012345678");
}

#[test]
fn yaml_errors_name_document_and_field() {
    let yaml = "id: c1\naccount: acme\nvendor: openai\ncurrency: EUR\ntimezone: Mars/Olympus\nprices: []\n";
    let errors = parse_contracts_yaml(yaml).unwrap_err();
    assert_eq!(errors[0].location, "document 1, item 1");
    assert!(
        errors[0]
            .message
            .contains("contract \"c1\": timezone: unknown time zone"),
        "{errors:?}"
    );
}

#[test]
fn spec_round_trip_is_identity() {
    let contract = parse_contract_json(VALID).unwrap();
    let again = Contract::from_spec(
        serde_json::from_str(&serde_json::to_string(&contract.to_spec()).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(again, contract);
}

#[test]
fn yaml_aliases_are_rejected_before_expansion() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
    let errors = parse_contracts_yaml(bomb).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("aliases"), "{errors:?}");
    assert_eq!(errors[0].location, "line 2");
}
