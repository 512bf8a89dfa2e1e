//! Decoders and encoders of burnrate's records: usage events as CloudEvents 1.0
//! structured JSON, and every record as Avro (raw datum, Confluent wire format and
//! object container files) with schema resolution by field name.

pub mod avro;
pub mod cloudevents;

pub use cloudevents::{decode_cloudevent, encode_cloudevent, DecodeError};
