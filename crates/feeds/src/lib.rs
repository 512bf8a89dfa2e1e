//! Adapters that turn vendor usage exports and public request traces into usage events.

pub mod azure_llm_trace;

/// Why a row of an export could not become usage events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {problem}")]
pub struct FeedError {
    /// 1-based row number in the file, header included.
    pub row: u64,
    /// What is wrong with the row.
    pub problem: String,
}
