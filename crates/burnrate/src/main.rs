//! The `burnrate` command line.

mod commands;
mod config;
mod contracts_file;
mod http;
mod input;
mod partitioner;
mod sources;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// burnrate: streaming spend monitor for consumption-priced software.
#[derive(Debug, Parser)]
#[command(name = "burnrate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Kafka processor: a consumer group member that prices, aggregates and alerts.
    Run(commands::run::RunArgs),
    /// Run the engine on files: windows, billing periods, dedup and late data.
    Replay(commands::replay::ReplayArgs),
    /// Price usage events against contracts and print one JSON line per event.
    Rate(commands::rate::RateArgs),
    /// Score a timestamp,value series with the spend anomaly detector and print each row's score and alert flag.
    Detect(commands::detect::DetectArgs),
    /// Convert vendor exports to usage events and print them as CloudEvents JSON lines.
    Import(commands::import::ImportArgs),
    /// Publish usage events from files to a Kafka topic, optionally paced by their event times.
    Produce(commands::produce::ProduceArgs),
    /// Check a configuration file and report every problem at once.
    CheckConfig(commands::check_config::CheckConfigArgs),
}

/// Exit status for bad arguments or configuration.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    let result = match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Rate(args) => commands::rate::run(&args),
        Command::Detect(args) => commands::detect::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Produce(args) => commands::produce::run(&args),
        Command::CheckConfig(args) => commands::check_config::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error of ours.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io_error| io_error.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
