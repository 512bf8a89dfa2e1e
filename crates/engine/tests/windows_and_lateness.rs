//! Windows, billing periods, duplicates, late events and dead letters, end to end through the engine.

mod common;

use burnrate_engine::{EngineOutput, PartitionEngine};
use burnrate_model::{AggregateKind, WindowKind};
use common::*;

#[test]
fn event_at_window_end_opens_next_window() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(
        &mut engine,
        &table,
        &[
            event(
                "e1",
                "globex",
                "2026-05-06T10:59:59Z",
                "output_tokens",
                "1000",
            ),
            event(
                "e2",
                "globex",
                "2026-05-06T11:00:00Z",
                "output_tokens",
                "2000",
            ),
        ],
    );
    engine.close_all(&mut outputs);

    let hours = of_kind(&outputs, WindowKind::Hour, AggregateKind::Final);
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].window_start, utc("2026-05-06T10:00:00Z"));
    assert_eq!(hours[0].quantity, dec("1000"));
    assert_eq!(hours[1].window_start, utc("2026-05-06T11:00:00Z"));
    assert_eq!(hours[1].quantity, dec("2000"));
    assert_eq!(hours[1].cost, dec("0.016"));
}

#[test]
fn window_closes_once_watermark_passes_lateness() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(
        &mut engine,
        &table,
        &[event(
            "e1",
            "globex",
            "2026-05-06T10:30:00Z",
            "output_tokens",
            "1000",
        )],
    );
    // Watermark = 11:10:59 - 1 minute = 11:09:59: the 10:00 window (end 11:00 + 10 min) is still open.
    outputs.extend(run(
        &mut engine,
        &table,
        &[event(
            "e2",
            "globex",
            "2026-05-06T11:10:59Z",
            "output_tokens",
            "1",
        )],
    ));
    assert!(of_kind(&outputs, WindowKind::Hour, AggregateKind::Final).is_empty());
    // Watermark = 11:10:00 exactly: it closes.
    let more = run(
        &mut engine,
        &table,
        &[event(
            "e3",
            "globex",
            "2026-05-06T11:11:00Z",
            "output_tokens",
            "1",
        )],
    );
    let finals = of_kind(&more, WindowKind::Hour, AggregateKind::Final);
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].window_start, utc("2026-05-06T10:00:00Z"));
    assert_eq!(finals[0].quantity, dec("1000"));
}

#[test]
fn late_event_yields_one_correction() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(
        &mut engine,
        &table,
        &[
            event(
                "e1",
                "globex",
                "2026-05-06T10:30:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "e2",
                "globex",
                "2026-05-06T13:00:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "late",
                "globex",
                "2026-05-06T10:45:00Z",
                "output_tokens",
                "500",
            ),
        ],
    );
    engine.close_all(&mut outputs);

    let corrections = of_kind(&outputs, WindowKind::Hour, AggregateKind::Correction);
    assert_eq!(corrections.len(), 1);
    assert_eq!(corrections[0].window_start, utc("2026-05-06T10:00:00Z"));
    assert_eq!(corrections[0].quantity, dec("500"));
    assert_eq!(corrections[0].cost, dec("0.004"));

    let periods = of_kind(&outputs, WindowKind::Period, AggregateKind::Final);
    assert_eq!(periods.len(), 1);
    assert_eq!(
        periods[0].quantity,
        dec("2500"),
        "the late event is in the period total"
    );
    assert_eq!(periods[0].cost, dec("0.02"));
    assert_eq!(engine.counters().late, 1);
    assert_eq!(engine.counters().corrections, 1);
}

#[test]
fn event_older_than_retention_is_dead_lettered() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let outputs = run(
        &mut engine,
        &table,
        &[
            event(
                "e1",
                "globex",
                "2026-05-06T10:00:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "old",
                "globex",
                "2026-03-01T10:00:00Z",
                "output_tokens",
                "1000",
            ),
        ],
    );
    let dead: Vec<&String> = outputs
        .iter()
        .filter_map(|output| match output {
            EngineOutput::DeadLetter { reason, offset, .. } => {
                assert_eq!(*offset, 1);
                Some(reason)
            }
            _ => None,
        })
        .collect();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].contains("older than the retention horizon"),
        "{}",
        dead[0]
    );
    assert!(dead[0].contains("2026-03-01T10:00:00"), "{}", dead[0]);
    assert_eq!(engine.counters().dead_lettered, 1);
    assert_eq!(engine.counters().rated, 1);
}

#[test]
fn late_event_for_previous_period_corrects_it() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(
        &mut engine,
        &table,
        &[
            event(
                "april",
                "globex",
                "2026-04-30T23:00:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "may",
                "globex",
                "2026-05-02T00:00:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "late-april",
                "globex",
                "2026-04-30T23:30:00Z",
                "output_tokens",
                "3000",
            ),
        ],
    );
    engine.close_all(&mut outputs);

    let april_finals: Vec<_> = of_kind(&outputs, WindowKind::Period, AggregateKind::Final)
        .into_iter()
        .filter(|aggregate| aggregate.window_start == utc("2026-04-01T00:00:00Z"))
        .collect();
    assert_eq!(april_finals.len(), 1);
    assert_eq!(april_finals[0].quantity, dec("1000"));
    let april_corrections = of_kind(&outputs, WindowKind::Period, AggregateKind::Correction);
    assert_eq!(april_corrections.len(), 1);
    assert_eq!(april_corrections[0].quantity, dec("3000"));
    assert_eq!(april_corrections[0].window_end, utc("2026-05-01T00:00:00Z"));
}

#[test]
fn duplicates_are_counted_once() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let original = event(
        "e1",
        "globex",
        "2026-05-06T10:00:00Z",
        "output_tokens",
        "1000",
    );
    let mut outputs = run(
        &mut engine,
        &table,
        &[original.clone(), original.clone(), original],
    );
    engine.close_all(&mut outputs);

    let periods = of_kind(&outputs, WindowKind::Period, AggregateKind::Final);
    assert_eq!(periods[0].quantity, dec("1000"));
    assert_eq!(periods[0].cost, dec("0.008"));
    assert_eq!(engine.counters().duplicates, 2);
    assert_eq!(engine.counters().rated, 1);
}

#[test]
fn same_id_other_source_counts() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let first = event(
        "e1",
        "globex",
        "2026-05-06T10:00:00Z",
        "output_tokens",
        "1000",
    );
    let mut other_source = first.clone();
    other_source.source = "anthropic".to_owned();
    run(&mut engine, &table, &[first, other_source]);
    assert_eq!(engine.counters().duplicates, 0);
    assert_eq!(
        engine.counters().unrated,
        1,
        "no contract covers vendor anthropic"
    );
}

#[test]
fn berlin_periods_follow_local_midnight_across_dst() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = run(
        &mut engine,
        &table,
        &[
            // 22:59 UTC on 28 February is still February in Berlin (UTC+1).
            event(
                "feb",
                "acme",
                "2026-02-28T22:59:00Z",
                "output_tokens",
                "1000",
            ),
            event(
                "mar",
                "acme",
                "2026-02-28T23:00:00Z",
                "output_tokens",
                "1000",
            ),
            // After the March DST change Berlin is UTC+2: 22:00 UTC on 31 March is April.
            event(
                "apr",
                "acme",
                "2026-03-31T22:00:00Z",
                "output_tokens",
                "1000",
            ),
        ],
    );
    engine.close_all(&mut outputs);

    let periods: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        of_kind(&outputs, WindowKind::Period, AggregateKind::Final)
            .iter()
            .map(|aggregate| (aggregate.window_start, aggregate.window_end))
            .collect();
    assert_eq!(
        periods,
        vec![
            (utc("2026-01-31T23:00:00Z"), utc("2026-02-28T23:00:00Z")),
            (utc("2026-02-28T23:00:00Z"), utc("2026-03-31T22:00:00Z")),
            (utc("2026-03-31T22:00:00Z"), utc("2026-04-30T22:00:00Z")),
        ]
    );
}

#[test]
fn idle_partition_closes_windows() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let mut outputs = Vec::new();
    let arrival = utc("2026-12-04T09:00:00Z");
    engine.process(
        event(
            "e1",
            "globex",
            "2026-05-06T10:30:00Z",
            "output_tokens",
            "1000",
        ),
        0,
        Some(arrival),
        &table,
        &mut outputs,
    );
    engine.advance_idle(arrival + chrono::Duration::minutes(4), &mut outputs);
    assert!(outputs.is_empty(), "not idle before the 5-minute timeout");
    engine.advance_idle(arrival + chrono::Duration::minutes(45), &mut outputs);
    let finals = of_kind(&outputs, WindowKind::Hour, AggregateKind::Final);
    assert_eq!(
        finals.len(),
        1,
        "45 idle minutes move event time past 11:10"
    );
}

#[test]
fn prepaid_split_reaches_aggregates() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    // 600,000 input tokens cost 10 + 25 = 35 USD; then 400,000 more cost 20, crossing the 50 USD pool.
    let mut outputs = run(
        &mut engine,
        &table,
        &[
            event(
                "e1",
                "acme",
                "2026-05-06T10:00:00Z",
                "input_tokens",
                "600000",
            ),
            event(
                "e2",
                "acme",
                "2026-05-06T10:10:00Z",
                "input_tokens",
                "400000",
            ),
        ],
    );
    engine.close_all(&mut outputs);
    let period = of_kind(&outputs, WindowKind::Period, AggregateKind::Final);
    assert_eq!(period.len(), 1);
    assert_eq!(period[0].cost, dec("55"));
    assert_eq!(period[0].prepaid_applied, dec("50"));
    assert_eq!(period[0].billed, dec("5"));
    assert_eq!(
        period[0].dimensions.get("team").map(String::as_str),
        Some("search")
    );
}

#[test]
fn reused_id_with_other_content_is_dead_lettered() {
    let table = table();
    let mut engine = PartitionEngine::new(config());
    let original = event(
        "e1",
        "globex",
        "2026-05-06T10:00:00Z",
        "output_tokens",
        "1000",
    );
    let mut changed = original.clone();
    changed.quantity = dec("5000");
    let mut outputs = run(&mut engine, &table, &[original.clone(), changed, original]);
    engine.close_all(&mut outputs);

    let dead: Vec<&String> = outputs
        .iter()
        .filter_map(|output| match output {
            EngineOutput::DeadLetter { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].contains("differs from the event already counted"),
        "{}",
        dead[0]
    );
    assert_eq!(
        engine.counters().duplicates,
        1,
        "the identical repeat is a plain duplicate"
    );
    let periods = of_kind(&outputs, WindowKind::Period, AggregateKind::Final);
    assert_eq!(
        periods[0].quantity,
        dec("1000"),
        "only the first version is counted"
    );
}
