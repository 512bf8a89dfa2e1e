//! `burnrate produce`: publishes usage events from files to a Kafka topic as
//! CloudEvents JSON, keyed by account, optionally paced by their event times so a
//! trace plays back in real time or faster.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use burnrate_codec::encode_cloudevent;
use chrono::{DateTime, Utc};
use clap::Args;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

use crate::sources::{for_each_record, InputFormat};

/// Arguments of `burnrate produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap servers, comma-separated `host:port` pairs.
    #[arg(long, value_name = "HOSTS")]
    brokers: String,

    /// Topic to publish to.
    #[arg(long)]
    topic: String,

    /// Input format; by default taken from each file's extension (.jsonl, .avro).
    #[arg(long, value_enum)]
    format: Option<InputFormat>,

    /// Plays events back at this multiple of their event-time pace: 60 turns an hour
    /// into a minute. Without it, events are sent as fast as the broker takes them.
    #[arg(long, value_name = "FACTOR")]
    speedup: Option<f64>,

    /// A librdkafka property for the producer, such as `security.protocol=SSL`; repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,

    /// Input files; `-` reads CloudEvents JSON lines from standard input.
    #[arg(value_name = "EVENTS", required = true)]
    events: Vec<PathBuf>,
}

/// Counts deliveries and keeps the first failure.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self
                    .first_failure
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Paces events by their times: the first event goes out at once, and each later
/// one when `speedup` times the elapsed wall time has caught up with its event time.
struct Pacer {
    speedup: f64,
    start: Option<(Instant, DateTime<Utc>)>,
}

impl Pacer {
    fn wait_for(&mut self, time: DateTime<Utc>) {
        let (started, first_time) = *self.start.get_or_insert((Instant::now(), time));
        let event_offset = (time - first_time).to_std().unwrap_or(Duration::ZERO);
        let due = started + event_offset.div_f64(self.speedup);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Runs `burnrate produce`.
pub fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    if let Some(speedup) = args.speedup {
        if !(speedup.is_finite() && speedup > 0.0) {
            bail!("--speedup {speedup} is not a positive number; use for example 1 for real time or 60 for a minute per hour");
        }
    }
    let formats: Vec<InputFormat> = args
        .events
        .iter()
        .map(|path| InputFormat::for_path(path, args.format))
        .collect::<anyhow::Result<_>>()?;

    let mut config = ClientConfig::new();
    // Java clients and `replay --partitions` place keys with murmur2, so an account
    // lands in the same partition for every publisher.
    config
        .set("bootstrap.servers", &args.brokers)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20");
    for property in &args.properties {
        let (key, value) = property
            .split_once('=')
            .with_context(|| format!("--property {property:?} is not KEY=VALUE; write for example --property security.protocol=SSL"))?;
        config.set(key.trim(), value.trim());
    }
    let producer: ThreadedProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .with_context(|| {
            format!(
                "cannot create a producer for {}; check --brokers and --property",
                args.brokers
            )
        })?;

    let mut pacer = args.speedup.map(|speedup| Pacer {
        speedup,
        start: None,
    });
    let mut sent = 0u64;
    let mut invalid = 0u64;
    for (path, format) in args.events.iter().zip(formats) {
        for_each_record(path, format, |record| {
            let event = match record.event {
                Ok(event) => event,
                Err(reason) => {
                    invalid += 1;
                    eprintln!(
                        "{}:{}: invalid record not sent: {reason}",
                        record.file.display(),
                        record.position
                    );
                    return Ok(());
                }
            };
            if let Some(pacer) = &mut pacer {
                pacer.wait_for(event.time);
            }
            let value = encode_cloudevent(&event);
            let headers = OwnedHeaders::new().insert(Header {
                key: "content-type",
                value: Some("application/cloudevents+json"),
            });
            let mut outgoing = BaseRecord::to(&args.topic)
                .key(event.account.as_str())
                .payload(value.as_str())
                .headers(headers);
            loop {
                match producer.send(outgoing) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        outgoing = returned;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((error, _)) => {
                        bail!("cannot queue an event for topic {}: {error}", args.topic)
                    }
                }
            }
            sent += 1;
            Ok(())
        })?;
    }

    producer
        .flush(Duration::from_secs(60))
        .with_context(|| format!("not every event reached {} within 60 s", args.brokers))?;
    let context = producer.context();
    let delivered = context.delivered.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    println!(
        "produced {delivered} events to {} ({invalid} invalid records skipped)",
        args.topic
    );
    if failed > 0 {
        let first = context
            .first_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        bail!(
            "{failed} of {sent} events were not delivered to {} (first error: {}); they were not published",
            args.topic,
            first.unwrap_or_default()
        );
    }
    Ok(())
}
