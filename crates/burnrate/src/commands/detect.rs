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
    /// Invalid rows are reported on standard error and skipped.
    #[arg(value_name = "SERIES.csv")]
    series: PathBuf,
}

/// Runs `burnrate detect` with the default anomaly settings, the ones the engine's
/// spend-anomaly rule uses.
pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let path = &args.series;
    let file =
        File::open(path).with_context(|| format!("cannot open series file {}", path.display()))?;
    // Rows with the wrong number of fields are reported and skipped, not fatal.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let mut detector = SpendAnomalyDetector::new(AnomalyConfig::default());

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(out, "timestamp,value,anomaly_score,alert")?;

    let mut previous: Option<DateTime<Utc>> = None;
    let mut skipped = 0u64;
    for (index, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: invalid CSV", path.display()))?;
        // The file line where the row starts. The header is line 1.
        let line = record.position().map_or(0, |position| position.line());
        if index == 0 {
            // The first row is the header unless it is already data.
            if parse_row(&record).is_err() {
                continue;
            }
            eprintln!(
                "{}: line 1 is data, not a timestamp,value header; scoring it",
                path.display()
            );
        }
        let row = match parse_row(&record) {
            Ok(row) => row,
            Err(problem) => {
                skipped += 1;
                eprintln!("{}: line {line}: skipped: {problem:#}", path.display());
                continue;
            }
        };
        let (timestamp_text, timestamp, value_text, value) = row;

        // A repeated or earlier timestamp is still scored; the detector judges such a
        // bucket but does not learn from it.
        if let Some(previous) = previous.filter(|previous| timestamp <= *previous) {
            eprintln!(
                "{}: line {line}: timestamp {timestamp_text} is not after the previous row's {}; scored but not learnt from",
                path.display(),
                previous.to_rfc3339()
            );
        }
        previous = Some(previous.map_or(timestamp, |previous| previous.max(timestamp)));

        let detection = detector.observe(timestamp, value);
        writeln!(
            out,
            "{timestamp_text},{value_text},{},{}",
            detection.score,
            u8::from(detection.anomalous)
        )?;
    }
    out.flush()?;
    if skipped > 0 {
        eprintln!("{}: skipped {skipped} invalid rows", path.display());
    }
    Ok(())
}

/// Parses one `timestamp,value` row into its texts and values.
fn parse_row(record: &csv::StringRecord) -> anyhow::Result<(&str, DateTime<Utc>, &str, f64)> {
    let (timestamp_text, value_text) = match (record.get(0), record.get(1), record.len()) {
        (Some(timestamp), Some(value), 2) => (timestamp, value),
        _ => anyhow::bail!(
            "expected 2 fields (timestamp,value), found {}",
            record.len()
        ),
    };
    let timestamp = parse_timestamp(timestamp_text).with_context(|| {
        format!("invalid timestamp {timestamp_text:?}; expected RFC 3339 or YYYY-MM-DD HH:MM:SS")
    })?;
    let value = parse_value(value_text).with_context(|| format!("invalid value {value_text:?}"))?;
    anyhow::ensure!(
        value.abs() <= 1e100,
        "value {value_text} is beyond the detector's range of ±1e100"
    );
    Ok((timestamp_text, timestamp, value_text, value))
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamp_accepts_nab_and_rfc3339() {
        let expected = Utc.with_ymd_and_hms(2014, 2, 14, 14, 30, 0).unwrap();
        assert_eq!(parse_timestamp("2014-02-14 14:30:00").unwrap(), expected);
        assert_eq!(
            parse_timestamp("2014-02-14 14:30:00.000000").unwrap(),
            expected
        );
        assert_eq!(parse_timestamp("2014-02-14T14:30:00Z").unwrap(), expected);
        assert_eq!(
            parse_timestamp("2014-02-14T15:30:00+01:00").unwrap(),
            expected
        );
    }

    #[test]
    fn timestamp_rejects_partial_time() {
        assert!(parse_timestamp("2014-02-14 14:30").is_err());
    }

    #[test]
    fn value_rejects_non_finite() {
        assert_eq!(parse_value("0.25").unwrap(), 0.25);
        assert!(parse_value("NaN").is_err());
        assert!(parse_value("inf").is_err());
        assert!(parse_value("abc").is_err());
    }
}
