//! The generated workload: contracts for the throughput accounts and the alert
//! accounts, throughput events as CloudEvents JSON, and the events of the latency
//! run, each of which crosses one budget threshold.

use std::collections::BTreeMap;

use burnrate_codec::encode_cloudevent;
use burnrate_model::{EventKind, UsageEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Accounts that receive the events of the latency run.
pub const ALERT_ACCOUNTS: usize = 10;

/// Users per throughput account, so a window has at most `accounts * 8` user series.
const USERS_PER_ACCOUNT: usize = 8;

/// Event time covered by the throughput events, so hour and day windows close
/// while they are processed.
const STREAM_HOURS: i64 = 48;

/// The vendor of every generated event and contract.
const VENDOR: &str = "openai";

/// The meter of the latency events, which the alert accounts' contracts price at 1 USD.
const ALERT_METER: &str = "requests";

/// SplitMix64: a small, seeded generator so every run produces the same events.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Returns a value in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Event time of the first throughput event.
fn stream_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

/// Returns the name of throughput account `index`.
fn throughput_account(index: usize) -> String {
    format!("acct-{index:04}")
}

/// Returns the name of alert account `index`.
pub fn alert_account(index: usize) -> String {
    format!("alert-{index:02}")
}

/// One record for the usage or contracts topic.
pub struct Record {
    /// The record key: the account for usage, the contract id for contracts.
    pub key: String,
    /// The JSON value.
    pub value: String,
}

/// Returns the contracts as records keyed by contract id.
///
/// Throughput accounts have four meters (graduated input tokens and API calls,
/// per-unit output and cached input tokens), a budget with 50, 80 and 100 %
/// thresholds and a forecast, and every fourth a prepaid pool. Even accounts bill
/// in Europe/Berlin and odd ones in UTC. Alert accounts price [`ALERT_METER`] at
/// 1 USD per unit and have a 100 USD budget with a threshold at every percent up to
/// `thresholds`, so each 1 USD event crosses exactly one threshold.
pub fn contracts(accounts: usize, thresholds: u32) -> Vec<Record> {
    let mut records = Vec::with_capacity(accounts + ALERT_ACCOUNTS);
    for index in 0..accounts {
        let account = throughput_account(index);
        let mut contract = json!({
            "id": format!("contract-{account}"),
            "account": account,
            "vendor": VENDOR,
            "currency": "USD",
            "timezone": if index % 2 == 0 { "Europe/Berlin" } else { "UTC" },
            "billing_anchor_day": 1,
            "prices": [
                {"meter": "input_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "graduated", "tiers": [
                    {"up_to": "2000000", "unit_price": "0.000002"},
                    {"up_to": "20000000", "unit_price": "0.000001"},
                    {"up_to": null, "unit_price": "0.0000002"}
                ]}},
                {"meter": "output_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.000008"}},
                {"meter": "cached_input_tokens", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "0.0000005"}},
                {"meter": "api_calls", "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "graduated", "tiers": [
                    {"up_to": "10000", "unit_price": "0.001"},
                    {"up_to": null, "unit_price": "0.0005"}
                ]}}
            ],
            "budgets": [{"id": "monthly", "amount": "20.00", "thresholds_pct": [50, 80, 100], "forecast": true}]
        });
        if index % 4 == 0 {
            contract["prepaid"] = json!({"amount": "5.00", "starts": "2026-01-01T00:00:00Z", "ends": "2027-01-01T00:00:00Z"});
        }
        records.push(contract_record(contract));
    }
    for index in 0..ALERT_ACCOUNTS {
        let account = alert_account(index);
        let contract = json!({
            "id": format!("contract-{account}"),
            "account": account,
            "vendor": VENDOR,
            "currency": "USD",
            "timezone": "UTC",
            "prices": [{"meter": ALERT_METER, "effective_from": "2026-01-01T00:00:00Z", "pricing": {"model": "per_unit", "unit_price": "1"}}],
            "budgets": [{"id": "latency", "amount": "100", "thresholds_pct": (1..=thresholds).collect::<Vec<u32>>()}]
        });
        records.push(contract_record(contract));
    }
    records
}

fn contract_record(contract: Value) -> Record {
    let key = contract["id"]
        .as_str()
        .expect("generated contracts have an id")
        .to_owned();
    Record {
        key,
        value: contract.to_string(),
    }
}

/// Returns `count` throughput events over [`STREAM_HOURS`] of event time, in time
/// order apart from up to a minute of jitter (inside the default five minutes of
/// out-of-orderness), keyed by account.
pub fn throughput_events(count: usize, accounts: usize) -> Vec<Record> {
    let mut random = SplitMix64(0x6532_6562_656e_6368);
    let step_ms = Duration::hours(STREAM_HOURS).num_milliseconds() as f64 / count.max(1) as f64;
    (0..count)
        .map(|index| {
            let nominal = stream_start() + Duration::milliseconds((index as f64 * step_ms) as i64);
            let time = nominal - Duration::milliseconds(random.below(60_000) as i64);
            let account = random.below(accounts as u64) as usize;
            let user =
                account * USERS_PER_ACCOUNT + random.below(USERS_PER_ACCOUNT as u64) as usize;
            let (meter, quantity) = match random.below(10) {
                0..=3 => ("input_tokens", 1 + random.below(8000)),
                4..=7 => ("output_tokens", 1 + random.below(2000)),
                8 => ("cached_input_tokens", 1 + random.below(8000)),
                _ => ("api_calls", 1),
            };
            let product = if random.below(2) == 0 {
                "gpt-4.1"
            } else {
                "gpt-4.1-mini"
            };
            let event = UsageEvent {
                id: format!("e2e-{index:09}"),
                source: VENDOR.to_owned(),
                kind: EventKind::Usage,
                time,
                account: throughput_account(account),
                meter: meter.to_owned(),
                quantity: Decimal::from(quantity),
                product: Some(product.to_owned()),
                dimensions: BTreeMap::from([
                    ("team".to_owned(), format!("team-{}", user % 4)),
                    ("project".to_owned(), format!("project-{}", user % 7)),
                    ("user".to_owned(), format!("user-{user}")),
                ]),
                cost: None,
            };
            Record {
                key: event.account.clone(),
                value: encode_cloudevent(&event),
            }
        })
        .collect()
}

/// Returns latency event `index`: 1 USD of usage for alert account
/// `index % ALERT_ACCOUNTS`, timed after every throughput event so that it is never
/// late. Its account's budget reaches threshold [`alert_threshold`] with it.
pub fn alert_event(index: usize) -> Record {
    let time =
        stream_start() + Duration::hours(STREAM_HOURS) + Duration::milliseconds(index as i64);
    let event = UsageEvent {
        id: format!("e2e-alert-{index:09}"),
        source: VENDOR.to_owned(),
        kind: EventKind::Usage,
        time,
        account: alert_account(index % ALERT_ACCOUNTS),
        meter: ALERT_METER.to_owned(),
        quantity: Decimal::ONE,
        product: None,
        dimensions: BTreeMap::from([("team".to_owned(), "latency".to_owned())]),
        cost: None,
    };
    Record {
        key: event.account.clone(),
        value: encode_cloudevent(&event),
    }
}

/// Returns the budget threshold, in percent, that latency event `index` crosses.
pub fn alert_threshold(index: usize) -> u32 {
    (index / ALERT_ACCOUNTS + 1) as u32
}
