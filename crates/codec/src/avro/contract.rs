//! The contract as `io.burnrate.Contract`, the value format of the contracts topic.
//!
//! The schema mirrors the written form [`ContractSpec`]: a pricing model is a
//! record with `model` and nullable parameters, as in the JSON contract. Decoding to
//! [`Contract`] runs [`Contract::from_spec`], so an Avro contract passes the same
//! checks as a JSON or YAML one and every problem is reported at once.

use apache_avro::types::Value;
use apache_avro::Schema;
use burnrate_model::contract::{PriceSpec, PricingSpec};
use burnrate_model::{
    Budget, Contract, ContractSpec, CreditPrice, Prepaid, Rounding, RoundingMode, Tier,
};

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::schemas::contract_schema;
use super::value::{
    array_of, boolean, decimal, decimal_value, int_value, nullable_value, record_value, string,
    string_map, string_map_value, symbol, symbol_value, timestamp, timestamp_value, unknown_symbol,
    unsigned, RecordFields,
};

impl AvroRecord for ContractSpec {
    const RECORD: &'static str = "contract";

    fn schema() -> &'static Schema {
        contract_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        let prices = self
            .prices
            .iter()
            .map(price_value)
            .collect::<Result<Vec<_>, _>>()?;
        let budgets = self
            .budgets
            .iter()
            .enumerate()
            .map(|(index, budget)| budget_value(&format!("budgets[{index}]"), budget))
            .collect::<Result<Vec<_>, _>>()?;
        let rounding = self.rounding.map(rounding_value).transpose()?;

        Ok(record_value(vec![
            ("id", Value::String(self.id.clone())),
            ("account", Value::String(self.account.clone())),
            ("vendor", Value::String(self.vendor.clone())),
            ("currency", Value::String(self.currency.clone())),
            ("timezone", Value::String(self.timezone.clone())),
            (
                "billing_anchor_day",
                int_value("billing_anchor_day", self.billing_anchor_day)?,
            ),
            ("prices", Value::Array(prices)),
            (
                "prepaid",
                nullable_value(self.prepaid.as_ref().map(prepaid_value)),
            ),
            ("budgets", Value::Array(budgets)),
            ("rounding", nullable_value(rounding)),
            (
                "credit_price",
                nullable_value(self.credit_price.as_ref().map(credit_price_value)),
            ),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let mut fields = RecordFields::new("", value)?;
        Ok(ContractSpec {
            id: fields.required("id", string)?,
            account: fields.required("account", string)?,
            vendor: fields.required("vendor", string)?,
            currency: fields.required("currency", string)?,
            timezone: fields.required("timezone", string)?,
            billing_anchor_day: fields.required("billing_anchor_day", unsigned)?,
            prices: fields.required("prices", |path, value| {
                array_of(path, value, price_from_value)
            })?,
            prepaid: fields.optional("prepaid", prepaid_from_value)?,
            budgets: fields.required("budgets", |path, value| {
                array_of(path, value, budget_from_value)
            })?,
            rounding: fields.optional("rounding", rounding_from_value)?,
            credit_price: fields.optional("credit_price", credit_price_from_value)?,
        })
    }
}

impl AvroRecord for Contract {
    const RECORD: &'static str = ContractSpec::RECORD;

    fn schema() -> &'static Schema {
        contract_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        self.to_spec().to_avro_value()
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let spec = ContractSpec::from_avro_value(value)?;
        Contract::from_spec(spec).map_err(AvroCodecError::InvalidContract)
    }
}

fn price_value(price: &PriceSpec) -> Result<Value, AvroCodecError> {
    Ok(record_value(vec![
        ("meter", Value::String(price.meter.clone())),
        (
            "product",
            nullable_value(price.product.clone().map(Value::String)),
        ),
        ("effective_from", timestamp_value(price.effective_from)),
        (
            "effective_to",
            nullable_value(price.effective_to.map(timestamp_value)),
        ),
        ("pricing", pricing_value(&price.pricing)),
    ]))
}

fn pricing_value(pricing: &PricingSpec) -> Value {
    let tiers = pricing
        .tiers
        .as_ref()
        .map(|tiers| Value::Array(tiers.iter().map(tier_value).collect()));
    record_value(vec![
        ("model", Value::String(pricing.model.clone())),
        (
            "unit_price",
            nullable_value(pricing.unit_price.map(decimal_value)),
        ),
        (
            "package_size",
            nullable_value(pricing.package_size.map(decimal_value)),
        ),
        (
            "package_price",
            nullable_value(pricing.package_price.map(decimal_value)),
        ),
        ("tiers", nullable_value(tiers)),
    ])
}

fn tier_value(tier: &Tier) -> Value {
    record_value(vec![
        ("up_to", nullable_value(tier.up_to.map(decimal_value))),
        ("unit_price", decimal_value(tier.unit_price)),
    ])
}

fn prepaid_value(prepaid: &Prepaid) -> Value {
    record_value(vec![
        ("amount", decimal_value(prepaid.amount)),
        ("starts", timestamp_value(prepaid.starts)),
        ("ends", timestamp_value(prepaid.ends)),
    ])
}

fn credit_price_value(credit_price: &CreditPrice) -> Value {
    record_value(vec![
        ("amount", decimal_value(credit_price.amount)),
        ("currency", Value::String(credit_price.currency.clone())),
    ])
}

fn budget_value(path: &str, budget: &Budget) -> Result<Value, AvroCodecError> {
    let thresholds = budget
        .thresholds_pct
        .iter()
        .enumerate()
        .map(|(index, &threshold)| int_value(&format!("{path}.thresholds_pct[{index}]"), threshold))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(record_value(vec![
        ("id", Value::String(budget.id.clone())),
        ("amount", decimal_value(budget.amount)),
        ("thresholds_pct", Value::Array(thresholds)),
        ("forecast", Value::Boolean(budget.forecast)),
        ("scope", string_map_value(&budget.scope)),
    ]))
}

fn rounding_value(rounding: Rounding) -> Result<Value, AvroCodecError> {
    let decimals = rounding
        .decimals
        .map(|decimals| int_value("rounding.decimals", decimals))
        .transpose()?;
    Ok(record_value(vec![
        ("decimals", nullable_value(decimals)),
        ("mode", symbol_value(rounding_mode_symbol(rounding.mode))),
    ]))
}

fn rounding_mode_symbol(mode: RoundingMode) -> &'static str {
    match mode {
        RoundingMode::HalfEven => "half_even",
        RoundingMode::HalfUp => "half_up",
        RoundingMode::Up => "up",
        RoundingMode::Down => "down",
    }
}

fn price_from_value(path: &str, value: Value) -> Result<PriceSpec, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(PriceSpec {
        meter: fields.required("meter", string)?,
        product: fields.optional("product", string)?,
        effective_from: fields.required("effective_from", timestamp)?,
        effective_to: fields.optional("effective_to", timestamp)?,
        pricing: fields.required("pricing", pricing_from_value)?,
    })
}

fn pricing_from_value(path: &str, value: Value) -> Result<PricingSpec, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(PricingSpec {
        model: fields.required("model", string)?,
        unit_price: fields.optional("unit_price", decimal)?,
        package_size: fields.optional("package_size", decimal)?,
        package_price: fields.optional("package_price", decimal)?,
        tiers: fields.optional("tiers", |path, value| {
            array_of(path, value, tier_from_value)
        })?,
    })
}

fn tier_from_value(path: &str, value: Value) -> Result<Tier, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(Tier {
        up_to: fields.optional("up_to", decimal)?,
        unit_price: fields.required("unit_price", decimal)?,
    })
}

fn prepaid_from_value(path: &str, value: Value) -> Result<Prepaid, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(Prepaid {
        amount: fields.required("amount", decimal)?,
        starts: fields.required("starts", timestamp)?,
        ends: fields.required("ends", timestamp)?,
    })
}

fn credit_price_from_value(path: &str, value: Value) -> Result<CreditPrice, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(CreditPrice {
        amount: fields.required("amount", decimal)?,
        currency: fields.required("currency", string)?,
    })
}

fn budget_from_value(path: &str, value: Value) -> Result<Budget, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(Budget {
        id: fields.required("id", string)?,
        amount: fields.required("amount", decimal)?,
        thresholds_pct: fields.required("thresholds_pct", |path, value| {
            array_of(path, value, unsigned)
        })?,
        forecast: fields.required("forecast", boolean)?,
        scope: fields.required("scope", string_map)?,
    })
}

fn rounding_from_value(path: &str, value: Value) -> Result<Rounding, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(Rounding {
        decimals: fields.optional("decimals", unsigned)?,
        mode: fields.required("mode", rounding_mode)?,
    })
}

fn rounding_mode(path: &str, value: Value) -> Result<RoundingMode, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "half_even" => Ok(RoundingMode::HalfEven),
        "half_up" => Ok(RoundingMode::HalfUp),
        "up" => Ok(RoundingMode::Up),
        "down" => Ok(RoundingMode::Down),
        _ => Err(unknown_symbol(path, text, "half_even, half_up, up or down")),
    }
}

#[cfg(test)]
mod tests {
    use burnrate_model::parse_contract_json;

    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum};

    const EXAMPLE: &str = r#"{"id": "acme-openai-2026", "account": "acme", "vendor": "openai", "currency": "USD",
     "timezone": "Europe/Berlin", "billing_anchor_day": 31,
     "prices": [
       {"meter": "output_tokens", "product": "gpt-4.1",
        "effective_from": "2026-01-01T00:00:00Z", "effective_to": "2026-07-01T00:00:00Z",
        "pricing": {"model": "per_unit", "unit_price": "0.0000025"}},
       {"meter": "input_tokens",
        "effective_from": "2026-01-01T00:00:00Z",
        "pricing": {"model": "graduated", "tiers": [
          {"up_to": "1000000", "unit_price": "0.000002"},
          {"up_to": null, "unit_price": "0.0000015"}]}},
       {"meter": "cached_tokens",
        "effective_from": "2026-01-01T00:00:00Z",
        "pricing": {"model": "volume", "tiers": [{"up_to": null, "unit_price": "0.0000005"}]}},
       {"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z",
        "pricing": {"model": "package", "package_size": "1000", "package_price": "0.50"}}
     ],
     "prepaid": {"amount": "12345678901234567890.5", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"},
     "budgets": [
       {"id": "acme-monthly", "amount": "5000.00", "thresholds_pct": [50, 80, 100], "forecast": true},
       {"id": "acme-search", "amount": "800.00", "thresholds_pct": [100], "scope": {"team": "search"}}
     ],
     "rounding": {"decimals": 4, "mode": "half_up"}}"#;

    fn example() -> Contract {
        parse_contract_json(EXAMPLE).unwrap()
    }

    #[test]
    fn every_rounding_mode_maps_both_ways() {
        let Schema::Record(contract) = contract_schema() else {
            panic!("not a record")
        };
        let rounding = contract
            .fields
            .iter()
            .find(|field| field.name == "rounding")
            .unwrap();
        let Schema::Union(union) = &rounding.schema else {
            panic!("rounding is not a union")
        };
        for symbol in crate::avro::value::enum_symbols(&union.variants()[1], "mode") {
            let mode = rounding_mode("rounding.mode", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(rounding_mode_symbol(mode), symbol);
        }
    }

    #[test]
    fn contract_round_trip_is_exact() {
        let original = example();
        let datum = encode_datum(&original).unwrap();
        let decoded: Contract = decode_datum(&datum, contract_schema()).unwrap();
        assert_eq!(decoded, original);

        let Some(prepaid) = &decoded.prepaid else {
            panic!("prepaid lost")
        };
        assert_eq!(prepaid.amount.to_string(), "12345678901234567890.5");
        let first_price = &decoded.prices[0].pricing;
        assert!(
            matches!(first_price, burnrate_model::Pricing::PerUnit { unit_price } if unit_price.to_string() == "0.0000025"),
            "{first_price:?}"
        );
    }

    #[test]
    fn minimal_contract_round_trips() {
        let original = parse_contract_json(
            r#"{"id": "c", "account": "a", "vendor": "v", "currency": "credits",
                "prices": [{"meter": "m", "effective_from": "2026-01-01T00:00:00Z",
                            "pricing": {"model": "per_unit", "unit_price": "1"}}]}"#,
        )
        .unwrap();
        let datum = encode_datum(&original).unwrap();
        let decoded: Contract = decode_datum(&datum, contract_schema()).unwrap();
        assert_eq!(decoded, original);
        assert_eq!(decoded.prepaid, None);
        assert_eq!(decoded.rounding, None);
        assert_eq!(decoded.credit_price, None);
    }

    #[test]
    fn credit_price_round_trips() {
        let original = parse_contract_json(
            r#"{"id": "c", "account": "a", "vendor": "snowflake", "currency": "credits", "prices": [],
                "credit_price": {"amount": "2.370000000001", "currency": "USD"}}"#,
        )
        .unwrap();
        let datum = encode_datum(&original).unwrap();
        let decoded: Contract = decode_datum(&datum, contract_schema()).unwrap();
        assert_eq!(decoded, original);
        let credit_price = decoded.credit_price.unwrap();
        assert_eq!(credit_price.amount.to_string(), "2.370000000001");
        assert_eq!(credit_price.currency, "USD");
    }

    #[test]
    fn spec_keeps_invalid_values() {
        let mut spec = example().to_spec();
        spec.prices[0].pricing.model = "per_token".to_owned();
        let datum = encode_datum(&spec).unwrap();
        let decoded: ContractSpec = decode_datum(&datum, contract_schema()).unwrap();
        assert_eq!(decoded, spec);
    }

    #[test]
    fn validation_problems_are_surfaced() {
        let mut spec = example().to_spec();
        spec.prices[0].pricing.model = "per_token".to_owned();
        spec.timezone = "Mars/Olympus".to_owned();
        let datum = encode_datum(&spec).unwrap();

        let error = decode_datum::<Contract>(&datum, contract_schema()).unwrap_err();
        let AvroCodecError::InvalidContract(problems) = &error else {
            panic!("expected an invalid contract, got {error}");
        };
        let fields: Vec<&str> = problems
            .iter()
            .map(|problem| problem.field.as_str())
            .collect();
        assert!(fields.contains(&"prices[0].pricing.model"), "{fields:?}");
        assert!(fields.contains(&"timezone"), "{fields:?}");
        assert!(error.to_string().contains("per_token"), "{error}");
    }

    #[test]
    fn invalid_decimal_names_its_path() {
        let spec = example().to_spec();
        let mut value = spec.to_avro_value().unwrap();
        replace_tier_unit_price(&mut value, "1,5");
        let datum =
            crate::avro::datum::encode_value_with::<ContractSpec>(&value, contract_schema())
                .unwrap();

        let error = decode_datum::<ContractSpec>(&datum, contract_schema()).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::InvalidValue { ref field, ref value, .. }
                if field == "prices[1].pricing.tiers[0].unit_price" && value == "1,5"),
            "{error}"
        );
    }

    #[test]
    fn unknown_rounding_mode_is_incompatible() {
        let writer_json = crate::avro::CONTRACT_SCHEMA_JSON.replace(
            r#""symbols": ["half_even", "half_up", "up", "down"]"#,
            r#""symbols": ["half_even", "half_up", "up", "down", "ceiling"]"#,
        );
        assert_ne!(writer_json, crate::avro::CONTRACT_SCHEMA_JSON);
        let writer = Schema::parse_str(&writer_json).unwrap();

        let mut spec = example().to_spec();
        spec.rounding = Some(Rounding {
            decimals: Some(2),
            mode: RoundingMode::Down,
        });
        let mut value = spec.to_avro_value().unwrap();
        let Value::Record(fields) = &mut value else {
            panic!("not a record")
        };
        for (name, field) in fields.iter_mut() {
            if name == "rounding" {
                *field = nullable_value(Some(record_value(vec![
                    ("decimals", nullable_value(None)),
                    ("mode", symbol_value("ceiling")),
                ])));
            }
        }
        let datum = crate::avro::datum::encode_value_with::<ContractSpec>(&value, &writer).unwrap();

        let error = decode_datum::<ContractSpec>(&datum, &writer).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::Incompatible { .. }),
            "{error}"
        );
    }

    #[test]
    fn writer_without_optional_fields_uses_defaults() {
        let optional = [
            "timezone",
            "billing_anchor_day",
            "prepaid",
            "budgets",
            "rounding",
        ];
        let mut writer_json: serde_json::Value =
            serde_json::from_str(crate::avro::CONTRACT_SCHEMA_JSON).unwrap();
        writer_json["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|field| !optional.contains(&field["name"].as_str().unwrap()));
        let writer = Schema::parse_str(&writer_json.to_string()).unwrap();

        let spec = example().to_spec();
        let mut value = spec.to_avro_value().unwrap();
        let Value::Record(fields) = &mut value else {
            panic!("not a record")
        };
        fields.retain(|(name, _)| !optional.contains(&name.as_str()));
        let datum = crate::avro::datum::encode_value_with::<ContractSpec>(&value, &writer).unwrap();

        let decoded: Contract = decode_datum(&datum, &writer).unwrap();
        assert_eq!(decoded.timezone.name(), "UTC");
        assert_eq!(decoded.billing_anchor_day, 1);
        assert_eq!(decoded.prepaid, None);
        assert!(decoded.budgets.is_empty());
        assert_eq!(decoded.rounding, None);
        assert_eq!(decoded.prices.len(), spec.prices.len());
    }

    #[test]
    fn writer_without_pricing_model_is_named() {
        let writer_json = crate::avro::CONTRACT_SCHEMA_JSON.replace(
            r#"{"name": "model", "type": "string","#,
            r#"{"name": "kind", "type": "string","#,
        );
        assert_ne!(writer_json, crate::avro::CONTRACT_SCHEMA_JSON);
        let writer = Schema::parse_str(&writer_json).unwrap();

        let error =
            crate::avro::resolution::check_required_fields("contract", &writer, contract_schema())
                .unwrap_err();
        assert!(
            matches!(error, AvroCodecError::MissingField { ref field, .. } if field == "prices[].pricing.model"),
            "{error}"
        );
    }

    #[test]
    fn oversized_threshold_rejected_on_encode() {
        let mut spec = example().to_spec();
        spec.budgets[1].thresholds_pct = vec![u32::MAX];
        let error = encode_datum(&spec).unwrap_err();
        assert!(
            error.to_string().contains("budgets[1].thresholds_pct[0]"),
            "{error}"
        );
    }

    /// Sets the unit price of the first tier of the second price.
    fn replace_tier_unit_price(contract: &mut Value, text: &str) {
        let Value::Record(fields) = contract else {
            panic!("not a record")
        };
        let (_, Value::Array(prices)) = fields
            .iter_mut()
            .find(|(name, _)| name == "prices")
            .unwrap()
        else {
            panic!("prices is not an array")
        };
        let Value::Record(price) = &mut prices[1] else {
            panic!("price is not a record")
        };
        let (_, Value::Record(pricing)) = price
            .iter_mut()
            .find(|(name, _)| name == "pricing")
            .unwrap()
        else {
            panic!("pricing is not a record")
        };
        let (_, tiers) = pricing
            .iter_mut()
            .find(|(name, _)| name == "tiers")
            .unwrap();
        let Value::Union(_, tiers) = tiers else {
            panic!("tiers is not a union")
        };
        let Value::Array(tiers) = tiers.as_mut() else {
            panic!("tiers is not an array")
        };
        let Value::Record(tier) = &mut tiers[0] else {
            panic!("tier is not a record")
        };
        for (name, value) in tier.iter_mut() {
            if name == "unit_price" {
                *value = Value::String(text.to_owned());
            }
        }
    }
}
