//! Cumulative cost functions: the cost of a billing period's first `quantity` units
//! under one pricing model.
//!
//! An event's cost is the difference of this function before and after the event's
//! quantity is added to the period. So the costs of a period's events always sum to
//! the function of the period's total quantity, whatever their order or split.

use burnrate_model::{Pricing, Tier};
use rust_decimal::Decimal;

/// The arithmetic left `Decimal`'s range (a quantity or price near 7.9e28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cost exceeds the decimal range")]
pub struct CostOverflow;

/// Returns the cost of the first `quantity` units of a billing period.
///
/// A negative cumulative quantity (a correction that arrived before the usage it
/// corrects) costs what zero costs under the tiered and package models and is
/// linear under `per_unit`. Either way the period total comes out right once all
/// events are in.
pub fn cumulative_cost(pricing: &Pricing, quantity: Decimal) -> Result<Decimal, CostOverflow> {
    match pricing {
        Pricing::PerUnit { unit_price } => quantity.checked_mul(*unit_price).ok_or(CostOverflow),
        Pricing::Package {
            package_size,
            package_price,
        } => package_cost(quantity.max(Decimal::ZERO), *package_size, *package_price),
        Pricing::Graduated { tiers } => graduated_cost(tiers, quantity.max(Decimal::ZERO)),
        Pricing::Volume { tiers } => volume_cost(tiers, quantity.max(Decimal::ZERO)),
    }
}

/// Charges every started package whole.
fn package_cost(quantity: Decimal, size: Decimal, price: Decimal) -> Result<Decimal, CostOverflow> {
    if quantity.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let mut packages = quantity.checked_div(size).ok_or(CostOverflow)?.ceil();

    // Division rounds at 28 digits; nudge the count so that it is the smallest
    // whole number of packages that covers the quantity.
    if packages.checked_mul(size).ok_or(CostOverflow)? < quantity {
        packages += Decimal::ONE;
    }
    while packages > Decimal::ONE
        && (packages - Decimal::ONE)
            .checked_mul(size)
            .ok_or(CostOverflow)?
            >= quantity
    {
        packages -= Decimal::ONE;
    }
    packages.checked_mul(price).ok_or(CostOverflow)
}

/// Prices each unit by the tier its position falls in: units up to the first
/// `up_to` at the first price, the next ones at the second, and so on.
fn graduated_cost(tiers: &[Tier], quantity: Decimal) -> Result<Decimal, CostOverflow> {
    let mut cost = Decimal::ZERO;
    let mut lower = Decimal::ZERO;
    for tier in tiers {
        if quantity <= lower {
            break;
        }
        let upper = tier.up_to.map_or(quantity, |bound| bound.min(quantity));
        let units_in_tier = upper - lower;
        let tier_cost = units_in_tier
            .checked_mul(tier.unit_price)
            .ok_or(CostOverflow)?;
        cost = cost.checked_add(tier_cost).ok_or(CostOverflow)?;
        match tier.up_to {
            Some(bound) => lower = bound,
            None => break,
        }
    }
    Ok(cost)
}

/// Prices every unit by the tier the whole quantity falls in (the first tier whose
/// inclusive `up_to` is at least the quantity).
fn volume_cost(tiers: &[Tier], quantity: Decimal) -> Result<Decimal, CostOverflow> {
    if quantity.is_zero() {
        return Ok(Decimal::ZERO);
    }
    let tier = tiers
        .iter()
        .find(|tier| tier.up_to.is_none_or(|bound| quantity <= bound))
        .or(tiers.last());
    match tier {
        Some(tier) => quantity.checked_mul(tier.unit_price).ok_or(CostOverflow),
        None => Ok(Decimal::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn tiers(spec: &[(Option<&str>, &str)]) -> Vec<Tier> {
        spec.iter()
            .map(|(up_to, price)| Tier {
                up_to: up_to.map(dec),
                unit_price: dec(price),
            })
            .collect()
    }

    fn three_tiers() -> Vec<Tier> {
        tiers(&[
            (Some("1000"), "0.10"),
            (Some("5000"), "0.08"),
            (None, "0.05"),
        ])
    }

    #[test]
    fn per_unit_is_exact() {
        let pricing = Pricing::PerUnit {
            unit_price: dec("0.0000025"),
        };
        assert_eq!(
            cumulative_cost(&pricing, dec("1000000000")).unwrap(),
            dec("2500")
        );
        assert_eq!(
            cumulative_cost(&pricing, dec("-400")).unwrap(),
            dec("-0.001")
        );
    }

    #[test]
    fn package_charges_started_packages_whole() {
        let pricing = Pricing::Package {
            package_size: dec("1000"),
            package_price: dec("0.50"),
        };
        let cases = [
            ("0", "0"),
            ("1", "0.50"),
            ("999", "0.50"),
            ("1000", "0.50"),
            ("1001", "1.00"),
            ("3000", "1.50"),
            ("-5", "0"),
        ];
        for (quantity, expected) in cases {
            assert_eq!(
                cumulative_cost(&pricing, dec(quantity)).unwrap(),
                dec(expected),
                "quantity {quantity}"
            );
        }
    }

    #[test]
    fn package_with_fractional_size() {
        let pricing = Pricing::Package {
            package_size: dec("0.3"),
            package_price: dec("2"),
        };
        assert_eq!(cumulative_cost(&pricing, dec("0.9")).unwrap(), dec("6"));
        assert_eq!(cumulative_cost(&pricing, dec("0.91")).unwrap(), dec("8"));
        assert_eq!(cumulative_cost(&pricing, dec("1")).unwrap(), dec("8"));
    }

    #[test]
    fn graduated_tier_edges() {
        let pricing = Pricing::Graduated {
            tiers: three_tiers(),
        };
        let cases = [
            ("999", "99.90"),
            ("1000", "100.00"),
            ("1001", "100.08"),
            ("4999", "419.92"),
            ("5000", "420.00"),
            ("5001", "420.05"),
            ("10000", "670.00"),
            ("0", "0"),
        ];
        for (quantity, expected) in cases {
            assert_eq!(
                cumulative_cost(&pricing, dec(quantity)).unwrap(),
                dec(expected),
                "quantity {quantity}"
            );
        }
    }

    #[test]
    fn volume_tier_edges() {
        let pricing = Pricing::Volume {
            tiers: three_tiers(),
        };
        let cases = [
            ("999", "99.90"),
            ("1000", "100.00"),
            ("1001", "80.08"),
            ("4999", "399.92"),
            ("5000", "400.00"),
            ("5001", "250.05"),
            ("0", "0"),
        ];
        for (quantity, expected) in cases {
            assert_eq!(
                cumulative_cost(&pricing, dec(quantity)).unwrap(),
                dec(expected),
                "quantity {quantity}"
            );
        }
    }

    #[test]
    fn overflow_is_reported() {
        let pricing = Pricing::PerUnit {
            unit_price: dec("1000000000"),
        };
        assert_eq!(
            cumulative_cost(&pricing, dec("79228162514264337593543950335")),
            Err(CostOverflow)
        );
    }
}
