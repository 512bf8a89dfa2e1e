//! Avro encoding of burnrate's records.
//!
//! Schemas live in `schemas/` at the workspace root and are compiled in
//! ([`usage_event_schema`] and its siblings). Each record type implements
//! [`AvroRecord`]. [`encode_datum`] and [`decode_datum`] turn a record into a raw
//! Avro datum and back, resolving the producer's writer schema against burnrate's
//! schema by field name. [`encode_confluent_frame`] and [`decode_confluent_frame`]
//! add and remove the Confluent wire-format header, and [`UsageEventFileReader`] and
//! [`UsageEventFileWriter`] read and write Avro object container files of usage
//! events.
//!
//! Every decimal amount or quantity is an Avro `string` holding the exact decimal
//! text, because Avro's `decimal` logical type fixes one scale per field and
//! burnrate's amounts vary in scale. Instants are `timestamp-micros` in UTC.

mod alert;
mod confluent;
mod container;
mod contract;
mod datum;
mod dead_letter;
mod error;
mod resolution;
mod schemas;
mod spend_aggregate;
mod usage_event;
mod value;

pub use apache_avro::types::Value;
pub use apache_avro::Schema;
pub use confluent::{decode_confluent_frame, encode_confluent_frame, HEADER_LENGTH, MAGIC_BYTE};
pub use container::{FileCompression, UsageEventFileReader, UsageEventFileWriter};
pub use datum::{decode_datum, encode_datum, AvroRecord};
pub use error::AvroCodecError;
pub use schemas::{
    alert_schema, contract_schema, dead_letter_schema, parse_writer_schema, spend_aggregate_schema,
    usage_event_schema, ALERT_SCHEMA_JSON, CONTRACT_SCHEMA_JSON, DEAD_LETTER_SCHEMA_JSON,
    SPEND_AGGREGATE_SCHEMA_JSON, USAGE_EVENT_SCHEMA_JSON,
};
