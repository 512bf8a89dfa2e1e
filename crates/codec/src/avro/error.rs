//! Errors of the Avro codec: each names the record type, the field and the value
//! involved, and what to change.

use burnrate_model::{ContractError, EventError};

/// A failure to encode a record to Avro or to decode one from it.
///
/// Every variant except [`AvroCodecError::Encode`] and an I/O failure inside
/// [`AvroCodecError::Container`] is a fault of the input record or of its writer
/// schema: retrying does not help, and the record belongs on the dead-letter topic.
/// [`AvroCodecError::is_input_fault`] distinguishes the two.
#[derive(Debug, thiserror::Error)]
pub enum AvroCodecError {
    /// A schema text is not a valid Avro schema.
    #[error("invalid Avro schema: {source}; check the schema JSON against the Avro specification")]
    InvalidSchema {
        /// The parser's error.
        source: apache_avro::Error,
    },

    /// The writer schema lacks a field that burnrate's schema requires and gives no default for.
    #[error(
        "{record}: the writer schema has no field `{field}`, which burnrate requires; add `{field}` to the producer's schema"
    )]
    MissingField {
        /// The record type, such as `usage event`.
        record: &'static str,
        /// Path of the field, such as `data.meter` or `prices[].pricing.model`.
        field: String,
    },

    /// The bytes do not form a datum of the given writer schema.
    #[error(
        "{record}: the bytes are not a datum of the writer schema: {source}; check that the schema id (or writer schema) belongs to this record"
    )]
    Malformed {
        /// The record type.
        record: &'static str,
        /// The decoder's error.
        source: apache_avro::Error,
    },

    /// The datum decoded, but bytes were left after it.
    #[error(
        "{record}: {count} bytes left after the datum; the record was probably written with another schema than the one given"
    )]
    TrailingBytes {
        /// The record type.
        record: &'static str,
        /// Number of bytes not consumed.
        count: usize,
    },

    /// The writer schema's data cannot be read as burnrate's schema (a type that does
    /// not promote, an enum symbol burnrate does not know, a union branch it lacks).
    #[error(
        "{record}: the writer schema is incompatible with burnrate's schema: {source}; give each field a type that Avro resolution can promote to burnrate's type"
    )]
    Incompatible {
        /// The record type.
        record: &'static str,
        /// The resolver's error.
        source: apache_avro::Error,
    },

    /// After resolution a field has another Avro type than burnrate's schema declares.
    /// Schema resolution rules this out, so it points to a bug in burnrate.
    #[error("field `{field}`: expected {expected}, found {found}; this is a bug in burnrate's Avro mapping")]
    UnexpectedType {
        /// Path of the field.
        field: String,
        /// The Avro type burnrate's schema declares.
        expected: &'static str,
        /// The value found, as debug text.
        found: String,
    },

    /// A field has the right Avro type but a value burnrate cannot use.
    #[error("invalid {field} {value:?}: {problem}")]
    InvalidValue {
        /// Path of the field, such as `data.quantity`.
        field: String,
        /// The value as found.
        value: String,
        /// Description of the problem and of the value to send instead.
        problem: String,
    },

    /// The usage event breaks a rule that applies to every encoding.
    #[error(transparent)]
    InvalidEvent(#[from] EventError),

    /// The contract decoded but does not pass validation.
    #[error("invalid contract: {}", join_problems(.0))]
    InvalidContract(Vec<ContractError>),

    /// A model value cannot be written with burnrate's schema. Every model value
    /// should be writable, so this points to a bug in burnrate.
    #[error("{record}: encoding failed: {source}; this is a bug in burnrate's Avro mapping")]
    Encode {
        /// The record type.
        record: &'static str,
        /// The encoder's error.
        source: apache_avro::Error,
    },

    /// A Confluent wire-format record is shorter than its 5-byte header.
    #[error(
        "Confluent wire-format record of {length} bytes is too short: it needs a magic byte and a 4-byte schema id before the datum"
    )]
    ShortFrame {
        /// Length of the record in bytes.
        length: usize,
    },

    /// A Confluent wire-format record does not start with the magic byte 0.
    #[error(
        "record starts with byte {found:#04x}, not the Confluent magic byte 0x00; it is not Avro in the Confluent wire format (JSON starts with 0x7b)"
    )]
    WrongMagicByte {
        /// The first byte of the record.
        found: u8,
    },

    /// An Avro object container file could not be read or written.
    #[error("Avro object container file: {source}")]
    Container {
        /// The error of the container reader or writer.
        source: apache_avro::Error,
    },
}

impl AvroCodecError {
    /// Returns whether the input record (or its schema) is at fault, so that the record
    /// should be dead-lettered rather than retried.
    ///
    /// `false` for bugs in burnrate's mapping and for container errors, which may come
    /// from I/O.
    pub fn is_input_fault(&self) -> bool {
        !matches!(
            self,
            AvroCodecError::UnexpectedType { .. }
                | AvroCodecError::Encode { .. }
                | AvroCodecError::Container { .. }
        )
    }
}

fn join_problems(problems: &[ContractError]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
