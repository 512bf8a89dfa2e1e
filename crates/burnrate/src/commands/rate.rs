//! `burnrate rate`: price usage events against contracts without windows or state
//! beyond the billing period, one JSON line per event or per period total.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use burnrate_codec::decode_cloudevent;
use burnrate_model::format_decimal;
use burnrate_pricing::{rate_event, RatingState, UnratedReason};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::contracts_file::load_contract_table;
use crate::input::for_each_line;

/// Arguments of `burnrate rate`.
#[derive(Debug, Args)]
pub struct RateArgs {
    /// Contracts file: JSON lines (`.jsonl`) or YAML (`.yaml`).
    #[arg(long, value_name = "FILE")]
    contracts: PathBuf,

    /// Print one line per (account, contract, meter, billing period) instead of one per event.
    #[arg(long)]
    totals: bool,

    /// Usage event files in CloudEvents JSON lines; `-` reads standard input.
    #[arg(value_name = "EVENTS", required = true)]
    events: Vec<PathBuf>,
}

/// One event's rating, as printed.
#[derive(Serialize)]
struct EventLine<'a> {
    event_id: Option<&'a str>,
    account: Option<&'a str>,
    contract_id: Option<&'a str>,
    meter: Option<&'a str>,
    quantity: Option<String>,
    cost: Option<String>,
    prepaid_applied: Option<String>,
    billed: Option<String>,
    currency: Option<&'a str>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
}

/// Key of a `--totals` line; `contract_id` is `None` for unrated usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct TotalKey {
    account: String,
    contract_id: Option<String>,
    meter: String,
    period_start: Option<DateTime<Utc>>,
    unrated_reason: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Total {
    period_end: Option<DateTime<Utc>>,
    currency: Option<String>,
    events: u64,
    quantity: Decimal,
    cost: Decimal,
    prepaid_applied: Decimal,
    billed: Decimal,
    /// Whether a sum left the decimal range; the line then carries no amounts.
    overflow: bool,
}

impl Total {
    /// Adds an event's figures, marking the total as overflowed instead of wrapping.
    fn add(&mut self, quantity: Decimal, cost: Decimal, prepaid_applied: Decimal, billed: Decimal) {
        self.events += 1;
        let sums = (
            self.quantity.checked_add(quantity),
            self.cost.checked_add(cost),
            self.prepaid_applied.checked_add(prepaid_applied),
            self.billed.checked_add(billed),
        );
        match sums {
            (Some(quantity), Some(cost), Some(prepaid_applied), Some(billed)) => {
                self.quantity = quantity;
                self.cost = cost;
                self.prepaid_applied = prepaid_applied;
                self.billed = billed;
            }
            _ => self.overflow = true,
        }
    }
}

/// Counts for the summary on standard error.
#[derive(Debug, Default)]
struct Counts {
    rated: u64,
    unrated: BTreeMap<&'static str, u64>,
    invalid: u64,
}

/// Runs `burnrate rate`.
pub fn run(args: &RateArgs) -> anyhow::Result<()> {
    let table = load_contract_table(&args.contracts)?;
    let mut state = RatingState::default();
    let mut totals: BTreeMap<TotalKey, Total> = BTreeMap::new();
    let mut counts = Counts::default();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());

    for_each_line(&args.events, |input| {
        let location = format!("{}:{}", input.file.display(), input.line_number);
        let event = match decode_cloudevent(input.text.as_bytes()) {
            Ok(event) => event,
            Err(error) => {
                counts.invalid += 1;
                eprintln!("invalid event at {location}: {error}");
                if !args.totals {
                    let line = EventLine {
                        event_id: None,
                        account: None,
                        contract_id: None,
                        meter: None,
                        quantity: None,
                        cost: None,
                        prepaid_applied: None,
                        billed: None,
                        currency: None,
                        status: "invalid",
                        reason: Some(error.to_string()),
                        line: Some(location),
                    };
                    write_json_line(&mut out, &line)?;
                }
                return Ok(());
            }
        };

        match rate_event(&table, &mut state, &event) {
            Ok(charge) => {
                counts.rated += 1;
                if args.totals {
                    let key = TotalKey {
                        account: event.account.clone(),
                        contract_id: Some(charge.contract.id.clone()),
                        meter: event.meter.clone(),
                        period_start: Some(charge.period.start),
                        unrated_reason: None,
                    };
                    let total = totals.entry(key).or_default();
                    total.period_end = Some(charge.period.end);
                    total.currency = Some(charge.contract.currency.code().to_owned());
                    total.add(
                        event.quantity,
                        charge.cost,
                        charge.prepaid_applied,
                        charge.billed,
                    );
                } else {
                    let line = EventLine {
                        event_id: Some(&event.id),
                        account: Some(&event.account),
                        contract_id: Some(&charge.contract.id),
                        meter: Some(&event.meter),
                        quantity: Some(format_decimal(event.quantity)),
                        cost: Some(format_decimal(charge.cost)),
                        prepaid_applied: Some(format_decimal(charge.prepaid_applied)),
                        billed: Some(format_decimal(charge.billed)),
                        currency: Some(charge.contract.currency.code()),
                        status: "rated",
                        reason: None,
                        line: None,
                    };
                    write_json_line(&mut out, &line)?;
                }
            }
            Err(reason) => {
                *counts.unrated.entry(reason.code()).or_default() += 1;
                if args.totals {
                    let key = TotalKey {
                        account: event.account.clone(),
                        contract_id: None,
                        meter: event.meter.clone(),
                        period_start: None,
                        unrated_reason: Some(reason.code()),
                    };
                    let total = totals.entry(key).or_default();
                    total.add(event.quantity, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
                } else {
                    write_unrated_line(&mut out, &event, &reason)?;
                }
            }
        }
        Ok(())
    })?;

    if args.totals {
        for (key, total) in &totals {
            write_json_line(&mut out, &total_line(key, total))?;
        }
    }
    out.flush()?;
    print_summary(&counts);
    Ok(())
}

fn write_unrated_line(
    out: &mut impl Write,
    event: &burnrate_model::UsageEvent,
    reason: &UnratedReason,
) -> anyhow::Result<()> {
    let line = EventLine {
        event_id: Some(&event.id),
        account: Some(&event.account),
        contract_id: None,
        meter: Some(&event.meter),
        quantity: Some(format_decimal(event.quantity)),
        cost: None,
        prepaid_applied: None,
        billed: None,
        currency: None,
        status: "unrated",
        reason: Some(reason.to_string()),
        line: None,
    };
    write_json_line(out, &line)
}

/// One `--totals` line, with fields in the documented order.
#[derive(Serialize)]
struct TotalLine<'a> {
    account: &'a str,
    contract_id: Option<&'a str>,
    meter: &'a str,
    period_start: Option<String>,
    period_end: Option<String>,
    events: u64,
    quantity: Option<String>,
    cost: Option<String>,
    prepaid_applied: Option<String>,
    billed: Option<String>,
    currency: Option<&'a str>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn total_line<'a>(key: &'a TotalKey, total: &'a Total) -> TotalLine<'a> {
    let time = |instant: Option<DateTime<Utc>>| {
        instant.map(|instant| instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    };
    let rated = key.contract_id.is_some();
    let amount = |value: Decimal| (rated && !total.overflow).then(|| format_decimal(value));
    let status = match (total.overflow, rated) {
        (true, _) => "overflow",
        (false, true) => "rated",
        (false, false) => "unrated",
    };
    TotalLine {
        account: &key.account,
        contract_id: key.contract_id.as_deref(),
        meter: &key.meter,
        period_start: time(key.period_start),
        period_end: time(total.period_end),
        events: total.events,
        quantity: (!total.overflow).then(|| format_decimal(total.quantity)),
        cost: amount(total.cost),
        prepaid_applied: amount(total.prepaid_applied),
        billed: amount(total.billed),
        currency: total.currency.as_deref(),
        status,
        reason: if total.overflow {
            Some("a sum exceeds the decimal range (about 7.9e28)")
        } else {
            key.unrated_reason
        },
    }
}

fn write_json_line(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn print_summary(counts: &Counts) {
    let unrated_total: u64 = counts.unrated.values().sum();
    let breakdown: Vec<String> = counts
        .unrated
        .iter()
        .map(|(code, count)| format!("{code}: {count}"))
        .collect();
    let breakdown = if breakdown.is_empty() {
        String::new()
    } else {
        format!(" ({})", breakdown.join(", "))
    };
    eprintln!(
        "rated {} events, unrated {unrated_total}{breakdown}, invalid {}",
        counts.rated, counts.invalid
    );
}
