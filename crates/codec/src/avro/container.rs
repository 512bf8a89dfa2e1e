//! Avro object container files of usage events, the Avro input of `burnrate replay`.
//!
//! A container file carries its writer schema in the header, followed by blocks of
//! records. Reading resolves that schema against burnrate's usage event schema by
//! field name and validates each event on its own, so one bad event does not stop
//! the file.

use std::io::{Read, Write};

use apache_avro::{Codec, DeflateSettings, Reader, Schema, Writer};
use burnrate_model::UsageEvent;

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::resolution::{check_required_fields, resolve_checked};
use super::schemas::usage_event_schema;

/// Block compression of a container file that burnrate writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileCompression {
    /// Blocks are stored as they are (the Avro `null` codec).
    None,
    /// Blocks are compressed with deflate (RFC 1951) at the default level.
    #[default]
    Deflate,
}

/// Reads usage events from an Avro object container file.
///
/// Each item is one record's result: an event that fails resolution or validation
/// yields its error and the next item is the next record. Bytes that do not decode
/// at all (a corrupt block, a truncated file) yield one
/// [`AvroCodecError::Container`] error and end the iteration.
pub struct UsageEventFileReader<R: Read> {
    reader: Reader<'static, R>,
}

impl<R: Read> UsageEventFileReader<R> {
    /// Reads the file header and checks that its writer schema has every field a
    /// usage event requires.
    pub fn new(input: R) -> Result<Self, AvroCodecError> {
        let reader = Reader::new(input).map_err(|source| AvroCodecError::Container { source })?;
        check_required_fields(
            UsageEvent::RECORD,
            reader.writer_schema(),
            usage_event_schema(),
        )?;
        Ok(UsageEventFileReader { reader })
    }

    /// Returns the schema the file was written with.
    pub fn writer_schema(&self) -> &Schema {
        self.reader.writer_schema()
    }
}

impl<R: Read> Iterator for UsageEventFileReader<R> {
    type Item = Result<UsageEvent, AvroCodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The reader has no reader schema, so it only decodes. Resolving here makes a
        // resolution failure this record's error instead of ending the iteration.
        let value = match self.reader.next()? {
            Ok(value) => value,
            Err(source) => return Some(Err(AvroCodecError::Container { source })),
        };
        Some(
            resolve_checked(UsageEvent::RECORD, usage_event_schema(), value)
                .and_then(UsageEvent::from_avro_value),
        )
    }
}

/// Writes usage events to an Avro object container file with burnrate's schema.
pub struct UsageEventFileWriter<W: Write> {
    writer: Writer<'static, W>,
}

impl<W: Write> UsageEventFileWriter<W> {
    /// Starts a container file on `output`. The header is written with the first block.
    pub fn new(output: W, compression: FileCompression) -> Result<Self, AvroCodecError> {
        let codec = match compression {
            FileCompression::None => Codec::Null,
            FileCompression::Deflate => Codec::Deflate(DeflateSettings::default()),
        };
        let writer = Writer::with_codec(usage_event_schema(), output, codec)
            .map_err(|source| AvroCodecError::Container { source })?;
        Ok(UsageEventFileWriter { writer })
    }

    /// Appends one event. Events are buffered into blocks, so an I/O error may surface
    /// on a later call or in [`UsageEventFileWriter::finish`].
    pub fn append(&mut self, event: &UsageEvent) -> Result<(), AvroCodecError> {
        let value = event.to_avro_value()?;
        self.writer
            .append_value_ref(&value)
            .map_err(|source| AvroCodecError::Container { source })?;
        Ok(())
    }

    /// Writes the last block and returns the output.
    ///
    /// Dropping the writer without calling this also tries to write the last block,
    /// but ignores any error, so call it.
    pub fn finish(self) -> Result<W, AvroCodecError> {
        self.writer
            .into_inner()
            .map_err(|source| AvroCodecError::Container { source })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use apache_avro::types::Value;
    use burnrate_model::{EventError, EventKind};
    use chrono::{DateTime, Duration, Utc};
    use rust_decimal::Decimal;

    use super::*;

    fn events() -> Vec<UsageEvent> {
        let start = DateTime::parse_from_rfc3339("2026-05-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let quantities = ["0.0000025", "12345678901234567890.5", "1000", "-250", "7"];
        quantities
            .iter()
            .enumerate()
            .map(|(index, quantity)| UsageEvent {
                id: format!("e-{index}"),
                source: "anthropic".to_owned(),
                kind: if quantity.starts_with('-') {
                    EventKind::Correction
                } else {
                    EventKind::Usage
                },
                time: start + Duration::seconds(i64::try_from(index).unwrap()),
                account: "acme".to_owned(),
                meter: "output_tokens".to_owned(),
                quantity: Decimal::from_str(quantity).unwrap(),
                product: (index % 2 == 0).then(|| "claude-sonnet".to_owned()),
                dimensions: BTreeMap::from([("team".to_owned(), format!("team-{index}"))]),
                cost: None,
            })
            .collect()
    }

    fn write_file(events: &[UsageEvent], compression: FileCompression) -> Vec<u8> {
        let mut writer = UsageEventFileWriter::new(Vec::new(), compression).unwrap();
        for event in events {
            writer.append(event).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn file_round_trip_with_each_compression() {
        let original = events();
        for compression in [FileCompression::None, FileCompression::Deflate] {
            let file = write_file(&original, compression);
            let reader = UsageEventFileReader::new(file.as_slice()).unwrap();
            let decoded: Vec<UsageEvent> = reader.map(Result::unwrap).collect();
            assert_eq!(decoded, original, "{compression:?}");
        }
    }

    #[test]
    fn invalid_event_does_not_stop_the_file() {
        let mut original = events();
        original[1].kind = EventKind::Usage;
        original[1].quantity = Decimal::from_str("-1").unwrap();
        let file = write_file(&original, FileCompression::Deflate);

        let results: Vec<_> = UsageEventFileReader::new(file.as_slice())
            .unwrap()
            .collect();
        assert_eq!(results.len(), original.len());
        assert!(
            matches!(
                results[1],
                Err(AvroCodecError::InvalidEvent(
                    EventError::NegativeUsage { .. }
                ))
            ),
            "{:?}",
            results[1]
        );
        for index in [0, 2, 3, 4] {
            assert_eq!(results[index].as_ref().unwrap(), &original[index]);
        }
    }

    #[test]
    fn reordered_file_schema_reads_by_name() {
        let writer_schema = Schema::parse_str(
            r#"{"type": "record", "name": "UsageEvent", "namespace": "io.burnrate", "fields": [
              {"name": "subject", "type": "string"},
              {"name": "data", "type": {"type": "record", "name": "UsageData", "fields": [
                {"name": "quantity", "type": "string"},
                {"name": "meter", "type": "string"}]}},
              {"name": "time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
              {"name": "type", "type": "string"},
              {"name": "id", "type": "string"},
              {"name": "source", "type": "string"},
              {"name": "specversion", "type": "string"}]}"#,
        )
        .unwrap();
        let mut original = events();
        for event in &mut original {
            event.product = None;
            event.dimensions.clear();
        }

        let mut writer = Writer::new(&writer_schema, Vec::new()).unwrap();
        for event in &original {
            let mut value = event.to_avro_value().unwrap();
            strip_optional_data_fields(&mut value);
            writer.append_value_ref(&value).unwrap();
        }
        let file = writer.into_inner().unwrap();

        let reader = UsageEventFileReader::new(file.as_slice()).unwrap();
        assert_eq!(reader.writer_schema(), &writer_schema);
        let decoded: Vec<UsageEvent> = reader.map(Result::unwrap).collect();
        assert_eq!(decoded, original);
    }

    #[test]
    fn missing_field_rejected_at_open() {
        let writer_schema = Schema::parse_str(
            r#"{"type": "record", "name": "UsageEvent", "fields": [{"name": "id", "type": "string"}]}"#,
        )
        .unwrap();
        let mut writer = Writer::new(&writer_schema, Vec::new()).unwrap();
        writer
            .append_value_ref(&Value::Record(vec![(
                "id".to_owned(),
                Value::String("e-1".to_owned()),
            )]))
            .unwrap();
        let file = writer.into_inner().unwrap();

        let error = UsageEventFileReader::new(file.as_slice()).err().unwrap();
        assert!(
            matches!(error, AvroCodecError::MissingField { ref field, .. } if field == "specversion"),
            "{error}"
        );
    }

    #[test]
    fn truncated_file_ends_with_container_error() {
        let file = write_file(&events(), FileCompression::None);
        let truncated = &file[..file.len() - 20];

        let results: Vec<_> = UsageEventFileReader::new(truncated).unwrap().collect();
        let last = results.last().unwrap();
        assert!(
            matches!(last, Err(AvroCodecError::Container { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn non_container_bytes_are_rejected() {
        let error = UsageEventFileReader::new(&b"{\"specversion\": \"1.0\"}"[..])
            .err()
            .unwrap();
        assert!(matches!(error, AvroCodecError::Container { .. }), "{error}");
    }

    /// Removes `product` and `dimensions` from the `data` record of a usage event value.
    fn strip_optional_data_fields(value: &mut Value) {
        let Value::Record(fields) = value else {
            panic!("not a record")
        };
        let (_, Value::Record(data)) = fields.iter_mut().find(|(name, _)| name == "data").unwrap()
        else {
            panic!("data is not a record")
        };
        data.retain(|(name, _)| {
            !matches!(
                name.as_str(),
                "product" | "dimensions" | "cost" | "currency"
            )
        });
    }
}
