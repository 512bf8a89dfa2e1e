//! Raw Avro datums: the binary encoding of one record without a header, as carried
//! in a Kafka record after the Confluent wire-format header.
//!
//! Decoding needs the schema the record was written with (the writer schema) and
//! resolves it by field name against burnrate's schema of that record type.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use super::error::AvroCodecError;
use super::resolution::resolve;

/// A model type with an Avro schema in `schemas/`.
pub trait AvroRecord: Sized {
    /// The record type in error messages, such as `usage event`.
    const RECORD: &'static str;

    /// Returns burnrate's schema of this record type.
    fn schema() -> &'static Schema;

    /// Converts the record into an Avro value of [`AvroRecord::schema`].
    fn to_avro_value(&self) -> Result<Value, AvroCodecError>;

    /// Converts an Avro value of [`AvroRecord::schema`] into the record, applying the
    /// same validation as the JSON decoders.
    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError>;
}

/// Encodes a record as a raw Avro datum of burnrate's schema.
pub fn encode_datum<T: AvroRecord>(record: &T) -> Result<Vec<u8>, AvroCodecError> {
    let value = record.to_avro_value()?;
    encode_value_with::<T>(&value, T::schema())
}

/// Encodes an Avro value as a raw datum of `schema`. The schema may order fields
/// differently from burnrate's, and `T` names the record type in errors.
pub(crate) fn encode_value_with<T: AvroRecord>(
    value: &Value,
    schema: &Schema,
) -> Result<Vec<u8>, AvroCodecError> {
    let encode_error = |source| AvroCodecError::Encode {
        record: T::RECORD,
        source,
    };
    let writer = GenericDatumWriter::builder(schema)
        .build()
        .map_err(encode_error)?;
    let mut datum = Vec::new();
    writer
        .write_value_ref(&mut datum, value)
        .map_err(encode_error)?;
    Ok(datum)
}

/// Decodes a raw Avro datum written with `writer_schema` into a validated record.
///
/// Fields are matched by name, so a writer schema with the same fields in another
/// order decodes the same way. A writer schema that lacks a required field is
/// rejected with the field's path. Pass `T::schema()` as `writer_schema` for data
/// that burnrate wrote itself.
pub fn decode_datum<T: AvroRecord>(
    datum: &[u8],
    writer_schema: &Schema,
) -> Result<T, AvroCodecError> {
    let malformed = |source| AvroCodecError::Malformed {
        record: T::RECORD,
        source,
    };
    // NOTE: every call indexes the writer schema's named types again. A schema
    // registry client that decodes many records per schema id should cache a reader.
    let reader = GenericDatumReader::builder(writer_schema)
        .build()
        .map_err(malformed)?;
    let mut remaining = datum;
    let value = reader.read_value(&mut remaining).map_err(malformed)?;
    if !remaining.is_empty() {
        return Err(AvroCodecError::TrailingBytes {
            record: T::RECORD,
            count: remaining.len(),
        });
    }

    let resolved = resolve(T::RECORD, writer_schema, T::schema(), value)?;
    T::from_avro_value(resolved)
}
