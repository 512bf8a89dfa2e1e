//! The Prometheus metrics of one burnrate instance: pipeline health counters, consumer
//! lag, restore and alert latency histograms, the contracts table, and bounded spend
//! and budget-use series.
//!
//! Names are in the `burnrate_` namespace, counters end in `_total`, durations in
//! `_seconds` and sizes in `_bytes`. Labels are low-cardinality (topic, partition,
//! kind, status) except on the spend and budget series, whose label sets are bounded
//! by `max_series`. Every metric is safe to update from many threads through an
//! `Arc<Metrics>`.

use std::time::Duration;

use burnrate_engine::Counters;
use burnrate_model::{AlertKind, AlertStatus};
use chrono::{DateTime, Utc};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use rust_decimal::Decimal;

use crate::bounded_gauge::{BoundedGauge, Fold};
use crate::dead_letter_kind::DeadLetterKind;

/// The content type of [`Metrics::encode`]'s output.
pub const TEXT_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Default maximum number of spend (and of budget use) series with their own labels.
pub const DEFAULT_MAX_SERIES: usize = 200;

/// Upper bounds of the state restore duration histogram, in seconds.
const RESTORE_BUCKETS: [f64; 13] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Upper bounds of the event-to-alert latency histogram, in seconds. Late events reach
/// an alert hours after their event time, so the buckets go up to a day.
const ALERT_LATENCY_BUCKETS: [f64; 14] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0,
];

/// One account's spend on one meter of one vendor in its current billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSpend<'a> {
    /// The account charged.
    pub account: &'a str,
    /// The vendor (usage event source), such as `openai`.
    pub vendor: &'a str,
    /// The meter, such as `output_tokens`.
    pub meter: &'a str,
    /// ISO 4217 code or virtual currency of `amount`.
    pub currency: &'a str,
    /// Spend so far in the period.
    pub amount: Decimal,
}

/// How much of one budget its current period has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetUse<'a> {
    /// The account the budget belongs to.
    pub account: &'a str,
    /// The budget's id, which names its scope.
    pub budget: &'a str,
    /// The budget's currency.
    pub currency: &'a str,
    /// Period spend divided by the budget amount: 1 means the budget is used up.
    pub ratio: Decimal,
}

/// Every metric of the pipeline, registered in one registry.
///
/// Counters and gauges are public so the runtime updates them directly. The methods
/// cover updates that need a unit conversion or a fixed label value.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,

    /// Records read from Kafka, by topic and partition.
    pub records_consumed: IntCounterVec,
    /// Usage events priced against a contract.
    pub events_rated: IntCounter,
    /// Usage events with no price in force at their event time.
    pub events_unrated: IntCounter,
    /// Usage events that arrived after their window closed and went to their billing
    /// period as a correction.
    pub late_events: IntCounter,
    /// Usage events dropped as repeats of a (source, id) already counted.
    pub duplicate_events: IntCounter,
    /// Records sent to the dead-letter topic, by [`DeadLetterKind`].
    pub dead_letters: IntCounterVec,
    /// Correction records emitted for closed windows.
    pub corrections: IntCounter,
    /// Alerts published, by alert kind and status.
    pub alerts: IntCounterVec,
    /// Records between the consumer's position and the end of the partition, by topic
    /// and partition.
    pub consumer_lag: IntGaugeVec,
    /// Time to restore one partition's state from the changelog.
    pub restore_duration: Histogram,
    /// Bytes of changelog records read while restoring partition state.
    pub restored_bytes: IntCounter,
    /// Time from an event's event time to the publication of the alert it triggered.
    pub event_to_alert_latency: HistogramVec,
    /// Bytes written to the state changelog topic.
    pub changelog_written_bytes: IntCounter,
    /// Contracts in the contracts table.
    pub contracts: IntGauge,
    /// Unix time of the last update applied to the contracts table.
    pub contracts_last_update: Gauge,
    /// Contract records rejected as invalid, which leave the table unchanged.
    pub contract_updates_rejected: IntCounter,
    /// Errors handled without stopping, such as a failed produce or commit.
    pub processing_errors: IntCounter,
    /// Retries of a transient failure, such as an unreachable schema registry.
    pub processing_retries: IntCounter,

    period_spend: BoundedGauge,
    budget_use: BoundedGauge,
}

impl Metrics {
    /// Creates and registers every metric. `max_series` bounds the spend series and,
    /// separately, the budget use series.
    pub fn new(max_series: usize) -> prometheus::Result<Metrics> {
        let registry = Registry::new();

        let records_consumed = IntCounterVec::new(
            opts("records_consumed_total", "Records read from Kafka."),
            &["topic", "partition"],
        )?;
        let events_rated = IntCounter::with_opts(opts(
            "events_rated_total",
            "Usage events priced against a contract.",
        ))?;
        let events_unrated = IntCounter::with_opts(opts(
            "events_unrated_total",
            "Usage events with no price in force at their event time, kept for re-rating.",
        ))?;
        let late_events = IntCounter::with_opts(opts(
            "late_events_total",
            "Usage events that arrived after their window closed and were added to their billing period.",
        ))?;
        let duplicate_events = IntCounter::with_opts(opts(
            "duplicate_events_total",
            "Usage events dropped as repeats of a (source, id) already counted.",
        ))?;
        let dead_letters = IntCounterVec::new(
            opts(
                "dead_letters_total",
                "Records sent to the dead-letter topic, by reason kind.",
            ),
            &["reason"],
        )?;
        let corrections = IntCounter::with_opts(opts(
            "corrections_total",
            "Correction records emitted for windows that had already closed.",
        ))?;
        let alerts = IntCounterVec::new(
            opts("alerts_total", "Alerts published."),
            &["kind", "status"],
        )?;
        let consumer_lag = IntGaugeVec::new(
            opts(
                "consumer_lag",
                "Records between the consumer position and the end of the partition.",
            ),
            &["topic", "partition"],
        )?;
        let restore_duration = Histogram::with_opts(
            HistogramOpts::new(
                "state_restore_duration_seconds",
                "Time to restore one partition's state.",
            )
            .namespace("burnrate")
            .buckets(RESTORE_BUCKETS.to_vec()),
        )?;
        let restored_bytes = IntCounter::with_opts(opts(
            "state_restored_bytes_total",
            "Bytes of changelog records read while restoring partition state.",
        ))?;
        let event_to_alert_latency = HistogramVec::new(
            HistogramOpts::new(
                "event_to_alert_latency_seconds",
                "Time from the moment the record that triggered an alert was written to the usage topic (its Kafka timestamp) to the alert's publication.",
            )
            .namespace("burnrate")
            .buckets(ALERT_LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )?;
        let changelog_written_bytes = IntCounter::with_opts(opts(
            "changelog_written_bytes_total",
            "Bytes written to the state changelog topic.",
        ))?;
        let contracts =
            IntGauge::with_opts(opts("contracts", "Contracts in the contracts table."))?;
        let contracts_last_update = Gauge::with_opts(opts(
            "contracts_last_update_timestamp_seconds",
            "Unix time of the last update applied to the contracts table.",
        ))?;
        let contract_updates_rejected = IntCounter::with_opts(opts(
            "contract_updates_rejected_total",
            "Contract records rejected as invalid; the table keeps the previous version.",
        ))?;
        let processing_errors = IntCounter::with_opts(opts(
            "processing_errors_total",
            "Errors handled without stopping, such as a failed produce or commit.",
        ))?;
        let processing_retries = IntCounter::with_opts(opts(
            "processing_retries_total",
            "Retries of transient failures, such as an unreachable schema registry.",
        ))?;
        let period_spend = BoundedGauge::new(
            opts(
                "period_spend",
                "Spend in the current billing period, in the currency label's unit. Series beyond the configured bound are folded into account=\"other\".",
            ),
            &["account", "vendor", "meter", "currency"],
            max_series,
            Fold::Sum,
        )?;
        let budget_use = BoundedGauge::new(
            opts(
                "budget_use_ratio",
                "Period spend divided by the budget amount. The budget=\"other\" series is the highest ratio of the budgets beyond the configured bound.",
            ),
            &["account", "budget", "currency"],
            max_series,
            Fold::Max,
        )?;

        registry.register(Box::new(records_consumed.clone()))?;
        registry.register(Box::new(events_rated.clone()))?;
        registry.register(Box::new(events_unrated.clone()))?;
        registry.register(Box::new(late_events.clone()))?;
        registry.register(Box::new(duplicate_events.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(corrections.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        registry.register(Box::new(consumer_lag.clone()))?;
        registry.register(Box::new(restore_duration.clone()))?;
        registry.register(Box::new(restored_bytes.clone()))?;
        registry.register(Box::new(event_to_alert_latency.clone()))?;
        registry.register(Box::new(changelog_written_bytes.clone()))?;
        registry.register(Box::new(contracts.clone()))?;
        registry.register(Box::new(contracts_last_update.clone()))?;
        registry.register(Box::new(contract_updates_rejected.clone()))?;
        registry.register(Box::new(processing_errors.clone()))?;
        registry.register(Box::new(processing_retries.clone()))?;
        registry.register(Box::new(period_spend.gauge().clone()))?;
        registry.register(Box::new(budget_use.gauge().clone()))?;

        // A labelled counter appears in a scrape only after its first update, so the
        // known label values start at zero and rate() works from the first increment.
        for kind in DeadLetterKind::ALL {
            dead_letters.with_label_values(&[kind.as_str()]);
        }
        // Alerts are rare, so without this the first alert of each kind would be the
        // series' first sample, which rate() and increase() never count.
        for kind in ALERT_KINDS {
            for status in [AlertStatus::Firing, AlertStatus::Resolved] {
                alerts.with_label_values(&[alert_kind_label(kind), alert_status_label(status)]);
            }
            event_to_alert_latency.with_label_values(&[alert_kind_label(kind)]);
        }

        Ok(Metrics {
            registry,
            records_consumed,
            events_rated,
            events_unrated,
            late_events,
            duplicate_events,
            dead_letters,
            corrections,
            alerts,
            consumer_lag,
            restore_duration,
            restored_bytes,
            event_to_alert_latency,
            changelog_written_bytes,
            contracts,
            contracts_last_update,
            contract_updates_rejected,
            processing_errors,
            processing_retries,
            period_spend,
            budget_use,
        })
    }

    /// Returns the registry, for adding process or library metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one record read from `topic` and `partition`.
    pub fn record_consumed(&self, topic: &str, partition: i32) {
        self.consumed_counter(topic, partition).inc();
    }

    /// Returns the consumed-records counter of `topic` and `partition`, for callers
    /// that count every record and should not look the labels up each time.
    pub fn consumed_counter(&self, topic: &str, partition: i32) -> IntCounter {
        self.records_consumed
            .with_label_values(&[topic, &partition.to_string()])
    }

    /// Adds what the engine counted while processing (the difference of its
    /// counters before and after). Its dead letters are counted per record by
    /// [`Metrics::dead_lettered`], and its alerts by [`Metrics::alert_published`].
    pub fn record_engine_counts(&self, delta: &Counters) {
        self.events_rated.inc_by(delta.rated);
        self.events_unrated.inc_by(delta.unrated);
        self.late_events.inc_by(delta.late);
        self.duplicate_events.inc_by(delta.duplicates);
        self.corrections.inc_by(delta.corrections);
    }

    /// Sets the lag of `topic` and `partition` in records.
    pub fn set_consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }

    /// Removes the lag series of a partition this instance no longer owns, so a
    /// revoked partition does not keep reporting its last lag.
    pub fn remove_consumer_lag(&self, topic: &str, partition: i32) {
        // A partition revoked before its first lag update has no series, which is fine.
        let _ = self
            .consumer_lag
            .remove_label_values(&[topic, &partition.to_string()]);
    }

    /// Counts one record sent to the dead-letter topic.
    pub fn dead_lettered(&self, kind: DeadLetterKind) {
        self.dead_letters.with_label_values(&[kind.as_str()]).inc();
    }

    /// Counts one published alert.
    pub fn alert_published(&self, kind: AlertKind, status: AlertStatus) {
        self.alerts
            .with_label_values(&[alert_kind_label(kind), alert_status_label(status)])
            .inc();
    }

    /// Records the time from `written`, when the triggering record reached the usage
    /// topic, to the alert's publication. A negative span (clock skew) counts as zero.
    pub fn observe_event_to_alert(
        &self,
        kind: AlertKind,
        written: DateTime<Utc>,
        published_at: DateTime<Utc>,
    ) {
        let latency = (published_at - written).to_std().unwrap_or(Duration::ZERO);
        self.event_to_alert_latency
            .with_label_values(&[alert_kind_label(kind)])
            .observe(latency.as_secs_f64());
    }

    /// Records one partition restore: its duration and the changelog bytes it read.
    pub fn observe_restore(&self, duration: Duration, bytes: u64) {
        self.restore_duration.observe(duration.as_secs_f64());
        self.restored_bytes.inc_by(bytes);
    }

    /// Records the contracts table after an update: its size and the update's time.
    pub fn contracts_updated(&self, table_size: usize, at: DateTime<Utc>) {
        self.contracts
            .set(i64::try_from(table_size).unwrap_or(i64::MAX));
        // Milliseconds keep the sub-second part without going through a float of nanoseconds.
        self.contracts_last_update
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// Replaces the period spend series with `spends`, the spend of every (account,
    /// vendor, meter, currency) in its current billing period.
    ///
    /// The `max_series` largest amounts keep their labels and the rest are summed into
    /// one series per currency labelled `account="other", vendor="other",
    /// meter="other"`. Series absent from `spends` are removed.
    pub fn set_period_spend<'a>(&self, spends: impl IntoIterator<Item = PeriodSpend<'a>>) {
        self.period_spend.replace(spends.into_iter().map(|spend| {
            let labels = [spend.account, spend.vendor, spend.meter, spend.currency];
            (labels.map(str::to_owned).to_vec(), spend.amount)
        }));
    }

    /// Replaces the budget use series with `uses`, bounded like
    /// [`Metrics::set_period_spend`]. The folded series per currency carries the
    /// highest ratio among the folded budgets.
    pub fn set_budget_use<'a>(&self, uses: impl IntoIterator<Item = BudgetUse<'a>>) {
        self.budget_use.replace(uses.into_iter().map(|usage| {
            let labels = [usage.account, usage.budget, usage.currency];
            (labels.map(str::to_owned).to_vec(), usage.ratio)
        }));
    }

    /// Encodes every metric in the Prometheus text exposition format 0.0.4.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec fails only for invalid metric names or label values, and
        // `new` registers fixed, valid names.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "Failed to encode metrics.");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("burnrate")
}

/// Every alert kind, for the series created at zero.
const ALERT_KINDS: [AlertKind; 5] = [
    AlertKind::BudgetThreshold,
    AlertKind::BudgetForecast,
    AlertKind::CommitmentExhaustion,
    AlertKind::Anomaly,
    AlertKind::UnratedUsage,
];

fn alert_kind_label(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::BudgetThreshold => "budget_threshold",
        AlertKind::BudgetForecast => "budget_forecast",
        AlertKind::CommitmentExhaustion => "commitment_exhaustion",
        AlertKind::Anomaly => "anomaly",
        AlertKind::UnratedUsage => "unrated_usage",
    }
}

fn alert_status_label(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn spend<'a>(
        account: &'a str,
        meter: &'a str,
        currency: &'a str,
        amount: &str,
    ) -> PeriodSpend<'a> {
        PeriodSpend {
            account,
            vendor: "openai",
            meter,
            currency,
            amount: dec(amount),
        }
    }

    /// Returns the lines of `text` that are samples of `metric`, without comments.
    fn samples(text: &str, metric: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with(metric) && line[metric.len()..].starts_with(['{', ' ']))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn counter_appears_in_encoding() {
        let metrics = Metrics::new(DEFAULT_MAX_SERIES).unwrap();
        metrics.record_consumed("usage", 3);
        metrics.record_consumed("usage", 3);
        metrics.events_rated.inc_by(5);
        metrics.dead_lettered(DeadLetterKind::Decode);
        metrics.alert_published(AlertKind::BudgetThreshold, AlertStatus::Firing);

        let text = metrics.encode();
        assert!(
            text.contains("# TYPE burnrate_records_consumed_total counter"),
            "{text}"
        );
        assert!(
            text.contains(r#"burnrate_records_consumed_total{partition="3",topic="usage"} 2"#),
            "{text}"
        );
        assert!(text.contains("burnrate_events_rated_total 5"), "{text}");
        assert!(
            text.contains(r#"burnrate_dead_letters_total{reason="decode"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"burnrate_dead_letters_total{reason="engine"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"burnrate_alerts_total{kind="budget_threshold",status="firing"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"burnrate_alerts_total{kind="anomaly",status="resolved"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"burnrate_event_to_alert_latency_seconds_count{kind="unrated_usage"} 0"#
            ),
            "{text}"
        );
    }

    #[test]
    fn every_name_follows_the_conventions() {
        let metrics = Metrics::new(DEFAULT_MAX_SERIES).unwrap();
        for family in metrics.registry().gather() {
            let name = family.name();
            assert!(name.starts_with("burnrate_"), "{name}");
            if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
                assert!(name.ends_with("_total"), "{name}");
            }
            if family.get_field_type() == prometheus::proto::MetricType::HISTOGRAM {
                assert!(name.ends_with("_seconds"), "{name}");
            }
        }
    }

    #[test]
    fn histograms_record_seconds() {
        let metrics = Metrics::new(DEFAULT_MAX_SERIES).unwrap();
        metrics.observe_restore(Duration::from_millis(1500), 4096);
        let event_time = DateTime::parse_from_rfc3339("2026-05-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        metrics.observe_event_to_alert(
            AlertKind::Anomaly,
            event_time,
            event_time + chrono::Duration::seconds(42),
        );

        let text = metrics.encode();
        assert!(
            text.contains("burnrate_state_restore_duration_seconds_sum 1.5"),
            "{text}"
        );
        assert!(
            text.contains("burnrate_state_restored_bytes_total 4096"),
            "{text}"
        );
        assert!(
            text.contains(r#"burnrate_event_to_alert_latency_seconds_sum{kind="anomaly"} 42"#),
            "{text}"
        );
    }

    #[test]
    fn contracts_update_sets_size_and_time() {
        let metrics = Metrics::new(DEFAULT_MAX_SERIES).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-05-06T10:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        metrics.contracts_updated(12, at);

        let text = metrics.encode();
        assert!(text.contains("burnrate_contracts 12"), "{text}");
        assert!(
            text.contains("burnrate_contracts_last_update_timestamp_seconds 1778061600.25"),
            "{text}"
        );
    }

    #[test]
    fn spend_within_bound_keeps_labels() {
        let metrics = Metrics::new(3).unwrap();
        metrics.set_period_spend([
            spend("acme", "input_tokens", "USD", "12.5"),
            spend("acme", "output_tokens", "USD", "0.0000025"),
        ]);

        let lines = samples(&metrics.encode(), "burnrate_period_spend");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.contains(
            &r#"burnrate_period_spend{account="acme",currency="USD",meter="input_tokens",vendor="openai"} 12.5"#.to_owned()
        ));
        assert!(lines.contains(
            &r#"burnrate_period_spend{account="acme",currency="USD",meter="output_tokens",vendor="openai"} 0.0000025"#
                .to_owned()
        ));
    }

    #[test]
    fn smallest_spend_folds_into_other_per_currency() {
        let metrics = Metrics::new(2).unwrap();
        metrics.set_period_spend([
            spend("a", "m", "USD", "100"),
            spend("b", "m", "USD", "1"),
            spend("c", "m", "USD", "2"),
            spend("d", "m", "EUR", "50"),
            spend("e", "m", "EUR", "3"),
        ]);

        let lines = samples(&metrics.encode(), "burnrate_period_spend");
        assert_eq!(lines.len(), 4, "{lines:?}");
        let expected = [
            r#"burnrate_period_spend{account="a",currency="USD",meter="m",vendor="openai"} 100"#,
            r#"burnrate_period_spend{account="d",currency="EUR",meter="m",vendor="openai"} 50"#,
            r#"burnrate_period_spend{account="other",currency="USD",meter="other",vendor="other"} 3"#,
            r#"burnrate_period_spend{account="other",currency="EUR",meter="other",vendor="other"} 3"#,
        ];
        for line in expected {
            assert!(
                lines.contains(&line.to_owned()),
                "missing {line} in {lines:?}"
            );
        }
    }

    #[test]
    fn disappeared_spend_series_are_removed() {
        let metrics = Metrics::new(1).unwrap();
        metrics.set_period_spend([spend("a", "m", "USD", "5"), spend("b", "m", "USD", "1")]);
        assert_eq!(samples(&metrics.encode(), "burnrate_period_spend").len(), 2);

        metrics.set_period_spend([spend("c", "m", "USD", "7")]);
        let lines = samples(&metrics.encode(), "burnrate_period_spend");
        assert_eq!(
            lines,
            [
                r#"burnrate_period_spend{account="c",currency="USD",meter="m",vendor="openai"} 7"#
                    .to_owned()
            ]
        );
    }

    #[test]
    fn repeated_spend_labels_are_summed() {
        let metrics = Metrics::new(5).unwrap();
        metrics.set_period_spend([spend("a", "m", "USD", "0.1"), spend("a", "m", "USD", "0.2")]);
        let lines = samples(&metrics.encode(), "burnrate_period_spend");
        assert_eq!(
            lines,
            [r#"burnrate_period_spend{account="a",currency="USD",meter="m",vendor="openai"} 0.3"#]
        );
    }

    #[test]
    fn equal_amounts_fold_deterministically() {
        let metrics = Metrics::new(1).unwrap();
        metrics.set_period_spend([spend("b", "m", "USD", "1"), spend("a", "m", "USD", "1")]);
        let lines = samples(&metrics.encode(), "burnrate_period_spend");
        assert!(
            lines.iter().any(|line| line.contains(r#"account="a""#)),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|line| line.contains(r#"account="b""#)),
            "{lines:?}"
        );
    }

    #[test]
    fn budget_use_folds_to_highest_ratio() {
        let metrics = Metrics::new(1).unwrap();
        let usage = |budget, ratio| BudgetUse {
            account: "acme",
            budget,
            currency: "USD",
            ratio: dec(ratio),
        };
        metrics.set_budget_use([
            usage("monthly", "0.9"),
            usage("team-a", "0.5"),
            usage("team-b", "0.7"),
        ]);

        let lines = samples(&metrics.encode(), "burnrate_budget_use_ratio");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.contains(
            &r#"burnrate_budget_use_ratio{account="acme",budget="monthly",currency="USD"} 0.9"#
                .to_owned()
        ));
        assert!(lines.contains(
            &r#"burnrate_budget_use_ratio{account="other",budget="other",currency="USD"} 0.7"#
                .to_owned()
        ));
    }

    #[test]
    fn revoked_partition_lag_is_removed() {
        let metrics = Metrics::new(DEFAULT_MAX_SERIES).unwrap();
        metrics.set_consumer_lag("usage", 0, 17);
        assert!(metrics
            .encode()
            .contains(r#"burnrate_consumer_lag{partition="0",topic="usage"} 17"#));

        metrics.remove_consumer_lag("usage", 0);
        metrics.remove_consumer_lag("usage", 9);
        assert!(samples(&metrics.encode(), "burnrate_consumer_lag").is_empty());
    }
}
