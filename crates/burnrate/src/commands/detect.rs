//! `burnrate detect`: run the spend anomaly detector over one `timestamp,value`
//! series and print each row's anomaly score and alert flag.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use burnrate_engine::anomaly::{AnomalyConfig, SpendAnomalyDetector};
use chrono::{DateTime, NaiveDateTime, Utc};
use clap::Args;

/// Arguments of `burnrate detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// CSV file with a header row and the columns `timestamp,value`, one row per
    /// bucket in time order. Timestamps are RFC 3339 or `YYYY-MM-DD HH:MM:SS` in UTC.
    #[arg(value_name = "SERIES.csv")]
    series: PathBuf,
}

/// Runs `burnrate detect` with the default anomaly settings, the ones the engine's
/// spend-anomaly rule uses.
pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let path = &args.series;
    let file = File::open(path).with_context(|| format!("cannot open series file {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(file);
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(out, "timestamp,value,anomaly_score,alert")?;

    let mut previous: Option<DateTime<Utc>> = None;
    for (index, record) in reader.records().enumerate() {
        // Row 1 is the header, so the first data row is row 2 of the file.
        let row = index + 2;
        let record = record.with_context(|| format!("{}: row {row}: invalid CSV", path.display()))?;
        let (timestamp_text, value_text) = match (record.get(0), record.get(1), record.len()) {
            (Some(timestamp), Some(value), 2) => (timestamp, value),
            _ => anyhow::bail!(
                "{}: row {row}: expected 2 fields (timestamp,value), found {}",
                path.display(),
                record.len()
            ),
        };

        let timestamp = parse_timestamp(timestamp_text).with_context(|| {
            format!(
                "{}: row {row}: invalid timestamp {timestamp_text:?}; expected RFC 3339 or YYYY-MM-DD HH:MM:SS",
                path.display()
            )
        })?;
        let value = parse_value(value_text)
            .with_context(|| format!("{}: row {row}: invalid value {value_text:?}", path.display()))?;
        if let Some(previous) = previous {
            if timestamp <= previous {
                anyhow::bail!(
                    "{}: row {row}: timestamp {timestamp_text} is not after the previous row's {}; rows must be in time order",
                    path.display(),
                    previous.to_rfc3339()
                );
            }
        }
        previous = Some(timestamp);

        let detection = detector.observe(timestamp, value);
        writeln!(out, "{timestamp_text},{value_text},{},{}", detection.score, u8::from(detection.anomalous))?;
    }
    out.flush()?;
    Ok(())
}

/// Parses an RFC 3339 timestamp, or a NAB-style `YYYY-MM-DD HH:MM:SS[.fraction]` taken as UTC.
fn parse_timestamp(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")?;
    Ok(naive.and_utc())
}

/// Parses a finite decimal number.
fn parse_value(text: &str) -> anyhow::Result<f64> {
    let value: f64 = text.parse().context("not a number")?;
    anyhow::ensure!(value.is_finite(), "not a finite number");
    Ok(value)
}
