//! Reading `burnrate run`'s Prometheus endpoint.

use std::time::Duration;

use anyhow::Context;

/// A parsed `/metrics` page.
pub struct Scrape {
    text: String,
}

impl Scrape {
    /// Fetches `http://ADDRESS/metrics`.
    pub fn fetch(agent: &ureq::Agent, address: &str) -> anyhow::Result<Scrape> {
        let text = agent
            .get(format!("http://{address}/metrics"))
            .call()
            .with_context(|| format!("GET http://{address}/metrics failed"))?
            .into_body()
            .read_to_string()
            .context("reading the metrics page failed")?;
        Ok(Scrape { text })
    }

    /// Returns the sum of every sample of `metric` whose labels contain each of
    /// `labels` (written as `name="value"`).
    pub fn sum(&self, metric: &str, labels: &[&str]) -> f64 {
        self.text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(metric)?;
                if !(rest.starts_with('{') || rest.starts_with(' ')) {
                    return None;
                }
                let (series, value) = rest.rsplit_once(' ')?;
                if !labels.iter().all(|label| series.contains(label)) {
                    return None;
                }
                value.parse::<f64>().ok()
            })
            .sum()
    }

    /// Returns the records consumed from `topic`, summed over its partitions.
    pub fn consumed(&self, topic: &str) -> u64 {
        self.sum(
            "burnrate_records_consumed_total",
            &[&format!("topic=\"{topic}\"")],
        ) as u64
    }

    /// Returns the cumulative count of the event-to-alert latency histogram of
    /// budget threshold alerts at bucket bound `le`, in seconds as Prometheus
    /// writes it (`"0.5"`).
    pub fn threshold_latency_bucket(&self, le: &str) -> u64 {
        self.sum(
            "burnrate_event_to_alert_latency_seconds_bucket",
            &["kind=\"budget_threshold\"", &format!("le=\"{le}\"")],
        ) as u64
    }
}

/// Returns an HTTP agent for scraping, with a short timeout.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}
