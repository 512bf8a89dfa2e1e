//! Snowflake credit metering as usage events: CSV exports of the
//! `SNOWFLAKE.ACCOUNT_USAGE.METERING_DAILY_HISTORY` view (one row per service type and
//! day) or of `METERING_HISTORY` (one row per service type, entity and hour).
//!
//! The view is recognised by its header: `USAGE_DATE` and `CREDITS_BILLED` mean the
//! daily view, `START_TIME` and `CREDITS_USED` the hourly one. Column names are matched
//! in any case. Each row becomes one event with meter [`CREDITS_METER`]:
//!
//! - daily: the quantity is `CREDITS_BILLED`, which Snowflake defines as
//!   `CREDITS_USED_COMPUTE` + `CREDITS_USED_CLOUD_SERVICES` +
//!   `CREDITS_ADJUSTMENT_CLOUD_SERVICES` (the adjustment is zero or negative). The
//!   events of a day therefore add up to the credits billed for it. `time` is
//!   `USAGE_DATE` at 00:00 UTC;
//! - hourly: the quantity is `CREDITS_USED` (compute plus cloud services) and `time` is
//!   `START_TIME`; `ENTITY_ID`, `ENTITY_TYPE` and `NAME` become the `entity_id`,
//!   `entity_type` and `entity_name` dimensions, and `NAME` also becomes `warehouse`
//!   for warehouse metering rows.
//!
//! `account` is the `ACCOUNT_NAME` column where the export has one (the
//! `ORGANIZATION_USAGE` views), otherwise [`DEFAULT_ACCOUNT`], because the
//! `ACCOUNT_USAGE` views describe the one account they are queried in. `product` is
//! `SERVICE_TYPE`. The compute, cloud-services and adjustment columns are kept in
//! dimensions of the same names in lower case. The id is the view, the account, the
//! service type and the day (daily) or the entity, name and hour (hourly), so a re-import
//! is deduplicated.
//!
//! Empty cells, `NULL` and `\N` (the default null marker of `COPY INTO <location>`) mean
//! "no value". Rows with zero credits are skipped, as in the other adapters, and a
//! negative quantity becomes a correction.
//!
//! NOTE: Snowflake applies the cloud-services adjustment once a day, so hourly
//! `CREDITS_USED` sums are larger than the bill by the day's
//! `CREDITS_ADJUSTMENT_CLOUD_SERVICES`. Import the daily view to follow billed credits,
//! and never both views for one account, or the credits are counted twice.
//! NOTE: `START_TIME` without a UTC offset and every `USAGE_DATE` are read as UTC; run
//! `ALTER SESSION SET TIMEZONE = 'UTC'` before exporting so that days match the bill.

use std::collections::BTreeMap;
use std::io::Read;
use std::str::FromStr;

use burnrate_model::{EventKind, UsageEvent};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::{FeedError, FeedRecord};

/// The event `source` of every Snowflake event.
pub const VENDOR: &str = "snowflake";

/// The meter of every Snowflake event.
pub const CREDITS_METER: &str = "credits";

/// The account of rows whose export has no `ACCOUNT_NAME` column or cell.
pub const DEFAULT_ACCOUNT: &str = "snowflake";

/// Credit columns carried as dimensions when the export has them.
const CREDIT_COLUMNS: [&str; 4] = [
    "CREDITS_USED_COMPUTE",
    "CREDITS_USED_CLOUD_SERVICES",
    "CREDITS_USED",
    "CREDITS_ADJUSTMENT_CLOUD_SERVICES",
];

/// The metering view a file was exported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// `METERING_DAILY_HISTORY`: billed credits per service type and day.
    Daily,
    /// `METERING_HISTORY`: credits used per service type, entity and hour.
    Hourly,
}

/// The column positions of an export, found by upper-cased name in its header.
struct Columns {
    view: View,
    index: BTreeMap<String, usize>,
}

/// Reads a CSV export of either metering view and returns one result per row with
/// non-zero credits, each with its 1-based CSV row (the header is row 1).
///
/// Rows with zero credits are skipped, so the row of an event cannot be counted from
/// the results and is returned with each of them.
///
/// Fails when the header cannot be read or is neither view's: it needs `SERVICE_TYPE`,
/// and `USAGE_DATE` with `CREDITS_BILLED` or `START_TIME` with `CREDITS_USED`.
pub fn read_events(input: impl Read) -> Result<impl Iterator<Item = (u64, FeedRecord)>, FeedError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header = reader.headers().map_err(|error| FeedError {
        row: 1,
        problem: format!("cannot read the CSV header: {error}"),
    })?;

    // Spreadsheet exports start with a byte-order mark that is not part of the first name.
    let index: BTreeMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(position, name)| {
            (
                name.trim_start_matches('\u{feff}')
                    .trim()
                    .to_ascii_uppercase(),
                position,
            )
        })
        .collect();
    let has = |name: &str| index.contains_key(name);
    let view = if has("USAGE_DATE") && has("CREDITS_BILLED") {
        View::Daily
    } else if has("START_TIME") && has("CREDITS_USED") {
        View::Hourly
    } else {
        return Err(FeedError {
            row: 1,
            problem: "not a Snowflake metering export: the header needs USAGE_DATE and CREDITS_BILLED (METERING_DAILY_HISTORY) or START_TIME and CREDITS_USED (METERING_HISTORY)".to_owned(),
        });
    };
    if !has("SERVICE_TYPE") {
        return Err(FeedError {
            row: 1,
            problem: "not a Snowflake metering export: the header has no SERVICE_TYPE column"
                .to_owned(),
        });
    }
    let columns = Columns { view, index };

    Ok(reader
        .into_records()
        .enumerate()
        .filter_map(move |(index, record)| {
            let row = index as u64 + 2;
            let event = match record {
                Ok(record) => row_event(&columns, &record),
                Err(error) => Err(format!("invalid CSV: {error}")),
            };
            let record = event
                .map_err(|problem| FeedError { row, problem })
                .transpose()?;
            Some((row, record))
        }))
}

/// Turns one row into its event, or `None` when it has zero credits.
fn row_event(columns: &Columns, record: &csv::StringRecord) -> Result<Option<UsageEvent>, String> {
    let cell = |name: &str| -> Option<&str> {
        let value = record.get(*columns.index.get(name)?)?.trim();
        (!value.is_empty() && !value.eq_ignore_ascii_case("NULL") && value != "\\N")
            .then_some(value)
    };
    let required = |name: &str| cell(name).ok_or_else(|| format!("missing {name}"));
    let amount = |name: &str| -> Result<Option<Decimal>, String> {
        cell(name)
            .map(|text| {
                Decimal::from_str(text)
                    .or_else(|_| Decimal::from_scientific(text))
                    .map_err(|_| format!("invalid {name} {text:?}: expected a decimal number"))
            })
            .transpose()
    };

    let service_type = required("SERVICE_TYPE")?;
    let account = cell("ACCOUNT_NAME").unwrap_or(DEFAULT_ACCOUNT);
    let mut dimensions = BTreeMap::new();
    for column in CREDIT_COLUMNS {
        if let Some(credits) = amount(column)? {
            dimensions.insert(column.to_ascii_lowercase(), credits.to_string());
        }
    }

    let (id, time, quantity) = match columns.view {
        View::Daily => {
            let date_text = required("USAGE_DATE")?;
            let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|error| {
                format!("invalid USAGE_DATE {date_text:?}: {error}; expected YYYY-MM-DD")
            })?;
            let quantity = amount("CREDITS_BILLED")?.ok_or("missing CREDITS_BILLED")?;
            let time = Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN));
            (
                format!("daily-{account}-{service_type}-{date}"),
                time,
                quantity,
            )
        }
        View::Hourly => {
            let time = parse_time(required("START_TIME")?)?;
            let quantity = amount("CREDITS_USED")?.ok_or("missing CREDITS_USED")?;
            let entity_id = cell("ENTITY_ID").unwrap_or_default();
            let name = cell("NAME").unwrap_or_default();
            for (dimension, column) in [
                ("entity_id", "ENTITY_ID"),
                ("entity_type", "ENTITY_TYPE"),
                ("entity_name", "NAME"),
            ] {
                if let Some(value) = cell(column) {
                    dimensions.insert(dimension.to_owned(), value.to_owned());
                }
            }
            if service_type.starts_with("WAREHOUSE_METERING") && !name.is_empty() {
                dimensions.insert("warehouse".to_owned(), name.to_owned());
            }
            (
                format!(
                    "hourly-{account}-{service_type}-{entity_id}-{name}-{}",
                    time.timestamp()
                ),
                time,
                quantity,
            )
        }
    };
    if quantity.is_zero() {
        return Ok(None);
    }

    let event = UsageEvent {
        id,
        source: VENDOR.to_owned(),
        kind: if quantity.is_sign_negative() {
            EventKind::Correction
        } else {
            EventKind::Usage
        },
        time,
        account: account.to_owned(),
        meter: CREDITS_METER.to_owned(),
        quantity,
        product: Some(service_type.to_owned()),
        dimensions,
        cost: None,
    };
    event.validate().map_err(|error| error.to_string())?;
    Ok(Some(event))
}

/// Parses a `TIMESTAMP_LTZ` as Snowflake writes it to CSV (`2025-03-04 05:00:00.000
/// -0800`) or as RFC 3339; a time without an offset is taken as UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Ok(time.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| Utc.from_utc_datetime(&naive))
        .ok_or_else(|| {
            format!(
                "invalid START_TIME {text:?}: expected 2025-03-04 05:00:00.000 -0800 or RFC 3339"
            )
        })
}
