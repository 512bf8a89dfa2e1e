//! The usage event: one metered quantity of one meter, consumed by one account at one instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
    /// A plain usage event carries a negative quantity.
    #[error("negative quantity {quantity} in a usage event; send negative quantities as type \"burnrate.usage.correction\"")]
    NegativeUsage {
        /// The quantity as given.
        quantity: Decimal,
    },
}

impl UsageEvent {
    /// Checks the rules that hold for every event whatever its encoding: required
    /// text fields are non-empty and only corrections may be negative.
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
        Ok(())
    }
}
