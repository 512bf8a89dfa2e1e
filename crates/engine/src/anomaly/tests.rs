//! Behaviour of the spend anomaly detector on real traffic turned into hourly spend
//! and on the edge cases of spend series.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};

use super::*;

/// One client's request rate from alibaba/ServeGen: 14 days at 10-minute steps.
const SERVEGEN_TRACE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/servegen/m-small/chunk-5-trace.csv"
));

/// Price of one request, so that the trace becomes spend of about 15 to 160 per hour
/// and its first hour stays below `warmup_min_impact`.
const PRICE_PER_REQUEST: f64 = 0.00005;

/// Share of weekday spend left on Saturdays and Sundays.
const WEEKEND_SHARE: f64 = 0.2;

/// Monday 2024-01-01 00:00 UTC, where every test series starts.
fn series_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

fn hour(index: usize) -> DateTime<Utc> {
    series_start() + Duration::hours(index as i64)
}

/// Sums the trace's 10-minute request rates into spend per hour.
fn servegen_hourly_spend() -> Vec<f64> {
    let mut hourly = vec![0.0; 14 * 24];
    for line in SERVEGEN_TRACE
        .lines()
        .filter(|line| !line.trim().is_empty())
    {
        let mut fields = line.split(',');
        let seconds: f64 = fields.next().unwrap().parse().unwrap();
        let requests_per_second: f64 = fields.next().unwrap().parse().unwrap();
        hourly[(seconds / 3600.0) as usize] += requests_per_second * 600.0 * PRICE_PER_REQUEST;
    }
    hourly
}

/// Four weeks of hourly spend with busy weekdays and quiet weekends: the two weeks of
/// the trace twice, with Saturday and Sunday scaled down to [`WEEKEND_SHARE`].
fn four_weeks_with_quiet_weekends() -> Vec<f64> {
    let two_weeks = servegen_hourly_spend();
    (0..4 * 7 * 24)
        .map(|index| {
            let value = two_weeks[index % two_weeks.len()];
            match hour(index).weekday() {
                Weekday::Sat | Weekday::Sun => value * WEEKEND_SHARE,
                _ => value,
            }
        })
        .collect()
}

fn run(detector: &mut SpendAnomalyDetector, values: &[f64]) -> Vec<Detection> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| detector.observe(hour(index), *value))
        .collect()
}

fn alert_hours(detections: &[Detection]) -> Vec<DateTime<Utc>> {
    detections
        .iter()
        .enumerate()
        .filter(|(_, detection)| detection.anomalous)
        .map(|(index, _)| hour(index))
        .collect()
}

#[test]
fn weekly_pattern_quiet_on_monday_mornings() {
    let values = four_weeks_with_quiet_weekends();
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    let monday_morning_alerts: Vec<_> = alert_hours(&detections)
        .into_iter()
        .filter(|time| time.weekday() == Weekday::Mon && time.hour() < 12)
        .collect();
    assert_eq!(monday_morning_alerts, Vec::<DateTime<Utc>>::new());
}

#[test]
fn weekly_pattern_never_alerts() {
    let values = four_weeks_with_quiet_weekends();
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert_eq!(alert_hours(&detections), Vec::<DateTime<Utc>>::new());
}

#[test]
fn ten_times_spike_alerts_within_its_hour() {
    let mut values = four_weeks_with_quiet_weekends();
    // Wednesday of the third week, 14:00 UTC.
    let spike = 2 * 7 * 24 + 2 * 24 + 14;
    values[spike] *= 10.0;
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let before = run(&mut detector, &values[..spike]);
    assert!(before.iter().all(|detection| !detection.anomalous));

    let expectation = detector
        .expected(hour(spike))
        .expect("warmed up after two weeks");
    assert!(
        expectation.upper < values[spike],
        "{expectation:?} does not flag {}",
        values[spike]
    );
    assert!(
        expectation.upper > values[spike] / 10.0,
        "{expectation:?} flags the normal value"
    );

    let detection = detector.observe(hour(spike), values[spike]);
    assert!(detection.anomalous, "{detection:?}");
    assert!(detection.score >= 0.5, "{detection:?}");

    let after: Vec<_> = (spike + 1..spike + 48)
        .map(|index| detector.observe(hour(index), values[index]))
        .collect();
    let alerts_after: Vec<_> = after
        .iter()
        .filter(|detection| detection.anomalous)
        .collect();
    assert!(alerts_after.is_empty(), "{alerts_after:?}");
}

#[test]
fn first_spend_alerts_only_when_large() {
    let config = AnomalyConfig::default();
    let zeros = vec![0.0; 3 * 7 * 24];
    let first_spend = zeros.len();

    for (spend, alerts) in [
        (5.0, false),
        (config.warmup_min_impact * 0.99, false),
        (config.warmup_min_impact, true),
        (5_000.0, true),
    ] {
        let mut detector = SpendAnomalyDetector::new(config.clone());
        let before = run(&mut detector, &zeros);
        assert!(before.iter().all(|detection| !detection.anomalous));

        let detection = detector.observe(hour(first_spend), spend);
        assert_eq!(
            detection.anomalous, alerts,
            "after zeros, spend {spend}: {detection:?}"
        );

        let mut fresh = SpendAnomalyDetector::new(config.clone());
        let detection = fresh.observe(hour(0), spend);
        assert_eq!(
            detection.anomalous, alerts,
            "first bucket ever, spend {spend}: {detection:?}"
        );
    }
}

#[test]
fn steady_new_series_alerts_once_at_most() {
    // A new series spending 150 an hour from the start: the first bucket is large in
    // absolute terms, the ones after it match the running mean.
    let values = vec![150.0; 3 * 7 * 24];
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert_eq!(alert_hours(&detections), vec![hour(0)]);
}

#[test]
fn flat_zero_series_never_alerts() {
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &vec![0.0; 8 * 7 * 24]);

    assert!(detections.iter().all(|detection| !detection.anomalous));
    assert!(detections.iter().all(|detection| detection.score == 0.0));
    assert_eq!(detector.expected(hour(8 * 7 * 24)), None);
}

#[test]
fn moderate_single_point_noise_stays_quiet() {
    let mut values = four_weeks_with_quiet_weekends();
    // One bucket in every 29 is 30 % above the trace, so the bumps fall on every hour
    // of the day and every day of the week.
    // NOTE: 40 % bumps alert once, on a steep evening ramp where the baseline lags the
    // trace by about 8 % and the bump just passes `min_relative_change`.
    for index in (0..values.len()).step_by(29) {
        values[index] *= 1.3;
    }
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert_eq!(alert_hours(&detections), Vec::<DateTime<Utc>>::new());
}

#[test]
fn noisy_flat_series_stays_quiet() {
    // Spend of 50 an hour with ±20 % noise from a fixed linear congruential generator.
    let mut seed: u64 = 42;
    let values: Vec<f64> = (0..6 * 7 * 24)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let uniform = (seed >> 11) as f64 / (1u64 << 53) as f64;
            50.0 * (0.8 + 0.4 * uniform)
        })
        .collect();
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert_eq!(alert_hours(&detections), Vec::<DateTime<Utc>>::new());
}

#[test]
fn zero_outage_then_recovery_stays_quiet() {
    let mut values = four_weeks_with_quiet_weekends();
    // Three days without spend from Tuesday of the third week, as when a feed stops.
    let outage_start = 2 * 7 * 24 + 24;
    for value in &mut values[outage_start..outage_start + 3 * 24] {
        *value = 0.0;
    }
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert_eq!(alert_hours(&detections), Vec::<DateTime<Utc>>::new());
}

#[test]
fn tiny_series_stays_quiet() {
    // A series of cents per hour that suddenly spends ten times as much: far above
    // its baseline, but below `min_impact`.
    let mut values = vec![0.05; 3 * 7 * 24];
    let spike = values.len() - 24;
    values[spike] = 0.5;
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert!(detections[spike].score >= 0.5, "{:?}", detections[spike]);
    assert_eq!(alert_hours(&detections), Vec::<DateTime<Utc>>::new());
}

#[test]
fn drop_scores_high_without_alert() {
    let mut values = vec![100.0; 3 * 7 * 24];
    let drop = values.len() - 24;
    values[drop] = 5.0;
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let detections = run(&mut detector, &values);

    assert!(detections[drop].score >= 0.5, "{:?}", detections[drop]);
    assert!(!detections[drop].anomalous);
}

#[test]
fn expected_is_none_during_warmup() {
    let config = AnomalyConfig::default();
    let mut detector = SpendAnomalyDetector::new(config.clone());
    assert_eq!(detector.expected(hour(0)), None);

    let warmup = config.warmup_buckets as usize;
    for index in 0..warmup {
        assert_eq!(detector.expected(hour(index)), None, "bucket {index}");
        detector.observe(hour(index), 20.0);
    }
    let expectation = detector.expected(hour(warmup)).expect("warm-up is over");
    assert!(
        (expectation.baseline - 20.0).abs() < 1e-9,
        "{expectation:?}"
    );
    assert!(
        expectation.upper >= 20.0 * (1.0 + config.min_relative_change),
        "{expectation:?}"
    );
}

#[test]
fn expected_upper_matches_observe() {
    let values = four_weeks_with_quiet_weekends();
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    run(&mut detector, &values[..3 * 7 * 24]);
    let next = hour(3 * 7 * 24);
    let upper = detector.expected(next).unwrap().upper;

    let mut below = detector.clone();
    assert!(!below.observe(next, upper * 0.999).anomalous);
    let mut above = detector.clone();
    assert!(above.observe(next, upper * 1.001).anomalous);
}

#[test]
fn replayed_bucket_is_not_learned() {
    let values = four_weeks_with_quiet_weekends();
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    run(&mut detector, &values[..2 * 7 * 24]);
    let state = detector.state().clone();

    detector.observe(hour(7 * 24), 1_000_000.0);
    assert_eq!(detector.state(), &state);
}

#[test]
fn snapshot_restore_is_bit_identical() {
    let values = four_weeks_with_quiet_weekends();
    let config = AnomalyConfig::default();
    let mut uninterrupted = SpendAnomalyDetector::new(config.clone());
    let expected = run(&mut uninterrupted, &values);

    let split = 2 * 7 * 24 + 5;
    let mut first = SpendAnomalyDetector::new(config.clone());
    let mut detections = run(&mut first, &values[..split]);
    // Snapshots of partition state are postcard, which stores f64 bit for bit.
    let snapshot = postcard::to_allocvec(first.state()).unwrap();
    let state: DetectorState = postcard::from_bytes(&snapshot).unwrap();
    let mut restored = SpendAnomalyDetector::from_state(config, state);
    detections
        .extend((split..values.len()).map(|index| restored.observe(hour(index), values[index])));

    assert_eq!(detections.len(), expected.len());
    for (index, (got, want)) in detections.iter().zip(&expected).enumerate() {
        assert_eq!(got.score.to_bits(), want.score.to_bits(), "bucket {index}");
        assert_eq!(
            got.baseline.to_bits(),
            want.baseline.to_bits(),
            "bucket {index}"
        );
        assert_eq!(got.anomalous, want.anomalous, "bucket {index}");
    }
    assert_eq!(restored.state(), uninterrupted.state());
}

#[test]
fn snapshot_with_wrong_profile_size_is_rejected() {
    let detector = SpendAnomalyDetector::new(AnomalyConfig::default());
    let mut snapshot = serde_json::to_value(detector.state()).unwrap();
    snapshot["weekly"].as_array_mut().unwrap().pop();

    assert!(serde_json::from_value::<DetectorState>(snapshot).is_err());
}

#[test]
fn config_defaults_fill_missing_fields() {
    let config: AnomalyConfig = serde_json::from_str(r#"{"min_impact": 5.0}"#).unwrap();
    assert_eq!(config.min_impact, 5.0);
    assert_eq!(
        config.warmup_buckets,
        AnomalyConfig::default().warmup_buckets
    );
    assert_eq!(AnomalyConfig::default().validate(), Ok(()));
}

#[test]
fn config_rejects_unknown_field() {
    let error = serde_json::from_str::<AnomalyConfig>(r#"{"min_inpact": 5.0}"#).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `min_inpact`"),
        "{error}"
    );
}

#[test]
fn config_reports_every_invalid_setting() {
    let config = AnomalyConfig {
        level_smoothing: 0.0,
        alert_z: f64::NAN,
        min_impact: -1.0,
        ..AnomalyConfig::default()
    };
    let problems = config.validate().unwrap_err();
    let settings: Vec<_> = problems.iter().map(|problem| problem.setting).collect();
    assert_eq!(settings, vec!["level_smoothing", "min_impact", "alert_z"]);
}
