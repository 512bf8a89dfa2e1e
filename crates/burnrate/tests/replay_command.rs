//! `burnrate replay` run as a process: the Azure LLM trace against an independent
//! computation, partitioning, duplicates, dead letters and configuration errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

const TRACE: &str = "examples/quickstart/AzureLLMInferenceTrace_code.csv";
const CONTRACTS: &str = "examples/quickstart/contracts.jsonl";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn burnrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(args)
        .current_dir(repository_root())
        .output()
        .expect("the burnrate binary runs")
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn replay_trace(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "replay",
        "--contracts",
        CONTRACTS,
        "--format",
        "azure-llm-trace",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(TRACE);
    let output = burnrate(&args);
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Sums billing-period aggregates (finals and corrections) per (account, meter): (quantity, cost, prepaid, billed).
fn period_totals(out: &Path) -> BTreeMap<(String, String), [Decimal; 4]> {
    let mut totals: BTreeMap<(String, String), [Decimal; 4]> = BTreeMap::new();
    for aggregate in read_lines(&out.join("aggregates.jsonl")) {
        if aggregate["window"] != "period" {
            continue;
        }
        let key = (
            aggregate["account"].as_str().unwrap().to_owned(),
            aggregate["meter"].as_str().unwrap().to_owned(),
        );
        let entry = totals.entry(key).or_default();
        for (slot, field) in ["quantity", "cost", "prepaid_applied", "billed"]
            .iter()
            .enumerate()
        {
            entry[slot] += dec(aggregate[*field].as_str().unwrap());
        }
    }
    totals
}

/// Token totals per account straight from the CSV: request i goes to account i mod 3.
fn trace_tokens() -> BTreeMap<&'static str, (Decimal, Decimal)> {
    let accounts = ["acme", "globex", "initech"];
    let mut reader = csv::Reader::from_path(repository_root().join(TRACE)).unwrap();
    let mut tokens: BTreeMap<&'static str, (Decimal, Decimal)> = BTreeMap::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.unwrap();
        let entry = tokens.entry(accounts[index % 3]).or_default();
        entry.0 += dec(&row[1]);
        entry.1 += dec(&row[2]);
    }
    tokens
}

#[test]
fn azure_trace_totals_match_independent_computation() {
    let directory = tempfile::tempdir().unwrap();
    let output = replay_trace(directory.path(), &["--partitions", "3"]);
    let totals = period_totals(directory.path());
    let tokens = trace_tokens();

    // acme: per unit, 0.00003 input and 0.00006 output, with a 100 USD prepaid pool.
    let (acme_in, acme_out) = tokens["acme"];
    let acme_input_cost = acme_in * dec("0.00003");
    let acme_output_cost = acme_out * dec("0.00006");
    assert_eq!(totals[&("acme".into(), "input_tokens".into())][0], acme_in);
    assert_eq!(
        totals[&("acme".into(), "input_tokens".into())][1],
        acme_input_cost
    );
    assert_eq!(
        totals[&("acme".into(), "output_tokens".into())][1],
        acme_output_cost
    );
    let acme_prepaid: Decimal = ["input_tokens", "output_tokens"]
        .iter()
        .map(|meter| totals[&("acme".into(), (*meter).into())][2])
        .sum();
    let acme_billed: Decimal = ["input_tokens", "output_tokens"]
        .iter()
        .map(|meter| totals[&("acme".into(), (*meter).into())][3])
        .sum();
    assert_eq!(acme_prepaid, dec("100"));
    assert_eq!(acme_billed, acme_input_cost + acme_output_cost - dec("100"));

    // globex: graduated input (0.000028 up to 5,000,000, then 0.000021), per-unit output.
    let (globex_in, globex_out) = tokens["globex"];
    let globex_input_cost = if globex_in <= dec("5000000") {
        globex_in * dec("0.000028")
    } else {
        dec("5000000") * dec("0.000028") + (globex_in - dec("5000000")) * dec("0.000021")
    };
    assert_eq!(
        totals[&("globex".into(), "input_tokens".into())][1],
        globex_input_cost
    );
    assert_eq!(
        totals[&("globex".into(), "output_tokens".into())][1],
        globex_out * dec("0.000055")
    );

    // initech: volume input (0.0045 up to 3,000,000, else 0.004 for all), output in packages of 1000 at 9 JPY.
    let (initech_in, initech_out) = tokens["initech"];
    let initech_input_cost = initech_in
        * if initech_in <= dec("3000000") {
            dec("0.0045")
        } else {
            dec("0.004")
        };
    assert_eq!(
        totals[&("initech".into(), "input_tokens".into())][1],
        initech_input_cost
    );
    assert_eq!(
        totals[&("initech".into(), "output_tokens".into())][1],
        (initech_out / dec("1000")).ceil() * dec("9")
    );

    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("replay summary (3 partitions)"),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|line| line.contains("rated") && line.trim_end().ends_with("17638")),
        "{summary}"
    );
}

#[test]
fn partition_count_does_not_change_totals() {
    let one = tempfile::tempdir().unwrap();
    let six = tempfile::tempdir().unwrap();
    replay_trace(one.path(), &[]);
    replay_trace(six.path(), &["--partitions", "6"]);
    assert_eq!(period_totals(one.path()), period_totals(six.path()));
}

#[test]
fn replaying_a_file_twice_counts_it_once() {
    let once = tempfile::tempdir().unwrap();
    let twice = tempfile::tempdir().unwrap();
    replay_trace(once.path(), &[]);
    let output = burnrate(&[
        "replay",
        "--contracts",
        CONTRACTS,
        "--format",
        "azure-llm-trace",
        "--out",
        twice.path().to_str().unwrap(),
        TRACE,
        TRACE,
    ]);
    assert!(output.status.success());
    assert_eq!(period_totals(once.path()), period_totals(twice.path()));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary
            .lines()
            .any(|line| line.contains("duplicates") && line.trim_end().ends_with("17638")),
        "{summary}"
    );
}

#[test]
fn invalid_and_unrated_events_are_kept_with_reasons() {
    let directory = tempfile::tempdir().unwrap();
    let output = burnrate(&[
        "replay",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--out",
        directory.path().to_str().unwrap(),
        "examples/rating/events.jsonl",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let dead = read_lines(&directory.path().join("dead_letters.jsonl"));
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["line"], 12);
    assert!(dead[0]["reason"].as_str().unwrap().contains("invalid time"));
    assert!(
        dead[0]["value"].as_str().unwrap().contains("e-0012"),
        "the original line is kept"
    );
    assert_eq!(dead[1]["line"], 13);

    let unrated = read_lines(&directory.path().join("unrated.jsonl"));
    assert_eq!(unrated.len(), 1);
    assert_eq!(unrated[0]["reason_code"], "no_price");
    assert_eq!(unrated[0]["event"]["id"], "e-0007");
    assert_eq!(unrated[0]["event"]["data"]["quantity"], "3");
    assert!(directory.path().join("alerts.jsonl").exists());
}

#[test]
fn config_file_sets_processing() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("burnrate.toml");
    let contracts = repository_root().join(CONTRACTS);
    std::fs::write(
        &config,
        format!(
            "[contracts]\nfile = {:?}\n\n[processing]\nwindows = [\"minute\"]\ndimensions = []\n",
            contracts.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = directory.path().join("out");
    let output = burnrate(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        "--format",
        "azure-llm-trace",
        "--out",
        out.to_str().unwrap(),
        TRACE,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let aggregates = read_lines(&out.join("aggregates.jsonl"));
    assert!(aggregates
        .iter()
        .any(|aggregate| aggregate["window"] == "minute"));
    assert!(aggregates
        .iter()
        .all(|aggregate| aggregate["window"] != "hour"));
    assert!(aggregates
        .iter()
        .all(|aggregate| aggregate["dimensions"].as_object().unwrap().is_empty()));
}

#[test]
fn bad_configuration_exits_2_naming_settings() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("burnrate.toml");

    std::fs::write(&config, "[processing]\nallowed_latenes = \"1h\"\n").unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("allowed_latenes"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    std::fs::write(&config, "[contracts]\nfile = \"missing.jsonl\"\n[processing]\ndedup_horizon = \"90d\"\nwindows = [\"period\"]\n").unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(stderr.contains("processing.dedup_horizon"), "{stderr}");
    assert!(stderr.contains("processing.windows"), "{stderr}");
    assert!(stderr.contains("contracts.file"), "{stderr}");

    std::fs::write(
        &config,
        "[processing]\nout_of_orderness = \"five minutes\"\n",
    )
    .unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("out_of_orderness"));
}

#[test]
fn valid_configuration_is_reported() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("burnrate.toml");
    std::fs::copy(
        repository_root().join(CONTRACTS),
        directory.path().join("contracts.jsonl"),
    )
    .unwrap();
    std::fs::write(&config, "[contracts]\nfile = \"contracts.jsonl\"\n").unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid (3 contracts)"));
}

#[test]
fn avro_container_input_is_replayed() {
    use burnrate_codec::avro::{FileCompression, UsageEventFileWriter};
    use burnrate_codec::decode_cloudevent;

    let directory = tempfile::tempdir().unwrap();
    let events_path = directory.path().join("events.avro");
    let source =
        std::fs::read_to_string(repository_root().join("examples/rating/events.jsonl")).unwrap();
    let mut writer = UsageEventFileWriter::new(
        std::fs::File::create(&events_path).unwrap(),
        FileCompression::Deflate,
    )
    .unwrap();
    let mut written = 0;
    for line in source.lines() {
        if let Ok(event) = decode_cloudevent(line.as_bytes()) {
            writer.append(&event).unwrap();
            written += 1;
        }
    }
    writer.finish().unwrap();
    assert_eq!(written, 11);

    let out = directory.path().join("out");
    let output = burnrate(&[
        "replay",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--out",
        out.to_str().unwrap(),
        events_path.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let totals = period_totals(&out);
    assert_eq!(
        totals[&("acme".into(), "output_tokens".into())][0],
        dec("3000000")
    );
    assert_eq!(
        totals[&("acme".into(), "output_tokens".into())][1],
        dec("20")
    );
    assert_eq!(
        totals[&("globex".into(), "input_tokens".into())][1],
        dec("1800")
    );
}

#[test]
fn readme_configuration_example_is_valid() {
    let readme = std::fs::read_to_string(repository_root().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Configuration")
        .expect("README has a Configuration section")..];
    let start = section
        .find("```toml\n")
        .expect("the section has a toml block")
        + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];

    let directory = tempfile::tempdir().unwrap();
    std::fs::copy(
        repository_root().join(CONTRACTS),
        directory.path().join("contracts.jsonl"),
    )
    .unwrap();
    let config = directory.path().join("burnrate.toml");
    std::fs::write(&config, example).unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "README example rejected: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn byte_order_mark_and_invalid_utf8_lines() {
    let directory = tempfile::tempdir().unwrap();
    let source =
        std::fs::read_to_string(repository_root().join("examples/rating/events.jsonl")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(lines[0].as_bytes());
    bytes.extend_from_slice(b"\r\n{\"specversion\": \"1.0\", \"id\": \"\xff\xfe\"}\r\n");
    bytes.extend_from_slice(lines[1].as_bytes());
    bytes.push(b'\n');
    let events = directory.path().join("events.jsonl");
    std::fs::write(&events, bytes).unwrap();

    let out = directory.path().join("out");
    let output = burnrate(&[
        "replay",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--out",
        out.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dead = read_lines(&out.join("dead_letters.jsonl"));
    assert_eq!(
        dead.len(),
        1,
        "only the line with invalid UTF-8 is rejected: {dead:?}"
    );
    assert_eq!(dead[0]["line"], 2);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary
            .lines()
            .any(|line| line.contains("rated") && line.trim_end().ends_with(" 2")),
        "{summary}"
    );

    let rated = burnrate(&[
        "rate",
        "--contracts",
        "examples/rating/contracts.jsonl",
        events.to_str().unwrap(),
    ]);
    assert!(rated.status.success());
    assert!(
        String::from_utf8_lossy(&rated.stderr).contains("rated 2 events, unrated 0, invalid 1"),
        "{}",
        String::from_utf8_lossy(&rated.stderr)
    );
}

#[test]
fn huge_unrated_quantities_do_not_panic() {
    let directory = tempfile::tempdir().unwrap();
    let events = directory.path().join("events.jsonl");
    let line = |id: &str| {
        format!(
            r#"{{"specversion": "1.0", "id": "{id}", "source": "openai", "type": "burnrate.usage", "time": "2026-05-06T10:00:00Z", "subject": "acme", "data": {{"meter": "images", "quantity": "50000000000000000000000000000"}}}}"#
        )
    };
    std::fs::write(&events, format!("{}\n{}\n", line("h1"), line("h2"))).unwrap();

    let rated = burnrate(&[
        "rate",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--totals",
        events.to_str().unwrap(),
    ]);
    assert!(
        rated.status.success(),
        "{}",
        String::from_utf8_lossy(&rated.stderr)
    );
    assert!(String::from_utf8_lossy(&rated.stdout).contains(r#""status":"overflow""#));

    let out = directory.path().join("out");
    let replayed = burnrate(&[
        "replay",
        "--contracts",
        "examples/rating/contracts.jsonl",
        "--out",
        out.to_str().unwrap(),
        events.to_str().unwrap(),
    ]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert_eq!(read_lines(&out.join("unrated.jsonl")).len(), 2);
}

#[test]
fn alert_and_dimension_settings_are_checked() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("burnrate.toml");
    std::fs::write(
        &config,
        "[processing]\ndimensions = [\"team\", \"team\", \"\"]\n\n[alerts]\nforecast_confidence_pct = 85\nrunbook_url_template = \"https://runbooks.example.com/{nope}\"\n",
    )
    .unwrap();
    let output = burnrate(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("4 problems"), "{stderr}");
    assert!(stderr.contains("lists \"team\" twice"), "{stderr}");
    assert!(stderr.contains("contains an empty name"), "{stderr}");
    assert!(stderr.contains("forecast_confidence_pct: 85"), "{stderr}");
    assert!(stderr.contains("unknown placeholder"), "{stderr}");
}
