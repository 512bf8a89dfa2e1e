//! Budget, forecast, commitment and unrated-usage alerts through the engine.

mod common;

use burnrate_engine::{EngineOutput, PartitionEngine};
use burnrate_model::{parse_contract_json, Alert, AlertKind, AlertStatus, Severity, UsageEvent};
use burnrate_pricing::ContractTable;
use chrono::{DateTime, Duration, Utc};
use common::*;

/// Account `shop` at vendor `openai`, UTC calendar months, 1 USD per unit.
fn contract(budgets: &str, prepaid: &str) -> ContractTable {
    let json = format!(
        r#"{{"id": "shop-2026", "account": "shop", "vendor": "openai", "currency": "USD", {prepaid}
           "budgets": {budgets},
           "prices": [{{"meter": "calls", "effective_from": "2026-01-01T00:00:00Z", "pricing": {{"model": "per_unit", "unit_price": "1"}}}}]}}"#
    );
    ContractTable::new(vec![parse_contract_json(&json).unwrap()]).unwrap()
}

fn usage(id: &str, time: DateTime<Utc>, quantity: &str, team: &str) -> UsageEvent {
    let mut usage = event(id, "shop", "2026-01-01T00:00:00Z", "calls", quantity);
    usage.time = time;
    usage.dimensions.insert("team".to_owned(), team.to_owned());
    usage
}

/// Returns the alerts among the outputs, except spend anomalies, which have tests of their own.
fn alerts(outputs: &[EngineOutput]) -> Vec<&Alert> {
    outputs
        .iter()
        .filter_map(|output| match output {
            EngineOutput::Alert(alert) if alert.kind != AlertKind::Anomaly => Some(alert),
            _ => None,
        })
        .collect()
}

fn feed(
    engine: &mut PartitionEngine,
    table: &ContractTable,
    events: &[UsageEvent],
    outputs: &mut Vec<EngineOutput>,
) {
    for usage in events {
        let offset = engine.state().input_offset.map_or(0, |offset| offset + 1);
        engine.process(usage.clone(), offset, None, table, outputs);
    }
}

#[test]
fn threshold_fires_once_per_period() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "thresholds_pct": [100]}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let mut outputs = Vec::new();
    let may = utc("2026-05-02T00:00:00Z");
    let june = utc("2026-06-02T00:00:00Z");
    feed(
        &mut engine,
        &table,
        &[
            usage("e1", may, "60", "search"),
            usage("e2", may + Duration::hours(1), "40", "search"),
            usage("e3", may + Duration::hours(2), "10", "search"),
            usage("e4", may + Duration::hours(3), "10", "search"),
        ],
        &mut outputs,
    );

    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0].kind, AlertKind::BudgetThreshold);
    assert_eq!(fired[0].status, AlertStatus::Firing);
    assert_eq!(fired[0].observed, Some(dec("100")));
    assert_eq!(fired[0].threshold_pct, Some(100));
    assert_eq!(fired[0].at, may + Duration::hours(1));
    assert_eq!(
        fired[0].key,
        "budget_threshold/shop/shop-2026/monthly/2026-05-01T00:00:00Z/100"
    );

    // A snapshot and restore between periods changes nothing.
    let snapshot = engine.snapshot();
    let mut engine = PartitionEngine::restore(config(), &snapshot).unwrap();
    let mut june_outputs = Vec::new();
    feed(
        &mut engine,
        &table,
        &[
            usage("e5", june, "100", "search"),
            usage("e6", june + Duration::hours(1), "5", "search"),
        ],
        &mut june_outputs,
    );

    let june_alerts = alerts(&june_outputs);
    let resolved: Vec<_> = june_alerts
        .iter()
        .filter(|alert| alert.status == AlertStatus::Resolved)
        .collect();
    let firing: Vec<_> = june_alerts
        .iter()
        .filter(|alert| alert.status == AlertStatus::Firing)
        .collect();
    assert_eq!(
        resolved.len(),
        1,
        "May's alert resolves when the period rolls over"
    );
    assert_eq!(resolved[0].key, fired[0].key);
    assert_eq!(resolved[0].at, utc("2026-06-01T00:00:00Z"));
    assert_eq!(firing.len(), 1);
    assert_eq!(
        firing[0].key,
        "budget_threshold/shop/shop-2026/monthly/2026-06-01T00:00:00Z/100"
    );
}

#[test]
fn thresholds_escalate_to_new_keys() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "thresholds_pct": [80, 100]}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let mut outputs = Vec::new();
    let start = utc("2026-05-02T00:00:00Z");
    feed(
        &mut engine,
        &table,
        &[usage("e1", start, "85", "search")],
        &mut outputs,
    );
    feed(
        &mut engine,
        &table,
        &[usage("e2", start + Duration::minutes(1), "20", "search")],
        &mut outputs,
    );

    let all = alerts(&outputs);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(
        (all[0].threshold_pct, all[0].status, all[0].severity),
        (Some(80), AlertStatus::Firing, Severity::Warning)
    );
    assert_eq!(
        (all[1].threshold_pct, all[1].status),
        (Some(80), AlertStatus::Resolved),
        "80 % is superseded"
    );
    assert_eq!(all[1].key, all[0].key);
    assert_eq!(
        (all[2].threshold_pct, all[2].status, all[2].severity),
        (Some(100), AlertStatus::Firing, Severity::Critical)
    );
    assert_ne!(all[2].key, all[0].key);

    // The watermark passing the period's end resolves the 100 % alert.
    let mut later = Vec::new();
    feed(
        &mut engine,
        &table,
        &[usage("e3", utc("2026-06-01T03:00:00Z"), "1", "search")],
        &mut later,
    );
    let resolved: Vec<_> = alerts(&later)
        .into_iter()
        .filter(|alert| alert.status == AlertStatus::Resolved)
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].key, all[2].key);
}

#[test]
fn one_event_crossing_two_thresholds_fires_the_higher() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "thresholds_pct": [50, 80]}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let mut outputs = Vec::new();
    feed(
        &mut engine,
        &table,
        &[usage("e1", utc("2026-05-02T00:00:00Z"), "90", "search")],
        &mut outputs,
    );
    let all = alerts(&outputs);
    let firing: Vec<_> = all
        .iter()
        .filter(|alert| alert.status == AlertStatus::Firing)
        .map(|alert| alert.threshold_pct)
        .collect();
    assert_eq!(firing, vec![Some(50), Some(80)]);
    assert_eq!(all.last().unwrap().threshold_pct, Some(80));
    assert_eq!(
        all.last().unwrap().status,
        AlertStatus::Firing,
        "only the highest stays firing"
    );
}

/// Hourly events at a steady rate that reaches the 100-unit budget on day 20 of May.
fn steady_month(
    table: &ContractTable,
    engine: &mut PartitionEngine,
    hours: i64,
) -> Vec<EngineOutput> {
    let start = utc("2026-05-01T00:00:00Z");
    let per_hour = "0.2083333333"; // 100 / (19 days * 24 hours), rounded
    let events: Vec<UsageEvent> = (0..hours)
        .map(|hour| {
            usage(
                &format!("h{hour}"),
                start + Duration::hours(hour) + Duration::minutes(30),
                per_hour,
                "search",
            )
        })
        .collect();
    let mut outputs = Vec::new();
    feed(engine, table, &events, &mut outputs);
    outputs
}

#[test]
fn forecast_fires_early_but_not_in_first_hours() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "forecast": true}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let first_hours = steady_month(&table, &mut engine, 12);
    assert!(
        alerts(&first_hours).is_empty(),
        "no forecast alert in the first 12 hours: {:#?}",
        alerts(&first_hours)
    );

    let mut engine = PartitionEngine::new(config());
    let three_days = steady_month(&table, &mut engine, 72);
    let fired = alerts(&three_days);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let alert = fired[0];
    assert_eq!(alert.kind, AlertKind::BudgetForecast);
    assert!(
        alert.at < utc("2026-05-03T00:00:00Z"),
        "fires within two days, at {}",
        alert.at
    );
    assert!(alert.forecast_low.unwrap() > dec("100"));
    // 31 days at 0.2083333333 per hour is about 155.
    let forecast = alert.forecast.unwrap();
    assert!(forecast > dec("150"), "forecast {forecast}");
    assert!(forecast < dec("160"), "forecast {forecast}");
    assert!(alert.forecast_low.unwrap() <= forecast);
    assert!(forecast <= alert.forecast_high.unwrap());
}

#[test]
fn forecast_on_last_day_is_close_to_spend() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "1000", "forecast": true}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    steady_month(&table, &mut engine, 30 * 24 + 20);
    let track = engine.state().alerts.budgets.values().next().unwrap();
    let outlook = burnrate_engine::alerts::forecast::forecast(
        track.spent,
        utc("2026-05-01T00:00:00Z"),
        utc("2026-06-01T00:00:00Z"),
        utc("2026-05-31T20:30:00Z"),
        &track.run_rate,
        &track.profile,
        dec("1.645"),
    )
    .unwrap();
    let expected = dec("0.2083333333") * dec("744");
    assert!(
        (outlook.point - expected).abs() < dec("0.5"),
        "forecast {} vs {expected}",
        outlook.point
    );
    assert!(
        outlook.high - outlook.low < dec("5"),
        "interval {}..{} is narrow on the last day",
        outlook.low,
        outlook.high
    );
}

#[test]
fn raised_budget_resolves_forecast() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "forecast": true}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let outputs = steady_month(&table, &mut engine, 72);
    assert_eq!(alerts(&outputs).len(), 1);

    let raised = contract(
        r#"[{"id": "monthly", "amount": "300", "forecast": true}]"#,
        "",
    );
    let mut later = Vec::new();
    let next = utc("2026-05-04T00:30:00Z");
    feed(
        &mut engine,
        &raised,
        &[
            usage("r1", next, "0.2", "search"),
            usage("r2", next + Duration::hours(1), "0.2", "search"),
        ],
        &mut later,
    );
    let resolved = alerts(&later);
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(resolved[0].status, AlertStatus::Resolved);
    assert_eq!(resolved[0].kind, AlertKind::BudgetForecast);
    assert_eq!(resolved[0].budget, Some(dec("300")));
}

#[test]
fn commitment_forecast_names_exhaustion_date() {
    // 10 USD per hour against a 1,000 USD pool runs out after 100 hours, long before the pool ends.
    let prepaid = r#""prepaid": {"amount": "1000", "starts": "2026-05-01T00:00:00Z", "ends": "2026-08-01T00:00:00Z"},"#;
    let table = contract("[]", prepaid);
    let mut engine = PartitionEngine::new(config());
    let start = utc("2026-05-01T00:00:00Z");
    let events: Vec<UsageEvent> = (0..12)
        .map(|hour| {
            usage(
                &format!("p{hour}"),
                start + Duration::hours(hour),
                "10",
                "search",
            )
        })
        .collect();
    let mut outputs = Vec::new();
    feed(&mut engine, &table, &events, &mut outputs);

    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let alert = fired[0];
    assert_eq!(alert.kind, AlertKind::CommitmentExhaustion);
    // Evaluated at hour 6 with 70 USD drawn over 6 hours: 930 left at 70/6 per hour is 79.7 hours more.
    assert_eq!(alert.at, start + Duration::hours(6));
    assert_eq!(alert.observed, Some(dec("70")));
    let expected = start + Duration::hours(6) + Duration::seconds(286_971);
    assert_eq!(alert.expected_at, Some(expected));
    assert_eq!(
        alert.key,
        "commitment_exhaustion/shop/shop-2026/2026-05-01T00:00:00Z"
    );
}

#[test]
fn top_contributors_add_up() {
    let table = contract(
        r#"[{"id": "monthly", "amount": "100", "thresholds_pct": [100]}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let start = utc("2026-05-02T00:00:00Z");
    let mut outputs = Vec::new();
    feed(
        &mut engine,
        &table,
        &[
            usage("e1", start, "30", "search"),
            usage("e2", start, "45", "research"),
            usage("e3", start, "25", "support"),
        ],
        &mut outputs,
    );
    let alert = alerts(&outputs)[0];
    let teams: Vec<_> = alert
        .top_contributors
        .iter()
        .filter(|contributor| contributor.dimension == "team")
        .collect();
    assert_eq!(teams[0].value, "research", "the largest team comes first");
    assert_eq!(teams[0].cost, dec("45"));
    assert_eq!(teams[0].share, dec("0.45"));
    let team_total: rust_decimal::Decimal = teams.iter().map(|contributor| contributor.cost).sum();
    assert_eq!(team_total, alert.observed.unwrap());
    let share_total: rust_decimal::Decimal =
        teams.iter().map(|contributor| contributor.share).sum();
    assert_eq!(share_total, dec("1"));
}

#[test]
fn scoped_budget_counts_only_its_team() {
    let table = contract(
        r#"[{"id": "search-only", "amount": "50", "thresholds_pct": [100], "scope": {"team": "search"}}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let start = utc("2026-05-02T00:00:00Z");
    let mut outputs = Vec::new();
    feed(
        &mut engine,
        &table,
        &[
            usage("e1", start, "60", "research"),
            usage("e2", start, "49", "search"),
        ],
        &mut outputs,
    );
    assert!(alerts(&outputs).is_empty());
    feed(
        &mut engine,
        &table,
        &[usage("e3", start, "1", "search")],
        &mut outputs,
    );
    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].observed, Some(dec("50")));
    assert_eq!(
        fired[0].scope.get("team").map(String::as_str),
        Some("search")
    );
}

#[test]
fn unrated_usage_alerts_once() {
    let table = contract("[]", "");
    let mut engine = PartitionEngine::new(config());
    let start = utc("2026-05-02T00:00:00Z");
    let mut images = usage("u1", start, "3", "design");
    images.meter = "images".to_owned();
    let mut again = images.clone();
    again.id = "u2".to_owned();
    let mut outputs = Vec::new();
    feed(&mut engine, &table, &[images, again], &mut outputs);
    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].kind, AlertKind::UnratedUsage);
    assert_eq!(fired[0].observed, Some(dec("3")));
    assert_eq!(
        engine
            .state()
            .alerts
            .unrated
            .values()
            .next()
            .unwrap()
            .quantity,
        dec("6")
    );
}

#[test]
fn forecast_rate_starts_at_first_spend() {
    // Spend starts on 20 May at 2 units per hour: 12 days left at that rate is about 576 more.
    let table = contract(
        r#"[{"id": "monthly", "amount": "400", "forecast": true}]"#,
        "",
    );
    let mut engine = PartitionEngine::new(config());
    let start = utc("2026-05-20T00:30:00Z");
    let events: Vec<UsageEvent> = (0..48)
        .map(|hour| {
            usage(
                &format!("f{hour}"),
                start + Duration::hours(hour),
                "2",
                "search",
            )
        })
        .collect();
    let mut outputs = Vec::new();
    feed(&mut engine, &table, &events, &mut outputs);
    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    let forecast = fired[0].forecast.unwrap();
    assert!(forecast > dec("550"), "forecast {forecast}");
    assert!(forecast < dec("600"), "forecast {forecast}");
}

#[test]
fn used_up_pool_alerts_at_once() {
    let prepaid = r#""prepaid": {"amount": "10", "starts": "2026-05-01T00:00:00Z", "ends": "2026-08-01T00:00:00Z"},"#;
    let table = contract("[]", prepaid);
    let mut engine = PartitionEngine::new(config());
    let at = utc("2026-05-02T10:00:00Z");
    let mut outputs = Vec::new();
    feed(
        &mut engine,
        &table,
        &[usage("p1", at, "20", "search")],
        &mut outputs,
    );
    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0].kind, AlertKind::CommitmentExhaustion);
    assert_eq!(fired[0].at, at);
    assert_eq!(fired[0].expected_at, Some(at));
}

/// Builds usage of `shop` at AWS that arrives with AWS's cost, as FOCUS rows do.
fn aws_costed(id: &str, time: DateTime<Utc>, cost: &str) -> UsageEvent {
    let mut usage = event(id, "shop", "2026-01-01T00:00:00Z", "Requests", "2");
    usage.source = "aws".to_owned();
    usage.time = time;
    usage.cost = burnrate_model::VendorCost::from_parts(Some(dec(cost)), Some("USD")).unwrap();
    usage
}

#[test]
fn vendor_costs_fire_priceless_budget() {
    // The contract has no prices: it only gives AWS's costs a budget.
    let json = r#"{"id": "shop-aws", "account": "shop", "vendor": "aws", "currency": "USD", "prices": [],
                   "budgets": [{"id": "aws-monthly", "amount": "10", "thresholds_pct": [100]}]}"#;
    let table = ContractTable::new(vec![parse_contract_json(json).unwrap()]).unwrap();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = Vec::new();
    let may = utc("2026-05-02T00:00:00Z");
    feed(
        &mut engine,
        &table,
        &[
            aws_costed("r1", may, "6.25"),
            aws_costed("r2", may + Duration::hours(1), "3.75000000001"),
            // The same row again is a duplicate, not more spend.
            aws_costed("r2", may + Duration::hours(1), "3.75000000001"),
        ],
        &mut outputs,
    );

    let fired = alerts(&outputs);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0].kind, AlertKind::BudgetThreshold);
    assert_eq!(fired[0].observed, Some(dec("10.00000000001")));
    assert_eq!(
        fired[0].key,
        "budget_threshold/shop/shop-aws/aws-monthly/2026-05-01T00:00:00Z/100"
    );
    assert_eq!(engine.counters().duplicates, 1);

    // A restated cost under a used id is another event, not a repeat.
    let mut restated = Vec::new();
    feed(
        &mut engine,
        &table,
        &[aws_costed("r2", may + Duration::hours(1), "4")],
        &mut restated,
    );
    assert!(
        restated.iter().any(|output| matches!(output, EngineOutput::DeadLetter { reason, .. } if reason.contains("content that differs"))),
        "{restated:#?}"
    );
}
