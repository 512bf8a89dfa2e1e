//! FOCUS 1.2 cost-and-usage rows: closed spend windows in the FinOps Open Cost and
//! Usage Specification's column set, so FinOps tools can load burnrate's spend next to
//! their cloud bills.
//!
//! One row is one series (account, vendor, meter, product, dimensions) over one charge
//! period. Only one window kind is exported (see [`focus_charge_window`]): the windows
//! of different lengths cover the same usage, so exporting all of them would count
//! each cost several times.
//!
//! The four cost columns come from the aggregate's amounts:
//!
//! - `ListCost` and `ContractedCost` are the aggregate's `cost`. burnrate prices usage
//!   at the contract's prices and has no public list price, so both are the contracted
//!   cost.
//! - `EffectiveCost` is `cost` too: usage drawn from a prepaid pool still costs its
//!   share of the prepayment.
//! - `BilledCost` is `billed`, the part left after the prepaid pool (`cost` minus
//!   `prepaid_applied`), which is what the vendor invoices.
//!
//! For usage that arrived with the vendor's cost, `cost` is that cost, so all four
//! columns are the vendor's billed amount. For an aggregate in credits, the four are
//! converted with the contract's `credit_price`, and `PricingCurrency` and
//! `PricingCurrencyEffectiveCost` keep the credits.
//!
//! A correction aggregate becomes a row with `ChargeClass` = `Correction`. Its charge
//! period is the window it corrects, and its billing period is the one the engine adds
//! the late usage to.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;

use crate::aggregate::{AggregateKind, SpendAggregate, WindowKind};
use crate::billing_period::BillingPeriod;
use crate::contract::CreditPrice;
use crate::currency::Currency;
use crate::decimal::format_decimal;

/// The FOCUS version the rows conform to.
pub const FOCUS_VERSION: &str = "1.2";

/// The column ids of a FOCUS row, in the order [`FocusRow::values`] returns them.
/// `Tags` is a JSON object of the aggregate's dimensions, null when it has none.
///
/// These are the columns FOCUS 1.2 marks mandatory, plus the conditional ones that
/// burnrate can fill or that are correctly null for its usage (no commitment
/// discounts, regions, resources or sub accounts). `ListUnitPrice`,
/// `ContractedUnitPrice` and the `PricingCurrency*UnitPrice` columns are left out:
/// FOCUS 1.2 forbids null in them for usage rows, and one unit price does not exist
/// for a window priced with graduated, volume or package tiers.
pub const FOCUS_COLUMNS: [&str; 44] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyEffectiveCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// The reason an aggregate has no FOCUS row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FocusError {
    /// The aggregate is priced in a virtual currency, but FOCUS requires a national
    /// `BillingCurrency` and the contract does not say what one credit costs in it.
    #[error("aggregate of contract {contract_id:?} is priced in the virtual currency {currency:?}; FOCUS needs a national BillingCurrency, so add credit_price (what one unit of {currency} costs in the invoiced currency) to the contract")]
    VirtualCurrency {
        /// The contract of the aggregate.
        contract_id: String,
        /// The virtual currency's name.
        currency: String,
    },
    /// Converting credits to the invoiced currency exceeds the decimal range.
    #[error("aggregate of contract {contract_id:?}: converting its cost to the invoiced currency exceeds the decimal range")]
    ConversionOverflow {
        /// The contract of the aggregate.
        contract_id: String,
    },
    /// The currency code is neither ISO 4217 nor a valid virtual currency name.
    #[error("aggregate of contract {contract_id:?} has the invalid currency {currency:?}")]
    InvalidCurrency {
        /// The contract of the aggregate.
        contract_id: String,
        /// The currency code of the aggregate.
        currency: String,
    },
    /// The aggregate's window is not inside its billing period, which FOCUS requires it to be.
    #[error("window {window_start}..{window_end} of contract {contract_id:?} is not inside its billing period {period_start}..{period_end}")]
    OutsideBillingPeriod {
        /// The contract of the aggregate.
        contract_id: String,
        /// Start of the aggregate's window.
        window_start: DateTime<Utc>,
        /// End of the aggregate's window.
        window_end: DateTime<Utc>,
        /// Start of the billing period.
        period_start: DateTime<Utc>,
        /// End of the billing period.
        period_end: DateTime<Utc>,
    },
}

/// Chooses the window kind exported as FOCUS rows from the configured windows.
///
/// An hour is the charge period of most cloud FOCUS exports, so hour windows are
/// exported when configured. Otherwise the shortest configured window is, because it
/// has the finest charge periods. Billing-period aggregates are never exported: a
/// row's charge period must lie inside one billing period and be shorter than it.
pub fn focus_charge_window(configured: &[WindowKind]) -> Option<WindowKind> {
    if configured.contains(&WindowKind::Hour) {
        return Some(WindowKind::Hour);
    }
    configured
        .iter()
        .copied()
        .filter(|kind| *kind != WindowKind::Period)
        .min()
}

/// One FOCUS 1.2 cost-and-usage row. `None` is a null cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusRow {
    /// Cells in the order of [`FOCUS_COLUMNS`].
    cells: Vec<Option<String>>,
}

impl FocusRow {
    /// Maps a final or correction aggregate and the billing period that contains its
    /// window to a FOCUS row.
    ///
    /// An aggregate in a virtual currency needs its contract's `credit_price`: the
    /// billed and effective costs are converted to the invoiced currency with it, and
    /// `PricingCurrency` and `PricingCurrencyEffectiveCost` keep the credits.
    ///
    /// Amounts are written exactly, without trailing zeros. Instants are UTC in ISO
    /// 8601 with a `Z` suffix.
    pub fn from_aggregate(
        aggregate: &SpendAggregate,
        period: BillingPeriod,
        credit_price: Option<&CreditPrice>,
    ) -> Result<Self, FocusError> {
        let currency: Currency =
            aggregate
                .currency
                .parse()
                .map_err(|_| FocusError::InvalidCurrency {
                    contract_id: aggregate.contract_id.clone(),
                    currency: aggregate.currency.clone(),
                })?;
        let (billing_currency, conversion) = match (currency.is_virtual(), credit_price) {
            (false, _) => (currency.code().to_owned(), Decimal::ONE),
            (true, Some(credit_price)) => (credit_price.currency.clone(), credit_price.amount),
            (true, None) => {
                return Err(FocusError::VirtualCurrency {
                    contract_id: aggregate.contract_id.clone(),
                    currency: aggregate.currency.clone(),
                })
            }
        };
        let convert = |amount: Decimal| {
            amount
                .checked_mul(conversion)
                .ok_or_else(|| FocusError::ConversionOverflow {
                    contract_id: aggregate.contract_id.clone(),
                })
        };
        let billed_cost = convert(aggregate.billed)?;
        let effective_cost = convert(aggregate.cost)?;

        // NOTE: an hour window straddles a billing-period boundary in time zones with
        // a 30- or 45-minute UTC offset (Asia/Kolkata); such a window is rejected.
        if aggregate.window_start < period.start || aggregate.window_end > period.end {
            return Err(FocusError::OutsideBillingPeriod {
                contract_id: aggregate.contract_id.clone(),
                window_start: aggregate.window_start,
                window_end: aggregate.window_end,
                period_start: period.start,
                period_end: period.end,
            });
        }

        let cost = format_decimal(effective_cost);
        let billed = format_decimal(billed_cost);
        let pricing_cost = format_decimal(aggregate.cost);
        let quantity = format_decimal(aggregate.quantity);
        let sku_id = aggregate
            .product
            .clone()
            .unwrap_or_else(|| aggregate.meter.clone());

        let mut cells: BTreeMap<&'static str, String> = BTreeMap::new();
        cells.insert("BilledCost", billed);
        cells.insert("BillingAccountId", aggregate.account.clone());
        cells.insert("BillingAccountName", aggregate.account.clone());
        cells.insert("BillingCurrency", billing_currency);
        cells.insert("BillingPeriodEnd", format_instant(period.end));
        cells.insert("BillingPeriodStart", format_instant(period.start));
        cells.insert("ChargeCategory", "Usage".to_owned());
        if aggregate.kind == AggregateKind::Correction {
            cells.insert("ChargeClass", "Correction".to_owned());
        }
        cells.insert("ChargeDescription", charge_description(aggregate));
        cells.insert("ChargeFrequency", "Usage-Based".to_owned());
        cells.insert("ChargePeriodEnd", format_instant(aggregate.window_end));
        cells.insert("ChargePeriodStart", format_instant(aggregate.window_start));
        cells.insert("ConsumedQuantity", quantity.clone());
        cells.insert("ConsumedUnit", aggregate.meter.clone());
        cells.insert("ContractedCost", cost.clone());
        cells.insert("EffectiveCost", cost.clone());
        // NOTE: burnrate does not know resellers, so the vendor is taken to issue the invoice.
        cells.insert("InvoiceIssuerName", aggregate.vendor.clone());
        cells.insert("ListCost", cost.clone());
        cells.insert("PricingCategory", "Standard".to_owned());
        cells.insert("PricingCurrency", currency.code().to_owned());
        cells.insert("PricingCurrencyEffectiveCost", pricing_cost);
        // NOTE: a package price charges whole packages, but PricingQuantity stays the
        // metered quantity because the aggregate does not carry the package size.
        cells.insert("PricingQuantity", quantity);
        cells.insert("PricingUnit", aggregate.meter.clone());
        cells.insert("ProviderName", aggregate.vendor.clone());
        cells.insert("PublisherName", aggregate.vendor.clone());
        // Contracts do not say what a vendor sells, so the category is FOCUS's catch-all.
        cells.insert("ServiceCategory", "Other".to_owned());
        cells.insert("ServiceName", service_name(aggregate));
        cells.insert("SkuId", sku_id.clone());
        cells.insert("SkuMeter", aggregate.meter.clone());
        cells.insert(
            "SkuPriceId",
            format!("{}/{}/{}", aggregate.contract_id, sku_id, aggregate.meter),
        );
        if !aggregate.dimensions.is_empty() {
            let tags = serde_json::to_string(&aggregate.dimensions)
                .expect("a map of strings serializes to JSON");
            cells.insert("Tags", tags);
        }

        let cells = FOCUS_COLUMNS
            .iter()
            .map(|column| cells.remove(column))
            .collect();
        Ok(FocusRow { cells })
    }

    /// Returns the cells in the order of [`FOCUS_COLUMNS`].
    pub fn values(&self) -> impl Iterator<Item = Option<&str>> {
        self.cells.iter().map(|cell| cell.as_deref())
    }

    /// Returns the cell of `column`, or `None` when the cell is null or the column unknown.
    pub fn get(&self, column: &str) -> Option<&str> {
        let index = FOCUS_COLUMNS.iter().position(|name| *name == column)?;
        self.cells[index].as_deref()
    }
}

/// Formats an instant as FOCUS's date-time format wants it: ISO 8601 in UTC with `Z`.
fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Names the service: the vendor's product when the events named one, else the vendor.
fn service_name(aggregate: &SpendAggregate) -> String {
    match &aggregate.product {
        Some(product) => format!("{} {product}", aggregate.vendor),
        None => aggregate.vendor.clone(),
    }
}

fn charge_description(aggregate: &SpendAggregate) -> String {
    let subject = match &aggregate.product {
        Some(product) => format!("{} of {product}", aggregate.meter),
        None => aggregate.meter.clone(),
    };
    match aggregate.kind {
        AggregateKind::Final => format!("{subject} under contract {}", aggregate.contract_id),
        AggregateKind::Correction => format!(
            "{subject} under contract {}, reported after the charge period closed",
            aggregate.contract_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn may_2026() -> BillingPeriod {
        BillingPeriod {
            start: utc("2026-05-01T00:00:00Z"),
            end: utc("2026-06-01T00:00:00Z"),
        }
    }

    fn hour_aggregate() -> SpendAggregate {
        SpendAggregate {
            account: "acme".into(),
            vendor: "azure-openai".into(),
            meter: "input_tokens".into(),
            product: Some("gpt-4".into()),
            dimensions: BTreeMap::from([
                ("team".into(), "search".into()),
                ("user".into(), "u\"1".into()),
            ]),
            contract_id: "acme-2026".into(),
            window: WindowKind::Hour,
            window_start: utc("2026-05-06T10:00:00Z"),
            window_end: utc("2026-05-06T11:00:00Z"),
            quantity: Decimal::new(1_234_567, 0),
            cost: "37.03701".parse().unwrap(),
            prepaid_applied: "30.00000".parse().unwrap(),
            billed: "7.03701".parse().unwrap(),
            currency: "USD".into(),
            kind: AggregateKind::Final,
        }
    }

    #[test]
    fn header_has_every_mandatory_column() {
        let header = FOCUS_COLUMNS;
        let mandatory = [
            "BilledCost",
            "BillingAccountId",
            "BillingAccountName",
            "BillingCurrency",
            "BillingPeriodEnd",
            "BillingPeriodStart",
            "ChargeCategory",
            "ChargeClass",
            "ChargeDescription",
            "ChargeFrequency",
            "ChargePeriodEnd",
            "ChargePeriodStart",
            "ContractedCost",
            "EffectiveCost",
            "InvoiceIssuerName",
            "ListCost",
            "PricingQuantity",
            "PricingUnit",
            "ProviderName",
            "PublisherName",
            "ServiceCategory",
            "ServiceName",
        ];
        for column in mandatory {
            assert!(header.contains(&column), "{column} missing");
        }
    }

    #[test]
    fn final_hour_maps_costs_and_periods() {
        let row = FocusRow::from_aggregate(&hour_aggregate(), may_2026(), None).unwrap();

        assert_eq!(row.get("BilledCost"), Some("7.03701"));
        assert_eq!(row.get("EffectiveCost"), Some("37.03701"));
        assert_eq!(row.get("ListCost"), Some("37.03701"));
        assert_eq!(row.get("ContractedCost"), Some("37.03701"));
        assert_eq!(row.get("PricingCurrencyEffectiveCost"), Some("37.03701"));
        assert_eq!(row.get("BillingCurrency"), Some("USD"));
        assert_eq!(row.get("PricingCurrency"), Some("USD"));
        assert_eq!(row.get("ChargePeriodStart"), Some("2026-05-06T10:00:00Z"));
        assert_eq!(row.get("ChargePeriodEnd"), Some("2026-05-06T11:00:00Z"));
        assert_eq!(row.get("BillingPeriodStart"), Some("2026-05-01T00:00:00Z"));
        assert_eq!(row.get("BillingPeriodEnd"), Some("2026-06-01T00:00:00Z"));
        assert_eq!(row.get("ConsumedQuantity"), Some("1234567"));
        assert_eq!(row.get("PricingQuantity"), Some("1234567"));
        assert_eq!(row.get("ConsumedUnit"), Some("input_tokens"));
    }

    #[test]
    fn final_hour_maps_names_and_enums() {
        let row = FocusRow::from_aggregate(&hour_aggregate(), may_2026(), None).unwrap();

        assert_eq!(row.get("ChargeCategory"), Some("Usage"));
        assert_eq!(row.get("ChargeClass"), None);
        assert_eq!(row.get("ChargeFrequency"), Some("Usage-Based"));
        assert_eq!(row.get("BillingAccountId"), Some("acme"));
        assert_eq!(row.get("ProviderName"), Some("azure-openai"));
        assert_eq!(row.get("PublisherName"), Some("azure-openai"));
        assert_eq!(row.get("InvoiceIssuerName"), Some("azure-openai"));
        assert_eq!(row.get("ServiceName"), Some("azure-openai gpt-4"));
        assert_eq!(row.get("ServiceCategory"), Some("Other"));
        assert_eq!(row.get("SkuId"), Some("gpt-4"));
        assert_eq!(row.get("SkuMeter"), Some("input_tokens"));
        assert_eq!(row.get("SkuPriceId"), Some("acme-2026/gpt-4/input_tokens"));
        assert_eq!(row.get("RegionId"), None);
        assert_eq!(row.get("ResourceId"), None);
        assert_eq!(row.get("CommitmentDiscountId"), None);
    }

    #[test]
    fn tags_are_a_json_object_of_dimensions() {
        let row = FocusRow::from_aggregate(&hour_aggregate(), may_2026(), None).unwrap();
        let tags: serde_json::Value = serde_json::from_str(row.get("Tags").unwrap()).unwrap();
        assert_eq!(tags, serde_json::json!({"team": "search", "user": "u\"1"}));

        let mut without_dimensions = hour_aggregate();
        without_dimensions.dimensions.clear();
        let row = FocusRow::from_aggregate(&without_dimensions, may_2026(), None).unwrap();
        assert_eq!(row.get("Tags"), None);
    }

    #[test]
    fn correction_has_its_charge_class() {
        let mut correction = hour_aggregate();
        correction.kind = AggregateKind::Correction;
        let row = FocusRow::from_aggregate(&correction, may_2026(), None).unwrap();

        assert_eq!(row.get("ChargeClass"), Some("Correction"));
        assert_eq!(row.get("ChargeCategory"), Some("Usage"));
        assert!(row
            .get("ChargeDescription")
            .unwrap()
            .contains("after the charge period closed"));
    }

    #[test]
    fn meter_is_the_sku_without_product() {
        let mut aggregate = hour_aggregate();
        aggregate.product = None;
        let row = FocusRow::from_aggregate(&aggregate, may_2026(), None).unwrap();

        assert_eq!(row.get("SkuId"), Some("input_tokens"));
        assert_eq!(row.get("ServiceName"), Some("azure-openai"));
    }

    #[test]
    fn zero_decimal_currency_is_not_scaled() {
        let mut aggregate = hour_aggregate();
        aggregate.currency = "JPY".into();
        aggregate.cost = Decimal::new(1500, 0);
        aggregate.billed = Decimal::new(1500, 0);
        let row = FocusRow::from_aggregate(&aggregate, may_2026(), None).unwrap();

        assert_eq!(row.get("BilledCost"), Some("1500"));
        assert_eq!(row.get("BillingCurrency"), Some("JPY"));
    }

    #[test]
    fn credits_without_credit_price_rejected() {
        let mut aggregate = hour_aggregate();
        aggregate.currency = "credits".into();
        let error = FocusRow::from_aggregate(&aggregate, may_2026(), None).unwrap_err();
        assert!(
            matches!(error, FocusError::VirtualCurrency { .. }),
            "{error}"
        );
    }

    #[test]
    fn credits_convert_with_credit_price() {
        let mut aggregate = hour_aggregate();
        aggregate.currency = "credits".into();
        aggregate.cost = "12.5".parse().unwrap();
        aggregate.prepaid_applied = "10".parse().unwrap();
        aggregate.billed = "2.5".parse().unwrap();
        let credit_price = CreditPrice {
            amount: "2.37".parse().unwrap(),
            currency: "USD".into(),
        };
        let row = FocusRow::from_aggregate(&aggregate, may_2026(), Some(&credit_price)).unwrap();

        // Hand-computed: 2.5 × 2.37 = 5.925 and 12.5 × 2.37 = 29.625.
        assert_eq!(row.get("BillingCurrency"), Some("USD"));
        assert_eq!(row.get("BilledCost"), Some("5.925"));
        assert_eq!(row.get("EffectiveCost"), Some("29.625"));
        assert_eq!(row.get("ListCost"), Some("29.625"));
        assert_eq!(row.get("ContractedCost"), Some("29.625"));
        assert_eq!(row.get("PricingCurrency"), Some("credits"));
        assert_eq!(row.get("PricingCurrencyEffectiveCost"), Some("12.5"));
    }

    #[test]
    fn window_outside_period_is_rejected() {
        let period = BillingPeriod {
            start: utc("2026-05-06T10:30:00Z"),
            end: utc("2026-06-06T10:30:00Z"),
        };
        let error = FocusRow::from_aggregate(&hour_aggregate(), period, None).unwrap_err();
        assert!(
            matches!(error, FocusError::OutsideBillingPeriod { .. }),
            "{error}"
        );
    }

    #[test]
    fn charge_window_prefers_hour() {
        assert_eq!(
            focus_charge_window(&[WindowKind::Minute, WindowKind::Hour, WindowKind::Day]),
            Some(WindowKind::Hour)
        );
        assert_eq!(
            focus_charge_window(&[WindowKind::Day, WindowKind::Minute]),
            Some(WindowKind::Minute)
        );
        assert_eq!(
            focus_charge_window(&[WindowKind::Day]),
            Some(WindowKind::Day)
        );
        assert_eq!(focus_charge_window(&[]), None);
    }
}
