//! Datadog usage metering and cost responses as usage events.
//!
//! Accepted response bodies, alone or inside a recorded HTTP cassette
//! (`{"http_interactions": [{"response": {"body": {"string": ...}}}]}`):
//!
//! - v2 hourly usage by product family (`GET /api/v2/usage/hourly_usage`): one event per
//!   hour × `usage_type` measurement; `product` is `product_family`;
//! - v2 hourly usage of one product (`GET /api/v2/usage/{product}`, a `timeseries` per
//!   usage type): one event per hour × usage type;
//! - v1 hourly usage (`GET /api/v1/usage/{product}`, `{"usage": [{"hour": ...}]}`): one
//!   event per hour × numeric field, the field name being the meter;
//! - v2 cost (`cost_by_org`, `estimated_cost_by_org`, `historical_cost`,
//!   `projected_cost`): one event per counted charge, with meter `cost`, `product` the
//!   charge's `product_name`, and the amount both as quantity and as `billed_cost`.
//!
//! `account` is the organization's `public_id`, or [`ORGANIZATION_ACCOUNT`] when the
//! body names no organization (v1 logs usage). Ids are built from the account, the
//! hour, the product and the usage type, so a re-import is deduplicated. Null and zero
//! values are skipped.
//!
//! A product's `charges[]` list `committed` and `on_demand` rows and, in some
//! responses, a `total` row that is their sum. Only one view is counted: the `total`
//! rows when the product has one, otherwise every other row, so no amount is counted
//! twice.
//!
//! NOTE: projected costs are forecasts of the month, not incurred spend; their events
//! carry `cost_kind` = `projected_cost` and should not be mixed with actual costs.
//! NOTE: the cost responses name no currency, so their events carry no vendor cost:
//! the amount is the quantity of meter `cost` (and the `billed_cost` dimension). A
//! contract in the billing currency with a `per_unit` price of 1 for meter `cost`
//! counts it as spend.
//! NOTE: hourly usage attribution (`/api/v1/usage/hourly-attribution`) breaks usage down
//! by tag and would double-count plain hourly usage; its rows are reported as unsupported.

use std::collections::BTreeMap;
use std::io::Read;

use burnrate_model::{EventKind, UsageEvent};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::{json_decimal, json_text, parse_payload, FeedError, FeedRecord};

/// The event `source` of every Datadog usage event.
pub const VENDOR: &str = "datadog";

/// The account of usage whose response names no organization.
pub const ORGANIZATION_ACCOUNT: &str = "organization";

/// The meter of cost charges.
pub const COST_METER: &str = "cost";

/// Reads a Datadog usage or cost response body, or a cassette of them, and returns one
/// result per usage value or counted charge.
///
/// Fails only when the input is not JSON or has none of the accepted shapes.
pub fn read_events(input: impl Read) -> Result<Vec<FeedRecord>, FeedError> {
    let payload = parse_payload(input, "a Datadog usage or cost response")?;
    let mut bodies = Vec::new();
    if let Some(interactions) = payload.get("http_interactions").and_then(Value::as_array) {
        for (index, interaction) in interactions.iter().enumerate() {
            let body = interaction
                .pointer("/response/body/string")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let body: Value = serde_json::from_str(body).map_err(|error| FeedError {
                row: 1,
                problem: format!(
                    "interaction {index} of the cassette has no JSON response body: {error}"
                ),
            })?;
            bodies.push(body);
        }
    } else {
        bodies.push(payload);
    }

    let mut records = Vec::new();
    let mut position = 0u64;
    for body in &bodies {
        read_body(body, &mut position, &mut records)?;
    }
    Ok(records)
}

fn read_body(
    body: &Value,
    position: &mut u64,
    records: &mut Vec<FeedRecord>,
) -> Result<(), FeedError> {
    if let Some(rows) = body.get("usage").and_then(Value::as_array) {
        for row in rows {
            *position += 1;
            push_all(records, *position, v1_usage_events(row));
        }
        return Ok(());
    }
    let Some(data) = body.get("data") else {
        return Err(FeedError {
            row: 1,
            problem: "expected a Datadog response with \"data\" (v2) or \"usage\" (v1)".to_owned(),
        });
    };

    // Some endpoints return a single object in `data`, and an empty response is an empty array.
    let items = match data {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    for item in items {
        *position += 1;
        let attributes = item.get("attributes").unwrap_or(&Value::Null);
        let events = if attributes.get("measurements").is_some() {
            hourly_usage_events(attributes)
        } else if attributes.get("timeseries").is_some() {
            timeseries_events(attributes)
        } else if attributes.get("charges").is_some() {
            cost_events(item, attributes)
        } else {
            Err(format!(
                "data item of type {:?} is neither hourly usage nor cost",
                json_text(item, "type").unwrap_or("unknown")
            ))
        };
        push_all(records, *position, events);
    }
    Ok(())
}

fn push_all(records: &mut Vec<FeedRecord>, position: u64, events: Result<Vec<UsageEvent>, String>) {
    match events {
        Ok(events) => records.extend(events.into_iter().map(Ok)),
        Err(problem) => records.push(Err(FeedError {
            row: position,
            problem,
        })),
    }
}

/// The organization fields every Datadog row may carry.
struct Organization<'a> {
    account: &'a str,
    dimensions: BTreeMap<String, String>,
}

fn organization(row: &Value) -> Organization<'_> {
    let mut dimensions = BTreeMap::new();
    for field in ["org_name", "region"] {
        if let Some(value) = json_text(row, field) {
            dimensions.insert(field.to_owned(), value.to_owned());
        }
    }
    Organization {
        account: json_text(row, "public_id").unwrap_or(ORGANIZATION_ACCOUNT),
        dimensions,
    }
}

fn parse_time(row: &Value, field: &str) -> Result<DateTime<Utc>, String> {
    let text = json_text(row, field).ok_or_else(|| format!("missing {field}"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| format!("invalid {field} {text:?}: {error}; expected RFC 3339"))
}

/// The fields of one event before its value is checked.
struct EventParts<'a> {
    id: String,
    time: DateTime<Utc>,
    organization: &'a Organization<'a>,
    meter: &'a str,
    product: Option<&'a str>,
    value: &'a Value,
    extra_dimensions: Vec<(&'static str, String)>,
}

/// Builds one event, or `None` for a null or zero value.
fn make_event(parts: EventParts<'_>) -> Result<Option<UsageEvent>, String> {
    if parts.value.is_null() {
        return Ok(None);
    }
    let quantity: Decimal = json_decimal(parts.value).ok_or_else(|| {
        format!(
            "invalid value {} of {}: expected a number",
            parts.value, parts.meter
        )
    })?;
    if quantity.is_zero() {
        return Ok(None);
    }
    let mut dimensions = parts.organization.dimensions.clone();
    dimensions.extend(
        parts
            .extra_dimensions
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    let event = UsageEvent {
        id: parts.id,
        source: VENDOR.to_owned(),
        kind: if quantity.is_sign_negative() {
            EventKind::Correction
        } else {
            EventKind::Usage
        },
        time: parts.time,
        account: parts.organization.account.to_owned(),
        meter: parts.meter.to_owned(),
        quantity,
        product: parts.product.map(str::to_owned),
        dimensions,
        cost: None,
    };
    event.validate().map_err(|error| error.to_string())?;
    Ok(Some(event))
}

fn hourly_usage_events(attributes: &Value) -> Result<Vec<UsageEvent>, String> {
    let organization = organization(attributes);
    let time = parse_time(attributes, "timestamp")?;
    let family = json_text(attributes, "product_family");
    let mut events = Vec::new();
    for measurement in attributes["measurements"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let usage_type =
            json_text(measurement, "usage_type").ok_or("measurement without usage_type")?;
        let parts = EventParts {
            id: format!(
                "{}-{}-{}-{usage_type}",
                organization.account,
                time.timestamp(),
                family.unwrap_or("")
            ),
            time,
            organization: &organization,
            meter: usage_type,
            product: family,
            value: measurement.get("value").unwrap_or(&Value::Null),
            extra_dimensions: Vec::new(),
        };
        events.extend(make_event(parts)?);
    }
    Ok(events)
}

fn timeseries_events(attributes: &Value) -> Result<Vec<UsageEvent>, String> {
    let organization = organization(attributes);
    let family = json_text(attributes, "product_family");
    let usage_type = json_text(attributes, "usage_type").ok_or("timeseries without usage_type")?;
    let mut events = Vec::new();
    for point in attributes["timeseries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let time = parse_time(point, "timestamp")?;
        let parts = EventParts {
            id: format!(
                "{}-{}-{}-{usage_type}",
                organization.account,
                time.timestamp(),
                family.unwrap_or("")
            ),
            time,
            organization: &organization,
            meter: usage_type,
            product: family,
            value: point.get("value").unwrap_or(&Value::Null),
            extra_dimensions: Vec::new(),
        };
        events.extend(make_event(parts)?);
    }
    Ok(events)
}

/// v1 rows: every numeric field except the organization's is a meter of that hour.
fn v1_usage_events(row: &Value) -> Result<Vec<UsageEvent>, String> {
    if row.get("total_usage_sum").is_some() {
        return Err("hourly usage attribution rows are not supported: they break usage down by tag and overlap plain hourly usage".to_owned());
    }
    let organization = organization(row);
    let time = parse_time(row, "hour")?;
    let fields = row.as_object().ok_or("usage row is not a JSON object")?;
    let mut events = Vec::new();
    for (name, value) in fields {
        if !(value.is_number() || value.is_null()) || name == "hour" {
            continue;
        }
        let parts = EventParts {
            id: format!("{}-{}-{name}", organization.account, time.timestamp()),
            time,
            organization: &organization,
            meter: name,
            product: None,
            value,
            extra_dimensions: Vec::new(),
        };
        events.extend(make_event(parts)?);
    }
    Ok(events)
}

/// Cost charges of one organization and month, counting each amount once.
fn cost_events(item: &Value, attributes: &Value) -> Result<Vec<UsageEvent>, String> {
    let organization = organization(attributes);
    let time = parse_time(attributes, "date")?;
    let cost_kind = json_text(item, "type").unwrap_or("cost");
    let charges = attributes["charges"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();

    let has_total = |product: &str| {
        charges.iter().any(|charge| {
            json_text(charge, "product_name") == Some(product)
                && json_text(charge, "charge_type") == Some("total")
        })
    };
    let mut seen: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut events = Vec::new();
    for charge in charges {
        let product = json_text(charge, "product_name").ok_or("charge without product_name")?;
        let charge_type = json_text(charge, "charge_type").ok_or("charge without charge_type")?;
        let counted = if has_total(product) {
            charge_type == "total"
        } else {
            charge_type != "total"
        };
        if !counted {
            continue;
        }

        // A product can list the same charge type twice (two committed rows), so the
        // ordinal keeps their ids apart.
        let ordinal = seen.entry((product, charge_type)).or_default();
        *ordinal += 1;
        let value = charge.get("cost").unwrap_or(&Value::Null);
        let mut extra_dimensions = vec![
            ("charge_type", charge_type.to_owned()),
            ("cost_kind", cost_kind.to_owned()),
        ];
        if let Some(amount) = json_decimal(value) {
            extra_dimensions.push(("billed_cost", amount.to_string()));
        }
        let parts = EventParts {
            id: format!(
                "{}-{}-{cost_kind}-{product}-{charge_type}-{ordinal}",
                organization.account,
                time.timestamp()
            ),
            time,
            organization: &organization,
            meter: COST_METER,
            product: Some(product),
            value,
            extra_dimensions,
        };
        events.extend(make_event(parts)?);
    }
    Ok(events)
}
