//! A gauge family whose number of label sets stays bounded: the largest series are
//! published under their own labels, and the rest fold into one `other` series per
//! currency.
//!
//! Spend and budget series carry account, vendor and meter labels, whose number
//! grows with the customer base. Prometheus keeps every label set it has seen as a
//! separate series, so an unbounded family would grow the scrape and the TSDB without
//! limit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use prometheus::{GaugeVec, Opts};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The label value of every label but the currency in the folded series.
pub const OTHER_LABEL: &str = "other";

/// The rule that combines values of one currency into the `other` series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// The folded series is the sum, for amounts such as spend.
    Sum,
    /// The folded series is the largest value, for ratios such as budget use, where a
    /// sum has no meaning.
    Max,
}

/// A gauge family whose last label is the currency and whose other labels are bounded.
#[derive(Debug)]
pub struct BoundedGauge {
    gauge: GaugeVec,
    label_count: usize,
    max_series: usize,
    fold: Fold,
    /// Label sets currently exported, so those that disappear can be removed.
    published: Mutex<HashSet<Vec<String>>>,
}

impl BoundedGauge {
    /// Creates the family. `labels` must end with the currency label.
    pub fn new(
        opts: Opts,
        labels: &[&str],
        max_series: usize,
        fold: Fold,
    ) -> prometheus::Result<BoundedGauge> {
        Ok(BoundedGauge {
            gauge: GaugeVec::new(opts, labels)?,
            label_count: labels.len(),
            max_series,
            fold,
            published: Mutex::new(HashSet::new()),
        })
    }

    /// Returns the gauge family, for registering it.
    pub fn gauge(&self) -> &GaugeVec {
        &self.gauge
    }

    /// Replaces every series with `samples`: label values (currency last) and a value.
    ///
    /// Samples with the same label values combine with the fold rule. The
    /// `max_series` samples of largest absolute value keep their labels, ties broken
    /// by label values so the choice is deterministic. The rest fold into one series
    /// per currency with every other label `other`. Series of the previous call that
    /// are absent now are removed.
    ///
    /// NOTE: amounts in different currencies are ranked as plain numbers, so 1000 JPY
    /// outranks 100 USD. The bound holds, but the kept series are not the largest by value.
    pub fn replace<I>(&self, samples: I)
    where
        I: IntoIterator<Item = (Vec<String>, Decimal)>,
    {
        let mut merged: HashMap<Vec<String>, Decimal> = HashMap::new();
        for (labels, value) in samples {
            debug_assert_eq!(
                labels.len(),
                self.label_count,
                "label values do not match the label names"
            );
            merged
                .entry(labels)
                .and_modify(|existing| *existing = self.combine(*existing, value))
                .or_insert(value);
        }

        let mut ranked: Vec<(Vec<String>, Decimal)> = merged.into_iter().collect();
        ranked.sort_by(|(left_labels, left), (right_labels, right)| {
            right
                .abs()
                .cmp(&left.abs())
                .then_with(|| left_labels.cmp(right_labels))
        });
        let folded_part = ranked.split_off(self.max_series.min(ranked.len()));

        let mut folded: BTreeMap<String, Decimal> = BTreeMap::new();
        for (labels, value) in folded_part {
            let currency = labels.last().cloned().unwrap_or_default();
            folded
                .entry(currency)
                .and_modify(|existing| *existing = self.combine(*existing, value))
                .or_insert(value);
        }
        for (currency, value) in folded {
            let mut labels = vec![OTHER_LABEL.to_owned(); self.label_count - 1];
            labels.push(currency);
            ranked.push((labels, value));
        }

        // The lock spans the update, so two concurrent calls cannot leave a mix.
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut current = HashSet::with_capacity(ranked.len());
        for (labels, value) in ranked {
            // Prometheus samples are f64, so the exported value may round the exact amount.
            self.gauge
                .with_label_values(&labels)
                .set(value.to_f64().unwrap_or(f64::NAN));
            current.insert(labels);
        }
        for stale in published.difference(&current) {
            // Every label set in `published` was set by an earlier call under this lock,
            // so the series exists and removal does not fail.
            let _ = self.gauge.remove_label_values(stale);
        }
        *published = current;
    }

    fn combine(&self, left: Decimal, right: Decimal) -> Decimal {
        match self.fold {
            Fold::Sum => left.saturating_add(right),
            Fold::Max => left.max(right),
        }
    }
}
