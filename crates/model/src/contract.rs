//! The contract: who pays which vendor how much for each meter, in which currency,
//! from when, and with which prepaid pool and budgets.
//!
//! Contracts arrive as JSON (or YAML) [`ContractSpec`] records and become a
//! [`Contract`] only after [`Contract::from_spec`] has checked every rule, so the
//! pricing code never meets an unsorted tier list or an unknown time zone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::billing_period::{billing_period_containing, BillingPeriod};
use crate::currency::Currency;
use crate::decimal::serde_exact;

/// The start of the ids of implicit vendor-billed contracts (see
/// [`Contract::vendor_billed`]); written contracts may not use it.
pub const VENDOR_BILLED_ID_PREFIX: &str = "vendor-billed:";

/// A validated contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// Contract id, the key on the contracts topic.
    pub id: String,
    /// The account whose events this contract prices (the event's `subject`).
    pub account: String,
    /// The vendor whose events this contract prices (the event's `source`).
    pub vendor: String,
    /// Currency of every price, pool and budget in the contract.
    pub currency: Currency,
    /// Time zone in which billing periods start.
    pub timezone: Tz,
    /// Day of the month on which a billing period starts; a day past the month's end means its last day.
    pub billing_anchor_day: u32,
    /// Effective-dated prices; empty for a contract that only covers usage arriving
    /// with the vendor's cost.
    pub prices: Vec<Price>,
    /// Prepaid pool drawn down before anything is billed.
    pub prepaid: Option<Prepaid>,
    /// Budgets watched by the alert rules.
    pub budgets: Vec<Budget>,
    /// Rounding of billing-period costs, when the contract sets one.
    pub rounding: Option<Rounding>,
    /// Price of one unit of a virtual `currency` in the national currency the vendor
    /// invoices, when the contract states it.
    pub credit_price: Option<CreditPrice>,
}

/// One price of one meter (and optionally one product) over an effective range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    /// The meter this price applies to.
    pub meter: String,
    /// The product this price is limited to; `None` covers every product of the meter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// First instant the price is in force (inclusive).
    pub effective_from: DateTime<Utc>,
    /// Instant the price stops being in force (exclusive); `None` is open-ended.
    pub effective_to: Option<DateTime<Utc>>,
    /// The pricing model that turns quantity into cost.
    pub pricing: Pricing,
}

impl Price {
    /// Returns whether the price is in force at `time`.
    pub fn is_in_force(&self, time: DateTime<Utc>) -> bool {
        time >= self.effective_from && self.effective_to.is_none_or(|to| time < to)
    }
}

/// A pricing model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Pricing {
    /// Every unit costs `unit_price`.
    PerUnit {
        /// Price of one unit.
        #[serde(with = "serde_exact")]
        unit_price: Decimal,
    },
    /// Units are sold in packages of `package_size`; a started package is charged whole,
    /// counted over the billing period.
    Package {
        /// Units in one package.
        #[serde(with = "serde_exact")]
        package_size: Decimal,
        /// Price of one package.
        #[serde(with = "serde_exact")]
        package_price: Decimal,
    },
    /// Each unit is priced by the tier its position in the billing period falls in.
    Graduated {
        /// Tiers in ascending order of `up_to`, the last one open-ended.
        tiers: Vec<Tier>,
    },
    /// Every unit of the period is priced by the tier the period's total falls in.
    Volume {
        /// Tiers in ascending order of `up_to`, the last one open-ended.
        tiers: Vec<Tier>,
    },
}

impl Pricing {
    /// Returns the model's name as written in contracts.
    pub fn model_name(&self) -> &'static str {
        match self {
            Pricing::PerUnit { .. } => "per_unit",
            Pricing::Package { .. } => "package",
            Pricing::Graduated { .. } => "graduated",
            Pricing::Volume { .. } => "volume",
        }
    }
}

/// One tier of a graduated or volume price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Inclusive upper bound of cumulative period quantity; `None` for the last tier.
    #[serde(with = "serde_exact::option", default)]
    pub up_to: Option<Decimal>,
    /// Price of one unit in this tier.
    #[serde(with = "serde_exact")]
    pub unit_price: Decimal,
}

/// A prepaid pool (credits bought up front), drawn down by cost before anything is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prepaid {
    /// Amount bought, in the contract's currency.
    #[serde(with = "serde_exact")]
    pub amount: Decimal,
    /// First instant usage draws from the pool (inclusive).
    pub starts: DateTime<Utc>,
    /// Instant the pool expires (exclusive).
    pub ends: DateTime<Utc>,
}

impl Prepaid {
    /// Returns whether usage at `time` draws from the pool.
    pub fn covers(&self, time: DateTime<Utc>) -> bool {
        time >= self.starts && time < self.ends
    }
}

/// The price of one unit of a contract's virtual currency (one credit) in the national
/// currency the vendor invoices. FOCUS exports need it, because FOCUS bills in national
/// currencies only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPrice {
    /// Price of one credit, positive.
    #[serde(with = "serde_exact")]
    pub amount: Decimal,
    /// ISO 4217 code of the invoiced currency, such as `USD`.
    pub currency: String,
}

/// A spend budget per billing period, over the whole contract or one breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Budget id, unique within the contract.
    pub id: String,
    /// Budgeted spend per billing period, in the contract's currency.
    #[serde(with = "serde_exact")]
    pub amount: Decimal,
    /// Percentages of `amount` at which a threshold alert fires, ascending.
    #[serde(default)]
    pub thresholds_pct: Vec<u32>,
    /// Whether the period-end forecast is checked against the budget.
    #[serde(default)]
    pub forecast: bool,
    /// Dimension filter (`{"team": "search"}`); empty means the whole contract.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope: BTreeMap<String, String>,
}

/// The rounding of a contract's billing-period costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    /// Decimals to keep; `None` means the currency's minor units.
    #[serde(default)]
    pub decimals: Option<u32>,
    /// Rounding rule.
    #[serde(default)]
    pub mode: RoundingMode,
}

/// A rounding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// Round half to even (banker's rounding).
    #[default]
    HalfEven,
    /// Round half away from zero.
    HalfUp,
    /// Round away from zero.
    Up,
    /// Round toward zero.
    Down,
}

impl RoundingMode {
    /// Returns the matching `rust_decimal` strategy.
    pub fn strategy(self) -> rust_decimal::RoundingStrategy {
        use rust_decimal::RoundingStrategy;
        match self {
            RoundingMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::Up => RoundingStrategy::AwayFromZero,
            RoundingMode::Down => RoundingStrategy::ToZero,
        }
    }
}

/// The contract as written in a file or on the contracts topic, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    /// See [`Contract::id`].
    pub id: String,
    /// See [`Contract::account`].
    pub account: String,
    /// See [`Contract::vendor`].
    pub vendor: String,
    /// ISO 4217 code or virtual currency name.
    pub currency: String,
    /// IANA time zone name; UTC when absent.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// See [`Contract::billing_anchor_day`]; 1 when absent.
    #[serde(default = "default_anchor_day")]
    pub billing_anchor_day: u32,
    /// See [`Contract::prices`].
    #[serde(default)]
    pub prices: Vec<PriceSpec>,
    /// See [`Contract::prepaid`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepaid: Option<Prepaid>,
    /// See [`Contract::budgets`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<Budget>,
    /// See [`Contract::rounding`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Rounding>,
    /// See [`Contract::credit_price`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_price: Option<CreditPrice>,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_anchor_day() -> u32 {
    1
}

/// A price as written, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    /// See [`Price::meter`].
    pub meter: String,
    /// See [`Price::product`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// See [`Price::effective_from`].
    pub effective_from: DateTime<Utc>,
    /// See [`Price::effective_to`].
    #[serde(default)]
    pub effective_to: Option<DateTime<Utc>>,
    /// See [`Price::pricing`].
    pub pricing: PricingSpec,
}

/// A pricing model as written: `model` names it and the other fields are its parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSpec {
    /// `per_unit`, `package`, `graduated` or `volume`.
    pub model: String,
    /// Parameter of `per_unit`.
    #[serde(
        with = "serde_exact::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_price: Option<Decimal>,
    /// Parameter of `package`.
    #[serde(
        with = "serde_exact::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub package_size: Option<Decimal>,
    /// Parameter of `package`.
    #[serde(
        with = "serde_exact::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub package_price: Option<Decimal>,
    /// Parameter of `graduated` and `volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<Tier>>,
}

/// One problem found in a contract: which contract, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contract {contract_id:?}: {field}: {problem}")]
pub struct ContractError {
    /// The contract's id, or `<unknown>` when it has none.
    pub contract_id: String,
    /// Path of the offending field, such as `prices[2].pricing.tiers[1].up_to`.
    pub field: String,
    /// The problem and how to fix it.
    pub problem: String,
}

/// Collects the problems of one contract.
struct Problems<'a> {
    contract_id: &'a str,
    found: Vec<ContractError>,
}

impl Problems<'_> {
    fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.found.push(ContractError {
            contract_id: self.contract_id.to_owned(),
            field: field.into(),
            problem: problem.into(),
        });
    }
}

impl Contract {
    /// Validates a written contract, reporting every problem at once.
    pub fn from_spec(spec: ContractSpec) -> Result<Contract, Vec<ContractError>> {
        let contract_id = if spec.id.trim().is_empty() {
            "<unknown>"
        } else {
            spec.id.as_str()
        };
        let mut problems = Problems {
            contract_id,
            found: Vec::new(),
        };

        for (field, value) in [
            ("id", &spec.id),
            ("account", &spec.account),
            ("vendor", &spec.vendor),
        ] {
            if value.trim().is_empty() {
                problems.add(field, "must not be empty");
            }
        }
        if spec.id.starts_with(VENDOR_BILLED_ID_PREFIX) {
            problems.add(
                "id",
                format!("ids starting with {VENDOR_BILLED_ID_PREFIX:?} name burnrate's implicit contracts of vendor-costed usage; choose another id"),
            );
        }

        let currency = match spec.currency.parse::<Currency>() {
            Ok(currency) => Some(currency),
            Err(error) => {
                problems.add("currency", error.to_string());
                None
            }
        };

        let timezone = match spec.timezone.parse::<Tz>() {
            Ok(timezone) => Some(timezone),
            Err(_) => {
                problems.add(
                    "timezone",
                    format!("unknown time zone {:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\"", spec.timezone),
                );
                None
            }
        };

        if !(1..=31).contains(&spec.billing_anchor_day) {
            problems.add(
                "billing_anchor_day",
                format!(
                    "{} is not a day of the month; use 1 to 31",
                    spec.billing_anchor_day
                ),
            );
        }

        let prices = validate_prices(&spec.prices, &mut problems);

        if let Some(prepaid) = &spec.prepaid {
            if prepaid.amount.is_sign_negative() {
                problems.add(
                    "prepaid.amount",
                    format!("negative amount {}", prepaid.amount),
                );
            }
            if prepaid.ends <= prepaid.starts {
                problems.add(
                    "prepaid.ends",
                    format!(
                        "{} is not after starts {}",
                        prepaid.ends.to_rfc3339(),
                        prepaid.starts.to_rfc3339()
                    ),
                );
            }
        }

        validate_budgets(&spec.budgets, &mut problems);

        if let (Some(rounding), Some(currency)) = (&spec.rounding, &currency) {
            if rounding.decimals.is_none() && currency.minor_units().is_none() {
                problems.add(
                    "rounding.decimals",
                    format!("currency {currency} has no minor unit; give the number of decimals to keep"),
                );
            }
            if rounding
                .decimals
                .is_some_and(|decimals| decimals > Decimal::MAX_SCALE)
            {
                problems.add(
                    "rounding.decimals",
                    format!("at most {} decimals are supported", Decimal::MAX_SCALE),
                );
            }
        }

        if let (Some(credit_price), Some(currency)) = (&spec.credit_price, &currency) {
            validate_credit_price(credit_price, currency, &mut problems);
        }

        match (problems.found.is_empty(), currency, timezone) {
            (true, Some(currency), Some(timezone)) => Ok(Contract {
                id: spec.id,
                account: spec.account,
                vendor: spec.vendor,
                currency,
                timezone,
                billing_anchor_day: spec.billing_anchor_day,
                prices,
                prepaid: spec.prepaid,
                budgets: spec.budgets,
                rounding: spec.rounding,
                credit_price: spec.credit_price,
            }),
            _ => Err(problems.found),
        }
    }

    /// Returns the written form of this contract, which [`Contract::from_spec`] accepts unchanged.
    pub fn to_spec(&self) -> ContractSpec {
        ContractSpec {
            id: self.id.clone(),
            account: self.account.clone(),
            vendor: self.vendor.clone(),
            currency: self.currency.code().to_owned(),
            timezone: self.timezone.name().to_owned(),
            billing_anchor_day: self.billing_anchor_day,
            prices: self.prices.iter().map(price_to_spec).collect(),
            prepaid: self.prepaid.clone(),
            budgets: self.budgets.clone(),
            rounding: self.rounding,
            credit_price: self.credit_price.clone(),
        }
    }

    /// Returns the implicit contract under which burnrate counts usage that arrives
    /// with the vendor's cost when `account` has no contract with `vendor`.
    ///
    /// It has no prices (the vendor's cost is taken as stated), no prepaid pool and
    /// no budgets, and its billing periods are calendar months in UTC. Its id is
    /// `vendor-billed:VENDOR:ACCOUNT:CURRENCY`, so each currency is summed apart.
    pub fn vendor_billed(account: &str, vendor: &str, currency: Currency) -> Contract {
        Contract {
            id: format!("{VENDOR_BILLED_ID_PREFIX}{vendor}:{account}:{currency}"),
            account: account.to_owned(),
            vendor: vendor.to_owned(),
            currency,
            timezone: Tz::UTC,
            billing_anchor_day: 1,
            prices: Vec::new(),
            prepaid: None,
            budgets: Vec::new(),
            rounding: None,
            credit_price: None,
        }
    }

    /// Returns the billing period containing `time` of the contract with this id,
    /// when the id names an implicit vendor-billed contract, which is in no table.
    pub fn vendor_billed_period(contract_id: &str, time: DateTime<Utc>) -> Option<BillingPeriod> {
        contract_id
            .starts_with(VENDOR_BILLED_ID_PREFIX)
            .then(|| billing_period_containing(time, Tz::UTC, 1))
    }

    /// Returns the billing period of this contract that contains `time`.
    pub fn billing_period(&self, time: DateTime<Utc>) -> BillingPeriod {
        billing_period_containing(time, self.timezone, self.billing_anchor_day)
    }

    /// Returns the decimals that billing-period costs are rounded to, if the contract rounds.
    pub fn rounding_decimals(&self) -> Option<u32> {
        self.rounding.map(|rounding| {
            rounding
                .decimals
                .or(self.currency.minor_units())
                .unwrap_or(Decimal::MAX_SCALE)
        })
    }
}

fn price_to_spec(price: &Price) -> PriceSpec {
    let mut pricing = PricingSpec {
        model: price.pricing.model_name().to_owned(),
        ..PricingSpec::default()
    };
    match &price.pricing {
        Pricing::PerUnit { unit_price } => pricing.unit_price = Some(*unit_price),
        Pricing::Package {
            package_size,
            package_price,
        } => {
            pricing.package_size = Some(*package_size);
            pricing.package_price = Some(*package_price);
        }
        Pricing::Graduated { tiers } | Pricing::Volume { tiers } => {
            pricing.tiers = Some(tiers.clone())
        }
    }
    PriceSpec {
        meter: price.meter.clone(),
        product: price.product.clone(),
        effective_from: price.effective_from,
        effective_to: price.effective_to,
        pricing,
    }
}

fn validate_credit_price(
    credit_price: &CreditPrice,
    currency: &Currency,
    problems: &mut Problems<'_>,
) {
    if !currency.is_virtual() {
        problems.add(
            "credit_price",
            format!("the contract is in the national currency {currency}; credit_price applies only to virtual currencies such as \"credits\", so remove it"),
        );
    }
    match credit_price.currency.parse::<Currency>() {
        Ok(Currency::Iso(_)) => {}
        Ok(Currency::Virtual(name)) => problems.add(
            "credit_price.currency",
            format!("{name:?} is a virtual currency; give the ISO 4217 code the vendor invoices in, such as \"USD\""),
        ),
        Err(error) => problems.add("credit_price.currency", error.to_string()),
    }
    if credit_price.amount <= Decimal::ZERO {
        problems.add(
            "credit_price.amount",
            format!(
                "{} is not positive; give the price of one credit",
                credit_price.amount
            ),
        );
    }
}

fn validate_prices(specs: &[PriceSpec], problems: &mut Problems<'_>) -> Vec<Price> {
    // NOTE: a contract without prices is valid: it gives usage that arrives with the
    // vendor's cost a currency, billing period, prepaid pool and budgets.
    let mut prices = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let field = format!("prices[{index}]");
        if spec.meter.trim().is_empty() {
            problems.add(format!("{field}.meter"), "must not be empty");
        }
        if spec
            .product
            .as_deref()
            .is_some_and(|product| product.trim().is_empty())
        {
            problems.add(
                format!("{field}.product"),
                "must not be empty; leave it out to cover every product",
            );
        }
        if let Some(to) = spec.effective_to {
            if to <= spec.effective_from {
                problems.add(
                    format!("{field}.effective_to"),
                    format!(
                        "{} is not after effective_from {}",
                        to.to_rfc3339(),
                        spec.effective_from.to_rfc3339()
                    ),
                );
            }
        }
        if let Some(pricing) =
            validate_pricing(&spec.pricing, &format!("{field}.pricing"), problems)
        {
            prices.push(Price {
                meter: spec.meter.clone(),
                product: spec.product.clone(),
                effective_from: spec.effective_from,
                effective_to: spec.effective_to,
                pricing,
            });
        }
    }

    report_overlaps(specs, problems);
    prices
}

/// Reports two prices of the same (meter, product) whose effective ranges overlap,
/// because then an event's price would depend on which one is found first.
fn report_overlaps(specs: &[PriceSpec], problems: &mut Problems<'_>) {
    for (first_index, first) in specs.iter().enumerate() {
        for (second_index, second) in specs.iter().enumerate().skip(first_index + 1) {
            if first.meter != second.meter || first.product != second.product {
                continue;
            }
            let first_ends_after_second_starts = first
                .effective_to
                .is_none_or(|to| to > second.effective_from);
            let second_ends_after_first_starts = second
                .effective_to
                .is_none_or(|to| to > first.effective_from);
            if first_ends_after_second_starts && second_ends_after_first_starts {
                let product = first
                    .product
                    .as_deref()
                    .map(|p| format!(", product {p:?}"))
                    .unwrap_or_default();
                problems.add(
                    format!("prices[{second_index}].effective_from"),
                    format!(
                        "effective range overlaps prices[{first_index}] for meter {:?}{product}; end the earlier price (effective_to) where the later one starts",
                        first.meter
                    ),
                );
            }
        }
    }
}

fn validate_pricing(
    spec: &PricingSpec,
    field: &str,
    problems: &mut Problems<'_>,
) -> Option<Pricing> {
    let start = problems.found.len();
    let require = |name: &str, value: Option<Decimal>, problems: &mut Problems<'_>| -> Decimal {
        match value {
            Some(value) => {
                if value.is_sign_negative() && !value.is_zero() {
                    problems.add(format!("{field}.{name}"), format!("negative price {value}"));
                }
                value
            }
            None => {
                problems.add(
                    format!("{field}.{name}"),
                    format!("missing; the {} model needs it", spec.model),
                );
                Decimal::ZERO
            }
        }
    };

    let pricing = match spec.model.as_str() {
        "per_unit" => Pricing::PerUnit {
            unit_price: require("unit_price", spec.unit_price, problems),
        },
        "package" => {
            let package_size = require("package_size", spec.package_size, problems);
            let package_price = require("package_price", spec.package_price, problems);
            if spec.package_size.is_some() && package_size <= Decimal::ZERO {
                problems.add(
                    format!("{field}.package_size"),
                    format!("{package_size} is not a positive number of units"),
                );
            }
            Pricing::Package {
                package_size,
                package_price,
            }
        }
        "graduated" | "volume" => {
            let tiers = spec.tiers.clone().unwrap_or_default();
            validate_tiers(&tiers, &format!("{field}.tiers"), problems);
            if spec.model == "graduated" {
                Pricing::Graduated { tiers }
            } else {
                Pricing::Volume { tiers }
            }
        }
        other => {
            problems.add(
                format!("{field}.model"),
                format!(
                    "unknown pricing model {other:?}; use per_unit, package, graduated or volume"
                ),
            );
            return None;
        }
    };

    let unused = [
        (
            "unit_price",
            spec.unit_price.is_some(),
            spec.model == "per_unit",
        ),
        (
            "package_size",
            spec.package_size.is_some(),
            spec.model == "package",
        ),
        (
            "package_price",
            spec.package_price.is_some(),
            spec.model == "package",
        ),
        (
            "tiers",
            spec.tiers.is_some(),
            matches!(spec.model.as_str(), "graduated" | "volume"),
        ),
    ];
    for (name, given, belongs) in unused {
        if given && !belongs {
            problems.add(
                format!("{field}.{name}"),
                format!("not a parameter of the {} model", spec.model),
            );
        }
    }

    (problems.found.len() == start).then_some(pricing)
}

fn validate_tiers(tiers: &[Tier], field: &str, problems: &mut Problems<'_>) {
    if tiers.is_empty() {
        problems.add(
            field.to_owned(),
            "empty; give at least one tier, the last with \"up_to\": null",
        );
        return;
    }

    let mut previous: Option<Decimal> = None;
    for (index, tier) in tiers.iter().enumerate() {
        let tier_field = format!("{field}[{index}]");
        if tier.unit_price.is_sign_negative() && !tier.unit_price.is_zero() {
            problems.add(
                format!("{tier_field}.unit_price"),
                format!("negative price {}", tier.unit_price),
            );
        }

        let is_last = index + 1 == tiers.len();
        match (tier.up_to, is_last) {
            (None, false) => problems.add(
                format!("{tier_field}.up_to"),
                "null before the last tier; only the last tier may be open-ended",
            ),
            (Some(bound), true) => problems.add(
                format!("{tier_field}.up_to"),
                format!("{bound} on the last tier; set it to null so every quantity has a price"),
            ),
            (Some(bound), false) => {
                if bound <= Decimal::ZERO {
                    problems.add(
                        format!("{tier_field}.up_to"),
                        format!("{bound} is not a positive quantity"),
                    );
                }
                if let Some(previous) = previous {
                    if bound <= previous {
                        problems.add(
                            format!("{tier_field}.up_to"),
                            format!("tiers must ascend, but {bound} follows {previous}"),
                        );
                    }
                }
                previous = Some(bound);
            }
            (None, true) => {}
        }
    }
}

fn validate_budgets(budgets: &[Budget], problems: &mut Problems<'_>) {
    for (index, budget) in budgets.iter().enumerate() {
        let field = format!("budgets[{index}]");
        if budget.id.trim().is_empty() {
            problems.add(format!("{field}.id"), "must not be empty");
        }
        if budgets[..index].iter().any(|other| other.id == budget.id) {
            problems.add(
                format!("{field}.id"),
                format!("duplicate budget id {:?}", budget.id),
            );
        }
        if budget.amount <= Decimal::ZERO {
            problems.add(
                format!("{field}.amount"),
                format!("{} is not a positive amount", budget.amount),
            );
        }
        for (position, pair) in budget.thresholds_pct.windows(2).enumerate() {
            if pair[1] <= pair[0] {
                problems.add(
                    format!("{field}.thresholds_pct[{}]", position + 1),
                    format!(
                        "thresholds must ascend, but {} follows {}",
                        pair[1], pair[0]
                    ),
                );
            }
        }
        if budget.thresholds_pct.first() == Some(&0) {
            problems.add(
                format!("{field}.thresholds_pct[0]"),
                "0 % would fire before any spend; use 1 or more",
            );
        }
    }
}
