//! The configuration of `burnrate run`: the example and the README's `[kafka]`
//! block are valid, problems are reported all at once, and environment
//! variables override the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn burnrate(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_burnrate"));
    command.args(args).current_dir(repository_root());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BURNRATE__")) {
        command.env_remove(name);
    }
    command.envs(envs.iter().copied()).output().unwrap()
}

fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("burnrate.toml");
    std::fs::write(&path, text).unwrap();
    (directory, path)
}

#[test]
fn kafka_example_is_valid() {
    let output = burnrate(
        &["check-config", "--config", "examples/kafka/burnrate.toml"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("valid (3 contracts)"), "{stdout}");
}

#[test]
fn readme_kafka_block_is_valid() {
    let readme = std::fs::read_to_string(repository_root().join("README.md")).unwrap();
    let start = readme
        .find("```toml\n[kafka]")
        .expect("README has a [kafka] example")
        + "```toml\n".len();
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let (_directory, path) = write_config(block);
    let output = burnrate(&["check-config", "--config", path.to_str().unwrap()], &[]);
    assert!(
        output.status.success(),
        "README [kafka] example rejected: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_kafka_problem_is_reported_at_once() {
    let (_directory, path) = write_config(
        r#"
[kafka]
brokers = ""
output_format = "avro"
checkpoint_records = 0
[kafka.topics]
changelog = "usage-events"
[kafka.properties]
"group.id" = "mine"
[metrics]
max_spend_series = 0
"#,
    );
    let output = burnrate(&["check-config", "--config", path.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "has 6 problems",
        "[kafka] brokers is empty",
        "[kafka] output_format is \"avro\" but schema_registry_url is not set",
        "[kafka] checkpoint_records is 0",
        "[kafka.topics] changelog is the usage topic",
        "[kafka.properties] \"group.id\" is set by burnrate; set [kafka] group_id instead",
        "[metrics] max_spend_series is 0",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn environment_variables_override_the_file() {
    let (_directory, path) = write_config("[kafka]\nbrokers = \"\"\n");
    let config = path.to_str().unwrap();
    let fixed = burnrate(
        &["check-config", "--config", config],
        &[("BURNRATE__KAFKA__BROKERS", "kafka:9092")],
    );
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );

    let wrong_type = burnrate(
        &["check-config", "--config", config],
        &[("BURNRATE__KAFKA__CHECKPOINT_RECORDS", "many")],
    );
    let stderr = String::from_utf8_lossy(&wrong_type.stderr);
    assert_eq!(wrong_type.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("BURNRATE__ overrides"), "{stderr}");
    assert!(stderr.contains("checkpoint_records"), "{stderr}");
}

#[test]
fn run_without_a_kafka_table_names_the_fix() {
    let output = burnrate(
        &["run", "--config", "examples/quickstart/burnrate.toml"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has no [kafka] table; add one with at least brokers"),
        "{stderr}"
    );
}
