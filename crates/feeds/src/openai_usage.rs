//! OpenAI Usage API pages (`GET /v1/organization/usage/{completions,embeddings,...}`) as
//! usage events.
//!
//! A page contains time buckets (`start_time`, `end_time` in Unix seconds) and each bucket
//! contains results, one per combination of the `group_by` fields (`project_id`,
//! `user_id`, `api_key_id`, `model`, `batch`, `service_tier`, ...). Every numeric field
//! of a result is one meter, so a result becomes one event per meter:
//!
//! - `meter` is the field name, except `num_model_requests`, which becomes `requests`;
//! - `time` is the bucket's `start_time`;
//! - `account` is `project_id`, or [`ORGANIZATION_ACCOUNT`] when the export was not
//!   grouped by project and the usage belongs to the whole organization;
//! - `product` is `model`; dimensions are `project`, `user`, `api_key_id`, `usage_kind`
//!   (`completions`, `embeddings`, ... taken from the result's `object`) and every other
//!   grouping field under its own name;
//! - the id is built from the bucket's start and end, the usage kind, the meter and all
//!   grouping fields, so importing the same export twice gives the same ids and the
//!   second import is deduplicated.
//!
//! Meters with a zero or null quantity are skipped: the API reports every meter of a
//! result, most of them zero, and a zero event would cost nothing.
//!
//! NOTE: meters overlap as OpenAI defines them (`input_tokens` includes
//! `input_cached_tokens`, `input_audio_tokens` and the other input kinds), so a contract
//! should price either the total or its parts, never both.
//! NOTE: a bucket that was still open when exported keeps its id when re-exported with
//! a larger quantity, so the later export, imported in full, is dead-lettered as a
//! reused id with other content. Import it with `--previous` to count the difference.

use std::io::Read;

use burnrate_model::{EventKind, UsageEvent};
use chrono::DateTime;
use serde_json::Value;

use crate::{bucket_results, json_decimal, read_json_values, FeedError, FeedRecord};

/// The event `source` of every OpenAI usage event.
pub const VENDOR: &str = "openai";

/// The account of usage that the export did not group by project.
pub const ORGANIZATION_ACCOUNT: &str = "organization";

/// Result fields that are neither meters nor grouping fields.
const IGNORED_FIELDS: [&str; 1] = ["object"];

/// Reads one or more Usage API pages (a page object, an array of pages or of buckets,
/// or pages one after another as JSON lines) and returns one result per meter of every
/// bucket result.
///
/// Fails only when the input is not JSON or contains no usage buckets at all.
pub fn read_events(input: impl Read) -> Result<Vec<FeedRecord>, FeedError> {
    let mut buckets = Vec::new();
    for value in read_json_values(input, "an OpenAI Usage API page")? {
        collect_buckets(value, &mut buckets)?;
    }
    Ok(bucket_results(&buckets, result_events))
}

/// Adds the buckets of a page, of an array of pages or of an array of buckets.
fn collect_buckets(value: Value, buckets: &mut Vec<Value>) -> Result<(), FeedError> {
    match value {
        Value::Object(mut page) if page.get("object").and_then(Value::as_str) == Some("page") => {
            if let Some(Value::Array(data)) = page.remove("data") {
                buckets.extend(data);
            }
            Ok(())
        }
        Value::Object(bucket) if bucket.get("object").and_then(Value::as_str) == Some("bucket") => {
            buckets.push(Value::Object(bucket));
            Ok(())
        }
        Value::Array(items) => items.into_iter().try_for_each(|item| collect_buckets(item, buckets)),
        other => Err(FeedError {
            row: 1,
            problem: format!(
                "expected an OpenAI Usage API page ({{\"object\": \"page\", \"data\": [buckets]}}), found {}",
                describe(&other)
            ),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Object(object) => match object.get("object").and_then(Value::as_str) {
            Some(kind) => format!("an object of type {kind:?}"),
            None => "an object without an \"object\" field".to_owned(),
        },
        Value::Array(_) => "an array".to_owned(),
        _ => format!("the value {value}"),
    }
}

/// Turns one bucket result into its events, one per non-zero meter.
fn result_events(
    bucket: &Value,
    result: &Value,
    position: u64,
) -> Result<Vec<UsageEvent>, FeedError> {
    let fail = |problem: String| FeedError {
        row: position,
        problem,
    };
    let object = result
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let usage_kind = object
        .strip_prefix("organization.usage.")
        .and_then(|rest| rest.strip_suffix(".result"))
        .ok_or_else(|| {
            fail(format!(
                "result of type {object:?} is not usage; expected \"organization.usage.<kind>.result\" (cost buckets are not imported)"
            ))
        })?;
    let start = bucket_time(bucket, "start_time").map_err(&fail)?;
    let end = bucket_time(bucket, "end_time").map_err(&fail)?;
    let fields = result
        .as_object()
        .ok_or_else(|| fail("result is not a JSON object".to_owned()))?;

    // Grouping fields are the strings and booleans: they name the slice the meters count.
    let mut groups: Vec<(&str, String)> = fields
        .iter()
        .filter(|(name, _)| !IGNORED_FIELDS.contains(&name.as_str()))
        .filter_map(|(name, value)| match value {
            Value::String(text) if !text.is_empty() => Some((name.as_str(), text.clone())),
            Value::Bool(flag) => Some((name.as_str(), flag.to_string())),
            _ => None,
        })
        .collect();
    groups.sort();
    let group_key: String = groups
        .iter()
        .map(|(name, value)| format!("-{name}={value}"))
        .collect();

    let mut dimensions: std::collections::BTreeMap<String, String> = groups
        .iter()
        .filter(|(name, _)| *name != "model")
        .map(|(name, value)| (dimension_name(name).to_owned(), value.clone()))
        .collect();
    dimensions.insert("usage_kind".to_owned(), usage_kind.to_owned());
    let account = fields
        .get("project_id")
        .and_then(Value::as_str)
        .filter(|project| !project.is_empty());
    let product = fields
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty());

    let mut events = Vec::new();
    for (name, value) in fields {
        if !value.is_number() {
            continue;
        }
        let quantity = json_decimal(value)
            .ok_or_else(|| fail(format!("invalid {name} {value}: expected a number")))?;
        if quantity.is_zero() {
            continue;
        }
        let meter = if name == "num_model_requests" {
            "requests"
        } else {
            name.as_str()
        };
        events.push(UsageEvent {
            id: format!(
                "{}-{}-{usage_kind}-{meter}{group_key}",
                start.timestamp(),
                end.timestamp()
            ),
            source: VENDOR.to_owned(),
            kind: EventKind::Usage,
            time: start,
            account: account.unwrap_or(ORGANIZATION_ACCOUNT).to_owned(),
            meter: meter.to_owned(),
            quantity,
            product: product.map(str::to_owned),
            dimensions: dimensions.clone(),
            cost: None,
        });
    }
    for event in &events {
        event
            .validate()
            .map_err(|error| fail(format!("{meter}: {error}", meter = event.meter)))?;
    }
    Ok(events)
}

/// Maps an OpenAI grouping field to the dimension name burnrate uses for it.
fn dimension_name(field: &str) -> &str {
    match field {
        "project_id" => "project",
        "user_id" => "user",
        other => other,
    }
}

fn bucket_time(bucket: &Value, field: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let seconds = bucket
        .get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("bucket has no {field}; expected Unix seconds"))?;
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| format!("bucket {field} {seconds} is out of range"))
}
