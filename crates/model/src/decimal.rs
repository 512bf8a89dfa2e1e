//! Exact decimal numbers for quantities and money.
//!
//! Every amount in burnrate is a `rust_decimal::Decimal` parsed straight from its
//! source text, never through `f64`, so `0.1` stays `0.1` and a unit price such as
//! `0.0000025` keeps every digit. Text that a `Decimal` cannot hold exactly (more than
//! 28 significant digits, or a magnitude beyond about 7.9e28) is rejected rather than
//! rounded.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserializer, Serializer};

/// The reason a text is not an exact decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is empty or only whitespace.
    #[error("empty value, expected a decimal number such as \"0.25\"")]
    Empty,
    /// The text is not a decimal number at all (`NaN`, `inf`, `12abc`).
    #[error("{0:?} is not a finite decimal number; write digits with an optional sign, point and exponent, such as \"0.25\"")]
    Invalid(String),
    /// The number is finite but does not fit a 96-bit decimal with at most 28 fractional digits.
    #[error("{0:?} does not fit an exact decimal (at most 28 significant digits and a magnitude below 7.9e28)")]
    OutOfRange(String),
}

/// Parses `text` into an exact `Decimal`, accepting plain (`-12.5`) and scientific
/// (`2.5e-6`) notation.
///
/// A value that would need rounding to fit is rejected with [`DecimalError::OutOfRange`].
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DecimalError::Empty);
    }

    let looks_numeric = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && trimmed.bytes().any(|b| b.is_ascii_digit());
    if !looks_numeric {
        return Err(DecimalError::Invalid(trimmed.to_owned()));
    }

    if trimmed.contains(['e', 'E']) {
        return parse_scientific(trimmed);
    }
    Decimal::from_str_exact(trimmed).map_err(|error| classify(trimmed, &error))
}

/// Parses scientific notation exactly: the mantissa must be exact, and the exponent
/// must leave the value inside `Decimal`'s range without rounding.
fn parse_scientific(text: &str) -> Result<Decimal, DecimalError> {
    let (mantissa_text, exponent_text) = text
        .split_once(['e', 'E'])
        .ok_or_else(|| DecimalError::Invalid(text.to_owned()))?;
    let mantissa =
        Decimal::from_str_exact(mantissa_text).map_err(|error| classify(text, &error))?;
    let exponent: i64 = exponent_text
        .parse()
        .map_err(|_| DecimalError::Invalid(text.to_owned()))?;
    if exponent.unsigned_abs() > 60 {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }

    // Shift the decimal point by adjusting the scale; a negative scale is a
    // multiplication by a power of ten, which must not overflow.
    let new_scale = i64::from(mantissa.scale()) - exponent;
    if new_scale >= 0 {
        let scale =
            u32::try_from(new_scale).map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
        let mut value = mantissa;
        // `set_scale` rejects scales above 28; dropping trailing zeros first keeps
        // values such as 1.000e-26 representable.
        if scale > Decimal::MAX_SCALE {
            value = value.normalize();
            let reduced = i64::from(value.scale()) + (new_scale - i64::from(mantissa.scale()));
            let reduced =
                u32::try_from(reduced).map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
            if reduced > Decimal::MAX_SCALE {
                return Err(DecimalError::OutOfRange(text.to_owned()));
            }
            value
                .set_scale(reduced)
                .map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
            return Ok(value);
        }
        value
            .set_scale(scale)
            .map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
        return Ok(value);
    }

    let mut value = mantissa;
    value
        .set_scale(0)
        .map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
    let mut remaining = -new_scale;
    while remaining > 0 {
        value = value
            .checked_mul(Decimal::TEN)
            .ok_or_else(|| DecimalError::OutOfRange(text.to_owned()))?;
        remaining -= 1;
    }
    Ok(value)
}

fn classify(text: &str, error: &rust_decimal::Error) -> DecimalError {
    match error {
        // `ErrorString` is how rust_decimal reports malformed text; every other
        // variant means a well-formed number that does not fit.
        rust_decimal::Error::ErrorString(message)
            if !message.contains("overflow") && !message.contains("Underflow") =>
        {
            DecimalError::Invalid(text.to_owned())
        }
        _ => DecimalError::OutOfRange(text.to_owned()),
    }
}

/// Formats a decimal for output without trailing zeros (`2500.0000000` becomes `2500`).
pub fn format_decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Serde helpers that read a `Decimal` from a string or an exact number and write it as a string.
pub mod serde_exact {
    use super::*;

    /// The key under which `serde_json` with `arbitrary_precision` hands over a number's text.
    const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

    /// Serializes a decimal as a JSON string without trailing zeros.
    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_decimal(*value))
    }

    /// Deserializes a decimal from a string or a number, keeping every digit.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        deserializer.deserialize_any(ExactDecimalVisitor)
    }

    /// The same helpers for `Option<Decimal>`, where JSON `null` is `None`.
    pub mod option {
        use super::*;

        /// Serializes `Some` as a string and `None` as `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<Decimal>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.serialize_str(&format_decimal(*value)),
                None => serializer.serialize_none(),
            }
        }

        /// Deserializes `null` as `None` and anything else as an exact decimal.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Decimal>, D::Error> {
            deserializer.deserialize_option(OptionVisitor)
        }

        struct OptionVisitor;

        impl<'de> Visitor<'de> for OptionVisitor {
            type Value = Option<Decimal>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a decimal number as a string, or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Self::Value, D::Error> {
                super::deserialize(deserializer).map(Some)
            }
        }
    }

    pub(crate) struct ExactDecimalVisitor;

    impl<'de> Visitor<'de> for ExactDecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a decimal number as a string such as \"0.0000025\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
            parse_decimal(text).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Decimal, E> {
            Err(E::custom(format!(
                "the number {value} arrived as a binary float and may have lost digits; write it as a string such as \"{value}\""
            )))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
            // `serde_json` with `arbitrary_precision` passes a number as a one-entry
            // map holding its source text, which is what keeps it exact.
            let key: Option<String> = map.next_key()?;
            match key.as_deref() {
                Some(JSON_NUMBER_TOKEN) => {
                    let text: String = map.next_value()?;
                    parse_decimal(&text).map_err(de::Error::custom)
                }
                _ => Err(de::Error::custom(
                    "expected a decimal number as a string, found an object",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn plain_decimals_keep_every_digit() {
        assert_eq!(parse_decimal("0.1").unwrap(), dec("0.1"));
        assert_eq!(
            parse_decimal("12345678901234567890.5").unwrap().to_string(),
            "12345678901234567890.5"
        );
        assert_eq!(parse_decimal("0.0000025").unwrap(), dec("0.0000025"));
        assert_eq!(parse_decimal("-3").unwrap(), dec("-3"));
    }

    #[test]
    fn scientific_notation_is_exact() {
        assert_eq!(parse_decimal("2.5e-6").unwrap(), dec("0.0000025"));
        assert_eq!(parse_decimal("1E3").unwrap(), dec("1000"));
        assert_eq!(parse_decimal("1.5e2").unwrap(), dec("150"));
        assert_eq!(
            parse_decimal("1.000e-26").unwrap(),
            dec("0.00000000000000000000000001")
        );
    }

    #[test]
    fn non_finite_values_are_invalid() {
        for text in ["NaN", "nan", "inf", "-Infinity", "abc", "1.2.3x"] {
            assert!(
                matches!(parse_decimal(text), Err(DecimalError::Invalid(_))),
                "{text} should be invalid, got {:?}",
                parse_decimal(text)
            );
        }
    }

    #[test]
    fn out_of_range_values_are_rejected_not_rounded() {
        for text in [
            "1e400",
            "1e29",
            "1e-29",
            "0.12345678901234567890123456789",
            "99999999999999999999999999999",
        ] {
            assert!(
                matches!(parse_decimal(text), Err(DecimalError::OutOfRange(_))),
                "{text} should be out of range, got {:?}",
                parse_decimal(text)
            );
        }
    }

    #[test]
    fn empty_text_is_rejected() {
        assert_eq!(parse_decimal("  "), Err(DecimalError::Empty));
    }

    #[test]
    fn formatting_drops_trailing_zeros_only() {
        assert_eq!(format_decimal(dec("2500.0000000")), "2500");
        assert_eq!(format_decimal(dec("0.0000025")), "0.0000025");
        assert_eq!(format_decimal(dec("1500")), "1500");
    }
}
