//! `burnrate run`: the Kafka processor. Loads the configuration, starts the
//! metrics and health endpoint, and runs the consumer group member until SIGTERM
//! or Ctrl-C, then finishes the batch, checkpoints and leaves the group.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use burnrate_codec::avro::{ALERT_SCHEMA_JSON, SPEND_AGGREGATE_SCHEMA_JSON};
use burnrate_kafka::decode::{read_writer_schema_file, Decoder};
use burnrate_kafka::health::{Health, DEFAULT_LIVENESS_TIMEOUT};
use burnrate_kafka::metrics::Metrics;
use burnrate_kafka::outputs::{AvroSchemaIds, OutputEncoder};
use burnrate_kafka::schema_registry::SchemaRegistry;
use burnrate_kafka::{KafkaConfig, OutputFormat, RunSettings};
use burnrate_pricing::ContractTable;
use clap::{Args, ValueEnum};
use tracing::info;

use crate::config::BurnrateConfig;
use crate::contracts_file::load_contract_table;

/// Arguments of `burnrate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (`burnrate.toml`) with a `[kafka]` table.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,

    /// Log line format; the level comes from `RUST_LOG` (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Runs `burnrate run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = BurnrateConfig::load(&args.config)?;
    let problems = config.problems();
    if !problems.is_empty() {
        anyhow::bail!(
            "invalid configuration {}:\n  {}",
            args.config.display(),
            problems.join("\n  ")
        );
    }
    let kafka = config.kafka.clone().with_context(|| {
        format!(
            "{} has no [kafka] table; add one with at least brokers = \"host:9092\"",
            args.config.display()
        )
    })?;
    init_logging(args.log_format);

    let bootstrap_contracts = match &config.contracts.file {
        Some(path) => load_contract_table(path)?,
        None => ContractTable::default(),
    };
    info!(
        contracts = bootstrap_contracts.len(),
        "bootstrap contracts loaded"
    );

    let registry = match &kafka.schema_registry_url {
        Some(url) => Some(Arc::new(
            SchemaRegistry::new(url, Duration::from_secs(10))
                .context("invalid [kafka] schema_registry_url")?,
        )),
        None => None,
    };
    let writer_schema = match &kafka.avro_schema_file {
        Some(path) => Some(Arc::new(read_writer_schema_file(path)?)),
        None => None,
    };
    let decoder = Decoder::new(kafka.input_format, registry.clone(), writer_schema)?;
    let encoder = output_encoder(&kafka, registry.as_deref())?;

    let metrics = Arc::new(
        Metrics::new(config.metrics.max_spend_series).context("cannot register the metrics")?,
    );
    let health = Arc::new(Health::new(DEFAULT_LIVENESS_TIMEOUT));
    let stop = Arc::new(AtomicBool::new(false));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let server = runtime.block_on(crate::http::serve(
        config.metrics.address,
        metrics.clone(),
        health.clone(),
    ))?;
    let signal_stop = stop.clone();
    runtime.spawn(async move {
        wait_for_stop_signal().await;
        info!("stop requested; finishing the batch");
        signal_stop.store(true, Ordering::Relaxed);
    });

    let settings = RunSettings {
        kafka,
        processing: config.processing.clone(),
        alerts: config.alerts.clone(),
        bootstrap_contracts,
        decoder,
        encoder,
    };
    // The consumer and the transactional producer block, so they run on this
    // thread, outside the async runtime that serves HTTP and signals.
    let result = burnrate_kafka::run(settings, metrics, health, stop);
    let _ = runtime.block_on(server.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.map_err(anyhow::Error::from)
}

/// Registers the output schemas when the outputs are Avro.
fn output_encoder(
    kafka: &KafkaConfig,
    registry: Option<&SchemaRegistry>,
) -> anyhow::Result<OutputEncoder> {
    if kafka.output_format == OutputFormat::Json {
        return Ok(OutputEncoder::json());
    }
    let registry =
        registry.context("[kafka] output_format is \"avro\" but schema_registry_url is not set")?;
    let register = |topic: &str, schema: &str| -> anyhow::Result<u32> {
        let subject = format!("{topic}-value");
        registry.register(&subject, schema).with_context(|| {
            format!(
                "cannot register the schema of subject {subject} at {}",
                registry.url()
            )
        })
    };
    Ok(OutputEncoder::avro(AvroSchemaIds {
        aggregate: register(&kafka.topics.aggregates, SPEND_AGGREGATE_SCHEMA_JSON)?,
        alert: register(&kafka.topics.alerts, ALERT_SCHEMA_JSON)?,
    }))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only help a person at a terminal; log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn wait_for_stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
