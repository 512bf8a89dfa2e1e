//! `burnrate import`: converts vendor exports (or any other input format) to usage
//! events in CloudEvents JSON lines, the format the usage topic and `replay` read.
//!
//! Valid events go to standard output or `--out`. Each invalid record is reported on
//! standard error with its file and position and does not stop the import; only a file
//! that cannot be read, or is not in the given format at all, fails the command.
//!
//! With `--previous`, only what changed since that earlier export is written: new
//! records, and corrections carrying the difference of restated ones (see
//! [`burnrate_feeds::restatement`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burnrate_codec::encode_cloudevent;
use burnrate_feeds::restatement::restate;
use burnrate_model::UsageEvent;
use clap::Args;

use crate::sources::{for_each_record, InputFormat};

/// Arguments of `burnrate import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Format of the input files.
    #[arg(long, value_enum)]
    format: InputFormat,

    /// File to write the CloudEvents JSON lines to, replacing it; standard output without it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// An earlier export of the same usage, already imported; only new records and
    /// corrections of restated ones are written. Repeat for several files.
    #[arg(long, value_name = "FILE")]
    previous: Vec<PathBuf>,

    /// Vendor export files.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// Runs `burnrate import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let mut output: Box<dyn Write> = match &args.out {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create output file {}", path.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };

    let mut imported = 0u64;
    let mut invalid = 0u64;
    if args.previous.is_empty() {
        for path in &args.files {
            for_each_record(path, args.format, |record| {
                match record.event {
                    Ok(event) => {
                        writeln!(output, "{}", encode_cloudevent(&event))?;
                        imported += 1;
                    }
                    Err(reason) => {
                        report_invalid(&record.file, record.position, &reason);
                        invalid += 1;
                    }
                }
                Ok(())
            })?;
        }
        output.flush().context("cannot write the imported events")?;
        eprintln!(
            "imported {imported} events from {} files; {invalid} invalid records skipped",
            args.files.len()
        );
        return Ok(());
    }

    // Invalid records of the previous export were never imported, so they are only skipped.
    let (previous, _) = read_events(&args.previous, args.format, false)?;
    let (current, current_invalid) = read_events(&args.files, args.format, true)?;
    invalid += current_invalid;

    let restatement = restate(&previous, &current);
    let mut restated = 0u64;
    for event in restatement.events {
        match event {
            Ok(event) => {
                writeln!(output, "{}", encode_cloudevent(&event))?;
                imported += 1;
                if event.id.contains("~restated-") {
                    restated += 1;
                }
            }
            Err(problem) => {
                eprintln!("invalid record: {problem}");
                invalid += 1;
            }
        }
    }
    output.flush().context("cannot write the imported events")?;
    eprintln!(
        "imported {imported} events from {} files against {} previous files: {} new, {restated} corrections of restated records; {} unchanged records left out, {invalid} invalid records skipped",
        args.files.len(),
        args.previous.len(),
        imported - restated,
        restatement.unchanged
    );
    if restatement.missing > 0 {
        eprintln!(
            "note: {} records of the previous export are not in the current one; they stay counted, so send a correction if the vendor withdrew them",
            restatement.missing
        );
    }
    Ok(())
}

/// Reads every valid event of `paths`; reports invalid records when `report` is set
/// and returns how many there were.
fn read_events(
    paths: &[PathBuf],
    format: InputFormat,
    report: bool,
) -> anyhow::Result<(Vec<UsageEvent>, u64)> {
    let mut events = Vec::new();
    let mut invalid = 0u64;
    for path in paths {
        for_each_record(path, format, |record| {
            match record.event {
                Ok(event) => events.push(event),
                Err(reason) => {
                    if report {
                        report_invalid(&record.file, record.position, &reason);
                    }
                    invalid += 1;
                }
            }
            Ok(())
        })?;
    }
    Ok((events, invalid))
}

fn report_invalid(file: &Path, position: impl std::fmt::Display, reason: &str) {
    eprintln!("{}:{position}: invalid record: {reason}", file.display());
}
