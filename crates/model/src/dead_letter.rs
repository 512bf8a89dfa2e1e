//! The dead letter: an input record that could not be used, kept whole with the reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rejected input record with where it came from and why it was rejected.
///
/// The original bytes are kept exactly so the record can be fixed and sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Topic (or file) the record came from.
    pub source_topic: String,
    /// Partition of the record, when read from Kafka.
    pub partition: Option<i32>,
    /// Offset of the record in its partition, or its line number in a file.
    pub offset: Option<i64>,
    /// The reason the record was rejected.
    pub reason: String,
    /// The original key.
    pub key: Option<Vec<u8>>,
    /// The original value.
    pub value: Vec<u8>,
    /// The original headers.
    pub headers: BTreeMap<String, Vec<u8>>,
}
