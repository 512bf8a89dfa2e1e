//! `burnrate check-config`: load a configuration file and report every problem.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::config::BurnrateConfig;
use crate::contracts_file::load_contract_table;

/// Arguments of `burnrate check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Configuration file to check.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Runs `burnrate check-config`.
pub fn run(args: &CheckConfigArgs) -> anyhow::Result<()> {
    let config = BurnrateConfig::load(&args.config)?;
    let mut problems = config.problems();

    let mut contracts = None;
    if let Some(path) = &config.contracts.file {
        match load_contract_table(path) {
            Ok(table) => contracts = Some(table.len()),
            Err(error) => problems.push(format!("contracts.file: {error:#}")),
        }
    }

    if !problems.is_empty() {
        anyhow::bail!(
            "{} has {} problem{}:\n  {}",
            args.config.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        );
    }
    let mut out = std::io::stdout().lock();
    match contracts {
        Some(count) => writeln!(out, "{}: valid ({count} contracts)", args.config.display())?,
        None => writeln!(
            out,
            "{}: valid (no contracts file set)",
            args.config.display()
        )?,
    }
    out.flush()?;
    Ok(())
}
