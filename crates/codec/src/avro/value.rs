//! Mapping between model field types and `apache_avro::types::Value`.
//!
//! Writing builds values in the shape of burnrate's schemas. Reading takes the
//! fields of a record that schema resolution has already brought into burnrate's
//! shape, converts each by name, and reports a problem with the field's path
//! (`prices[2].pricing.tiers[1].up_to`) and its value.
//!
//! Decimals travel as strings holding the exact decimal text and are parsed with
//! [`parse_decimal`], never through `f64`.

use std::collections::{BTreeMap, HashMap};

use apache_avro::types::Value;
use burnrate_model::{format_decimal, parse_decimal};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::error::AvroCodecError;

/// Builds a record value from `(field name, value)` pairs.
pub(crate) fn record_value(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// Builds the value of a `["null", T]` union, whose branch index is 1 for `Some`.
pub(crate) fn nullable_value(value: Option<Value>) -> Value {
    match value {
        Some(value) => Value::Union(1, Box::new(value)),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

/// Writes a decimal as its exact text without trailing zeros, as the JSON form does.
pub(crate) fn decimal_value(value: Decimal) -> Value {
    Value::String(format_decimal(value))
}

/// Writes an instant as `timestamp-micros`.
///
/// Sub-microsecond digits are truncated toward the past, which keeps an instant in
/// the same whole-second-aligned window.
pub(crate) fn timestamp_value(time: DateTime<Utc>) -> Value {
    Value::TimestampMicros(time.timestamp_micros())
}

/// Writes a `u32` into an Avro `int`, rejecting values above `i32::MAX`.
pub(crate) fn int_value(field: &str, value: u32) -> Result<Value, AvroCodecError> {
    i32::try_from(value)
        .map(Value::Int)
        .map_err(|_| AvroCodecError::InvalidValue {
            field: field.to_owned(),
            value: value.to_string(),
            problem: format!("above {}, the largest Avro int", i32::MAX),
        })
}

/// Writes a string map.
pub(crate) fn string_map_value(map: &BTreeMap<String, String>) -> Value {
    Value::Map(
        map.iter()
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect(),
    )
}

/// Writes a map of byte strings.
pub(crate) fn bytes_map_value(map: &BTreeMap<String, Vec<u8>>) -> Value {
    Value::Map(
        map.iter()
            .map(|(key, value)| (key.clone(), Value::Bytes(value.clone())))
            .collect(),
    )
}

/// Writes an enum symbol. The encoder looks up its index in the writer schema.
pub(crate) fn symbol_value(symbol: &str) -> Value {
    Value::String(symbol.to_owned())
}

/// The fields of one decoded record, taken one by one by name.
pub(crate) struct RecordFields {
    /// Path of the record itself, empty for the top-level record.
    path: String,
    fields: HashMap<String, Value>,
}

impl RecordFields {
    /// Takes the fields of a record value found at `path`.
    pub(crate) fn new(path: &str, value: Value) -> Result<Self, AvroCodecError> {
        match value {
            Value::Record(fields) => Ok(RecordFields {
                path: path.to_owned(),
                fields: fields.into_iter().collect(),
            }),
            other => Err(unexpected(
                if path.is_empty() { "(record)" } else { path },
                "a record",
                &other,
            )),
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Removes field `name` and converts it with `convert`, which receives the field's path.
    pub(crate) fn required<T>(
        &mut self,
        name: &str,
        convert: impl FnOnce(&str, Value) -> Result<T, AvroCodecError>,
    ) -> Result<T, AvroCodecError> {
        let path = self.path_of(name);
        match self.fields.remove(name) {
            Some(value) => convert(&path, unwrap_union(value)),
            // Resolution fills every field of burnrate's schema, so this is a mapping bug.
            None => Err(AvroCodecError::UnexpectedType {
                field: path,
                expected: "a field of burnrate's schema",
                found: "no such field after schema resolution".to_owned(),
            }),
        }
    }

    /// Removes field `name`, a `["null", T]` union, and converts it unless it is null.
    pub(crate) fn optional<T>(
        &mut self,
        name: &str,
        convert: impl FnOnce(&str, Value) -> Result<T, AvroCodecError>,
    ) -> Result<Option<T>, AvroCodecError> {
        self.required(name, |path, value| match value {
            Value::Null => Ok(None),
            value => convert(path, value).map(Some),
        })
    }
}

/// Returns the branch value of a union, or the value itself when it is not one.
fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

fn unexpected(field: &str, expected: &'static str, found: &Value) -> AvroCodecError {
    AvroCodecError::UnexpectedType {
        field: field.to_owned(),
        expected,
        found: format!("{found:?}"),
    }
}

/// Reads a string.
pub(crate) fn string(path: &str, value: Value) -> Result<String, AvroCodecError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(unexpected(path, "a string", &other)),
    }
}

/// Reads an exact decimal from its text.
pub(crate) fn decimal(path: &str, value: Value) -> Result<Decimal, AvroCodecError> {
    let text = string(path, value)?;
    parse_decimal(&text).map_err(|error| AvroCodecError::InvalidValue {
        field: path.to_owned(),
        value: text,
        problem: error.to_string(),
    })
}

/// Reads a `timestamp-micros` instant.
pub(crate) fn timestamp(path: &str, value: Value) -> Result<DateTime<Utc>, AvroCodecError> {
    let micros = match value {
        Value::TimestampMicros(micros) | Value::Long(micros) => micros,
        other => return Err(unexpected(path, "a timestamp-micros long", &other)),
    };
    DateTime::from_timestamp_micros(micros).ok_or_else(|| AvroCodecError::InvalidValue {
        field: path.to_owned(),
        value: micros.to_string(),
        problem: "outside the range of instants burnrate can hold (years -262143 to 262142)"
            .to_owned(),
    })
}

/// Reads an Avro `int`.
pub(crate) fn int(path: &str, value: Value) -> Result<i32, AvroCodecError> {
    match value {
        Value::Int(number) => Ok(number),
        other => Err(unexpected(path, "an int", &other)),
    }
}

/// Reads an Avro `int` that must not be negative.
pub(crate) fn unsigned(path: &str, value: Value) -> Result<u32, AvroCodecError> {
    let number = int(path, value)?;
    u32::try_from(number).map_err(|_| AvroCodecError::InvalidValue {
        field: path.to_owned(),
        value: number.to_string(),
        problem: "negative; expected 0 or more".to_owned(),
    })
}

/// Reads an Avro `long`.
pub(crate) fn long(path: &str, value: Value) -> Result<i64, AvroCodecError> {
    match value {
        Value::Long(number) => Ok(number),
        other => Err(unexpected(path, "a long", &other)),
    }
}

/// Reads a boolean.
pub(crate) fn boolean(path: &str, value: Value) -> Result<bool, AvroCodecError> {
    match value {
        Value::Boolean(flag) => Ok(flag),
        other => Err(unexpected(path, "a boolean", &other)),
    }
}

/// Reads a byte string.
pub(crate) fn bytes(path: &str, value: Value) -> Result<Vec<u8>, AvroCodecError> {
    match value {
        Value::Bytes(bytes) => Ok(bytes),
        other => Err(unexpected(path, "bytes", &other)),
    }
}

/// Reads an enum symbol.
pub(crate) fn symbol(path: &str, value: Value) -> Result<String, AvroCodecError> {
    match value {
        Value::Enum(_, symbol) => Ok(symbol),
        other => Err(unexpected(path, "an enum symbol", &other)),
    }
}

/// Reports an enum symbol that the model does not map. Resolution lets only symbols
/// of burnrate's enum through, so this means the schema and the mapping disagree.
pub(crate) fn unknown_symbol(path: &str, symbol: String, expected: &str) -> AvroCodecError {
    AvroCodecError::InvalidValue {
        field: path.to_owned(),
        value: symbol,
        problem: format!("unknown symbol; expected {expected}"),
    }
}

/// Returns the symbols of the enum field `field` of a record schema.
#[cfg(test)]
pub(crate) fn enum_symbols(record: &apache_avro::Schema, field: &str) -> Vec<String> {
    use apache_avro::Schema;

    let Schema::Record(record) = record else {
        panic!("not a record schema: {record:?}")
    };
    let found = record
        .fields
        .iter()
        .find(|candidate| candidate.name == field);
    let Some(Schema::Enum(enum_schema)) = found.map(|field| &field.schema) else {
        panic!("no enum field {field}")
    };
    assert!(!enum_schema.symbols.is_empty(), "{field} has no symbols");
    enum_schema.symbols.clone()
}

/// Reads a map of strings.
pub(crate) fn string_map(
    path: &str,
    value: Value,
) -> Result<BTreeMap<String, String>, AvroCodecError> {
    map_of(path, value, string)
}

/// Reads a map of byte strings.
pub(crate) fn bytes_map(
    path: &str,
    value: Value,
) -> Result<BTreeMap<String, Vec<u8>>, AvroCodecError> {
    map_of(path, value, bytes)
}

fn map_of<T>(
    path: &str,
    value: Value,
    convert: impl Fn(&str, Value) -> Result<T, AvroCodecError>,
) -> Result<BTreeMap<String, T>, AvroCodecError> {
    let Value::Map(entries) = value else {
        return Err(unexpected(path, "a map", &value));
    };
    entries
        .into_iter()
        .map(|(key, value)| {
            let converted = convert(&format!("{path}.{key}"), value)?;
            Ok((key, converted))
        })
        .collect()
}

/// Reads an array, converting each item with `convert`, which receives the item's
/// path (`budgets[1]`).
pub(crate) fn array_of<T>(
    path: &str,
    value: Value,
    convert: impl Fn(&str, Value) -> Result<T, AvroCodecError>,
) -> Result<Vec<T>, AvroCodecError> {
    let Value::Array(items) = value else {
        return Err(unexpected(path, "an array", &value));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| convert(&format!("{path}[{index}]"), item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_keeps_every_digit() {
        for text in ["0.0000025", "12345678901234567890.5", "-3"] {
            let parsed = decimal("quantity", Value::String(text.to_owned())).unwrap();
            assert_eq!(decimal_value(parsed), Value::String(text.to_owned()));
        }
    }

    #[test]
    fn decimal_error_names_field_and_value() {
        let error = decimal("data.quantity", Value::String("NaN".to_owned())).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("data.quantity"), "{message}");
        assert!(message.contains("\"NaN\""), "{message}");
    }

    #[test]
    fn timestamp_truncates_nanoseconds_toward_past() {
        let time = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.9999995Z")
            .unwrap()
            .with_timezone(&Utc);
        let Value::TimestampMicros(micros) = timestamp_value(time) else {
            panic!("expected timestamp-micros");
        };
        assert_eq!(micros, -1);
    }

    #[test]
    fn out_of_range_timestamp_is_rejected() {
        let error = timestamp("time", Value::TimestampMicros(i64::MAX)).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::InvalidValue { ref field, .. } if field == "time"),
            "{error}"
        );
    }

    #[test]
    fn negative_int_is_not_unsigned() {
        let error = unsigned("billing_anchor_day", Value::Int(-1)).unwrap_err();
        assert!(error.to_string().contains("billing_anchor_day"), "{error}");
    }

    #[test]
    fn large_u32_does_not_fit_int() {
        assert!(int_value("threshold_pct", u32::MAX).is_err());
        assert_eq!(int_value("threshold_pct", 100).unwrap(), Value::Int(100));
    }

    #[test]
    fn array_items_get_indexed_paths() {
        let value = Value::Array(vec![
            Value::String("1".to_owned()),
            Value::String("x".to_owned()),
        ]);
        let error = array_of("thresholds", value, decimal).unwrap_err();
        assert!(error.to_string().contains("thresholds[1]"), "{error}");
    }

    #[test]
    fn optional_field_reads_null_as_none() {
        let value = record_value(vec![
            ("product", nullable_value(None)),
            ("meter", nullable_value(Some(Value::String("m".to_owned())))),
        ]);
        let mut fields = RecordFields::new("data", value).unwrap();
        assert_eq!(fields.optional("product", string).unwrap(), None);
        assert_eq!(
            fields.optional("meter", string).unwrap(),
            Some("m".to_owned())
        );
    }
}
