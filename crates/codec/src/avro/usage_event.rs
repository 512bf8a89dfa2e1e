//! The usage event as `io.burnrate.UsageEvent`: the CloudEvents attributes at the
//! top level and the metered usage in the nested `data` record.
//!
//! Decoding applies the same rules as the CloudEvents JSON decoder: `specversion`
//! must be `1.0`, `type` names a usage event or a correction, an empty product is
//! no product, and [`UsageEvent::validate`] runs last.

use apache_avro::types::Value;
use apache_avro::Schema;
use burnrate_model::event::{CORRECTION_EVENT_TYPE, USAGE_EVENT_TYPE};
use burnrate_model::{EventKind, UsageEvent, VendorCost};

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::schemas::usage_event_schema;
use super::value::{
    decimal, decimal_value, nullable_value, record_value, string, string_map, string_map_value,
    timestamp, timestamp_value, RecordFields,
};

/// The only CloudEvents version burnrate reads and writes.
const SPEC_VERSION: &str = "1.0";

impl AvroRecord for UsageEvent {
    const RECORD: &'static str = "usage event";

    fn schema() -> &'static Schema {
        usage_event_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        let data = record_value(vec![
            ("meter", Value::String(self.meter.clone())),
            ("quantity", decimal_value(self.quantity)),
            (
                "product",
                nullable_value(self.product.clone().map(Value::String)),
            ),
            ("dimensions", string_map_value(&self.dimensions)),
            (
                "cost",
                nullable_value(self.cost.as_ref().map(|cost| decimal_value(cost.amount))),
            ),
            (
                "currency",
                nullable_value(
                    self.cost
                        .as_ref()
                        .map(|cost| Value::String(cost.currency.code().to_owned())),
                ),
            ),
        ]);
        Ok(record_value(vec![
            ("specversion", Value::String(SPEC_VERSION.to_owned())),
            ("id", Value::String(self.id.clone())),
            ("source", Value::String(self.source.clone())),
            (
                "type",
                Value::String(self.kind.cloudevents_type().to_owned()),
            ),
            ("time", timestamp_value(self.time)),
            ("subject", Value::String(self.account.clone())),
            ("data", data),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let mut fields = RecordFields::new("", value)?;

        let specversion = fields.required("specversion", string)?;
        if specversion != SPEC_VERSION {
            return Err(AvroCodecError::InvalidValue {
                field: "specversion".to_owned(),
                value: specversion,
                problem: format!("unsupported CloudEvents version; send \"{SPEC_VERSION}\""),
            });
        }

        let kind = fields.required("type", event_kind)?;
        let mut data = fields.required("data", RecordFields::new)?;
        let cost = data.optional("cost", decimal)?;
        let currency = data.optional("currency", string)?;
        let event = UsageEvent {
            id: fields.required("id", string)?,
            source: fields.required("source", string)?,
            kind,
            time: fields.required("time", timestamp)?,
            account: fields.required("subject", string)?,
            meter: data.required("meter", string)?,
            quantity: data.required("quantity", decimal)?,
            product: data
                .optional("product", string)?
                .filter(|product| !product.is_empty()),
            dimensions: data.required("dimensions", string_map)?,
            cost: VendorCost::from_parts(cost, currency.as_deref())?,
        };
        event.validate()?;
        Ok(event)
    }
}

fn event_kind(path: &str, value: Value) -> Result<EventKind, AvroCodecError> {
    let text = string(path, value)?;
    match text.as_str() {
        USAGE_EVENT_TYPE => Ok(EventKind::Usage),
        CORRECTION_EVENT_TYPE => Ok(EventKind::Correction),
        _ => Err(AvroCodecError::InvalidValue {
            field: path.to_owned(),
            value: text,
            problem: format!(
                "unknown event type; use \"{USAGE_EVENT_TYPE}\" or \"{CORRECTION_EVENT_TYPE}\""
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use burnrate_model::{EventError, VendorCost};
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum, encode_value_with};

    fn event(quantity: &str, kind: EventKind) -> UsageEvent {
        UsageEvent {
            id: "e-0001".to_owned(),
            source: "openai".to_owned(),
            kind,
            time: DateTime::parse_from_rfc3339("2026-05-06T10:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            account: "acme".to_owned(),
            meter: "output_tokens".to_owned(),
            quantity: Decimal::from_str(quantity).unwrap(),
            product: Some("gpt-4.1".to_owned()),
            dimensions: BTreeMap::from([
                ("team".to_owned(), "search".to_owned()),
                ("user".to_owned(), "u-17".to_owned()),
            ]),
            cost: None,
        }
    }

    /// The usage event schema with the top-level and `data` fields in another order
    /// and with a field burnrate does not know.
    const REORDERED_WRITER: &str = r#"{
      "type": "record", "name": "UsageEvent", "namespace": "io.burnrate",
      "fields": [
        {"name": "data", "type": {"type": "record", "name": "UsageData", "fields": [
          {"name": "dimensions", "type": {"type": "map", "values": "string"}, "default": {}},
          {"name": "product", "type": ["null", "string"], "default": null},
          {"name": "quantity", "type": "string"},
          {"name": "meter", "type": "string"}
        ]}},
        {"name": "subject", "type": "string"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "vendor_region", "type": "string", "default": ""},
        {"name": "type", "type": "string"},
        {"name": "source", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "specversion", "type": "string"}
      ]
    }"#;

    #[test]
    fn round_trip_keeps_exact_decimals() {
        for quantity in ["0.0000025", "12345678901234567890.5", "1000"] {
            let original = event(quantity, EventKind::Usage);
            let datum = encode_datum(&original).unwrap();
            let decoded: UsageEvent = decode_datum(&datum, usage_event_schema()).unwrap();
            assert_eq!(decoded, original);
            assert_eq!(decoded.quantity.to_string(), quantity);
        }
    }

    #[test]
    fn vendor_cost_round_trips() {
        let mut original = event("3", EventKind::Usage);
        original.cost = VendorCost::from_parts(
            Some(Decimal::from_str("0.00000080000").unwrap()),
            Some("USD"),
        )
        .unwrap();
        let datum = encode_datum(&original).unwrap();
        let decoded: UsageEvent = decode_datum(&datum, usage_event_schema()).unwrap();
        assert_eq!(decoded, original);
        // Written without trailing zeros, like quantities, and equal in value.
        assert_eq!(decoded.cost.unwrap().amount.to_string(), "0.0000008");
    }

    #[test]
    fn cost_without_currency_is_rejected() {
        let mut value = event("3", EventKind::Usage).to_avro_value().unwrap();
        set_value_field(
            &mut value,
            "cost",
            Value::Union(1, Box::new(Value::String("2.5".to_owned()))),
        );
        let datum = encode_value_with::<UsageEvent>(&value, usage_event_schema()).unwrap();
        let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
        assert!(
            matches!(
                error,
                AvroCodecError::InvalidEvent(EventError::CostWithoutCurrency(_))
            ),
            "{error}"
        );
    }

    #[test]
    fn quantity_is_written_as_exact_text() {
        let value = event("0.0000025", EventKind::Usage)
            .to_avro_value()
            .unwrap();
        let mut fields = RecordFields::new("", value).unwrap();
        let mut data = fields.required("data", RecordFields::new).unwrap();
        assert_eq!(data.required("quantity", string).unwrap(), "0.0000025");
    }

    #[test]
    fn reordered_writer_schema_decodes_by_name() {
        let writer = Schema::parse_str(REORDERED_WRITER).unwrap();
        let original = event("12345678901234567890.5", EventKind::Correction);
        let value = reordered_writer_value(&original);
        let datum = encode_value_with::<UsageEvent>(&value, &writer).unwrap();
        let own_datum = encode_datum(&original).unwrap();
        assert_ne!(
            datum, own_datum,
            "the writer schema should change the byte layout"
        );

        let decoded: UsageEvent = decode_datum(&datum, &writer).unwrap();
        assert_eq!(decoded, original);
    }

    #[test]
    fn writer_without_required_field_is_named() {
        let cases = [
            ("subject", "subject"),
            ("meter", "data.meter"),
            ("quantity", "data.quantity"),
        ];
        for (removed, path) in cases {
            let mut json: serde_json::Value = serde_json::from_str(REORDERED_WRITER).unwrap();
            remove_field(&mut json, removed);
            let writer = Schema::parse_str(&json.to_string()).unwrap();

            let mut value = reordered_writer_value(&event("1", EventKind::Usage));
            remove_value_field(&mut value, removed);
            let datum = encode_value_with::<UsageEvent>(&value, &writer).unwrap();

            let error = decode_datum::<UsageEvent>(&datum, &writer).unwrap_err();
            assert!(
                matches!(error, AvroCodecError::MissingField { ref field, .. } if field == path),
                "removing {removed}: {error}"
            );
            assert!(error.to_string().contains(&format!("`{path}`")), "{error}");
        }
    }

    #[test]
    fn writer_without_optional_fields_uses_defaults() {
        let mut json: serde_json::Value = serde_json::from_str(REORDERED_WRITER).unwrap();
        remove_field(&mut json, "product");
        remove_field(&mut json, "dimensions");
        let writer = Schema::parse_str(&json.to_string()).unwrap();

        let mut value = reordered_writer_value(&event("5", EventKind::Usage));
        remove_value_field(&mut value, "product");
        remove_value_field(&mut value, "dimensions");
        let datum = encode_value_with::<UsageEvent>(&value, &writer).unwrap();

        let decoded: UsageEvent = decode_datum(&datum, &writer).unwrap();
        assert_eq!(decoded.product, None);
        assert!(decoded.dimensions.is_empty());
    }

    #[test]
    fn double_quantity_in_writer_is_incompatible() {
        let json = REORDERED_WRITER.replace(
            r#"{"name": "quantity", "type": "string"}"#,
            r#"{"name": "quantity", "type": "double"}"#,
        );
        let writer = Schema::parse_str(&json).unwrap();
        let mut value = reordered_writer_value(&event("1", EventKind::Usage));
        set_value_field(&mut value, "quantity", Value::Double(0.1));
        let datum = encode_value_with::<UsageEvent>(&value, &writer).unwrap();

        let error = decode_datum::<UsageEvent>(&datum, &writer).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::Incompatible { .. }),
            "{error}"
        );
    }

    #[test]
    fn negative_quantity_needs_a_correction() {
        let usage = event("-3", EventKind::Usage);
        let datum = encode_datum(&usage).unwrap();
        let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
        assert!(
            matches!(
                error,
                AvroCodecError::InvalidEvent(EventError::NegativeUsage { .. })
            ),
            "{error}"
        );

        let correction = event("-3", EventKind::Correction);
        let datum = encode_datum(&correction).unwrap();
        let decoded: UsageEvent = decode_datum(&datum, usage_event_schema()).unwrap();
        assert_eq!(decoded, correction);
    }

    #[test]
    fn invalid_quantity_text_is_rejected() {
        let mut value = event("1", EventKind::Usage).to_avro_value().unwrap();
        set_value_field(&mut value, "quantity", Value::String("1e400".to_owned()));
        let datum = encode_value_with::<UsageEvent>(&value, usage_event_schema()).unwrap();

        let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::InvalidValue { ref field, ref value, .. } if field == "data.quantity" && value == "1e400"),
            "{error}"
        );
    }

    #[test]
    fn unknown_type_and_specversion_are_rejected() {
        let cases = [("type", "burnrate.refund"), ("specversion", "0.3")];
        for (name, text) in cases {
            let mut value = event("1", EventKind::Usage).to_avro_value().unwrap();
            set_value_field(&mut value, name, Value::String(text.to_owned()));
            let datum = encode_value_with::<UsageEvent>(&value, usage_event_schema()).unwrap();

            let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
            assert!(
                matches!(error, AvroCodecError::InvalidValue { ref field, ref value, .. } if field == name && value == text),
                "{error}"
            );
        }
    }

    #[test]
    fn empty_required_text_is_missing() {
        let mut value = event("1", EventKind::Usage).to_avro_value().unwrap();
        set_value_field(&mut value, "subject", Value::String(String::new()));
        let datum = encode_value_with::<UsageEvent>(&value, usage_event_schema()).unwrap();

        let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
        assert!(
            matches!(
                error,
                AvroCodecError::InvalidEvent(EventError::Missing("subject"))
            ),
            "{error}"
        );
    }

    #[test]
    fn empty_product_is_no_product() {
        let mut original = event("1", EventKind::Usage);
        original.product = Some(String::new());
        let datum = encode_datum(&original).unwrap();
        let decoded: UsageEvent = decode_datum(&datum, usage_event_schema()).unwrap();
        assert_eq!(decoded.product, None);
    }

    #[test]
    fn truncated_datum_is_malformed() {
        let datum = encode_datum(&event("1", EventKind::Usage)).unwrap();
        let error = decode_datum::<UsageEvent>(&datum[..datum.len() - 3], usage_event_schema())
            .unwrap_err();
        assert!(matches!(error, AvroCodecError::Malformed { .. }), "{error}");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut datum = encode_datum(&event("1", EventKind::Usage)).unwrap();
        datum.extend_from_slice(&[0, 0]);
        let error = decode_datum::<UsageEvent>(&datum, usage_event_schema()).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::TrailingBytes { count: 2, .. }),
            "{error}"
        );
    }

    /// Returns the value of an event for [`REORDERED_WRITER`], which has one more field.
    fn reordered_writer_value(event: &UsageEvent) -> Value {
        let mut value = event.to_avro_value().unwrap();
        // The writer schema predates the vendor cost fields.
        remove_value_field(&mut value, "cost");
        remove_value_field(&mut value, "currency");
        let Value::Record(fields) = &mut value else {
            panic!("not a record")
        };
        fields.push(("vendor_region".to_owned(), Value::String("eu".to_owned())));
        value
    }

    /// Removes a field from the top level or the `data` record of a schema's JSON.
    fn remove_field(schema: &mut serde_json::Value, name: &str) {
        let fields = schema["fields"].as_array_mut().unwrap();
        fields.retain(|field| field["name"] != name);
        for field in fields.iter_mut() {
            if field["name"] == "data" {
                field["type"]["fields"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|inner| inner["name"] != name);
            }
        }
    }

    /// Removes a field from the top level or the `data` record of a usage event value.
    fn remove_value_field(value: &mut Value, name: &str) {
        let Value::Record(fields) = value else {
            panic!("not a record")
        };
        fields.retain(|(field, _)| field != name);
        for (field, inner) in fields.iter_mut() {
            if field == "data" {
                remove_value_field(inner, name);
            }
        }
    }

    /// Replaces a field in the top level or the `data` record of a usage event value.
    fn set_value_field(value: &mut Value, name: &str, new_value: Value) {
        let Value::Record(fields) = value else {
            panic!("not a record")
        };
        for (field, inner) in fields.iter_mut() {
            if field == name {
                *inner = new_value.clone();
            } else if field == "data" {
                set_value_field(inner, name, new_value.clone());
            }
        }
    }
}
