//! The usage event: one metered quantity of one meter, consumed by one account at one instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::currency::{Currency, CurrencyError};

/// The CloudEvents `type` of a plain usage event.
pub const USAGE_EVENT_TYPE: &str = "burnrate.usage";

/// The CloudEvents `type` of a correction (a refund or a vendor re-statement).
pub const CORRECTION_EVENT_TYPE: &str = "burnrate.usage.correction";

/// Whether an event reports usage or corrects earlier usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Usage that happened; its quantity is zero or positive.
    Usage,
    /// A correction of earlier usage; its quantity may be negative.
    Correction,
}

impl EventKind {
    /// Returns the CloudEvents `type` attribute for this kind.
    pub fn cloudevents_type(self) -> &'static str {
        match self {
            EventKind::Usage => USAGE_EVENT_TYPE,
            EventKind::Correction => CORRECTION_EVENT_TYPE,
        }
    }
}

/// A validated usage event.
///
/// `(source, id)` identifies the event for deduplication, `account` is the CloudEvents
/// `subject`, and `time` is when the usage happened (event time), not when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Event id, unique within `source`.
    pub id: String,
    /// The vendor that metered the usage (`openai`, `anthropic`, `snowflake`).
    pub source: String,
    /// Usage or correction.
    pub kind: EventKind,
    /// When the usage happened.
    pub time: DateTime<Utc>,
    /// The account (customer organisation or tenant) being charged.
    pub account: String,
    /// The metered unit (`output_tokens`, `api_calls`, `credits`).
    pub meter: String,
    /// How much was used, in the meter's unit.
    pub quantity: Decimal,
    /// The product (model, SKU) the usage belongs to, when the vendor names one.
    pub product: Option<String>,
    /// Breakdown labels such as team, project and user.
    pub dimensions: BTreeMap<String, String>,
    /// The vendor's charge for this usage, when the feed reports it (FOCUS
    /// `BilledCost`, a cost report's amount). Such an event is not priced again.
    pub cost: Option<VendorCost>,
}

/// The cost a vendor states for the usage of one event, in the currency it bills.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VendorCost {
    /// The amount, exact as the vendor reported it. Negative only in a correction.
    pub amount: Decimal,
    /// The currency of `amount`.
    pub currency: Currency,
}

impl VendorCost {
    /// Builds the vendor cost of an event from its optional `data.cost` and
    /// `data.currency`, which must be given both or neither.
    pub fn from_parts(
        amount: Option<Decimal>,
        currency: Option<&str>,
    ) -> Result<Option<VendorCost>, EventError> {
        match (amount, currency) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(EventError::CostWithoutCurrency(
                "add the ISO 4217 code (\"USD\") or virtual currency name the cost is in",
            )),
            (None, Some(_)) => Err(EventError::CostWithoutCurrency(
                "add the cost, or leave the currency out to have the event priced by its contract",
            )),
            (Some(amount), Some(code)) => {
                let currency = code
                    .parse::<Currency>()
                    .map_err(EventError::InvalidCurrency)?;
                Ok(Some(VendorCost { amount, currency }))
            }
        }
    }
}

/// A rule a parsed usage event breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A required attribute is missing or empty.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// The event time is outside the years burnrate accepts.
    #[error("time {time} is outside the supported range 1970-01-01 to 2199-12-31; check the timestamp's year")]
    TimeOutOfRange {
        /// The time as given.
        time: DateTime<Utc>,
    },
    /// `data.cost` and `data.currency` do not come together.
    #[error("data.cost and data.currency go together; {0}")]
    CostWithoutCurrency(&'static str),
    /// `data.currency` is neither an ISO 4217 code nor a valid virtual currency name.
    #[error("invalid data.currency: {0}")]
    InvalidCurrency(CurrencyError),
    /// A plain usage event carries a negative vendor cost.
    #[error("negative cost {amount} in a usage event; send credits and refunds as type \"burnrate.usage.correction\"")]
    NegativeCost {
        /// The cost as given.
        amount: Decimal,
    },
    /// A plain usage event carries a negative quantity.
    #[error("negative quantity {quantity} in a usage event; send negative quantities as type \"burnrate.usage.correction\"")]
    NegativeUsage {
        /// The quantity as given.
        quantity: Decimal,
    },
}

impl UsageEvent {
    /// Checks the rules that hold for every event whatever its encoding: required
    /// text fields are non-empty and only corrections may have a negative
    /// quantity or cost.
    pub fn validate(&self) -> Result<(), EventError> {
        let required = [
            ("id", &self.id),
            ("source", &self.source),
            ("subject", &self.account),
            ("data.meter", &self.meter),
        ];
        for (field, value) in required {
            if value.is_empty() {
                return Err(EventError::Missing(field));
            }
        }

        // Billing periods and windows are computed for any of these years; times far
        // outside them are typos that would move the watermark by centuries.
        let year = self.time.year();
        if !(1970..2200).contains(&year) {
            return Err(EventError::TimeOutOfRange { time: self.time });
        }

        if self.kind == EventKind::Usage
            && self.quantity.is_sign_negative()
            && !self.quantity.is_zero()
        {
            return Err(EventError::NegativeUsage {
                quantity: self.quantity,
            });
        }
        if let Some(cost) = &self.cost {
            if self.kind == EventKind::Usage
                && cost.amount.is_sign_negative()
                && !cost.amount.is_zero()
            {
                return Err(EventError::NegativeCost {
                    amount: cost.amount,
                });
            }
        }
        Ok(())
    }
}
