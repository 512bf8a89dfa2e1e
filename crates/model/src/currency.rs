//! Currencies: ISO 4217 codes with their minor units, and virtual currencies.
//!
//! Vendors of consumption-priced software often bill in a currency of their own
//! (credits, tokens). Those are virtual currencies: they have a name but no minor
//! unit, so rounding to them needs an explicit number of decimals.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The currency of a contract and of every amount priced under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    /// An ISO 4217 currency such as `USD`, `JPY` or `BHD`.
    Iso(iso_currency::Currency),
    /// A vendor's own unit of account, such as `credits` or `tokens`.
    Virtual(String),
}

/// The reason a currency code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// An empty code.
    #[error("empty currency; use an ISO 4217 code such as \"USD\" or a virtual currency name such as \"credits\"")]
    Empty,
    /// Three upper-case letters that are not an ISO 4217 code.
    #[error("unknown ISO 4217 currency code {0:?}; check the spelling, or use a lower-case name such as \"credits\" for a virtual currency")]
    UnknownIsoCode(String),
    /// A lower-case spelling of an ISO 4217 code, which would otherwise become a virtual currency by mistake.
    #[error(
        "currency {given:?} looks like the ISO 4217 code {code:?}; write ISO codes in upper case"
    )]
    LowerCaseIsoCode {
        /// The text in the contract.
        given: String,
        /// The ISO code it resembles.
        code: String,
    },
    /// A virtual currency name with characters outside `a-z`, `0-9`, `_` and `-`, or longer than 32 characters.
    #[error(
        "invalid virtual currency name {0:?}; use up to 32 lower-case letters, digits, '_' or '-'"
    )]
    InvalidVirtualName(String),
}

impl Currency {
    /// Returns the number of decimals of the currency's minor unit (2 for USD, 0 for
    /// JPY and KRW, 3 for BHD and KWD), or `None` for virtual currencies and ISO
    /// codes without one (such as XAU).
    pub fn minor_units(&self) -> Option<u32> {
        match self {
            Currency::Iso(currency) => currency.exponent().map(u32::from),
            Currency::Virtual(_) => None,
        }
    }

    /// Returns the code as written in contracts and outputs.
    pub fn code(&self) -> &str {
        match self {
            Currency::Iso(currency) => currency.code(),
            Currency::Virtual(name) => name,
        }
    }

    /// Returns whether this is a virtual currency (credits, tokens).
    pub fn is_virtual(&self) -> bool {
        matches!(self, Currency::Virtual(_))
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    /// Parses three upper-case letters as ISO 4217 and anything else as a virtual currency name.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(CurrencyError::Empty);
        }

        let is_iso_shape = text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase());
        if is_iso_shape {
            return iso_currency::Currency::from_code(text)
                .map(Currency::Iso)
                .ok_or_else(|| CurrencyError::UnknownIsoCode(text.to_owned()));
        }

        let upper = text.to_ascii_uppercase();
        if upper.len() == 3 && iso_currency::Currency::from_code(&upper).is_some() {
            return Err(CurrencyError::LowerCaseIsoCode {
                given: text.to_owned(),
                code: upper,
            });
        }

        let valid_name = text.len() <= 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(CurrencyError::InvalidVirtualName(text.to_owned()));
        }
        Ok(Currency::Virtual(text.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        let cases = [
            ("USD", Some(2)),
            ("EUR", Some(2)),
            ("JPY", Some(0)),
            ("KRW", Some(0)),
            ("BHD", Some(3)),
            ("KWD", Some(3)),
        ];
        for (code, expected) in cases {
            let currency: Currency = code.parse().unwrap();
            assert_eq!(currency.minor_units(), expected, "{code}");
        }
    }

    #[test]
    fn virtual_currencies_have_no_minor_unit() {
        let credits: Currency = "credits".parse().unwrap();
        assert!(credits.is_virtual());
        assert_eq!(credits.minor_units(), None);
        assert_eq!(credits.code(), "credits");
    }

    #[test]
    fn unknown_codes_are_rejected() {
        assert_eq!(
            "XYZ".parse::<Currency>(),
            Err(CurrencyError::UnknownIsoCode("XYZ".into()))
        );
        assert!(matches!(
            "usd".parse::<Currency>(),
            Err(CurrencyError::LowerCaseIsoCode { .. })
        ));
        assert!(matches!(
            "Credits!".parse::<Currency>(),
            Err(CurrencyError::InvalidVirtualName(_))
        ));
        assert_eq!("".parse::<Currency>(), Err(CurrencyError::Empty));
    }
}
