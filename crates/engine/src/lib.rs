//! burnrate's per-partition event-time engine.
//!
//! It deduplicates usage events, rates them, keeps spend per tumbling window,
//! billing period and breakdown under out-of-order and late data, and can be
//! snapshotted and restored at any point without changing an output. It does no
//! I/O and reads no clock: records and times are passed in, so the same input
//! always gives the same output.

pub mod alerts;
pub mod anomaly;
pub mod config;
pub mod dedup;
pub mod engine;
pub mod grouped;
pub mod series;
pub mod snapshot;
pub mod state;
pub mod watermark;
pub mod window;

pub use alerts::AlertConfig;
pub use anomaly::{AnomalyConfig, Detection, DetectorState, Expectation, SpendAnomalyDetector};
pub use config::{ConfigError, ProcessingConfig};
pub use engine::{EngineOutput, PartitionEngine};
pub use series::{SeriesKey, SpendTotals};
pub use snapshot::SnapshotError;
pub use state::{Counters, PartitionState};
