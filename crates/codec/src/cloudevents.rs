//! Usage events as CloudEvents 1.0 in structured JSON mode.
//!
//! Decoding borrows from the input and reads `data.quantity` from its source text,
//! so a quantity is never rounded through `f64`: `0.1` and
//! `12345678901234567890.5` keep every digit, and `1e400` is rejected.

use std::borrow::Cow;
use std::collections::BTreeMap;

use burnrate_model::event::{CORRECTION_EVENT_TYPE, USAGE_EVENT_TYPE};
use burnrate_model::{
    format_decimal, parse_decimal, EventError, EventKind, UsageEvent, VendorCost,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The only CloudEvents version burnrate reads.
pub const SPEC_VERSION: &str = "1.0";

/// The reason a record is not a valid usage event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not JSON, or a field has the wrong JSON type.
    #[error("invalid JSON at {field}: {message}")]
    Json {
        /// Path of the field (`data.dimensions.team`), or `(record)` for the whole record.
        field: String,
        /// The parser's message.
        message: String,
    },
    /// A required field is missing.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A field has a value burnrate cannot use.
    #[error("invalid {field} {value:?}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The problem and what to send instead.
        problem: String,
    },
    /// The event breaks a rule that applies whatever its encoding.
    #[error(transparent)]
    Event(#[from] EventError),
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    specversion: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<RawData<'a>>,
}

/// The `data` object. Unknown fields are rejected: a misspelled `cost` would
/// otherwise leave the event to be priced by its contract, at another amount.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData<'a> {
    #[serde(borrow)]
    meter: Option<Cow<'a, str>>,
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    product: Option<Cow<'a, str>>,
    #[serde(default)]
    dimensions: Option<BTreeMap<String, String>>,
    #[serde(borrow)]
    cost: Option<&'a RawValue>,
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
}

/// Decodes one CloudEvents JSON record into a validated usage event.
///
/// Attributes burnrate does not use (`datacontenttype`, extensions) are ignored.
pub fn decode_cloudevent(bytes: &[u8]) -> Result<UsageEvent, DecodeError> {
    let raw: RawEvent<'_> = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(_) => return Err(describe_json_error(bytes)),
    };

    let specversion = raw.specversion.ok_or(DecodeError::Missing("specversion"))?;
    if specversion != SPEC_VERSION {
        return Err(DecodeError::Invalid {
            field: "specversion",
            value: specversion.into_owned(),
            problem: format!("unsupported CloudEvents version; send \"{SPEC_VERSION}\""),
        });
    }

    let id = required(raw.id, "id")?;
    let source = required(raw.source, "source")?;
    let kind = match raw.event_type.as_deref() {
        Some(USAGE_EVENT_TYPE) => EventKind::Usage,
        Some(CORRECTION_EVENT_TYPE) => EventKind::Correction,
        Some(other) => {
            return Err(DecodeError::Invalid {
                field: "type",
                value: other.to_owned(),
                problem: format!(
                    "unknown event type; use \"{USAGE_EVENT_TYPE}\" or \"{CORRECTION_EVENT_TYPE}\""
                ),
            })
        }
        None => return Err(DecodeError::Missing("type")),
    };
    let time_text = required(raw.time, "time")?;
    let time = parse_event_time(&time_text)?;
    let account = required(raw.subject, "subject")?;

    let data = raw.data.ok_or(DecodeError::Missing("data"))?;
    let meter = required(data.meter, "data.meter")?;
    let quantity_raw = data.quantity.ok_or(DecodeError::Missing("data.quantity"))?;
    let quantity = parse_amount(quantity_raw, "data.quantity")?;
    let cost = data
        .cost
        .map(|raw| parse_amount(raw, "data.cost"))
        .transpose()?;
    let cost = VendorCost::from_parts(cost, data.currency.as_deref())?;

    let event = UsageEvent {
        id,
        source,
        kind,
        time,
        account,
        meter,
        quantity,
        product: data
            .product
            .map(Cow::into_owned)
            .filter(|product| !product.is_empty()),
        dimensions: data.dimensions.unwrap_or_default(),
        cost,
    };
    event.validate()?;
    Ok(event)
}

fn required(value: Option<Cow<'_, str>>, field: &'static str) -> Result<String, DecodeError> {
    match value {
        Some(text) if !text.is_empty() => Ok(text.into_owned()),
        _ => Err(DecodeError::Missing(field)),
    }
}

/// Parses an RFC 3339 event time, which must carry an offset (`Z` or `+02:00`).
fn parse_event_time(text: &str) -> Result<DateTime<Utc>, DecodeError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        // chrono keeps a leap second (23:59:60) as a nanosecond count past 10⁹, which
        // UTC windows and local billing periods would place on different days. The
        // last instant of the minute is used instead.
        .map(|time| {
            use chrono::Timelike;
            if time.nanosecond() >= 1_000_000_000 {
                time.with_nanosecond(999_999_999).unwrap_or(time)
            } else {
                time
            }
        })
        .map_err(|error| DecodeError::Invalid {
            field: "time",
            value: text.to_owned(),
            problem: format!(
                "{error}; use RFC 3339 with an offset, such as \"2026-05-06T10:00:00Z\""
            ),
        })
}

/// Reads an amount (`data.quantity`, `data.cost`) from a JSON string or number, exactly.
fn parse_amount(raw: &RawValue, field: &'static str) -> Result<rust_decimal::Decimal, DecodeError> {
    let text = raw.get();
    let digits: Cow<'_, str> = if text.starts_with('"') {
        match serde_json::from_str::<Cow<'_, str>>(text) {
            Ok(inner) => inner,
            Err(error) => {
                return Err(DecodeError::Invalid {
                    field,
                    value: text.to_owned(),
                    problem: error.to_string(),
                })
            }
        }
    } else if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
        Cow::Borrowed(text)
    } else {
        return Err(DecodeError::Invalid {
            field,
            value: text.to_owned(),
            problem: "expected a decimal number as a string such as \"1000\"".to_owned(),
        });
    };
    parse_decimal(&digits).map_err(|error| DecodeError::Invalid {
        field,
        value: digits.into_owned(),
        problem: error.to_string(),
    })
}

/// Parses the record again with path tracking to name the field that broke it.
/// It only runs on records that already failed, so the fast path pays nothing.
fn describe_json_error(bytes: &[u8]) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, RawEvent<'_>>(&mut deserializer) {
        Ok(_) => DecodeError::Json {
            field: "(record)".to_owned(),
            message: "trailing characters after the JSON object".to_owned(),
        },
        Err(error) => {
            let path = error.path().to_string();
            // serde names our private structs, so name the expected shape instead.
            let message = error
                .into_inner()
                .to_string()
                .replace("struct RawEvent", "a CloudEvents JSON object")
                .replace("struct RawData", "an object with meter and quantity");
            DecodeError::Json {
                field: if path == "." {
                    "(record)".to_owned()
                } else {
                    path
                },
                message,
            }
        }
    }
}

/// Encodes a usage event as one CloudEvents JSON record (no trailing newline).
pub fn encode_cloudevent(event: &UsageEvent) -> String {
    let mut data = serde_json::Map::new();
    data.insert("meter".into(), event.meter.clone().into());
    data.insert("quantity".into(), format_decimal(event.quantity).into());
    if let Some(product) = &event.product {
        data.insert("product".into(), product.clone().into());
    }
    if !event.dimensions.is_empty() {
        let dimensions = event
            .dimensions
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::from(value.clone())))
            .collect();
        data.insert("dimensions".into(), serde_json::Value::Object(dimensions));
    }
    if let Some(cost) = &event.cost {
        data.insert("cost".into(), format_decimal(cost.amount).into());
        data.insert("currency".into(), cost.currency.code().into());
    }

    let record = serde_json::json!({
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.kind.cloudevents_type(),
        "time": event.time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "subject": event.account,
        "data": data,
    });
    record.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    const EXAMPLE: &str = r#"{"specversion": "1.0", "id": "e-0001", "source": "openai", "type": "burnrate.usage",
 "time": "2026-05-06T10:00:00Z", "subject": "acme",
 "data": {"meter": "output_tokens", "quantity": "1000", "product": "gpt-4.1",
          "dimensions": {"team": "search", "project": "rag", "user": "u-17"}}}"#;

    fn with_quantity(quantity: &str) -> String {
        EXAMPLE.replace(
            r#""quantity": "1000""#,
            &format!(r#""quantity": {quantity}"#),
        )
    }

    #[test]
    fn decodes_the_interface_example() {
        let event = decode_cloudevent(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(event.id, "e-0001");
        assert_eq!(event.source, "openai");
        assert_eq!(event.kind, EventKind::Usage);
        assert_eq!(event.account, "acme");
        assert_eq!(event.meter, "output_tokens");
        assert_eq!(event.quantity, Decimal::from(1000));
        assert_eq!(event.product.as_deref(), Some("gpt-4.1"));
        assert_eq!(event.dimensions["team"], "search");
        assert_eq!(event.time.to_rfc3339(), "2026-05-06T10:00:00+00:00");
    }

    #[test]
    fn json_numbers_keep_every_digit() {
        let event = decode_cloudevent(with_quantity("0.1").as_bytes()).unwrap();
        assert_eq!(event.quantity, Decimal::from_str("0.1").unwrap());

        let event = decode_cloudevent(with_quantity("12345678901234567890.5").as_bytes()).unwrap();
        assert_eq!(event.quantity.to_string(), "12345678901234567890.5");

        let event = decode_cloudevent(with_quantity("2.5e-6").as_bytes()).unwrap();
        assert_eq!(event.quantity, Decimal::from_str("0.0000025").unwrap());
    }

    #[test]
    fn non_finite_and_oversized_quantities_are_rejected() {
        for quantity in [
            r#""NaN""#,
            r#""1e400""#,
            "1e400",
            r#""abc""#,
            "true",
            "null",
            "123456789012345678901234567890",
        ] {
            let error = decode_cloudevent(with_quantity(quantity).as_bytes()).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("data.quantity"),
                "quantity {quantity}: {message}"
            );
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let cases = [
            (r#""id": "e-0001", "#, "id"),
            (r#""time": "2026-05-06T10:00:00Z", "#, "time"),
            (r#""subject": "acme","#, "subject"),
            (r#""meter": "output_tokens", "#, "data.meter"),
            (r#""quantity": "1000", "#, "data.quantity"),
        ];
        for (removed, field) in cases {
            let record = EXAMPLE.replace(removed, "");
            assert_ne!(record, EXAMPLE, "fixture must contain {removed}");
            let error = decode_cloudevent(record.as_bytes()).unwrap_err();
            assert!(error.to_string().contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn negative_quantity_needs_a_correction() {
        let negative = with_quantity(r#""-5""#);
        let error = decode_cloudevent(negative.as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("negative quantity -5"),
            "{error}"
        );

        let correction = negative.replace("burnrate.usage\"", "burnrate.usage.correction\"");
        let event = decode_cloudevent(correction.as_bytes()).unwrap();
        assert_eq!(event.kind, EventKind::Correction);
        assert_eq!(event.quantity, Decimal::from(-5));
    }

    #[test]
    fn unknown_specversion_is_rejected() {
        let record = EXAMPLE.replace(r#""specversion": "1.0""#, r#""specversion": "0.3""#);
        let error = decode_cloudevent(record.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("specversion \"0.3\""), "{error}");
    }

    #[test]
    fn time_without_offset_is_rejected() {
        let record = EXAMPLE.replace("2026-05-06T10:00:00Z", "2026-05-06T10:00:00");
        let error = decode_cloudevent(record.as_bytes()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("time \"2026-05-06T10:00:00\""),
            "{message}"
        );
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let record = EXAMPLE.replace("2026-05-06T10:00:00Z", "2026-05-06T12:00:00+02:00");
        let event = decode_cloudevent(record.as_bytes()).unwrap();
        assert_eq!(event.time.to_rfc3339(), "2026-05-06T10:00:00+00:00");
    }

    #[test]
    fn wrong_json_type_names_the_field() {
        let record = EXAMPLE.replace(r#""team": "search""#, r#""team": 7"#);
        let error = decode_cloudevent(record.as_bytes()).unwrap_err();
        assert!(
            error.to_string().contains("data.dimensions.team"),
            "{error}"
        );

        let error = decode_cloudevent(b"{not json").unwrap_err();
        assert!(matches!(error, DecodeError::Json { .. }), "{error}");
    }

    #[test]
    fn wrong_shapes_name_what_is_expected() {
        let error = decode_cloudevent(b"\"text\"").unwrap_err().to_string();
        assert!(error.contains("a CloudEvents JSON object"), "{error}");
        let record = EXAMPLE.replace(r#""data": {"meter""#, r#""data": [], "ignored": {"meter""#);
        let error = decode_cloudevent(record.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("an object with meter and quantity"),
            "{error}"
        );
        assert!(!error.contains("Raw"), "{error}");
    }

    #[test]
    fn leap_second_is_last_instant_of_minute() {
        let record = EXAMPLE.replace("2026-05-06T10:00:00Z", "2016-12-31T23:59:60Z");
        let event = decode_cloudevent(record.as_bytes()).unwrap();
        assert_eq!(
            event.time.to_rfc3339(),
            "2016-12-31T23:59:59.999999999+00:00"
        );
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let event = decode_cloudevent(with_quantity(r#""0.0000025""#).as_bytes()).unwrap();
        let encoded = encode_cloudevent(&event);
        assert_eq!(decode_cloudevent(encoded.as_bytes()).unwrap(), event);

        let costed = decode_cloudevent(
            with_cost(r#""cost": "0.00000080000", "currency": "USD""#).as_bytes(),
        )
        .unwrap();
        let encoded = encode_cloudevent(&costed);
        assert!(encoded.contains(r#""cost":"0.0000008""#), "{encoded}");
        assert_eq!(decode_cloudevent(encoded.as_bytes()).unwrap(), costed);
    }

    fn with_cost(fields: &str) -> String {
        EXAMPLE.replace(
            r#""product": "gpt-4.1","#,
            &format!(r#""product": "gpt-4.1", {fields},"#),
        )
    }

    #[test]
    fn vendor_cost_keeps_every_digit() {
        let event = decode_cloudevent(
            with_cost(r#""cost": "0.00000080000", "currency": "USD""#).as_bytes(),
        )
        .unwrap();
        let cost = event.cost.unwrap();
        assert_eq!(cost.amount.to_string(), "0.00000080000");
        assert_eq!(cost.currency.code(), "USD");

        let event =
            decode_cloudevent(with_cost(r#""cost": 0.1, "currency": "credits""#).as_bytes())
                .unwrap();
        let cost = event.cost.unwrap();
        assert_eq!(cost.amount, Decimal::from_str("0.1").unwrap());
        assert_eq!(cost.currency.code(), "credits");
    }

    #[test]
    fn misspelled_data_field_rejected() {
        let error = decode_cloudevent(with_cost(r#""Cost": "5", "curency": "USD""#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `Cost`"), "{error}");
        assert!(error.contains("`cost`"), "{error}");
    }

    #[test]
    fn vendor_cost_errors_name_fix() {
        let cases = [
            (
                r#""cost": "1.5""#,
                "data.cost and data.currency go together",
            ),
            (r#""currency": "USD""#, "leave the currency out"),
            (
                r#""cost": "1.5", "currency": "usd""#,
                "write ISO codes in upper case",
            ),
            (r#""cost": "1e400", "currency": "USD""#, "data.cost"),
            (
                r#""cost": "-1.5", "currency": "USD""#,
                "burnrate.usage.correction",
            ),
        ];
        for (fields, expected) in cases {
            let error = decode_cloudevent(with_cost(fields).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{fields}: {error}");
        }

        let correction = with_cost(r#""cost": "-1.5", "currency": "USD""#)
            .replace("burnrate.usage\"", "burnrate.usage.correction\"");
        let event = decode_cloudevent(correction.as_bytes()).unwrap();
        assert_eq!(
            event.cost.unwrap().amount,
            Decimal::from_str("-1.5").unwrap()
        );
    }
}
