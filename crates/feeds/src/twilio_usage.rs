//! Twilio usage records (`GET /2010-04-01/Accounts/{AccountSid}/Usage/Records[/Daily,...].json`)
//! as usage events.
//!
//! A usage record totals one usage category of one account over `start_date` to
//! `end_date` (both inclusive, GMT). Twilio sends its numbers as strings (`"usage":
//! "12.5"`), and they are parsed as exact decimals. Each record becomes one event:
//! `meter` is `category`, `quantity` is `usage` (its unit in the `usage_unit`
//! dimension), `time` is `start_date` at 00:00 UTC, `account` is `account_sid`, and the
//! id is `account_sid`, `category`, `start_date` and `end_date` joined, so a re-import
//! is deduplicated. Twilio's own `price` in `price_unit` is the event's vendor cost, so
//! rating counts it as stated instead of pricing the record again.
//!
//! Records with zero usage and zero price are skipped, because daily exports list every
//! category whether it was used or not.
//!
//! NOTE: categories nest (`calls` includes `calls-inbound`, `totalprice` sums every
//! price), and records are imported as exported; import either parent or child
//! categories, never both, or their costs count twice.

use std::io::Read;

use burnrate_model::{EventKind, UsageEvent, VendorCost};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::Value;

use crate::{json_decimal, json_text, parse_payload, FeedError, FeedRecord};

/// The event `source` of every Twilio usage event.
pub const VENDOR: &str = "twilio";

/// Reads a usage-records page (`{"usage_records": [...]}`), an array of records or a
/// single record, and returns one result per record that has usage or a price.
///
/// Fails only when the input is not JSON or contains no usage records.
pub fn read_events(input: impl Read) -> Result<Vec<FeedRecord>, FeedError> {
    let payload = parse_payload(input, "a Twilio usage-records page")?;
    let records = match &payload {
        Value::Object(page) if page.contains_key("usage_records") => page["usage_records"].as_array().cloned().unwrap_or_default(),
        Value::Object(record) if record.contains_key("category") => vec![payload.clone()],
        Value::Array(records) => records.clone(),
        _ => {
            return Err(FeedError {
                row: 1,
                problem: "expected a Twilio usage-records page ({\"usage_records\": [...]}) or an array of usage records".to_owned(),
            })
        }
    };

    let mut events = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let position = index as u64 + 1;
        match record_event(record, position) {
            Ok(Some(event)) => events.push(Ok(event)),
            Ok(None) => {}
            Err(problem) => events.push(Err(FeedError {
                row: position,
                problem,
            })),
        }
    }
    Ok(events)
}

/// Turns one usage record into its event, or `None` when it has neither usage nor price.
fn record_event(record: &Value, position: u64) -> Result<Option<UsageEvent>, String> {
    let required = |field: &str| {
        json_text(record, field).ok_or_else(|| format!("usage record {position} has no {field}"))
    };
    let account_sid = required("account_sid")?;
    let category = required("category")?;
    let start_date = required("start_date")?;
    let end_date = required("end_date")?;
    let usage_text = record
        .get("usage")
        .ok_or_else(|| format!("usage record {position} has no usage"))?;
    let usage = json_decimal(usage_text)
        .ok_or_else(|| format!("invalid usage {usage_text}: expected a decimal number"))?;
    let price = match record.get("price") {
        None | Some(Value::Null) => None,
        Some(price) => Some(
            json_decimal(price)
                .ok_or_else(|| format!("invalid price {price}: expected a decimal number"))?,
        ),
    };
    if usage.is_zero() && price.is_none_or(|price| price.is_zero()) {
        return Ok(None);
    }

    let date = NaiveDate::parse_from_str(start_date, "%Y-%m-%d").map_err(|error| {
        format!("invalid start_date {start_date:?}: {error}; expected YYYY-MM-DD")
    })?;
    let time = Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN));

    let mut dimensions = std::collections::BTreeMap::new();
    for (dimension, field) in [
        ("usage_unit", "usage_unit"),
        ("count_unit", "count_unit"),
        ("end_date", "end_date"),
    ] {
        if let Some(value) = json_text(record, field) {
            dimensions.insert(dimension.to_owned(), value.to_owned());
        }
    }
    if let Some(count) = record.get("count").and_then(json_decimal) {
        dimensions.insert("count".to_owned(), count.to_string());
    }
    // Twilio writes the ISO 4217 code in lower case (`usd`).
    // A record without a price has no vendor cost, even when it has a `price_unit`.
    let currency = json_text(record, "price_unit")
        .filter(|_| price.is_some())
        .map(str::to_ascii_uppercase);
    if price.is_some() && currency.is_none() {
        return Err(format!(
            "usage record {position} has a price but no price_unit; add the currency of the price"
        ));
    }
    let cost =
        VendorCost::from_parts(price, currency.as_deref()).map_err(|error| error.to_string())?;

    // A usage event cannot be negative, so a negative record (a credit) is a correction.
    let negative = usage.is_sign_negative() || price.is_some_and(|price| price.is_sign_negative());
    let kind = if negative {
        EventKind::Correction
    } else {
        EventKind::Usage
    };
    let event = UsageEvent {
        id: format!("{account_sid}-{category}-{start_date}-{end_date}"),
        source: VENDOR.to_owned(),
        kind,
        time,
        account: account_sid.to_owned(),
        meter: category.to_owned(),
        quantity: usage,
        product: None,
        dimensions,
        cost,
    };
    event.validate().map_err(|error| error.to_string())?;
    Ok(Some(event))
}
