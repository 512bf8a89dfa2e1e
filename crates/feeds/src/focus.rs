//! FOCUS (FinOps Open Cost and Usage Specification) cost and usage rows as usage events.
//!
//! Each row is one charge that the provider has already priced. It becomes one event:
//!
//! - `meter` and `quantity` are `ConsumedUnit` and `ConsumedQuantity`, or `PricingUnit`
//!   and `PricingQuantity` when the row has no consumed quantity, or the charge
//!   category with quantity 0 when it has neither (some credits);
//! - `account` is `SubAccountId`, or `BillingAccountId` when the row has no sub-account;
//! - `source` is `ProviderName` in lower case (`aws`, `microsoft`), so that mixed-case
//!   exports of one provider agree;
//! - `product` is `ServiceName`, or `SkuId` when the row has no service name;
//! - `time` is `ChargePeriodStart`, in UTC (`2024-09-18 22:00:00` or RFC 3339);
//! - `BilledCost` in `BillingCurrency` is the event's vendor cost, so rating counts it
//!   as stated instead of pricing the row again;
//! - `EffectiveCost` is carried in the `effective_cost` dimension, next to
//!   `charge_category`, `charge_frequency`, `sku_id`, `sku_price_id`, `region_id` and
//!   `service_category`.
//!
//! Empty cells and the literal `NULL` (any case) mean "no value". Amounts are parsed as
//! exact decimals from the cell text. A row of `ChargeCategory` `Usage` (any case)
//! with a non-negative quantity and cost is a usage event, and every other row (credits,
//! adjustments, purchases, taxes, negative usage) is a correction, because only a
//! correction may be negative.
//!
//! FOCUS has no row id, so the id is a 128-bit XXH3 hash of every column except the
//! amounts, quantities and unit prices: the same charge keeps its id when a later
//! export restates its cost, a re-import is deduplicated, and
//! [`crate::restatement::restate`] can turn the restatement into a correction.
//!
//! NOTE: `Tags` is not turned into dimensions.

use std::collections::BTreeMap;
use std::io::Read;
use std::str::FromStr;

use burnrate_model::{EventKind, UsageEvent, VendorCost};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::{FeedError, FeedRecord};

/// Columns whose values change when a charge is restated; they are left out of the id.
const AMOUNT_COLUMNS: [&str; 12] = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "PricingQuantity",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "CommitmentDiscountQuantity",
];

/// Columns every row must have.
const REQUIRED_COLUMNS: [&str; 4] = [
    "ChargePeriodStart",
    "BilledCost",
    "BillingCurrency",
    "ProviderName",
];

/// The column positions of a FOCUS file, found by name in its header.
struct Columns {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl Columns {
    fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// Reads a FOCUS CSV file and returns one result per row.
///
/// Fails when the header cannot be read or lacks a required column (`ChargePeriodStart`,
/// `BilledCost`, `BillingCurrency`, `ProviderName`, and `SubAccountId` or
/// `BillingAccountId`), because then the file is not a FOCUS export.
pub fn read_events(input: impl Read) -> Result<impl Iterator<Item = FeedRecord>, FeedError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header = reader.headers().map_err(|error| FeedError {
        row: 1,
        problem: format!("cannot read the CSV header: {error}"),
    })?;

    // Spreadsheet exports start with a byte-order mark that is not part of the first name.
    let names: Vec<String> = header
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let index = names
        .iter()
        .enumerate()
        .map(|(position, name)| (name.clone(), position))
        .collect();
    let columns = Columns { names, index };
    let mut missing: Vec<&str> = REQUIRED_COLUMNS
        .into_iter()
        .filter(|name| columns.position(name).is_none())
        .collect();
    if columns.position("SubAccountId").is_none() && columns.position("BillingAccountId").is_none()
    {
        missing.push("SubAccountId or BillingAccountId");
    }
    if !missing.is_empty() {
        return Err(FeedError {
            row: 1,
            problem: format!(
                "not a FOCUS file: the header has no {} column",
                missing.join(", ")
            ),
        });
    }

    Ok(reader
        .into_records()
        .enumerate()
        .map(move |(index, record)| {
            let row = index as u64 + 2;
            let record = record.map_err(|error| FeedError {
                row,
                problem: format!("invalid CSV: {error}"),
            })?;
            row_event(&columns, &record).map_err(|problem| FeedError { row, problem })
        }))
}

fn row_event(columns: &Columns, record: &csv::StringRecord) -> Result<UsageEvent, String> {
    let cell = |name: &str| -> Option<&str> {
        let value = record.get(columns.position(name)?)?.trim();
        (!value.is_empty() && !value.eq_ignore_ascii_case("NULL")).then_some(value)
    };
    let required = |name: &str| cell(name).ok_or_else(|| format!("missing {name}"));
    let amount = |name: &str| -> Result<Option<Decimal>, String> {
        cell(name)
            .map(|text| {
                Decimal::from_str(text)
                    .or_else(|_| Decimal::from_scientific(text))
                    .map_err(|_| {
                        format!("invalid {name} {text:?}: expected a plain decimal number")
                    })
            })
            .transpose()
    };

    let time = parse_time(required("ChargePeriodStart")?)?;
    let billed_cost = amount("BilledCost")?.ok_or("missing BilledCost")?;
    let effective_cost = amount("EffectiveCost")?;
    let currency = required("BillingCurrency")?;
    let provider = required("ProviderName")?;
    let account = cell("SubAccountId")
        .or_else(|| cell("BillingAccountId"))
        .ok_or("missing SubAccountId and BillingAccountId")?;
    let category = cell("ChargeCategory").unwrap_or("Usage");

    let (meter, quantity) = match (amount("ConsumedQuantity")?, amount("PricingQuantity")?) {
        (Some(quantity), _) => (
            cell("ConsumedUnit").ok_or("ConsumedQuantity without ConsumedUnit")?,
            quantity,
        ),
        (None, Some(quantity)) => (
            cell("PricingUnit").ok_or("PricingQuantity without PricingUnit")?,
            quantity,
        ),
        (None, None) => (category, Decimal::ZERO),
    };
    let is_usage = category.eq_ignore_ascii_case("usage")
        && !quantity.is_sign_negative()
        && !billed_cost.is_sign_negative();

    let cost = VendorCost::from_parts(Some(billed_cost), Some(currency))
        .map_err(|error| error.to_string())?;

    let mut dimensions = BTreeMap::new();
    if let Some(effective_cost) = effective_cost {
        dimensions.insert("effective_cost".to_owned(), effective_cost.to_string());
    }
    for (dimension, column) in [
        ("charge_category", "ChargeCategory"),
        ("charge_frequency", "ChargeFrequency"),
        ("sku_id", "SkuId"),
        ("sku_price_id", "SkuPriceId"),
        ("region_id", "RegionId"),
        ("service_category", "ServiceCategory"),
    ] {
        if let Some(value) = cell(column) {
            dimensions.insert(dimension.to_owned(), value.to_owned());
        }
    }

    let event = UsageEvent {
        id: row_id(columns, record),
        source: provider.to_lowercase(),
        kind: if is_usage {
            EventKind::Usage
        } else {
            EventKind::Correction
        },
        time,
        account: account.to_owned(),
        meter: meter.to_owned(),
        quantity,
        product: cell("ServiceName")
            .or_else(|| cell("SkuId"))
            .map(str::to_owned),
        dimensions,
        cost,
    };
    event.validate().map_err(|error| error.to_string())?;
    Ok(event)
}

/// Hashes every non-amount column as `name=value`, sorted by name, so that the id does
/// not depend on the order of the columns.
fn row_id(columns: &Columns, record: &csv::StringRecord) -> String {
    let mut pairs: Vec<(&str, &str)> = columns
        .names
        .iter()
        .zip(record.iter())
        .filter(|(name, _)| !AMOUNT_COLUMNS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.trim()))
        .collect();
    pairs.sort();
    let mut text = String::new();
    for (name, value) in pairs {
        text.push_str(name);
        text.push('=');
        text.push_str(value);
        text.push('\u{1f}');
    }
    format!(
        "focus-{:032x}",
        xxhash_rust::xxh3::xxh3_128(text.as_bytes())
    )
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| Utc.from_utc_datetime(&naive))
    .ok_or_else(|| {
        format!(
            "invalid ChargePeriodStart {text:?}: expected 2024-09-18 22:00:00 (UTC) or RFC 3339"
        )
    })
}
