//! Adapters that turn vendor usage exports and public request traces into usage events.
//!
//! Each JSON adapter reads a whole payload and returns either a [`FeedError`] for a
//! file it cannot read at all (not JSON, not the expected shape), or one result per
//! record, so that one bad record never hides the good ones.

pub mod anthropic_usage;
pub mod azure_llm_trace;
pub mod datadog_usage;
pub mod focus;
pub mod openai_usage;
pub mod restatement;
pub mod snowflake_metering;
pub mod twilio_usage;

use std::str::FromStr;

use burnrate_model::UsageEvent;
use rust_decimal::Decimal;
use serde_json::Value;

/// A row of an export that could not become usage events, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {problem}")]
pub struct FeedError {
    /// 1-based position in the file: the row of a CSV file (header included), or the
    /// number of the record in a JSON payload, counted in document order.
    pub row: u64,
    /// The problem with the row.
    pub problem: String,
}

/// One record of a JSON payload: its usage event, or why it could not become one.
pub type FeedRecord = Result<UsageEvent, FeedError>;

/// Parses a JSON number or numeric string as an exact decimal.
///
/// Numbers are read from their source text (serde_json keeps it because the workspace
/// enables `arbitrary_precision`), so `0.1` stays `0.1` and never passes through `f64`.
pub(crate) fn json_decimal(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Returns the text of a JSON string field, or `None` when it is missing, null or empty.
pub(crate) fn json_text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// Parses a whole JSON payload, or explains why the file is not one.
pub(crate) fn parse_payload(input: impl std::io::Read, expected: &str) -> Result<Value, FeedError> {
    serde_json::from_reader(input).map_err(|error| FeedError {
        row: 1,
        problem: format!("invalid JSON: {error}; expected {expected}"),
    })
}

/// Reads JSON values one after another: one document, or JSON lines.
pub(crate) fn read_json_values(
    input: impl std::io::Read,
    expected: &str,
) -> Result<Vec<Value>, FeedError> {
    serde_json::Deserializer::from_reader(input)
        .into_iter::<Value>()
        .map(|value| {
            value.map_err(|error| FeedError {
                row: 1,
                problem: format!("invalid JSON: {error}; expected {expected}"),
            })
        })
        .collect()
}

/// Turns every result of every bucket (`{"results": [...]}`) into events with
/// `events_of`, numbering the results from 1 in document order for error reports.
pub(crate) fn bucket_results(
    buckets: &[Value],
    mut events_of: impl FnMut(&Value, &Value, u64) -> Result<Vec<UsageEvent>, FeedError>,
) -> Vec<FeedRecord> {
    let mut records = Vec::new();
    let mut position = 0u64;
    for bucket in buckets {
        let results = bucket
            .get("results")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for result in results {
            position += 1;
            match events_of(bucket, result, position) {
                Ok(events) => records.extend(events.into_iter().map(Ok)),
                Err(error) => records.push(Err(error)),
            }
        }
    }
    records
}
