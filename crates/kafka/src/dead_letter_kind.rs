//! The kind of fault that sent a record to the dead-letter topic, a low-cardinality
//! label for the dead-letter counter and a prefix for the reason header.

/// Reason class of a dead letter: the stage that rejected the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterKind {
    /// The bytes are not a usage event in the record's format: invalid JSON, an unknown
    /// schema id, a writer schema without a required field, a field of the wrong type.
    Decode,
    /// The record decoded, but a field value breaks a usage event rule, such as a
    /// negative quantity in a plain usage event.
    Invalid,
    /// The engine rejected the event, for example because it is older than the
    /// retention horizon.
    Engine,
}

impl DeadLetterKind {
    /// Every kind, in the order the metrics list them.
    pub const ALL: [DeadLetterKind; 3] = [
        DeadLetterKind::Decode,
        DeadLetterKind::Invalid,
        DeadLetterKind::Engine,
    ];

    /// Returns the label value: `decode`, `invalid` or `engine`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Decode => "decode",
            DeadLetterKind::Invalid => "invalid",
            DeadLetterKind::Engine => "engine",
        }
    }
}

impl std::fmt::Display for DeadLetterKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}
