//! End-to-end benchmark of `burnrate run` against a Kafka-protocol broker.
//!
//! One run creates its own topics, loads the contracts and `--events` usage
//! records (CloudEvents JSON, keyed by account), and then measures:
//!
//! 1. A bare rdkafka consumer in its own group that reads every record and only
//!    touches its bytes: the rate the broker and client allow on this machine.
//! 2. `burnrate run` (the release binary, as a child process) processing the same
//!    records from the start, timed by scraping `burnrate_records_consumed_total`.
//!    Both rates count from the first record consumed, so neither pays for its
//!    group join.
//! 3. Event-to-alert latency while burnrate runs live: `--alert-events` records are
//!    sent at `--alert-rate`, each crossing one budget threshold, and each is timed
//!    from its send call to the arrival of its alert on the alerts topic.
//!
//! ```sh
//! cargo build --release -p burnrate --bin burnrate --example e2e_bench
//! target/release/examples/e2e_bench --tansu PATH/TO/tansu --events 200000
//! ```

mod kafka;
mod processes;
mod scrape;
mod workload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;

use crate::kafka::{BenchProducer, ConsumeTiming, ThresholdKey};
use crate::processes::{cpu_time, ChildProcess};
use crate::scrape::Scrape;

/// Aim for burnrate's rate as a share of the bare consumer's.
const THROUGHPUT_AIM: f64 = 0.9;

/// Aim for the 99th percentile of event-to-alert latency.
const LATENCY_AIM: Duration = Duration::from_secs(1);

/// How often the metrics endpoint is scraped while burnrate works through the
/// backlog, which bounds the timing error of its rate.
const SCRAPE_INTERVAL: Duration = Duration::from_millis(20);

/// How long to wait for the last alerts after the last latency event is sent.
const ALERT_WAIT: Duration = Duration::from_secs(30);

/// `message.max.bytes` of burnrate's clients: room for partition snapshots of a
/// few megabytes.
const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;

/// Bucket bounds of burnrate's event-to-alert histogram that the report lists.
const HISTOGRAM_BOUNDS: [&str; 4] = ["0.1", "0.5", "1", "2.5"];

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    about = "Measure burnrate run against a bare Kafka consumer, and its event-to-alert latency."
)]
struct Args {
    /// Bootstrap servers of a running broker, such as 127.0.0.1:9092.
    #[arg(long, required_unless_present = "tansu", conflicts_with = "tansu")]
    brokers: Option<String>,

    /// Tansu binary to start on a free loopback port with in-memory storage, in
    /// place of --brokers.
    #[arg(long, value_name = "PATH")]
    tansu: Option<PathBuf>,

    /// The burnrate binary [default: `burnrate` in the directory above this example's].
    #[arg(long, value_name = "PATH")]
    burnrate: Option<PathBuf>,

    /// Usage records loaded for the throughput runs.
    #[arg(long, default_value_t = 200_000)]
    events: usize,

    /// Partitions of the usage, changelog, aggregates and alerts topics.
    #[arg(long, default_value_t = 4)]
    partitions: i32,

    /// Accounts the usage records are spread over.
    #[arg(long, default_value_t = 100)]
    accounts: usize,

    /// Records sent while burnrate runs live, each crossing one budget threshold.
    #[arg(long, default_value_t = 2_000)]
    alert_events: usize,

    /// Send rate of the latency run, in records per second.
    #[arg(long, default_value_t = 200)]
    alert_rate: u32,

    /// A librdkafka property for burnrate's clients, as KEY=VALUE, added to
    /// `[kafka.properties]` of its configuration. Repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,

    /// Directory for burnrate's configuration and the logs [default: a new
    /// directory under the system's temporary directory, kept after the run].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

/// Names of the topics of one run.
struct Topics {
    usage: String,
    changelog: String,
    contracts: String,
    aggregates: String,
    alerts: String,
    dead_letters: String,
    unrated: String,
}

impl Topics {
    fn new(suffix: &str) -> Topics {
        let name = |role: &str| format!("e2e-{role}-{suffix}");
        Topics {
            usage: name("usage"),
            changelog: name("state"),
            contracts: name("contracts"),
            aggregates: name("aggregates"),
            alerts: name("alerts"),
            dead_letters: name("dead-letters"),
            unrated: name("unrated"),
        }
    }
}

/// `burnrate run` working through the backlog, as seen on its metrics endpoint.
struct BurnrateTiming {
    /// When a scrape first showed consumed records.
    first: Instant,
    /// The count that scrape showed.
    first_count: u64,
    /// When a scrape first showed every record consumed.
    done: Instant,
    records: u64,
    /// CPU time of burnrate between `first` and `done`.
    cpu: Option<Duration>,
    /// CPU time of the broker between `first` and `done`, when the benchmark started it.
    broker_cpu: Option<Duration>,
}

impl BurnrateTiming {
    /// Records per second after the first scrape that showed any.
    fn rate(&self) -> f64 {
        (self.records - self.first_count) as f64 / (self.done - self.first).as_secs_f64()
    }
}

/// Event-to-alert latencies of one latency run.
struct LatencyResult {
    sent: usize,
    /// Latency of each event whose alert arrived, sorted.
    latencies: Vec<Duration>,
    /// Achieved send rate, in records per second.
    send_rate: f64,
    /// burnrate's own histogram of budget threshold alerts during the run, which
    /// also counts the resolved alerts of superseded thresholds: the count at each
    /// of [`HISTOGRAM_BOUNDS`], and the total.
    histogram: Vec<u64>,
    histogram_total: u64,
}

impl LatencyResult {
    /// Returns the `percent` percentile by the nearest-rank method.
    fn percentile(&self, percent: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = ((percent / 100.0) * self.latencies.len() as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.events < 2
        || args.partitions < 1
        || args.accounts < 1
        || args.alert_events < 1
        || args.alert_rate < 1
    {
        bail!("--events must be at least 2, and --partitions, --accounts, --alert-events and --alert-rate at least 1");
    }
    let burnrate = locate_burnrate(args.burnrate.as_deref())?;
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let suffix = format!("{}-{started_at}", std::process::id());
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("burnrate-e2e-{suffix}")));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;

    let (broker, brokers) = match (&args.tansu, &args.brokers) {
        (Some(tansu), _) => {
            let (process, address) = processes::start_tansu(tansu, &work_dir)?;
            (Some(process), address)
        }
        (None, Some(brokers)) => (None, brokers.clone()),
        (None, None) => bail!("pass --brokers HOST:PORT or --tansu PATH"),
    };
    let broker_pid = broker.as_ref().map(ChildProcess::pid);
    println!(
        "Broker {brokers}; burnrate {}; logs in {}",
        burnrate.display(),
        work_dir.display()
    );

    let topics = Topics::new(&suffix);
    kafka::create_topics(
        &brokers,
        &[
            (&topics.usage, args.partitions),
            (&topics.changelog, args.partitions),
            (&topics.contracts, 1),
            (&topics.aggregates, args.partitions),
            (&topics.alerts, args.partitions),
            (&topics.dead_letters, 1),
            (&topics.unrated, 1),
        ],
    )?;

    let load_rate = load(&brokers, &topics, &args)?;
    println!(
        "Loaded {} usage records at {load_rate:.0} records/s.",
        args.events
    );

    let bare = measure_bare(&brokers, &topics, args.events as u64, &suffix, broker_pid)?;
    println!("Bare consumer: {:.0} records/s.", bare.0.rate());

    let metrics_address = format!("127.0.0.1:{}", processes::free_port()?);
    let config_path = write_config(
        &work_dir,
        &brokers,
        &topics,
        &suffix,
        &metrics_address,
        &args.properties,
    )?;
    let mut command = Command::new(&burnrate);
    command.arg("run").arg("--config").arg(&config_path);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    let mut process = ChildProcess::start("burnrate run", command, &work_dir.join("burnrate.log"))?;

    let agent = scrape::agent();
    let run = measure_burnrate(
        &mut process,
        &agent,
        &metrics_address,
        &topics.usage,
        args.events as u64,
        broker_pid,
    )?;
    println!("burnrate run: {:.0} records/s.", run.rate());
    let after_backlog = Scrape::fetch(&agent, &metrics_address)?;

    let latency = measure_latency(&brokers, &topics, &args, &agent, &metrics_address)?;
    let stopped_cleanly = process.terminate(Duration::from_secs(60));

    print_report(
        &args,
        &brokers,
        broker.is_some(),
        &bare,
        &run,
        &after_backlog,
        &latency,
    );
    if !stopped_cleanly {
        println!(
            "burnrate did not stop within 60 s of SIGTERM and was killed; see {}",
            process.log_path().display()
        );
    }
    Ok(())
}

/// Parses a `--property` value.
fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "invalid property {text:?}; write KEY=VALUE, such as fetch.wait.max.ms=50"
        )),
    }
}

/// Returns the burnrate binary: `argument`, or `burnrate` in the directory above this
/// example's (`target/release` for `target/release/examples/e2e_bench`).
fn locate_burnrate(argument: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match argument {
        Some(path) => path.to_owned(),
        None => {
            let example = std::env::current_exe().context("cannot find this example's own path")?;
            example
                .parent()
                .and_then(Path::parent)
                .map(|directory| directory.join("burnrate"))
                .context("this example's path has no parent directory")?
        }
    };
    if !path.is_file() {
        bail!(
            "the burnrate binary {} does not exist; build it with `cargo build --release -p burnrate --bin burnrate` or pass --burnrate PATH",
            path.display()
        );
    }
    Ok(path)
}

/// Publishes the contracts and the usage records and returns the load rate in
/// records per second.
fn load(brokers: &str, topics: &Topics, args: &Args) -> anyhow::Result<f64> {
    let producer = BenchProducer::new(brokers, Duration::from_millis(20))?;
    let thresholds = args.alert_events.div_ceil(workload::ALERT_ACCOUNTS) as u32;
    for contract in workload::contracts(args.accounts, thresholds) {
        producer.send(&topics.contracts, &contract)?;
    }
    producer.flush()?;

    let events = workload::throughput_events(args.events, args.accounts);
    let started = Instant::now();
    for event in &events {
        producer.send(&topics.usage, event)?;
    }
    producer.flush()?;
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// Runs the bare consumer and returns its timing, its own CPU time and the
/// broker's over the same span.
fn measure_bare(
    brokers: &str,
    topics: &Topics,
    expected: u64,
    suffix: &str,
    broker_pid: Option<u32>,
) -> anyhow::Result<(ConsumeTiming, Option<Duration>, Option<Duration>)> {
    let own_before = cpu_time(std::process::id());
    let broker_before = broker_pid.and_then(cpu_time);
    let timing = kafka::consume_bare(
        brokers,
        &format!("e2e-bare-{suffix}"),
        &topics.usage,
        expected,
    )?;
    // The CPU time spans the group join too, which costs little next to reading.
    let own = cpu_time(std::process::id())
        .zip(own_before)
        .map(|(after, before)| after.saturating_sub(before));
    let broker = broker_pid
        .and_then(cpu_time)
        .zip(broker_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok((timing, own, broker))
}

/// Writes `burnrate.toml` for this run's topics and returns its path.
fn write_config(
    work_dir: &Path,
    brokers: &str,
    topics: &Topics,
    suffix: &str,
    metrics_address: &str,
    properties: &[(String, String)],
) -> anyhow::Result<PathBuf> {
    let extra: String = properties
        .iter()
        .map(|(key, value)| format!("{key:?} = {value:?}\n"))
        .collect();
    let text = format!(
        r#"# Written by the e2e_bench example; processing and alert settings are the defaults.

[kafka]
brokers = {brokers:?}
group_id = "e2e-burnrate-{suffix}"

[kafka.topics]
usage = {usage:?}
changelog = {changelog:?}
contracts = {contracts:?}
aggregates = {aggregates:?}
alerts = {alerts:?}
dead_letters = {dead_letters:?}
unrated = {unrated:?}

[kafka.properties]
# Tansu completes a group join after half of the session timeout.
"session.timeout.ms" = {session_timeout}
# A partition snapshot is one changelog record, and with tens of thousands of
# events per partition it outgrows librdkafka's default limit of 1,000,000 bytes.
"message.max.bytes" = {max_record_bytes}
{extra}
[metrics]
address = {metrics_address:?}
"#,
        usage = topics.usage,
        changelog = topics.changelog,
        contracts = topics.contracts,
        aggregates = topics.aggregates,
        alerts = topics.alerts,
        dead_letters = topics.dead_letters,
        unrated = topics.unrated,
        session_timeout = kafka::SESSION_TIMEOUT_MS,
        max_record_bytes = MAX_RECORD_BYTES,
    );
    let path = work_dir.join("burnrate.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Scrapes burnrate's metrics until it has consumed `expected` usage records.
fn measure_burnrate(
    process: &mut ChildProcess,
    agent: &ureq::Agent,
    metrics_address: &str,
    usage_topic: &str,
    expected: u64,
    broker_pid: Option<u32>,
) -> anyhow::Result<BurnrateTiming> {
    let started = Instant::now();
    let mut first: Option<(Instant, u64, Option<Duration>, Option<Duration>)> = None;
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        process.check_running()?;
        let scrape = match Scrape::fetch(agent, metrics_address) {
            Ok(scrape) => scrape,
            Err(error) if started.elapsed() > Duration::from_secs(60) => {
                return Err(error.context(format!(
                    "burnrate's metrics endpoint is unreachable; its log is {}",
                    process.log_path().display()
                )));
            }
            Err(_) => {
                thread::sleep(SCRAPE_INTERVAL);
                continue;
            }
        };
        let now = Instant::now();
        let consumed = scrape.consumed(usage_topic);
        if consumed > 0 && first.is_none() {
            first = Some((
                now,
                consumed,
                cpu_time(process.pid()),
                broker_pid.and_then(cpu_time),
            ));
        }
        if consumed > last_count {
            last_count = consumed;
            last_progress = now;
        } else if now - last_progress > Duration::from_secs(120) {
            bail!(
                "burnrate consumed {consumed} of {expected} records and then nothing for 120 s; its log is {}",
                process.log_path().display()
            );
        }
        if consumed >= expected {
            let (first, first_count, cpu_before, broker_before) =
                first.expect("set when consumed became positive");
            let spent = |after: Option<Duration>, before: Option<Duration>| {
                after
                    .zip(before)
                    .map(|(after, before)| after.saturating_sub(before))
            };
            return Ok(BurnrateTiming {
                first,
                first_count,
                done: now,
                records: consumed,
                cpu: spent(cpu_time(process.pid()), cpu_before),
                broker_cpu: spent(broker_pid.and_then(cpu_time), broker_before),
            });
        }
        thread::sleep(SCRAPE_INTERVAL);
    }
}

/// Sends the latency records at a steady rate and times each one to its alert.
fn measure_latency(
    brokers: &str,
    topics: &Topics,
    args: &Args,
    agent: &ureq::Agent,
    metrics_address: &str,
) -> anyhow::Result<LatencyResult> {
    let histogram_before = Scrape::fetch(agent, metrics_address)?;
    let ready = AtomicBool::new(false);
    let received = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let producer = BenchProducer::new(brokers, Duration::from_millis(5))?;

    let (sent_at, send_rate, arrivals) = thread::scope(
        |scope| -> anyhow::Result<(Vec<Instant>, f64, HashMap<ThresholdKey, Instant>)> {
            let receiver = scope.spawn(|| {
                kafka::receive_alerts(
                    brokers,
                    &topics.alerts,
                    args.partitions,
                    &ready,
                    &received,
                    &stop,
                )
            });
            let ready_deadline = Instant::now() + Duration::from_secs(10);
            while !ready.load(Ordering::Relaxed)
                && Instant::now() < ready_deadline
                && !receiver.is_finished()
            {
                thread::sleep(Duration::from_millis(10));
            }

            let interval = Duration::from_secs_f64(1.0 / f64::from(args.alert_rate));
            let mut sent_at = Vec::with_capacity(args.alert_events);
            let started = Instant::now();
            for index in 0..args.alert_events {
                let due = started + interval * index as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let record = workload::alert_event(index);
                sent_at.push(Instant::now());
                producer.send(&topics.usage, &record)?;
            }
            let send_rate = args.alert_events as f64 / started.elapsed().as_secs_f64();
            producer.flush()?;

            let deadline = Instant::now() + ALERT_WAIT;
            while received.load(Ordering::Relaxed) < args.alert_events
                && Instant::now() < deadline
                && !receiver.is_finished()
            {
                thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::Relaxed);
            let arrivals = receiver.join().expect("the alerts reader does not panic")?;
            Ok((sent_at, send_rate, arrivals))
        },
    )?;

    let mut latencies: Vec<Duration> = (0..args.alert_events)
        .filter_map(|index| {
            let arrived = arrivals.get(&expected_key(index))?;
            Some(arrived.saturating_duration_since(sent_at[index]))
        })
        .collect();
    latencies.sort();

    let histogram_after = Scrape::fetch(agent, metrics_address)?;
    let delta = |le: &str| {
        histogram_after.threshold_latency_bucket(le) - histogram_before.threshold_latency_bucket(le)
    };
    Ok(LatencyResult {
        sent: args.alert_events,
        latencies,
        send_rate,
        histogram: HISTOGRAM_BOUNDS.iter().map(|le| delta(le)).collect(),
        histogram_total: delta("+Inf"),
    })
}

/// Returns the alert that latency record `index` triggers.
fn expected_key(index: usize) -> ThresholdKey {
    (
        workload::alert_account(index % workload::ALERT_ACCOUNTS),
        workload::alert_threshold(index),
    )
}

fn print_report(
    args: &Args,
    brokers: &str,
    started_broker: bool,
    bare: &(ConsumeTiming, Option<Duration>, Option<Duration>),
    run: &BurnrateTiming,
    after_backlog: &Scrape,
    latency: &LatencyResult,
) {
    let (bare, bare_cpu, bare_broker_cpu) = bare;
    let seconds = |duration: Option<Duration>| {
        duration.map_or("-".to_owned(), |duration| {
            format!("{:.1}", duration.as_secs_f64())
        })
    };
    let ratio = run.rate() / bare.rate();

    println!();
    println!(
        "Broker {brokers}{}; {} usage records ({:.1} bytes each) in {} partitions over {} accounts.",
        if started_broker { " (Tansu started by the benchmark, in-memory storage)" } else { "" },
        args.events,
        bare.bytes as f64 / bare.records as f64,
        args.partitions,
        args.accounts
    );
    println!();
    println!("| Consumer | Records timed | Seconds | Records/s | Its CPU s | Broker CPU s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| bare rdkafka BaseConsumer | {} | {:.2} | {:.0} | {} | {} |",
        bare.records - 1,
        (bare.last - bare.first).as_secs_f64(),
        bare.rate(),
        seconds(*bare_cpu),
        seconds(*bare_broker_cpu)
    );
    println!(
        "| burnrate run | {} | {:.2} | {:.0} | {} | {} |",
        run.records - run.first_count,
        (run.done - run.first).as_secs_f64(),
        run.rate(),
        seconds(run.cpu),
        seconds(run.broker_cpu)
    );
    println!();
    println!(
        "burnrate / bare consumer: {:.1} % (aim: at least {:.0} %, {}).",
        ratio * 100.0,
        THROUGHPUT_AIM * 100.0,
        if ratio >= THROUGHPUT_AIM {
            "met"
        } else {
            "missed"
        }
    );
    println!(
        "burnrate counted {} rated, {} unrated, {} duplicate and {} late events, {} dead letters and {} alerts.",
        after_backlog.sum("burnrate_events_rated_total", &[]),
        after_backlog.sum("burnrate_events_unrated_total", &[]),
        after_backlog.sum("burnrate_duplicate_events_total", &[]),
        after_backlog.sum("burnrate_late_events_total", &[]),
        after_backlog.sum("burnrate_dead_letters_total", &[]),
        after_backlog.sum("burnrate_alerts_total", &[]),
    );

    println!();
    let milliseconds = |duration: Option<Duration>| {
        duration.map_or("-".to_owned(), |duration| {
            format!("{:.1}", duration.as_secs_f64() * 1000.0)
        })
    };
    println!(
        "Event-to-alert latency: {} records sent at {:.0}/s, {} alerts received.",
        latency.sent,
        latency.send_rate,
        latency.latencies.len()
    );
    println!("| p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} |",
        milliseconds(latency.percentile(50.0)),
        milliseconds(latency.percentile(90.0)),
        milliseconds(latency.percentile(99.0)),
        milliseconds(latency.latencies.last().copied())
    );
    let p99_met = latency.latencies.len() == latency.sent
        && latency
            .percentile(99.0)
            .is_some_and(|p99| p99 < LATENCY_AIM);
    println!(
        "p99 aim: under {} ms, {}.",
        LATENCY_AIM.as_millis(),
        if p99_met { "met" } else { "missed" }
    );
    let buckets: Vec<String> = HISTOGRAM_BOUNDS
        .iter()
        .zip(&latency.histogram)
        .map(|(bound, count)| format!("<= {bound} s: {count}"))
        .collect();
    println!(
        "burnrate_event_to_alert_latency_seconds (budget_threshold, firing and superseded; record timestamp to publish) during the run: {}, total {}.",
        buckets.join(", "),
        latency.histogram_total
    );
}
