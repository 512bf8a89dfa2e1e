//! The spend aggregate as `io.burnrate.SpendAggregate`, the value format of the
//! aggregates topic. Window length and aggregate kind are Avro enums.

use apache_avro::types::Value;
use apache_avro::Schema;
use burnrate_model::{AggregateKind, SpendAggregate, WindowKind};

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::schemas::spend_aggregate_schema;
use super::value::{
    decimal, decimal_value, nullable_value, record_value, string, string_map, string_map_value,
    symbol, symbol_value, timestamp, timestamp_value, unknown_symbol, RecordFields,
};

impl AvroRecord for SpendAggregate {
    const RECORD: &'static str = "spend aggregate";

    fn schema() -> &'static Schema {
        spend_aggregate_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        Ok(record_value(vec![
            ("account", Value::String(self.account.clone())),
            ("vendor", Value::String(self.vendor.clone())),
            ("meter", Value::String(self.meter.clone())),
            (
                "product",
                nullable_value(self.product.clone().map(Value::String)),
            ),
            ("dimensions", string_map_value(&self.dimensions)),
            ("contract_id", Value::String(self.contract_id.clone())),
            ("window", symbol_value(window_symbol(self.window))),
            ("window_start", timestamp_value(self.window_start)),
            ("window_end", timestamp_value(self.window_end)),
            ("quantity", decimal_value(self.quantity)),
            ("cost", decimal_value(self.cost)),
            ("prepaid_applied", decimal_value(self.prepaid_applied)),
            ("billed", decimal_value(self.billed)),
            ("currency", Value::String(self.currency.clone())),
            ("kind", symbol_value(kind_symbol(self.kind))),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let mut fields = RecordFields::new("", value)?;
        Ok(SpendAggregate {
            account: fields.required("account", string)?,
            vendor: fields.required("vendor", string)?,
            meter: fields.required("meter", string)?,
            product: fields.optional("product", string)?,
            dimensions: fields.required("dimensions", string_map)?,
            contract_id: fields.required("contract_id", string)?,
            window: fields.required("window", window_kind)?,
            window_start: fields.required("window_start", timestamp)?,
            window_end: fields.required("window_end", timestamp)?,
            quantity: fields.required("quantity", decimal)?,
            cost: fields.required("cost", decimal)?,
            prepaid_applied: fields.required("prepaid_applied", decimal)?,
            billed: fields.required("billed", decimal)?,
            currency: fields.required("currency", string)?,
            kind: fields.required("kind", aggregate_kind)?,
        })
    }
}

fn window_symbol(window: WindowKind) -> &'static str {
    match window {
        WindowKind::Minute => "minute",
        WindowKind::Hour => "hour",
        WindowKind::Day => "day",
        WindowKind::Period => "period",
    }
}

fn window_kind(path: &str, value: Value) -> Result<WindowKind, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "minute" => Ok(WindowKind::Minute),
        "hour" => Ok(WindowKind::Hour),
        "day" => Ok(WindowKind::Day),
        "period" => Ok(WindowKind::Period),
        _ => Err(unknown_symbol(path, text, "minute, hour, day or period")),
    }
}

fn kind_symbol(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::Final => "final",
        AggregateKind::Correction => "correction",
    }
}

fn aggregate_kind(path: &str, value: Value) -> Result<AggregateKind, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "final" => Ok(AggregateKind::Final),
        "correction" => Ok(AggregateKind::Correction),
        _ => Err(unknown_symbol(path, text, "final or correction")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum};
    use crate::avro::value::enum_symbols;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn aggregate(window: WindowKind, kind: AggregateKind) -> SpendAggregate {
        SpendAggregate {
            account: "acme".to_owned(),
            vendor: "openai".to_owned(),
            meter: "output_tokens".to_owned(),
            product: Some("gpt-4.1".to_owned()),
            dimensions: BTreeMap::from([("team".to_owned(), "search".to_owned())]),
            contract_id: "acme-openai-2026".to_owned(),
            window,
            window_start: time("2026-05-06T10:00:00Z"),
            window_end: time("2026-05-06T11:00:00Z"),
            quantity: Decimal::from_str("12345678901234567890.5").unwrap(),
            cost: Decimal::from_str("0.0000025").unwrap(),
            prepaid_applied: Decimal::from_str("0.0000020").unwrap(),
            billed: Decimal::from_str("0.0000005").unwrap(),
            currency: "USD".to_owned(),
            kind,
        }
    }

    #[test]
    fn every_window_and_kind_round_trips() {
        let windows = [
            WindowKind::Minute,
            WindowKind::Hour,
            WindowKind::Day,
            WindowKind::Period,
        ];
        for window in windows {
            for kind in [AggregateKind::Final, AggregateKind::Correction] {
                let original = aggregate(window, kind);
                let datum = encode_datum(&original).unwrap();
                let decoded: SpendAggregate =
                    decode_datum(&datum, spend_aggregate_schema()).unwrap();
                assert_eq!(decoded, original);
            }
        }
    }

    #[test]
    fn every_schema_symbol_maps_both_ways() {
        for symbol in enum_symbols(spend_aggregate_schema(), "window") {
            let window = window_kind("window", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(window_symbol(window), symbol);
        }
        for symbol in enum_symbols(spend_aggregate_schema(), "kind") {
            let kind = aggregate_kind("kind", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(kind_symbol(kind), symbol);
        }
    }

    #[test]
    fn amounts_keep_every_digit() {
        let original = aggregate(WindowKind::Hour, AggregateKind::Final);
        let datum = encode_datum(&original).unwrap();
        let decoded: SpendAggregate = decode_datum(&datum, spend_aggregate_schema()).unwrap();
        assert_eq!(decoded.quantity.to_string(), "12345678901234567890.5");
        assert_eq!(decoded.cost.to_string(), "0.0000025");
    }

    #[test]
    fn empty_product_and_dimensions_round_trip() {
        let mut original = aggregate(WindowKind::Period, AggregateKind::Final);
        original.product = None;
        original.dimensions.clear();
        let datum = encode_datum(&original).unwrap();
        let decoded: SpendAggregate = decode_datum(&datum, spend_aggregate_schema()).unwrap();
        assert_eq!(decoded, original);
    }
}
