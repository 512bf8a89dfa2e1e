//! `burnrate run` instances for end-to-end tests: unique topics and a consumer
//! group per test, a configuration file in a temporary directory, and HTTP reads
//! of the metrics and health endpoint.

use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::broker::{broker, free_port};
use super::process::BurnrateProcess;
use super::topics::{create_topic, unique_name, TEST_SESSION_TIMEOUT_MS};

/// How long an instance may take from start to its first partition assignment:
/// the contracts load plus a group join, which takes half the session timeout on
/// Tansu.
pub const ASSIGNMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a test waits for an instance to publish what its input implies.
pub const OUTPUT_TIMEOUT: Duration = Duration::from_secs(20);

/// The topics and consumer group of one test, all named uniquely.
pub struct RunTopics {
    pub usage: String,
    pub contracts: String,
    pub changelog: String,
    pub aggregates: String,
    pub alerts: String,
    pub dead_letters: String,
    pub unrated: String,
    pub focus: String,
    pub group: String,
}

impl RunTopics {
    /// Names the topics and the group of one test; creates nothing.
    pub fn unique() -> RunTopics {
        RunTopics {
            usage: unique_name("usage"),
            contracts: unique_name("contracts"),
            changelog: unique_name("state"),
            aggregates: unique_name("aggregates"),
            alerts: unique_name("alerts"),
            dead_letters: unique_name("dead-letters"),
            unrated: unique_name("unrated"),
            focus: unique_name("focus"),
            group: unique_name("burnrate"),
        }
    }

    /// Creates every topic except the contracts topic. The usage topic and the
    /// changelog get `partitions` partitions, the output topics one each, so that
    /// their records read back in the order they were written.
    pub fn create_all_but_contracts(&self, partitions: i32) {
        create_topic(&self.usage, partitions);
        create_topic(&self.changelog, partitions);
        for output in [
            &self.aggregates,
            &self.alerts,
            &self.dead_letters,
            &self.unrated,
            &self.focus,
        ] {
            create_topic(output, 1);
        }
    }

    /// Creates every topic, with a one-partition contracts topic.
    pub fn create(&self, partitions: i32) {
        self.create_all_but_contracts(partitions);
        create_topic(&self.contracts, 1);
    }

    /// Returns the `[kafka]` table for these topics. `settings` are extra
    /// `key = value` lines of the table, such as `input_format = "avro-confluent"`.
    pub fn kafka_table(&self, settings: &str) -> String {
        format!(
            r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
checkpoint_interval = "200ms"
{settings}

[kafka.topics]
usage = "{usage}"
contracts = "{contracts}"
changelog = "{changelog}"
aggregates = "{aggregates}"
alerts = "{alerts}"
dead_letters = "{dead_letters}"
unrated = "{unrated}"
focus = "{focus}"

[kafka.properties]
"session.timeout.ms" = {session_timeout}
"max.poll.interval.ms" = 10000
"#,
            brokers = broker().bootstrap_servers(),
            group = self.group,
            usage = self.usage,
            contracts = self.contracts,
            changelog = self.changelog,
            aggregates = self.aggregates,
            alerts = self.alerts,
            dead_letters = self.dead_letters,
            unrated = self.unrated,
            focus = self.focus,
            session_timeout = TEST_SESSION_TIMEOUT_MS,
        )
    }
}

/// A `burnrate run` process with its configuration file and metrics address.
pub struct RunInstance {
    pub process: BurnrateProcess,
    /// `host:port` of `/metrics`, `/healthz` and `/readyz`.
    pub metrics_address: String,
    /// Holds the configuration file until the instance is dropped.
    _config_dir: TempDir,
}

impl RunInstance {
    /// Writes `sections` (TOML tables other than `[metrics]`) with a `[metrics]`
    /// table on a free loopback port to a configuration file and starts
    /// `burnrate run` with it.
    pub fn start(sections: &str) -> RunInstance {
        let metrics_address = format!("127.0.0.1:{}", free_port());
        let config_dir = tempfile::Builder::new()
            .prefix("burnrate-run-")
            .tempdir()
            .expect("a temporary directory can be created");
        let config_path = config_dir.path().join("burnrate.toml");
        let text = format!("{sections}\n[metrics]\naddress = \"{metrics_address}\"\n");
        std::fs::write(&config_path, text).expect("the configuration file can be written");

        let config = config_path
            .to_str()
            .expect("the temporary path is UTF-8")
            .to_owned();
        let process = BurnrateProcess::start(
            ["run", "--config", config.as_str()],
            &[("RUST_LOG", "info")],
        );
        RunInstance {
            process,
            metrics_address,
            _config_dir: config_dir,
        }
    }

    /// Waits until the instance owns usage partitions; panics with its output
    /// otherwise.
    pub fn wait_until_assigned(&mut self) {
        let started = Instant::now();
        if !self
            .process
            .wait_for_output("partition assigned", ASSIGNMENT_TIMEOUT)
        {
            panic!(
                "burnrate got no partition within {ASSIGNMENT_TIMEOUT:?}.\n{}",
                self.process.describe_output()
            );
        }
        eprintln!(
            "burnrate owned a partition {:?} after the wait began",
            started.elapsed()
        );
    }

    /// Sends `GET path` to the metrics endpoint and returns the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.metrics_address, path)
    }

    /// Scrapes `/metrics` and returns the sum of every series of `name`.
    pub fn metric(&self, name: &str) -> f64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "GET /metrics returned {status}: {body}");
        metric_sum(&body, name)
    }

    /// Scrapes `/metrics` until the sum of the series of `name` equals `expected`
    /// or `timeout` expires, and returns the last value.
    pub fn wait_for_metric(&self, name: &str, expected: f64, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(name);
            if value == expected || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the output contains `text` at least `count` times, or panics
    /// with the output after `timeout`.
    pub fn wait_for_log_count(&mut self, text: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let output = self.process.stderr();
            if output.matches(text).count() >= count {
                return;
            }
            if Instant::now() > deadline || self.process.try_wait().is_some() {
                panic!(
                    "burnrate logged {text:?} fewer than {count} times within {timeout:?}.\n{}",
                    self.process.describe_output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends `GET path` to `address` and returns the status code and body. Error
/// statuses are returned, not raised.
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("http://{address}{path}");
    let mut response = agent
        .get(&url)
        .call()
        .unwrap_or_else(|error| panic!("GET {url} failed: {error}"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|error| panic!("reading the body of GET {url} failed: {error}"));
    (status, body)
}

/// Returns the sum of every sample of metric `name` in a Prometheus text scrape,
/// whatever its labels, or 0 when it has none.
pub fn metric_sum(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| {
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("sample {line:?} has no number"))
            })
        })
        .sum()
}

/// Returns the value of the one sample of `series`, written as the scrape writes
/// it (`name{label="value",...}`), or `None` when the scrape lacks it.
pub fn metric_sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (found, value) = line.rsplit_once(' ')?;
        (found == series).then(|| value.parse::<f64>().expect("a sample value is a number"))
    })
}
