//! Adapters that turn vendor usage exports and public request traces into usage events.

pub mod azure_llm_trace;

/// A row of an export that could not become usage events, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {problem}")]
pub struct FeedError {
    /// 1-based row number in the file, header included.
    pub row: u64,
    /// The problem with the row.
    pub problem: String,
}
