//! Scores the spend anomaly detector on the Numenta Anomaly Benchmark (NAB).
//!
//! Run with
//! `cargo run --release -p burnrate-engine --example nab_score -- NAB_DIR [--config ANOMALY.json] [--per-file]`,
//! where `NAB_DIR` contains NAB's `data/`, `labels/combined_windows.json` and
//! `config/profiles.json`. Every data file named in the windows file is run through a
//! fresh detector with the default `AnomalyConfig` (or the settings in the JSON file),
//! one row per bucket. `--per-file` adds detected windows and false positives per file
//! for the standard profile.
//!
//! The scoring follows NAB 1.x (numenta/NAB, `nab/sweeper.py` and `nab/scorer.py`):
//! - The first 15 % of each file's rows, at most 750, are a probation period whose
//!   rows are not scored. A window counts if any of its rows lies after probation.
//! - Within a window of `w` rows ending at row `r`, only the earliest detection counts,
//!   worth `tp_weight · σ(−(r − i + 1)/w) / σ(−1)`, where `σ(x) = 2/(1 + e^(5x)) − 1`
//!   is the scaled sigmoid. A detection at the window's first row is worth
//!   `tp_weight`. A window without detection costs `fn_weight`.
//! - A detection outside every window at row `i`, after a window of `w` rows ending at
//!   row `r`, adds `fp_weight · σ((i − r)/(w − 1))`: almost nothing right after the
//!   window, `−fp_weight` from three window lengths on, and `−fp_weight` when no window
//!   precedes it.
//! - A row is a detection when its anomaly score is at least the threshold. The
//!   threshold is chosen per profile to maximise the total over all files together.
//! - The total is normalised as `100 · (S − S_null) / (S_perfect − S_null)`, where the
//!   null detector never fires and the perfect one fires on the first scored row of
//!   every window.
//!
//! It also scores the detector's own alert flags as detections, without a tuned
//! threshold. Those depend on `min_impact`, an amount of money per bucket that means
//! nothing for CPU percentages or byte counts, so they only show how the gates behave
//! on foreign units.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use burnrate_engine::anomaly::{AnomalyConfig, SpendAnomalyDetector};
use chrono::NaiveDateTime;
use serde::Deserialize;

/// Share of each file's rows in the probation period.
const PROBATION_FRACTION: f64 = 0.15;
/// Largest probation period in rows (15 % of 5,000).
const MAX_PROBATION_ROWS: usize = 750;

/// One scoring profile of `config/profiles.json`.
#[derive(Debug, Clone, Deserialize)]
struct ProfileFile {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct CostMatrix {
    #[serde(rename = "tpWeight")]
    tp_weight: f64,
    #[serde(rename = "fpWeight")]
    fp_weight: f64,
    #[serde(rename = "fnWeight")]
    fn_weight: f64,
}

/// One labelled anomaly window, as inclusive row indices of its file.
#[derive(Debug, Clone, Copy)]
struct Window {
    first_row: usize,
    last_row: usize,
}

impl Window {
    fn rows(&self) -> usize {
        self.last_row - self.first_row + 1
    }
}

/// The position of a row relative to the windows of its file.
#[derive(Debug, Clone, Copy)]
enum RowPlace {
    /// In probation: never scored.
    Probation,
    /// Inside the window with this index into [`Corpus::windows`].
    InWindow(usize),
    /// Outside every window, after the window with this index (or before all).
    Outside(Option<usize>),
}

/// One scored row of the corpus.
#[derive(Debug, Clone, Copy)]
struct Row {
    score: f64,
    alert: bool,
    index: usize,
    place: RowPlace,
}

/// All files' rows and windows.
struct Corpus {
    /// Per file: name, rows.
    files: Vec<(String, Vec<Row>)>,
    /// Every window of every file that has rows after probation.
    windows: Vec<Window>,
    /// Index of the first window of each file in `windows`.
    first_window_of_file: Vec<usize>,
}

fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

fn true_positive_value(window: Window, row: usize, costs: CostMatrix) -> f64 {
    let position = -((window.last_row - row + 1) as f64) / window.rows() as f64;
    costs.tp_weight * scaled_sigmoid(position) / scaled_sigmoid(-1.0)
}

fn false_positive_value(preceding: Option<Window>, row: usize, costs: CostMatrix) -> f64 {
    match preceding {
        None => -costs.fp_weight,
        Some(window) => {
            let position = (row - window.last_row) as f64 / (window.rows() as f64 - 1.0);
            costs.fp_weight * scaled_sigmoid(position)
        }
    }
}

/// Computes the NAB total of a profile for the rows that `is_detection` selects.
fn score_detections(
    corpus: &Corpus,
    costs: CostMatrix,
    is_detection: impl Fn(&Row) -> bool,
) -> Outcome {
    let mut earliest: Vec<Option<usize>> = vec![None; corpus.windows.len()];
    let mut false_positive_total = 0.0;
    let mut false_positives = 0;
    for (_, rows) in &corpus.files {
        for row in rows.iter().filter(|row| is_detection(row)) {
            match row.place {
                RowPlace::Probation => {}
                RowPlace::InWindow(window) => {
                    let first = earliest[window].get_or_insert(row.index);
                    *first = (*first).min(row.index);
                }
                RowPlace::Outside(preceding) => {
                    false_positive_total += false_positive_value(
                        preceding.map(|w| corpus.windows[w]),
                        row.index,
                        costs,
                    );
                    false_positives += 1;
                }
            }
        }
    }

    let mut total = false_positive_total;
    let mut detected = 0;
    for (window, first) in corpus.windows.iter().zip(&earliest) {
        match first {
            Some(row) => {
                total += true_positive_value(*window, *row, costs);
                detected += 1;
            }
            None => total -= costs.fn_weight,
        }
    }
    Outcome {
        total,
        detected_windows: detected,
        false_positives,
    }
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    total: f64,
    detected_windows: usize,
    false_positives: usize,
}

/// Finds the threshold with the best total over the whole corpus by lowering it from
/// the highest score through every distinct score, updating the total incrementally.
fn best_threshold(corpus: &Corpus, costs: CostMatrix) -> (f64, f64) {
    let mut rows: Vec<&Row> = corpus
        .files
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .filter(|row| !matches!(row.place, RowPlace::Probation))
        .collect();
    rows.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));

    let mut earliest: Vec<Option<usize>> = vec![None; corpus.windows.len()];
    let mut total = -costs.fn_weight * corpus.windows.len() as f64;
    let mut best = (f64::INFINITY, total);
    let mut position = 0;
    while position < rows.len() {
        let threshold = rows[position].score;
        while position < rows.len() && rows[position].score == threshold {
            let row = rows[position];
            match row.place {
                RowPlace::Probation => {}
                RowPlace::InWindow(window) => {
                    let limits = corpus.windows[window];
                    match earliest[window] {
                        None => {
                            total += costs.fn_weight + true_positive_value(limits, row.index, costs)
                        }
                        Some(first) if row.index < first => {
                            total += true_positive_value(limits, row.index, costs)
                                - true_positive_value(limits, first, costs)
                        }
                        Some(_) => {}
                    }
                    let first = earliest[window].get_or_insert(row.index);
                    *first = (*first).min(row.index);
                }
                RowPlace::Outside(preceding) => {
                    total += false_positive_value(
                        preceding.map(|w| corpus.windows[w]),
                        row.index,
                        costs,
                    );
                }
            }
            position += 1;
        }
        if total > best.1 {
            best = (threshold, total);
        }
    }
    best
}

fn probation_rows(row_count: usize) -> usize {
    ((PROBATION_FRACTION * row_count as f64).floor() as usize).min(MAX_PROBATION_ROWS)
}

fn parse_nab_time(text: &str) -> anyhow::Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .map_err(|error| anyhow::anyhow!("invalid NAB timestamp {text:?}: {error}"))
}

fn load_corpus(nab_dir: &Path, config: &AnomalyConfig) -> anyhow::Result<Corpus> {
    let windows_path = nab_dir.join("labels/combined_windows.json");
    let labels: BTreeMap<String, Vec<[String; 2]>> =
        serde_json::from_reader(File::open(&windows_path)?)?;

    let mut corpus = Corpus {
        files: Vec::new(),
        windows: Vec::new(),
        first_window_of_file: Vec::new(),
    };
    for (name, limits) in &labels {
        let mut reader = csv::Reader::from_path(nab_dir.join("data").join(name))?;
        let mut timestamps = Vec::new();
        let mut values = Vec::new();
        for record in reader.records() {
            let record = record?;
            timestamps.push(parse_nab_time(&record[0])?);
            values.push(record[1].trim().parse::<f64>()?);
        }

        let mut detector = SpendAnomalyDetector::new(config.clone());
        let detections: Vec<_> = timestamps
            .iter()
            .zip(&values)
            .map(|(time, value)| detector.observe(time.and_utc(), *value))
            .collect();

        let probation = probation_rows(timestamps.len());
        let mut file_windows = Vec::new();
        for [start, end] in limits {
            let (start, end) = (parse_nab_time(start)?, parse_nab_time(end)?);
            let first_row = timestamps.iter().position(|time| *time >= start);
            let last_row = timestamps.iter().rposition(|time| *time <= end);
            if let (Some(first_row), Some(last_row)) = (first_row, last_row) {
                if last_row >= first_row && last_row >= probation {
                    file_windows.push(Window {
                        first_row,
                        last_row,
                    });
                }
            }
        }

        let window_base = corpus.windows.len();
        corpus.first_window_of_file.push(window_base);
        let mut rows = Vec::with_capacity(timestamps.len());
        let mut next_window = 0;
        let mut preceding = None;
        for (index, detection) in detections.iter().enumerate() {
            while next_window < file_windows.len() && file_windows[next_window].last_row < index {
                preceding = Some(window_base + next_window);
                next_window += 1;
            }
            let place = if index < probation {
                RowPlace::Probation
            } else if next_window < file_windows.len()
                && file_windows[next_window].first_row <= index
            {
                RowPlace::InWindow(window_base + next_window)
            } else {
                RowPlace::Outside(preceding)
            };
            rows.push(Row {
                score: detection.score,
                alert: detection.anomalous,
                index,
                place,
            });
        }
        corpus.windows.extend(file_windows);
        corpus.files.push((name.clone(), rows));
    }
    Ok(corpus)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut nab_dir = None;
    let mut config = AnomalyConfig::default();
    let mut per_file = false;
    while let Some(arg) = args.next() {
        if arg == "--per-file" {
            per_file = true;
        } else if arg == "--config" {
            let path = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--config needs a JSON file"))?;
            config = serde_json::from_reader(File::open(&path)?)?;
        } else {
            nab_dir = Some(PathBuf::from(arg));
        }
    }
    let nab_dir = nab_dir.ok_or_else(|| {
        anyhow::anyhow!("usage: nab_score NAB_DIR [--config ANOMALY.json] [--per-file]")
    })?;
    if let Err(problems) = config.validate() {
        anyhow::bail!("invalid anomaly settings: {problems:?}");
    }

    let profiles: BTreeMap<String, ProfileFile> =
        serde_json::from_reader(File::open(nab_dir.join("config/profiles.json"))?)?;
    let corpus = load_corpus(&nab_dir, &config)?;
    let row_count: usize = corpus.files.iter().map(|(_, rows)| rows.len()).sum();
    println!(
        "files: {}, rows: {row_count}, scored windows: {}",
        corpus.files.len(),
        corpus.windows.len()
    );

    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6} {:>5}",
        "profile", "score", "threshold", "raw", "null", "perfect", "TP/W", "FP"
    );
    for (name, profile) in &profiles {
        let costs = profile.cost_matrix;
        let (threshold, total) = best_threshold(&corpus, costs);
        let outcome = score_detections(&corpus, costs, |row| row.score >= threshold);
        let null = score_detections(&corpus, costs, |_| false).total;
        let perfect = perfect_total(&corpus, costs);
        // The incremental sweep and the direct scoring must agree.
        assert!(
            (outcome.total - total).abs() < 1e-6,
            "sweep total {total} differs from direct total {}",
            outcome.total
        );
        let normalised = 100.0 * (outcome.total - null) / (perfect - null);
        println!(
            "{name:<20} {normalised:>9.1} {threshold:>9.4} {:>9.3} {null:>9.3} {perfect:>8.3} {:>3}/{:<2} {:>5}",
            outcome.total,
            outcome.detected_windows,
            corpus.windows.len(),
            outcome.false_positives
        );
    }

    println!("\nalert flags as detections (no threshold tuning):");
    for (name, profile) in &profiles {
        let costs = profile.cost_matrix;
        let outcome = score_detections(&corpus, costs, |row| row.alert);
        let null = score_detections(&corpus, costs, |_| false).total;
        let perfect = perfect_total(&corpus, costs);
        let normalised = 100.0 * (outcome.total - null) / (perfect - null);
        println!(
            "{name:<20} {normalised:>9.1}  TP/W {}/{} FP {}",
            outcome.detected_windows,
            corpus.windows.len(),
            outcome.false_positives
        );
    }

    if per_file {
        let costs = profiles["standard"].cost_matrix;
        let (threshold, _) = best_threshold(&corpus, costs);
        println!("\nstandard profile per file at threshold {threshold:.4}:");
        for (file_index, (name, rows)) in corpus.files.iter().enumerate() {
            let windows_end = corpus
                .first_window_of_file
                .get(file_index + 1)
                .copied()
                .unwrap_or(corpus.windows.len());
            let windows = windows_end - corpus.first_window_of_file[file_index];
            let mut detected = std::collections::BTreeSet::new();
            let mut false_positives = 0;
            for row in rows.iter().filter(|row| row.score >= threshold) {
                match row.place {
                    RowPlace::InWindow(window) => {
                        detected.insert(window);
                    }
                    RowPlace::Outside(_) => false_positives += 1,
                    RowPlace::Probation => {}
                }
            }
            println!(
                "{name:<60} TP/W {}/{windows} FP {false_positives}",
                detected.len()
            );
        }
    }
    Ok(())
}

/// Computes the total of a detector that fires on the first scored row of every window.
fn perfect_total(corpus: &Corpus, costs: CostMatrix) -> f64 {
    let mut first_scored: BTreeMap<usize, usize> = BTreeMap::new();
    for (_, rows) in &corpus.files {
        for row in rows {
            if let RowPlace::InWindow(window) = row.place {
                first_scored.entry(window).or_insert(row.index);
            }
        }
    }
    // Each window's row indices are local to its file, so match on window and row.
    let is_first = |row: &Row| match row.place {
        RowPlace::InWindow(window) => first_scored.get(&window) == Some(&row.index),
        _ => false,
    };
    score_detections(corpus, costs, is_first).total
}
