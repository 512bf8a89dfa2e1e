//! The Confluent wire format: how Kafka records produced with a Confluent schema
//! registry carry Avro.
//!
//! A record is the magic byte `0`, the writer schema's registry id as a 4-byte
//! big-endian integer, and then the raw Avro datum. Looking the id up in a schema
//! registry is left to the caller.

use super::error::AvroCodecError;

/// The first byte of every Confluent wire-format record.
pub const MAGIC_BYTE: u8 = 0;

/// Length of the header before the datum: the magic byte and the 4-byte schema id.
pub const HEADER_LENGTH: usize = 5;

/// Prefixes a raw Avro datum with the Confluent wire-format header.
pub fn encode_confluent_frame(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER_LENGTH + datum.len());
    record.push(MAGIC_BYTE);
    record.extend_from_slice(&schema_id.to_be_bytes());
    record.extend_from_slice(datum);
    record
}

/// Splits a Confluent wire-format record into the writer schema's registry id and
/// the raw Avro datum, which borrows from `record`.
pub fn decode_confluent_frame(record: &[u8]) -> Result<(u32, &[u8]), AvroCodecError> {
    if let Some(&first) = record.first() {
        if first != MAGIC_BYTE {
            return Err(AvroCodecError::WrongMagicByte { found: first });
        }
    }
    let Some((header, datum)) = record.split_first_chunk::<HEADER_LENGTH>() else {
        return Err(AvroCodecError::ShortFrame {
            length: record.len(),
        });
    };

    let schema_id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    Ok((schema_id, datum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum};
    use crate::avro::schemas::usage_event_schema;
    use burnrate_model::{EventKind, UsageEvent};
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    #[test]
    fn frame_round_trip() {
        let datum = [1, 2, 3];
        let record = encode_confluent_frame(0x0102_0304, &datum);
        assert_eq!(record, [0, 1, 2, 3, 4, 1, 2, 3]);

        let (schema_id, decoded) = decode_confluent_frame(&record).unwrap();
        assert_eq!(schema_id, 0x0102_0304);
        assert_eq!(decoded, datum);
    }

    #[test]
    fn usage_event_through_frame() {
        let event = UsageEvent {
            id: "e-1".to_owned(),
            source: "openai".to_owned(),
            kind: EventKind::Usage,
            time: DateTime::<Utc>::from_timestamp_micros(1_778_061_600_000_000).unwrap(),
            account: "acme".to_owned(),
            meter: "input_tokens".to_owned(),
            quantity: Decimal::new(25, 7),
            product: None,
            dimensions: Default::default(),
            cost: None,
        };
        let record = encode_confluent_frame(42, &encode_datum(&event).unwrap());

        let (schema_id, datum) = decode_confluent_frame(&record).unwrap();
        assert_eq!(schema_id, 42);
        let decoded: UsageEvent = decode_datum(datum, usage_event_schema()).unwrap();
        assert_eq!(decoded, event);
    }

    #[test]
    fn wrong_magic_byte_is_rejected() {
        let error = decode_confluent_frame(br#"{"specversion": "1.0"}"#).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::WrongMagicByte { found: b'{' }),
            "{error}"
        );
        assert!(error.to_string().contains("0x7b"), "{error}");
    }

    #[test]
    fn short_record_is_rejected() {
        for record in [&[][..], &[0][..], &[0, 0, 0, 1][..]] {
            let error = decode_confluent_frame(record).unwrap_err();
            assert!(
                matches!(error, AvroCodecError::ShortFrame { length } if length == record.len()),
                "{error}"
            );
        }
    }

    #[test]
    fn header_only_record_has_empty_datum() {
        let (schema_id, datum) = decode_confluent_frame(&[0, 0, 0, 0, 7]).unwrap();
        assert_eq!(schema_id, 7);
        assert!(datum.is_empty());
    }
}
