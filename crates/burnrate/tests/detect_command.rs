//! `burnrate detect` run as a process on a labelled NAB series.

use std::path::Path;
use std::process::Command;

#[test]
fn detect_scores_every_row() {
    let series =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nab/exchange-2_cpc_results.csv");
    assert!(series.exists(), "NAB data expected at {}", series.display());
    let input_rows = std::fs::read_to_string(&series).unwrap().lines().count() - 1;

    let output = Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .arg("detect")
        .arg(&series)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,alert"));

    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), input_rows);
    for row in &rows {
        let score: f64 = row[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "score {score} in {row:?}");
        assert!(row[3] == "0" || row[3] == "1", "alert flag in {row:?}");
    }
}

#[test]
fn detect_skips_bad_values() {
    let directory = tempfile::tempdir().unwrap();
    let series = directory.path().join("series.csv");
    std::fs::write(
        &series,
        "timestamp,value\n2014-02-14 14:30:00,1.5\n2014-02-14 14:35:00,abc\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .arg("detect")
        .arg(&series)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3: skipped: invalid value \"abc\""),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().count(),
        2,
        "header and the one valid row: {stdout}"
    );
}
