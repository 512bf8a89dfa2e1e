//! Anthropic Admin API reports as usage events: the Messages usage report
//! (`GET /v1/organizations/usage_report/messages`) and the cost report
//! (`GET /v1/organizations/cost_report`).
//!
//! Both reports are pages of time buckets (`starting_at`, `ending_at` in RFC 3339) whose
//! `results` hold one item per combination of the `group_by` fields. A grouping field
//! the request did not group by is `null`.
//!
//! A usage result becomes one event per token meter:
//!
//! - `uncached_input_tokens`, `cache_read_input_tokens`, `output_tokens` under their own
//!   names, `cache_creation.ephemeral_5m_input_tokens` and `ephemeral_1h_input_tokens`
//!   as `cache_creation_5m_input_tokens` and `cache_creation_1h_input_tokens`, and
//!   `server_tool_use.web_search_requests` as `web_search_requests`. Any other numeric
//!   field keeps its name, so usage that a later API version adds is not dropped.
//! - `product` is `model`; dimensions are `workspace`, `api_key_id`, `service_tier`,
//!   `context_window` and every other grouping field under its own name.
//!
//! A cost result carries `amount`, a decimal string in cents. It becomes one event whose
//! quantity and vendor cost are the amount in dollars, shifted two decimal places
//! exactly, in the result's `currency`; rating counts that cost as stated. Its meter
//! ends in `_cost` so
//! that dollars never share a meter with tokens: the usage meter of its `token_type`
//! (`output_tokens_cost`), else its `cost_type` (`web_search_cost`), else `cost` when
//! the report was not grouped by description.
//!
//! For both reports:
//!
//! - `time` is the bucket's `starting_at` and `source` is [`VENDOR`];
//! - `account` is `workspace_id`, or [`DEFAULT_WORKSPACE_ACCOUNT`] when it is null;
//! - the id is built from the bucket's start and end, the report, the meter and every
//!   grouping field except amounts, so a re-import is deduplicated and a restated cost
//!   keeps its id.
//!
//! Zero and null quantities are skipped, because a zero event would cost nothing, and a
//! negative cost (a credit) becomes a correction.
//!
//! NOTE: Anthropic reports a null `workspace_id` both for the default workspace and for
//! a report not grouped by workspace. The adapter cannot distinguish the two, so both
//! become the account `default`. Group by `workspace_id` to get one account per workspace.
//! NOTE: the usage and cost reports describe the same spend. Import the usage report to
//! price it by contract, or the cost report to count Anthropic's cost, not both, or the
//! spend is counted twice.
//! NOTE: a bucket that was still open when exported keeps its id when re-exported with
//! a larger quantity, so the later export, imported in full, is dead-lettered as a
//! reused id with other content. Import it with `--previous` to count the difference.

use std::collections::BTreeMap;
use std::io::Read;

use burnrate_model::{EventKind, UsageEvent, VendorCost};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::{bucket_results, json_decimal, read_json_values, FeedError, FeedRecord};

/// The event `source` of every Anthropic event.
pub const VENDOR: &str = "anthropic";

/// The account of results whose `workspace_id` is null.
pub const DEFAULT_WORKSPACE_ACCOUNT: &str = "default";

/// Token meters that must be numbers when present; a string there is an invalid result,
/// not a grouping field.
const TOKEN_FIELDS: [&str; 3] = [
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
];

/// Reads one or more usage or cost report pages and returns one result per meter of
/// every usage result and one per cost result.
///
/// The input is a page object, an array of pages or of buckets, or pages one after
/// another as JSON lines.
///
/// Fails only when the input is not JSON or is not shaped like a report page.
pub fn read_events(input: impl Read) -> Result<Vec<FeedRecord>, FeedError> {
    let mut buckets = Vec::new();
    for value in read_json_values(input, "an Anthropic usage or cost report page")? {
        collect_buckets(value, &mut buckets)?;
    }
    Ok(bucket_results(&buckets, |bucket, result, position| {
        result_events(bucket, result).map_err(|problem| FeedError {
            row: position,
            problem,
        })
    }))
}

/// Adds the buckets of a page, of an array of pages or of an array of buckets.
fn collect_buckets(value: Value, buckets: &mut Vec<Value>) -> Result<(), FeedError> {
    match value {
        Value::Object(mut page) if page.get("data").is_some_and(Value::is_array) => {
            if let Some(Value::Array(data)) = page.remove("data") {
                buckets.extend(data);
            }
            Ok(())
        }
        Value::Object(bucket) if bucket.contains_key("starting_at") && bucket.contains_key("results") => {
            buckets.push(Value::Object(bucket));
            Ok(())
        }
        Value::Array(items) => items.into_iter().try_for_each(|item| collect_buckets(item, buckets)),
        other => Err(FeedError {
            row: 1,
            problem: format!(
                "expected an Anthropic usage or cost report page ({{\"data\": [{{\"starting_at\": ..., \"results\": [...]}}]}}), found {}",
                describe(&other)
            ),
        }),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let fields: Vec<&str> = object.keys().map(String::as_str).take(5).collect();
            format!("an object with the fields {}", fields.join(", "))
        }
        Value::Array(_) => "an array".to_owned(),
        _ => format!("the value {value}"),
    }
}

/// The fields every event of one result shares.
struct ResultContext {
    time: DateTime<Utc>,
    id_prefix: String,
    group_key: String,
    account: String,
    product: Option<String>,
    dimensions: BTreeMap<String, String>,
}

/// Turns one bucket result into its events: one per non-zero usage meter, or one for a
/// non-zero cost.
fn result_events(bucket: &Value, result: &Value) -> Result<Vec<UsageEvent>, String> {
    let fields = result.as_object().ok_or("result is not a JSON object")?;
    let start = bucket_time(bucket, "starting_at")?;
    let end = bucket_time(bucket, "ending_at")?;
    let is_cost = fields.contains_key("amount");

    // Grouping fields are the non-empty strings; `amount` is a string too but an amount.
    let mut groups: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(name, _)| name.as_str() != "amount")
        .filter_map(|(name, value)| {
            value
                .as_str()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(|text| (name.as_str(), text))
        })
        .collect();
    groups.sort();
    if let Some((name, value)) = groups.iter().find(|(name, _)| TOKEN_FIELDS.contains(name)) {
        return Err(format!("invalid {name} {value:?}: expected a number"));
    }

    let dimensions = groups
        .iter()
        .filter(|(name, _)| !matches!(*name, "model" | "currency"))
        .map(|(name, value)| (dimension_name(name).to_owned(), (*value).to_owned()))
        .collect();
    let text = |field: &str| {
        groups
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, value)| *value)
    };
    let context = ResultContext {
        time: start,
        id_prefix: format!(
            "{}-{}-{}",
            start.timestamp(),
            end.timestamp(),
            if is_cost { "cost" } else { "usage" }
        ),
        group_key: groups
            .iter()
            .map(|(name, value)| format!("-{name}={value}"))
            .collect(),
        account: text("workspace_id")
            .unwrap_or(DEFAULT_WORKSPACE_ACCOUNT)
            .to_owned(),
        product: text("model").map(str::to_owned),
        dimensions,
    };

    let events = if is_cost {
        cost_event(&context, fields, text("currency"))?
            .into_iter()
            .collect()
    } else {
        usage_events(&context, fields)?
    };
    for event in &events {
        event
            .validate()
            .map_err(|error| format!("{meter}: {error}", meter = event.meter))?;
    }
    Ok(events)
}

/// Builds one event per non-zero meter of a usage result.
fn usage_events(
    context: &ResultContext,
    fields: &Map<String, Value>,
) -> Result<Vec<UsageEvent>, String> {
    let mut meters: Vec<(String, &Value)> = Vec::new();
    for (name, value) in fields {
        match value {
            Value::Number(_) => meters.push((meter_name(None, name), value)),
            Value::Object(children) => {
                for (child, value) in children.iter().filter(|(_, value)| value.is_number()) {
                    meters.push((meter_name(Some(name), child), value));
                }
            }
            _ => {}
        }
    }

    let mut events = Vec::new();
    for (meter, value) in meters {
        let quantity = json_decimal(value)
            .ok_or_else(|| format!("invalid {meter} {value}: expected a number"))?;
        if quantity.is_zero() {
            continue;
        }
        events.push(event(
            context,
            meter,
            quantity,
            context.dimensions.clone(),
            None,
        ));
    }
    Ok(events)
}

/// Builds the event of a cost result, or `None` when its amount is zero.
fn cost_event(
    context: &ResultContext,
    fields: &Map<String, Value>,
    currency: Option<&str>,
) -> Result<Option<UsageEvent>, String> {
    let amount = &fields["amount"];
    let cents = json_decimal(amount)
        .ok_or_else(|| format!("invalid amount {amount}: expected a decimal string in cents"))?;
    if cents.is_zero() {
        return Ok(None);
    }
    let dollars = cents_to_dollars(cents).ok_or_else(|| {
        format!("amount {amount} has too many decimal places to convert to dollars")
    })?;

    let token_type = fields
        .get("token_type")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty());
    let cost_type = fields
        .get("cost_type")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty());
    let meter = match (token_type, cost_type) {
        (Some(token_type), _) => {
            let (parent, child) = token_type
                .split_once('.')
                .map_or((None, token_type), |(parent, child)| (Some(parent), child));
            format!("{}_cost", meter_name(parent, child))
        }
        (None, Some(cost_type)) => format!("{cost_type}_cost"),
        (None, None) => "cost".to_owned(),
    };

    // The amount is in cents, so only a currency with two decimals reads right.
    let currency = currency
        .ok_or("cost result has no currency; the cost report states \"USD\"")?
        .to_ascii_uppercase();
    let cost = VendorCost::from_parts(Some(dollars), Some(&currency))
        .map_err(|error| error.to_string())?;
    if cost.as_ref().and_then(|cost| cost.currency.minor_units()) != Some(2) {
        return Err(format!("cost result in {currency}: amounts in cents convert only for currencies with two decimals, such as USD"));
    }
    Ok(Some(event(
        context,
        meter,
        dollars,
        context.dimensions.clone(),
        cost,
    )))
}

fn event(
    context: &ResultContext,
    meter: String,
    quantity: Decimal,
    dimensions: BTreeMap<String, String>,
    cost: Option<VendorCost>,
) -> UsageEvent {
    UsageEvent {
        id: format!("{}-{meter}{}", context.id_prefix, context.group_key),
        source: VENDOR.to_owned(),
        // Only a correction may be negative, and a negative cost is a credit.
        kind: if quantity.is_sign_negative() {
            EventKind::Correction
        } else {
            EventKind::Usage
        },
        time: context.time,
        account: context.account.clone(),
        meter,
        quantity,
        product: context.product.clone(),
        dimensions,
        cost,
    }
}

/// Converts an amount in cents to dollars by moving the decimal point, so no digit is
/// rounded; `None` when the result would need more than 28 decimal places.
fn cents_to_dollars(cents: Decimal) -> Option<Decimal> {
    let mut dollars = cents;
    dollars.set_scale(cents.scale() + 2).ok()?;
    Some(dollars)
}

/// Maps a report field, or a field nested in `parent`, to its meter name.
///
/// The cache-write fields may also arrive flattened to the top level
/// (`ephemeral_5m_input_tokens`), and get the same meter either way.
fn meter_name(parent: Option<&str>, field: &str) -> String {
    match (parent, field.strip_prefix("ephemeral_")) {
        (None | Some("cache_creation"), Some(rest)) => format!("cache_creation_{rest}"),
        (Some("server_tool_use") | None, _) => field.to_owned(),
        (Some(parent), _) => format!("{parent}_{field}"),
    }
}

/// Maps an Anthropic grouping field to the dimension name burnrate uses for it.
fn dimension_name(field: &str) -> &str {
    match field {
        "workspace_id" => "workspace",
        other => other,
    }
}

fn bucket_time(bucket: &Value, field: &str) -> Result<DateTime<Utc>, String> {
    let text = bucket
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("bucket has no {field}; expected an RFC 3339 time"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("invalid bucket {field} {text:?}: {error}; expected RFC 3339"))
}
