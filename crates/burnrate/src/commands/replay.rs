//! `burnrate replay`: the engine on files. Reads usage events, optionally splits
//! accounts into partitions the way a Kafka producer keyed by account would, runs
//! one engine per partition, and writes aggregates, alerts, dead letters and
//! unrated usage as JSON lines, the closed windows of one kind as FOCUS 1.2 rows in
//! CSV, then prints a summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burnrate_codec::encode_cloudevent;
use burnrate_engine::{Counters, EngineOutput, PartitionEngine};
use burnrate_model::{
    focus_charge_window, format_decimal, Alert, AlertStatus, SpendAggregate, WindowKind,
    FOCUS_COLUMNS,
};
use burnrate_pricing::ContractTable;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::BurnrateConfig;
use crate::contracts_file::load_contract_table;
use crate::partitioner::partition_for;
use crate::sources::{for_each_record, InputFormat, InputRecord};

/// Arguments of `burnrate replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Configuration file (`burnrate.toml`); the documented defaults apply without it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Contracts file; overrides `[contracts] file` of the configuration.
    #[arg(long, value_name = "FILE")]
    contracts: Option<PathBuf>,

    /// Directory to write aggregates.jsonl, alerts.jsonl, dead_letters.jsonl, unrated.jsonl and focus.csv into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Number of partitions to split accounts into, with Kafka's default partitioner.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    partitions: u32,

    /// Input format; by default taken from each file's extension (.jsonl, .avro).
    #[arg(long, value_enum)]
    format: Option<InputFormat>,

    /// Input files; `-` reads CloudEvents JSON lines from standard input.
    #[arg(value_name = "EVENTS", required = true)]
    events: Vec<PathBuf>,
}

/// The output files of a replay.
struct Sinks {
    aggregates: BufWriter<File>,
    alerts: BufWriter<File>,
    dead_letters: BufWriter<File>,
    unrated: BufWriter<File>,
    /// FOCUS 1.2 rows of the windows of `focus_window`.
    focus: csv::Writer<BufWriter<File>>,
}

/// Aggregates of the exported window kind that have no FOCUS row, for the summary.
#[derive(Debug, Default)]
struct FocusSkipped {
    count: u64,
    /// The reason of the first one.
    first_reason: Option<String>,
}

/// A dead letter as written to `dead_letters.jsonl`.
#[derive(Serialize)]
struct DeadLetterLine<'a> {
    source_file: String,
    line: u64,
    partition: Option<u32>,
    offset: Option<i64>,
    reason: &'a str,
    value: Option<&'a str>,
}

/// Unrated usage as written to `unrated.jsonl`, with the event so it can be re-rated.
#[derive(Serialize)]
struct UnratedLine {
    reason_code: &'static str,
    reason: String,
    partition: u32,
    offset: i64,
    event: serde_json::Value,
}

/// Spend per account and currency from billing-period aggregates, for the summary.
#[derive(Debug, Default)]
struct AccountSpend {
    /// Whether a sum left the decimal range; the summary then shows no amounts.
    overflow: bool,
    cost: Decimal,
    prepaid_applied: Decimal,
    billed: Decimal,
}

struct Replay {
    table: ContractTable,
    engines: Vec<PartitionEngine>,
    next_offsets: Vec<i64>,
    sinks: Sinks,
    invalid: u64,
    spend: BTreeMap<(String, String), AccountSpend>,
    /// Alerts in the order emitted, for the summary.
    alerts: Vec<Alert>,
    outputs: Vec<EngineOutput>,
    /// The window kind exported to focus.csv; `None` when no window is configured.
    focus_window: Option<WindowKind>,
    focus_skipped: FocusSkipped,
}

/// Runs `burnrate replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => BurnrateConfig::load(path)?,
        None => BurnrateConfig::default(),
    };
    let problems = config.problems();
    if !problems.is_empty() {
        anyhow::bail!("invalid configuration:\n  {}", problems.join("\n  "));
    }
    // Events that carry the vendor's cost (FOCUS rows, cost reports) are counted
    // without a contract, so a replay of them needs none.
    let table = match args
        .contracts
        .clone()
        .or_else(|| config.contracts.file.clone())
    {
        Some(path) => load_contract_table(&path)?,
        None => {
            eprintln!("note: no contracts given (--contracts FILE or [contracts] file); only events that carry the vendor's cost are rated, every other event is unrated");
            ContractTable::default()
        }
    };

    let formats: Vec<InputFormat> = args
        .events
        .iter()
        .map(|path| InputFormat::for_path(path, args.format))
        .collect::<anyhow::Result<_>>()?;

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    let create = |name: &str| -> anyhow::Result<BufWriter<File>> {
        let path = args.out.join(name);
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(BufWriter::with_capacity(1 << 16, file))
    };
    let mut sinks = Sinks {
        aggregates: create("aggregates.jsonl")?,
        alerts: create("alerts.jsonl")?,
        dead_letters: create("dead_letters.jsonl")?,
        unrated: create("unrated.jsonl")?,
        focus: csv::Writer::from_writer(create("focus.csv")?),
    };
    sinks
        .focus
        .write_record(FOCUS_COLUMNS)
        .context("cannot write the header of focus.csv")?;

    let partitions = args.partitions as usize;
    let mut replay = Replay {
        table,
        engines: (0..partitions)
            .map(|_| PartitionEngine::with_alerts(config.processing.clone(), config.alerts.clone()))
            .collect(),
        next_offsets: vec![0; partitions],
        sinks,
        invalid: 0,
        spend: BTreeMap::new(),
        alerts: Vec::new(),
        outputs: Vec::new(),
        focus_window: focus_charge_window(&config.processing.windows),
        focus_skipped: FocusSkipped::default(),
    };

    let progress = progress_bar(&args.events);
    let mut finished_bytes = 0u64;
    for (path, format) in args.events.iter().zip(formats) {
        for_each_record(path, format, |record| {
            if record.bytes_read > 0 {
                progress.set_position(finished_bytes + record.bytes_read);
            }
            replay.handle(record)
        })?;
        finished_bytes += std::fs::metadata(path)
            .map(|metadata| metadata.len())
            .unwrap_or(0);
        progress.set_position(finished_bytes);
    }
    progress.finish_and_clear();

    replay.finish()?;
    replay.print_summary(&mut std::io::stdout().lock(), &args.out)?;
    Ok(())
}

fn progress_bar(paths: &[PathBuf]) -> ProgressBar {
    let total: u64 = paths
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.len())
        .sum();
    let progress = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} replay {bar:40} {bytes}/{total_bytes} ({eta})")
    {
        progress.set_style(style);
    }
    progress
}

impl Replay {
    fn handle(&mut self, record: InputRecord) -> anyhow::Result<()> {
        let event = match record.event {
            Ok(event) => event,
            Err(reason) => {
                self.invalid += 1;
                let line = DeadLetterLine {
                    source_file: record.file.display().to_string(),
                    line: record.position,
                    partition: None,
                    offset: None,
                    reason: &reason,
                    value: record.raw.as_deref(),
                };
                return write_line(&mut self.sinks.dead_letters, &line);
            }
        };

        let partition = partition_for(event.account.as_bytes(), self.engines.len() as u32) as usize;
        let offset = self.next_offsets[partition];
        self.next_offsets[partition] += 1;

        let mut outputs = std::mem::take(&mut self.outputs);
        self.engines[partition].process(event, offset, None, &self.table, &mut outputs);
        let result = self.write_outputs(
            &mut outputs,
            partition as u32,
            Some((&record.file, record.position, record.raw.as_deref())),
        );
        self.outputs = outputs;
        result
    }

    /// Closes every window and period, flushes the files.
    fn finish(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.engines.len() {
            let mut outputs = Vec::new();
            self.engines[partition].close_all(&mut outputs);
            self.write_outputs(&mut outputs, partition as u32, None)?;
        }
        self.sinks.aggregates.flush()?;
        self.sinks.alerts.flush()?;
        self.sinks.dead_letters.flush()?;
        self.sinks.unrated.flush()?;
        self.sinks.focus.flush()?;
        Ok(())
    }

    fn write_outputs(
        &mut self,
        outputs: &mut Vec<EngineOutput>,
        partition: u32,
        source: Option<(&Path, u64, Option<&str>)>,
    ) -> anyhow::Result<()> {
        for output in outputs.drain(..) {
            match output {
                EngineOutput::Aggregate(aggregate) => {
                    self.count_spend(&aggregate);
                    write_line(&mut self.sinks.aggregates, &aggregate)?;
                    self.write_focus_row(&aggregate)?;
                }
                EngineOutput::Alert(alert) => {
                    write_line(&mut self.sinks.alerts, &alert)?;
                    self.alerts.push(alert);
                }
                EngineOutput::DeadLetter {
                    event,
                    offset,
                    reason,
                } => {
                    let encoded;
                    let (file, line, raw) = match source {
                        Some((file, line, raw)) => (file.display().to_string(), line, raw),
                        None => (String::new(), 0, None),
                    };
                    let value = match raw {
                        Some(raw) => Some(raw),
                        None => {
                            encoded = encode_cloudevent(&event);
                            Some(encoded.as_str())
                        }
                    };
                    let line = DeadLetterLine {
                        source_file: file,
                        line,
                        partition: Some(partition),
                        offset: Some(offset),
                        reason: &reason,
                        value,
                    };
                    write_line(&mut self.sinks.dead_letters, &line)?;
                }
                EngineOutput::Unrated {
                    event,
                    offset,
                    reason,
                } => {
                    let event_json: serde_json::Value =
                        serde_json::from_str(&encode_cloudevent(&event))?;
                    let line = UnratedLine {
                        reason_code: reason.code(),
                        reason: reason.to_string(),
                        partition,
                        offset,
                        event: event_json,
                    };
                    write_line(&mut self.sinks.unrated, &line)?;
                }
            }
        }
        Ok(())
    }

    /// Writes a FOCUS row for an aggregate of the exported window kind.
    fn write_focus_row(&mut self, aggregate: &SpendAggregate) -> anyhow::Result<()> {
        if Some(aggregate.window) != self.focus_window {
            return Ok(());
        }
        let row = self.table.focus_row(aggregate).with_context(|| {
            format!(
                "contract {:?} of an aggregate is not in the contracts table",
                aggregate.contract_id
            )
        })?;
        match row {
            Ok(row) => {
                self.sinks
                    .focus
                    .write_record(row.values().map(|cell| cell.unwrap_or("")))?;
            }
            Err(error) => {
                self.focus_skipped.count += 1;
                self.focus_skipped
                    .first_reason
                    .get_or_insert_with(|| error.to_string());
            }
        }
        Ok(())
    }

    fn count_spend(&mut self, aggregate: &SpendAggregate) {
        if aggregate.window != WindowKind::Period {
            return;
        }
        let spend = self
            .spend
            .entry((aggregate.account.clone(), aggregate.currency.clone()))
            .or_default();
        let sums = (
            spend.cost.checked_add(aggregate.cost),
            spend.prepaid_applied.checked_add(aggregate.prepaid_applied),
            spend.billed.checked_add(aggregate.billed),
        );
        match sums {
            (Some(cost), Some(prepaid_applied), Some(billed)) => {
                spend.cost = cost;
                spend.prepaid_applied = prepaid_applied;
                spend.billed = billed;
            }
            _ => spend.overflow = true,
        }
    }

    /// Writes the alerts, the counts and spend per account to `out`.
    fn print_summary(&self, out: &mut impl Write, directory: &Path) -> std::io::Result<()> {
        if !self.alerts.is_empty() {
            writeln!(out, "alerts")?;
            for alert in &self.alerts {
                let status = match alert.status {
                    AlertStatus::Firing => "FIRING",
                    AlertStatus::Resolved => "resolved",
                };
                let severity = format!("{:?}", alert.severity).to_lowercase();
                writeln!(
                    out,
                    "  {} {status:<8} {severity:<8} {}",
                    alert.at.format("%Y-%m-%d %H:%M"),
                    alert.summary
                )?;
            }
            writeln!(out)?;
        }

        let mut totals = Counters::default();
        for engine in &self.engines {
            let counters = engine.counters();
            totals.events += counters.events;
            totals.rated += counters.rated;
            totals.unrated += counters.unrated;
            totals.duplicates += counters.duplicates;
            totals.late += counters.late;
            totals.dead_lettered += counters.dead_lettered;
            totals.corrections += counters.corrections;
            totals.alerts += counters.alerts;
        }

        let plural = if self.engines.len() == 1 { "" } else { "s" };
        writeln!(
            out,
            "replay summary ({} partition{plural})",
            self.engines.len()
        )?;
        let rows = [
            ("events read", totals.events + self.invalid),
            ("invalid (dead-lettered)", self.invalid),
            ("rated", totals.rated),
            ("unrated", totals.unrated),
            ("duplicates", totals.duplicates),
            ("late", totals.late),
            ("corrections emitted", totals.corrections),
            ("dead-lettered by the engine", totals.dead_lettered),
            ("alerts (firing and resolved)", totals.alerts),
        ];
        for (label, value) in rows {
            writeln!(out, "  {label:<34} {value:>12}")?;
        }

        writeln!(out)?;
        writeln!(
            out,
            "spend per account (billing periods, corrections included)"
        )?;
        writeln!(
            out,
            "  {:<16} {:<9} {:>20} {:>20} {:>20}",
            "account", "currency", "cost", "prepaid applied", "billed"
        )?;
        for ((account, currency), spend) in &self.spend {
            let amount = |value: Decimal| {
                if spend.overflow {
                    "overflow".to_owned()
                } else {
                    format_decimal(value)
                }
            };
            writeln!(
                out,
                "  {account:<16} {currency:<9} {:>20} {:>20} {:>20}",
                amount(spend.cost),
                amount(spend.prepaid_applied),
                amount(spend.billed)
            )?;
        }
        writeln!(out)?;
        match self.focus_window {
            Some(window) => writeln!(
                out,
                "focus.csv: FOCUS 1.2 rows of the {} windows",
                window_name(window)
            )?,
            None => writeln!(
                out,
                "focus.csv: header only, because no window is configured"
            )?,
        }
        if let Some(reason) = &self.focus_skipped.first_reason {
            writeln!(
                out,
                "  {} aggregates not exported to focus.csv; the first: {reason}",
                self.focus_skipped.count
            )?;
        }
        writeln!(out, "outputs in {}", directory.display())?;
        out.flush()
    }
}

fn window_name(window: WindowKind) -> &'static str {
    match window {
        WindowKind::Minute => "minute",
        WindowKind::Hour => "hour",
        WindowKind::Day => "day",
        WindowKind::Period => "billing-period",
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}
