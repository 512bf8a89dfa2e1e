//! Tests of the deployment files in `deploy/`. A real Prometheus scrapes a real
//! `burnrate run` and evaluates every PromQL expression of the Grafana dashboard
//! and every rule. `promtool` checks the rules and the configuration, and the
//! compose file and Kubernetes manifests are checked against burnrate's
//! configuration, port and probe paths. The PrometheusRule must have the groups of
//! `deploy/prometheus/rules.yml`.
//!
//! The Prometheus test needs the `prometheus` and `promtool` binaries of Debian's
//! `prometheus` package (2.42 on Debian 12), which `scripts/test` installs.
//! `BURNRATE_PROMETHEUS` and `BURNRATE_PROMTOOL` override their paths.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use tempfile::TempDir;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use support::broker::{free_port, kill_with_parent};
use support::process::{repository_root, BurnrateProcess};
use support::run::{http_get, RunInstance, RunTopics, OUTPUT_TIMEOUT};
use support::topics::{produce, OutgoingRecord};

/// The port of `[metrics] address` in the deployment configurations.
const METRICS_PORT: i64 = 9464;

/// How long Prometheus may take to start and scrape its target for the first time.
const PROMETHEUS_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one PromQL expression may take to return data once burnrate has
/// published the series it reads. Rule groups are evaluated every second.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

fn deploy_path(relative: &str) -> PathBuf {
    repository_root().join("deploy").join(relative)
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Parses every YAML document of a file; panics with the file name on a syntax error.
fn load_yaml(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read_text(path))
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()))
}

/// Writes a YAML node back as text, for failure messages and for files that
/// `promtool` reads.
fn yaml_text(node: &Yaml) -> String {
    let mut text = String::new();
    YamlEmitter::new(&mut text)
        .dump(node)
        .expect("a parsed YAML node can be written as text");
    text
}

/// Finds a test tool: the path in `variable` if set, else `name` in `/usr/bin` or
/// on `PATH`. Panics with installation instructions when it is missing, because
/// skipping would let broken deployment files pass.
fn tool_path(name: &str, variable: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    let candidates =
        std::iter::once(PathBuf::from("/usr/bin")).chain(std::env::split_paths(&search));
    for directory in candidates {
        let path = directory.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} not found in /usr/bin or on PATH. Install it with \
         `apt-get install -y --no-install-recommends prometheus` (Debian 12 ships 2.42), \
         run scripts/test, which does that, or set {variable} to the binary."
    );
}

/// Runs `promtool` with `args` and panics with its output unless it succeeds.
fn promtool(args: &[&str]) {
    let output = Command::new(tool_path("promtool", "BURNRATE_PROMTOOL"))
        .args(args)
        .current_dir(repository_root())
        .output()
        .expect("promtool starts");
    assert!(
        output.status.success(),
        "promtool {} failed with {}:\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `burnrate check-config` on `config` with extra environment variables and
/// panics with its output unless the configuration is valid.
fn check_config(config: &Path, envs: &[(&str, &str)]) {
    let config_text = config.to_str().expect("the configuration path is UTF-8");
    let mut process = BurnrateProcess::start(["check-config", "--config", config_text], envs);
    let status = process
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| {
            panic!(
                "burnrate check-config did not exit within 30 s.\n{}",
                process.describe_output()
            )
        });
    assert!(
        status.success(),
        "burnrate check-config rejected {}:\n{}",
        config.display(),
        process.describe_output()
    );
}

/// Returns the port of the `address` key of the `[metrics]` table in a burnrate.toml.
fn metrics_port(config_text: &str, origin: &str) -> i64 {
    let table: toml::Table = config_text
        .parse()
        .unwrap_or_else(|error| panic!("{origin} is not valid TOML: {error}"));
    let address = table["metrics"]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("{origin} sets no [metrics] address"));
    let (_, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("metrics address {address:?} in {origin} has no port"));
    port.parse()
        .unwrap_or_else(|_| panic!("metrics address {address:?} in {origin} has an invalid port"))
}

/// Returns `key` of a compose service, looking into the mapping merged with `<<:`
/// when the service does not set it itself, because yaml-rust2 does not resolve
/// merge keys.
fn compose_field<'a>(service: &'a Yaml, key: &str) -> &'a Yaml {
    let own = &service[key];
    if own.is_badvalue() {
        &service["<<"][key]
    } else {
        own
    }
}

/// Returns every `expr` of the dashboard's panels, nested row panels included.
fn dashboard_expressions(dashboard: &Value) -> Vec<(String, String)> {
    fn collect(panels: &Value, found: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    found.push((title.to_owned(), expr.to_owned()));
                }
            }
            collect(&panel["panels"], found);
        }
    }
    let mut found = Vec::new();
    collect(&dashboard["panels"], &mut found);
    found
}

/// Replaces Grafana's interval variables with fixed spans and every template
/// variable other than the data source with a regex matching any value.
fn expand_dashboard_variables(expr: &str, variables: &[String]) -> String {
    let mut expanded = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h");
    for name in variables {
        expanded = expanded
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    expanded
}

/// Returns the `burnrate_` metric names an expression reads, without recording
/// rule names (which contain colons).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let bytes = expr.as_bytes();
    let is_name_byte = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':';
    let mut names = BTreeSet::new();
    let mut start = 0;
    while let Some(found) = expr[start..].find("burnrate_") {
        let begin = start + found;
        let end = begin
            + expr[begin..]
                .bytes()
                .take_while(|byte| is_name_byte(*byte))
                .count();
        let preceded_by_name = begin > 0 && is_name_byte(bytes[begin - 1]);
        let name = &expr[begin..end];
        if !preceded_by_name && !name.contains(':') {
            names.insert(name.to_owned());
        }
        start = end;
    }
    names
}

/// Returns the metric families a scrape declares with `# TYPE`, with the
/// `_bucket`, `_sum` and `_count` series of its histograms.
fn scraped_metric_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() != Some("#") || fields.next() != Some("TYPE") {
            continue;
        }
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Returns every rule of a Prometheus rules file as (`record` or `alert`, name, expr).
fn rules(path: &Path) -> Vec<(String, String, String)> {
    let documents = load_yaml(path);
    let mut found = Vec::new();
    for group in documents[0]["groups"]
        .as_vec()
        .expect("a rules file has groups")
    {
        for rule in group["rules"].as_vec().expect("a rule group has rules") {
            let expr = rule["expr"]
                .as_str()
                .expect("a rule has an expr")
                .to_owned();
            if let Some(record) = rule["record"].as_str() {
                found.push(("record".to_owned(), record.to_owned(), expr));
            } else {
                let alert = rule["alert"]
                    .as_str()
                    .expect("a rule is a record or an alert")
                    .to_owned();
                found.push(("alert".to_owned(), alert, expr));
            }
        }
    }
    found
}

/// A Prometheus server on a loopback port with its data in a temporary directory.
/// Dropping it kills the server.
struct Prometheus {
    child: Child,
    address: String,
    directory: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) and evaluating
    /// `rules_file`, both every second.
    fn start(target: &str, rules_file: &Path) -> Prometheus {
        let directory = tempfile::Builder::new()
            .prefix("burnrate-prometheus-")
            .tempdir()
            .expect("a temporary directory can be created");
        let config_path = directory.path().join("prometheus.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\nscrape_configs:\n  - job_name: burnrate\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules = rules_file.display()
        );
        std::fs::write(&config_path, config).expect("the Prometheus configuration can be written");

        let address = format!("127.0.0.1:{}", free_port());
        let log = File::create(directory.path().join("prometheus.log"))
            .expect("the Prometheus log can be created");
        let mut command = Command::new(tool_path("prometheus", "BURNRATE_PROMETHEUS"));
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                directory.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file handle can be cloned"))
            .stderr(log);
        kill_with_parent(&mut command);
        let child = command.spawn().expect("prometheus starts");
        Prometheus {
            child,
            address,
            directory,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Sends `GET path` with query parameters and returns the `data` of a
    /// successful API response.
    fn api(&self, path: &str, parameters: &[(&str, &str)]) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let url = format!("http://{}{path}", self.address);
        let mut request = agent.get(&url);
        for (name, value) in parameters {
            request = request.query(*name, *value);
        }
        let mut response = request
            .call()
            .unwrap_or_else(|error| panic!("GET {url} failed: {error}\n{}", self.log()));
        let body = response
            .body_mut()
            .read_to_string()
            .expect("the Prometheus response is text");
        let parsed: Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("GET {url} returned no JSON ({error}): {body}"));
        assert_eq!(
            parsed["status"], "success",
            "GET {url} {parameters:?} failed: {body}"
        );
        parsed["data"].clone()
    }

    /// Evaluates an instant query and returns its result vector.
    fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", expr)]);
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// Evaluates `expr` until it returns a sample or `timeout` expires, and returns
    /// the last result.
    fn query_until_data(&self, expr: &str, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(expr);
            if !result.is_empty() || Instant::now() > deadline {
                return result;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits until the server responds and its only target has been scraped.
    fn wait_for_healthy_target(&mut self) {
        let deadline = Instant::now() + PROMETHEUS_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            if std::net::TcpStream::connect(&self.address).is_ok() {
                let (status, _) = http_get(&self.address, "/-/ready");
                if status == 200 {
                    let targets = self.api("/api/v1/targets", &[]);
                    let healthy = targets["activeTargets"]
                        .as_array()
                        .is_some_and(|active| active.iter().any(|target| target["health"] == "up"));
                    if healthy {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "prometheus did not scrape burnrate within {PROMETHEUS_START_TIMEOUT:?}.\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns the largest finite sample value of an instant query result, if any.
fn largest_sample(result: &[Value]) -> Option<f64> {
    result
        .iter()
        .filter_map(|series| series["value"][1].as_str()?.parse::<f64>().ok())
        .filter(|value| value.is_finite())
        .reduce(f64::max)
}

/// Builds a CloudEvents usage event of vendor `openai` for `account`.
fn usage_event(id: &str, account: &str, time: &str, meter: &str, quantity: &str) -> String {
    json!({
        "specversion": "1.0", "id": id, "source": "openai", "type": "burnrate.usage",
        "time": time, "subject": account,
        "data": {"meter": meter, "quantity": quantity, "dimensions": {"team": "search"}}
    })
    .to_string()
}

/// Scrapes `/metrics` until `name` is present with a sum of at least `minimum`,
/// or panics with the instance's output after [`OUTPUT_TIMEOUT`].
fn wait_for_series(instance: &RunInstance, name: &str, minimum: f64) {
    let deadline = Instant::now() + OUTPUT_TIMEOUT;
    loop {
        let (_, scrape) = instance.get("/metrics");
        let present = scrape.lines().any(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        });
        if present && support::run::metric_sum(&scrape, name) >= minimum {
            return;
        }
        if Instant::now() > deadline {
            panic!("burnrate did not report {name} >= {minimum} within {OUTPUT_TIMEOUT:?}.\n{scrape}\n{}", instance.process.describe_output());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dashboard_and_rules_return_data() {
    let topics = RunTopics::unique();
    topics.create(1);

    // One USD contract with a $10 budget: $9 of spend crosses its 80 % threshold.
    let contract = json!({
        "id": "acme-openai", "account": "acme", "vendor": "openai", "currency": "USD",
        "timezone": "UTC", "billing_anchor_day": 1,
        "prices": [{"meter": "output_tokens", "effective_from": "2020-01-01T00:00:00Z",
                    "pricing": {"model": "per_unit", "unit_price": "0.01"}}],
        "budgets": [{"id": "acme-monthly", "amount": "10.00", "thresholds_pct": [80, 100]}]
    });
    produce(
        &topics.contracts,
        &[OutgoingRecord::new("acme-openai", contract.to_string())],
    );

    // Faster librdkafka statistics, so the consumer lag series appears within seconds.
    let kafka = topics.kafka_table("").replace(
        "[kafka.properties]\n",
        "[kafka.properties]\n\"statistics.interval.ms\" = 1000\n",
    );
    let mut instance = RunInstance::start(&kafka);
    let rules_path = deploy_path("prometheus/rules.yml");
    // Prometheus scrapes before the usage events are published, so the counters'
    // increases fall inside its rate windows.
    let mut prometheus = Prometheus::start(&instance.metrics_address, &rules_path);
    prometheus.wait_for_healthy_target();
    instance.wait_until_assigned();

    // Event times a minute ago are within max_time_ahead and the current billing period.
    let time =
        (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let first = usage_event("e-1", "acme", &time, "output_tokens", "500");
    let records = [
        OutgoingRecord::new("acme", first.clone()),
        OutgoingRecord::new(
            "acme",
            usage_event("e-2", "acme", &time, "output_tokens", "400"),
        ),
        // A repeat of e-1, counted as a duplicate.
        OutgoingRecord::new("acme", first),
        // No price covers input_tokens, so the event is unrated.
        OutgoingRecord::new(
            "acme",
            usage_event("e-3", "acme", &time, "input_tokens", "10"),
        ),
        // Invalid JSON goes to the dead-letter topic.
        OutgoingRecord::new(
            "acme",
            br#"{"specversion": "1.0", "id": "bad-1", "#.to_vec(),
        ),
    ];
    produce(&topics.usage, &records);

    wait_for_series(&instance, "burnrate_events_rated_total", 2.0);
    wait_for_series(&instance, "burnrate_alerts_total", 1.0);
    wait_for_series(&instance, "burnrate_dead_letters_total", 1.0);
    wait_for_series(&instance, "burnrate_period_spend", 9.0);
    wait_for_series(&instance, "burnrate_budget_use_ratio", 0.9);
    wait_for_series(&instance, "burnrate_consumer_lag", 0.0);

    // The names the dashboard and rules read must be ones burnrate exports.
    let (_, scrape) = instance.get("/metrics");
    let exported = scraped_metric_names(&scrape);
    let dashboard_path = deploy_path("grafana/burnrate.json");
    let dashboard: Value =
        serde_json::from_str(&read_text(&dashboard_path)).expect("the dashboard is valid JSON");
    let expressions = dashboard_expressions(&dashboard);
    assert!(
        expressions.len() >= 10,
        "the dashboard has only {} queries",
        expressions.len()
    );
    let rule_list = rules(&rules_path);
    let all_expressions = expressions
        .iter()
        .map(|(_, expr)| expr)
        .chain(rule_list.iter().map(|(_, _, expr)| expr));
    for expr in all_expressions {
        for name in metric_names(expr) {
            assert!(
                exported.contains(&name),
                "{expr:?} reads {name}, which burnrate does not export"
            );
        }
    }

    // The dashboard's queries, with its variables filled in as Grafana would.
    let variables: Vec<String> = dashboard["templating"]["list"]
        .as_array()
        .expect("the dashboard has template variables")
        .iter()
        .filter(|variable| variable["type"] != "datasource")
        .map(|variable| {
            variable["name"]
                .as_str()
                .expect("a variable has a name")
                .to_owned()
        })
        .collect();
    let mut empty = Vec::new();
    let mut largest_by_panel: BTreeMap<String, f64> = BTreeMap::new();
    for (title, expr) in &expressions {
        let expanded = expand_dashboard_variables(expr, &variables);
        assert!(
            !expanded.contains('$'),
            "panel {title:?} uses an unknown variable: {expr}"
        );
        let result = prometheus.query_until_data(&expanded, QUERY_TIMEOUT);
        let largest = largest_sample(&result);
        eprintln!(
            "{title}: {expanded} -> {} series, largest {largest:?}",
            result.len()
        );
        if result.is_empty() {
            empty.push(format!("{title}: {expanded}"));
        }
        if let Some(value) = largest {
            let slot = largest_by_panel.entry(title.clone()).or_insert(value);
            *slot = slot.max(value);
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    // The panels fed by the records above show them, not only zero series.
    for (title, minimum) in [
        ("Spend by account, vendor and meter", 9.0),
        ("Budget use", 0.9),
        ("Alerts fired", f64::MIN_POSITIVE),
        ("Event-to-alert latency p99", f64::MIN_POSITIVE),
        ("Throughput", f64::MIN_POSITIVE),
        ("Dead letters", f64::MIN_POSITIVE),
        ("Contracts loaded", 1.0),
    ] {
        let largest = largest_by_panel.get(title).copied();
        assert!(
            largest.is_some_and(|value| value >= minimum),
            "panel {title:?} shows at most {largest:?}, expected at least {minimum}"
        );
    }

    // The account variable lists the account that was charged.
    let accounts = prometheus.api(
        "/api/v1/label/account/values",
        &[("match[]", "burnrate_period_spend")],
    );
    assert_eq!(accounts, json!(["acme"]), "values of the account variable");

    // Every recording rule produces series, and every rule evaluates without error.
    for (kind, name, _) in &rule_list {
        if kind == "record" {
            let result = prometheus.query_until_data(name, QUERY_TIMEOUT);
            assert!(
                !result.is_empty(),
                "recording rule {name} produced no series"
            );
        }
    }
    let groups = prometheus.api("/api/v1/rules", &[]);
    let evaluated: Vec<&Value> = groups["groups"]
        .as_array()
        .expect("rule groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules").iter())
        .collect();
    assert_eq!(
        evaluated.len(),
        rule_list.len(),
        "rules loaded by Prometheus"
    );
    for rule in evaluated {
        assert_eq!(
            rule["health"], "ok",
            "rule {} failed to evaluate: {}",
            rule["name"], rule["lastError"]
        );
    }

    // The dead letter makes its alert pending (it waits 5 minutes before firing);
    // the healthy instance makes no instance-down alert.
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let alert_names = loop {
        let alerts = prometheus.api("/api/v1/alerts", &[]);
        let names: Vec<String> = alerts["alerts"]
            .as_array()
            .expect("an alerts list")
            .iter()
            .map(|alert| {
                alert["labels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        if names.iter().any(|name| name == "BurnrateDeadLettersRising") || Instant::now() > deadline
        {
            break names;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        alert_names
            .iter()
            .any(|name| name == "BurnrateDeadLettersRising"),
        "active alerts: {alert_names:?}"
    );
    assert!(
        !alert_names
            .iter()
            .any(|name| name == "BurnrateInstanceDown"),
        "active alerts: {alert_names:?}"
    );
}

#[test]
fn promtool_accepts_rules_and_config() {
    promtool(&["check", "rules", "deploy/prometheus/rules.yml"]);
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
}

#[test]
fn kubernetes_manifests_match_burnrate() {
    let directory = deploy_path("kubernetes");
    let mut documents = Vec::new();
    let mut file_names = BTreeSet::new();
    for entry in std::fs::read_dir(&directory).expect("deploy/kubernetes can be listed") {
        let path = entry.expect("a directory entry").path();
        if path
            .extension()
            .is_some_and(|extension| extension == "yaml")
        {
            documents.extend(load_yaml(&path));
            file_names.insert(
                path.file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    let find = |kind: &str| -> Yaml {
        documents
            .iter()
            .find(|document| document["kind"].as_str() == Some(kind))
            .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind}"))
            .clone()
    };

    // `kubectl apply -k` deploys every manifest except the example Secret, which
    // users create from their secret store instead.
    let kustomization = find("Kustomization");
    let resources: BTreeSet<String> = kustomization["resources"]
        .as_vec()
        .expect("kustomization.yaml has resources")
        .iter()
        .map(|resource| {
            resource
                .as_str()
                .expect("a resource is a file name")
                .to_owned()
        })
        .collect();
    let manifests: BTreeSet<String> = file_names
        .into_iter()
        .filter(|name| name != "kustomization.yaml" && name != "secret.example.yaml")
        .collect();
    assert_eq!(resources, manifests, "resources of kustomization.yaml (left) differ from the manifests in deploy/kubernetes (right). List each manifest once.");

    // The ConfigMap's burnrate.toml is valid, with the password the Secret sets.
    let config_map = find("ConfigMap");
    let config_text = config_map["data"]["burnrate.toml"]
        .as_str()
        .expect("the ConfigMap has burnrate.toml");
    let scratch = tempfile::tempdir().expect("a temporary directory can be created");
    let config_path = scratch.path().join("burnrate.toml");
    std::fs::write(&config_path, config_text).expect("the configuration can be written");
    check_config(
        &config_path,
        &[(
            "BURNRATE__KAFKA__PROPERTIES__SASL_PASSWORD",
            "test-password",
        )],
    );
    assert_eq!(
        metrics_port(config_text, "the ConfigMap"),
        METRICS_PORT,
        "metrics port of the ConfigMap"
    );

    let deployment = find("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"].as_i64(), Some(2), "replicas");

    let ports = container["ports"]
        .as_vec()
        .expect("the container declares ports");
    let metrics = ports
        .iter()
        .find(|port| port["name"].as_str() == Some("metrics"))
        .expect("a port named metrics");
    assert_eq!(
        metrics["containerPort"].as_i64(),
        Some(METRICS_PORT),
        "containerPort of metrics"
    );

    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let http_get = &container[probe]["httpGet"];
        assert_eq!(http_get["path"].as_str(), Some(path), "{probe} path");
        let port_matches = http_get["port"].as_str() == Some("metrics")
            || http_get["port"].as_i64() == Some(METRICS_PORT);
        assert!(
            port_matches,
            "{probe} port is {:?}, not metrics",
            http_get["port"]
        );
    }

    // The grace period covers the last checkpoint's wait for the broker.
    let table: toml::Table = config_text
        .parse()
        .expect("the ConfigMap's burnrate.toml is TOML");
    let delivery_timeout = table["kafka"]["delivery_timeout"].as_str().unwrap_or("60s");
    let delivery_seconds: i64 = delivery_timeout
        .trim_end_matches('s')
        .parse()
        .expect("delivery_timeout is in seconds");
    let grace = pod["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("terminationGracePeriodSeconds is set");
    assert!(
        grace > delivery_seconds,
        "terminationGracePeriodSeconds {grace} is not above delivery_timeout {delivery_timeout}"
    );

    let secret_variable = container["env"]
        .as_vec()
        .expect("the container sets environment variables")
        .iter()
        .find(|variable| {
            variable["name"].as_str() == Some("BURNRATE__KAFKA__PROPERTIES__SASL_PASSWORD")
        })
        .expect("the SASL password comes from the environment")
        .clone();
    assert!(
        !secret_variable["valueFrom"]["secretKeyRef"]["name"].is_badvalue(),
        "the SASL password comes from a Secret"
    );
    for resource in ["requests", "limits"] {
        assert!(
            !container["resources"][resource]["memory"].is_badvalue(),
            "resources.{resource}.memory is set"
        );
    }

    let mount = &container["volumeMounts"][0];
    assert_eq!(
        mount["mountPath"].as_str(),
        Some("/etc/burnrate"),
        "the configuration mount"
    );
    let args: Vec<&str> = container["args"]
        .as_vec()
        .expect("container args")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        args.windows(2)
            .any(|pair| pair == ["--config", "/etc/burnrate/burnrate.toml"]),
        "args {args:?}"
    );

    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some("9464"),
        "prometheus.io/port annotation"
    );
    assert_eq!(
        annotations["prometheus.io/path"].as_str(),
        Some("/metrics"),
        "prometheus.io/path annotation"
    );

    // The Service and the ServiceMonitor reach the same named port.
    let service = find("Service");
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(
        service_port["name"].as_str(),
        Some("metrics"),
        "Service port name"
    );
    assert_eq!(
        service_port["targetPort"].as_str(),
        Some("metrics"),
        "Service targetPort"
    );
    let monitor = find("ServiceMonitor");
    assert_eq!(
        monitor["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1"),
        "ServiceMonitor apiVersion"
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        endpoint["port"].as_str(),
        Some("metrics"),
        "ServiceMonitor port"
    );
    assert_eq!(
        endpoint["path"].as_str(),
        Some("/metrics"),
        "ServiceMonitor path"
    );

    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (kind, selector) in [
        ("Service", &service["spec"]["selector"]),
        (
            "ServiceMonitor",
            &monitor["spec"]["selector"]["matchLabels"],
        ),
        (
            "PodDisruptionBudget",
            &find("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        ),
    ] {
        let labels = selector
            .as_hash()
            .unwrap_or_else(|| panic!("the {kind} has a selector"));
        for (key, value) in labels {
            let matched = if kind == "ServiceMonitor" {
                &service["metadata"]["labels"][key.as_str().unwrap()]
            } else {
                &pod_labels[key.as_str().unwrap()]
            };
            assert_eq!(matched, value, "{kind} selector {key:?}");
        }
    }
}

#[test]
fn prometheus_rule_mirrors_rules_file() {
    let rule_path = deploy_path("kubernetes/prometheusrule.yaml");
    let prometheus_rule = &load_yaml(&rule_path)[0];
    assert_eq!(
        prometheus_rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1"),
        "PrometheusRule apiVersion"
    );
    assert_eq!(
        prometheus_rule["kind"].as_str(),
        Some("PrometheusRule"),
        "kind of {}",
        rule_path.display()
    );

    // The operator's Prometheus selects PrometheusRules by label as it selects
    // ServiceMonitors, so one selector should find both.
    let monitor = &load_yaml(&deploy_path("kubernetes/servicemonitor.yaml"))[0];
    assert!(
        !prometheus_rule["metadata"]["labels"].is_badvalue(),
        "the PrometheusRule has no labels"
    );
    assert_eq!(
        prometheus_rule["metadata"]["labels"], monitor["metadata"]["labels"],
        "labels of the PrometheusRule and the ServiceMonitor"
    );

    // Parsed groups are compared, so layout and comments may differ but no name,
    // expression, duration, label or annotation.
    let rules_path = deploy_path("prometheus/rules.yml");
    let expected_groups = load_yaml(&rules_path)[0]["groups"]
        .as_vec()
        .expect("rules.yml has groups")
        .clone();
    let actual_groups = prometheus_rule["spec"]["groups"]
        .as_vec()
        .expect("the PrometheusRule has spec.groups")
        .clone();
    let group_names = |groups: &[Yaml]| -> Vec<String> {
        groups
            .iter()
            .map(|group| group["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        group_names(&actual_groups),
        group_names(&expected_groups),
        "group names of the PrometheusRule (left) and rules.yml (right). Copy the groups of rules.yml into spec.groups."
    );
    for (actual_group, expected_group) in actual_groups.iter().zip(&expected_groups) {
        let group = expected_group["name"].as_str().unwrap_or_default();
        let actual_rules = actual_group["rules"]
            .as_vec()
            .unwrap_or_else(|| panic!("group {group} of the PrometheusRule has no rules"));
        let expected_rules = expected_group["rules"]
            .as_vec()
            .unwrap_or_else(|| panic!("group {group} of rules.yml has no rules"));
        assert_eq!(
            actual_rules.len(),
            expected_rules.len(),
            "number of rules in group {group} of the PrometheusRule (left) and rules.yml (right)"
        );
        for (actual_rule, expected_rule) in actual_rules.iter().zip(expected_rules) {
            assert!(
                actual_rule == expected_rule,
                "a rule of group {group} differs between the PrometheusRule and rules.yml. Copy it from rules.yml.\nPrometheusRule:\n{}\nrules.yml:\n{}",
                yaml_text(actual_rule),
                yaml_text(expected_rule)
            );
        }
        // Group settings such as interval or limit.
        let settings = |group: &Yaml| -> Yaml {
            let mut settings = group.as_hash().expect("a rule group is a mapping").clone();
            settings.remove(&Yaml::from_str("rules"));
            Yaml::Hash(settings)
        };
        assert!(
            settings(actual_group) == settings(expected_group),
            "settings of group {group} differ between the PrometheusRule and rules.yml.\nPrometheusRule:\n{}\nrules.yml:\n{}",
            yaml_text(&settings(actual_group)),
            yaml_text(&settings(expected_group))
        );
    }

    // promtool reads a plain rules file, so the groups are written as one.
    let mut rules_file = yaml_rust2::yaml::Hash::new();
    rules_file.insert(Yaml::from_str("groups"), Yaml::Array(actual_groups));
    let scratch = tempfile::tempdir().expect("a temporary directory can be created");
    let extracted_path = scratch.path().join("prometheusrule-groups.yml");
    std::fs::write(&extracted_path, yaml_text(&Yaml::Hash(rules_file)))
        .expect("the extracted rules can be written");
    promtool(&[
        "check",
        "rules",
        extracted_path
            .to_str()
            .expect("the temporary path is UTF-8"),
    ]);
}

#[test]
fn compose_file_matches_burnrate() {
    let compose = &load_yaml(&deploy_path("compose.yaml"))[0];
    let services = &compose["services"];
    for name in [
        "kafka",
        "topics",
        "burnrate-1",
        "burnrate-2",
        "producer",
        "prometheus",
        "grafana",
    ] {
        assert!(
            !services[name].is_badvalue(),
            "compose.yaml has no service {name}"
        );
    }

    // Every topic of burnrate.toml is created by the topics service.
    let config_path = deploy_path("burnrate.toml");
    let config_text = read_text(&config_path);
    let table: toml::Table = config_text.parse().expect("deploy/burnrate.toml is TOML");
    let create_script = services["topics"]["command"][0]
        .as_str()
        .expect("the topics service runs a script");
    for topic in table["kafka"]["topics"]
        .as_table()
        .expect("[kafka.topics]")
        .values()
    {
        let topic = topic.as_str().expect("a topic name");
        assert!(
            create_script.contains(&format!("create {topic} ")),
            "the topics service does not create {topic}"
        );
    }

    // The burnrate services' overrides of deploy/burnrate.toml are valid. The
    // contracts file is the quickstart's, which the image copies to /data.
    let scrape_targets = read_text(&deploy_path("prometheus/prometheus.yml"));
    for name in ["burnrate-1", "burnrate-2"] {
        let service = &services[name];
        let environment = compose_field(service, "environment")
            .as_hash()
            .unwrap_or_else(|| panic!("{name} has an environment map"));
        let quickstart_contracts = repository_root().join("examples/quickstart/contracts.jsonl");
        let mut overrides: Vec<(String, String)> = Vec::new();
        for (key, value) in environment {
            let key = key.as_str().expect("an environment name").to_owned();
            let value = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{value:?}"));
            let value = if value == "/data/contracts.jsonl" {
                quickstart_contracts.display().to_string()
            } else {
                value
            };
            overrides.push((key, value));
        }
        let envs: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        check_config(&config_path, &envs);

        let address = environment[&Yaml::from_str("BURNRATE__METRICS__ADDRESS")]
            .as_str()
            .unwrap_or("");
        let port = if address.is_empty() {
            metrics_port(&config_text, "deploy/burnrate.toml")
        } else {
            address.rsplit_once(':').unwrap().1.parse().unwrap()
        };
        assert_eq!(port, METRICS_PORT, "metrics port of {name}");

        let healthcheck: Vec<&str> = compose_field(service, "healthcheck")["test"]
            .as_vec()
            .expect("a healthcheck")
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        let url = format!("http://127.0.0.1:{METRICS_PORT}/readyz");
        assert!(
            healthcheck.contains(&url.as_str()),
            "{name} healthcheck {healthcheck:?} does not request {url}"
        );
        assert!(
            scrape_targets.contains(&format!("{name}:{METRICS_PORT}")),
            "prometheus.yml does not scrape {name}"
        );
    }

    // Grafana finds the dashboard where the provisioning file points.
    let provider = &load_yaml(&deploy_path(
        "grafana/provisioning/dashboards/burnrate.yaml",
    ))[0]["providers"][0];
    let dashboards_path = provider["options"]["path"]
        .as_str()
        .expect("the provider has a path");
    let volumes: Vec<&str> = services["grafana"]["volumes"]
        .as_vec()
        .expect("grafana volumes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let mounted = format!("./grafana/burnrate.json:{dashboards_path}/burnrate.json:ro");
    assert!(
        volumes.contains(&mounted.as_str()),
        "grafana volumes {volumes:?} lack {mounted}"
    );
}
