//! `burnrate import`: converts vendor exports (or any other input format) to usage
//! events in CloudEvents JSON lines, the format the usage topic and `replay` read.
//!
//! Valid events go to standard output or `--out`. Each invalid record is reported on
//! standard error with its file and position and does not stop the import; only a file
//! that cannot be read, or is not in the given format at all, fails the command.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use burnrate_codec::encode_cloudevent;
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
    for path in &args.files {
        for_each_record(path, args.format, |record| {
            match record.event {
                Ok(event) => {
                    writeln!(output, "{}", encode_cloudevent(&event))?;
                    imported += 1;
                }
                Err(reason) => {
                    eprintln!(
                        "{}:{}: invalid record: {reason}",
                        record.file.display(),
                        record.position
                    );
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
    Ok(())
}
