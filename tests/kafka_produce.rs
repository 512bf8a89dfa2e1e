//! `burnrate produce` publishes usage events from files to the test broker: every
//! valid event once, keyed by account, as CloudEvents JSON, paced by event time
//! when asked.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use burnrate_codec::decode_cloudevent;

use support::broker::broker;
use support::process::repository_root;
use support::topics::{create_topic, read_all, unique_name};

const TRACE: &str = "examples/quickstart/AzureLLMInferenceTrace_code.csv";

fn produce(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .current_dir(repository_root())
        .arg("produce")
        .args(["--brokers", broker().bootstrap_servers()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn produce_publishes_the_trace() {
    let topic = unique_name("produce-trace");
    create_topic(&topic, 6);
    let output = produce(&["--topic", &topic, "--format", "azure-llm-trace", TRACE]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 8,819 requests, each an input and an output token event.
    assert!(stdout.contains("produced 17638 events"), "{stdout}");

    let records = read_all(&topic);
    assert_eq!(records.len(), 17_638);
    let mut ids = BTreeSet::new();
    let mut partitions_of_account: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for record in &records {
        let event =
            decode_cloudevent(record.value.as_deref().unwrap()).expect("a CloudEvents JSON value");
        assert_eq!(record.key_text(), event.account, "key of {}", event.id);
        assert_eq!(
            record.header("content-type"),
            Some(b"application/cloudevents+json".as_slice())
        );
        partitions_of_account
            .entry(event.account)
            .or_default()
            .insert(record.partition);
        assert!(ids.insert(event.id.clone()), "{} published twice", event.id);
    }
    assert_eq!(partitions_of_account.len(), 3, "{partitions_of_account:?}");
    for (account, partitions) in &partitions_of_account {
        assert_eq!(
            partitions.len(),
            1,
            "account {account} spread over partitions {partitions:?}"
        );
    }
}

#[test]
fn produce_skips_invalid_lines_and_paces() {
    let topic = unique_name("produce-paced");
    create_topic(&topic, 1);
    let directory = tempfile::tempdir().unwrap();
    let events = directory.path().join("events.jsonl");
    let event = |id: &str, time: &str| {
        format!(
            r#"{{"specversion": "1.0", "id": "{id}", "source": "openai", "type": "burnrate.usage", "time": "{time}", "subject": "acme", "data": {{"meter": "output_tokens", "quantity": "10"}}}}"#
        )
    };
    let lines = [
        event("a", "2026-05-06T10:00:00Z"),
        "{not json".to_owned(),
        event("b", "2026-05-06T10:00:02Z"),
    ];
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();

    // Two seconds of event time at double speed take at least one second.
    let started = Instant::now();
    let output = produce(&[
        "--topic",
        &topic,
        "--speedup",
        "2",
        events.to_str().unwrap(),
    ]);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("events.jsonl:2: invalid record not sent"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("produced 2 events"));
    assert!(
        elapsed >= Duration::from_millis(900),
        "paced run took only {elapsed:?}"
    );

    let ids: Vec<String> = read_all(&topic)
        .iter()
        .map(|record| {
            decode_cloudevent(record.value.as_deref().unwrap())
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn produce_rejects_a_bad_speedup() {
    let output = produce(&["--topic", "unused", "--speedup", "0", TRACE]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--speedup 0 is not a positive number")
    );
}
