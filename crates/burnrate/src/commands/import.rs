//! `burnrate import`: converts vendor exports (or any other input format) to usage
//! events in CloudEvents JSON lines, the format the usage topic and `replay` read.
//!
//! Valid events go to standard output or `--out`. Each invalid record is reported on
//! standard error with its file and position and does not stop the import; only a file
//! that cannot be read, or is not in the given format at all, fails the command.
//!
//! With `--previous`, only what changed since that earlier export is written: new
//! records, and for each restated record a reversal and its new version (see
//! [`burnrate_feeds::restatement`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use burnrate_codec::encode_cloudevent;
use burnrate_feeds::restatement::{restate, Export};
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

    /// The export imported last, of the same usage; only what changed since is written.
    /// Repeat for each file (page) of that one export.
    #[arg(long, value_name = "FILE")]
    previous: Vec<PathBuf>,

    /// With `--previous`, also reverse the records of the previous export that the
    /// current one lacks; use it when both exports cover the same dates.
    #[arg(long, requires = "previous")]
    reverse_missing: bool,

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
    let previous = read_events(&args.previous, args.format, false)?;
    let current = read_events(&args.files, args.format, true)?;
    invalid += current.invalid;

    let restatement = restate(&previous.events, &current.events, args.reverse_missing);
    for event in &restatement.events {
        writeln!(output, "{}", encode_cloudevent(event))?;
    }
    output.flush().context("cannot write the imported events")?;
    for problem in &restatement.problems {
        let location = match problem.export {
            Export::Previous => &previous.locations[problem.index],
            Export::Current => &current.locations[problem.index],
        };
        eprintln!("{location}: invalid record: {}", problem.problem);
    }
    invalid += restatement.problems.len() as u64;

    eprintln!(
        "wrote {} events from {} files against {} previous files: {} new records, {} restated records (each reversed and sent again), {} reversed missing records; {} unchanged records left out, {invalid} invalid records skipped",
        restatement.events.len(),
        args.files.len(),
        args.previous.len(),
        restatement.new,
        restatement.restated,
        restatement.reversed_missing,
        restatement.unchanged,
    );
    let kept_missing = restatement.missing - restatement.reversed_missing;
    if kept_missing > 0 {
        eprintln!(
            "note: {kept_missing} records of the previous export are not in the current one and stay counted; adapters skip records restated to zero, so if both exports cover the same dates, run again with --reverse-missing"
        );
    }
    Ok(())
}

/// The valid events of some files, with where each came from.
struct ReadEvents {
    events: Vec<UsageEvent>,
    /// `FILE:POSITION` of each event.
    locations: Vec<String>,
    invalid: u64,
}

/// Reads every valid event of `paths`, and reports invalid records when `report` is set.
fn read_events(paths: &[PathBuf], format: InputFormat, report: bool) -> anyhow::Result<ReadEvents> {
    let mut read = ReadEvents {
        events: Vec::new(),
        locations: Vec::new(),
        invalid: 0,
    };
    for path in paths {
        for_each_record(path, format, |record| {
            match record.event {
                Ok(event) => {
                    read.events.push(event);
                    read.locations
                        .push(format!("{}:{}", record.file.display(), record.position));
                }
                Err(reason) => {
                    if report {
                        report_invalid(&record.file, record.position, &reason);
                    }
                    read.invalid += 1;
                }
            }
            Ok(())
        })?;
    }
    Ok(read)
}

fn report_invalid(file: &Path, position: impl std::fmt::Display, reason: &str) {
    eprintln!("{}:{position}: invalid record: {reason}", file.display());
}
