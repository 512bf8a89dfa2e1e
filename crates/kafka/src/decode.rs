//! Decoding of usage-topic records into usage events: CloudEvents JSON, Avro in the
//! Confluent wire format, and raw Avro datums.
//!
//! A record's `content-type` header picks the format when it names one, and the
//! configured default format applies otherwise. Every decoded event has passed
//! [`UsageEvent::validate`], because both codec decoders run it last.
//!
//! A failure is either a rejection, which sends the record to the dead-letter topic
//! with a reason, or transient (the schema registry could not be asked), which the
//! caller retries so that no record is dead-lettered for an outage.

use std::path::Path;
use std::sync::Arc;

use apache_avro::Schema;
use burnrate_codec::avro::{
    decode_confluent_frame, decode_datum, parse_writer_schema, AvroCodecError, MAGIC_BYTE,
};
use burnrate_codec::{decode_cloudevent, DecodeError};
use burnrate_model::UsageEvent;
use serde::{Deserialize, Serialize};

use crate::dead_letter_kind::DeadLetterKind;
use crate::schema_registry::{FailureKind, RegistryError, SchemaRegistry};

/// The encoding of usage-topic record values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// CloudEvents 1.0 in structured JSON mode.
    #[default]
    CloudeventsJson,
    /// Avro in the Confluent wire format: magic byte 0, a 4-byte big-endian schema id,
    /// then the datum. The writer schema comes from the schema registry.
    AvroConfluent,
    /// A raw Avro datum written with the configured writer schema file.
    Avro,
}

impl InputFormat {
    /// Returns the configuration name, such as `avro-confluent`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::CloudeventsJson => "cloudevents-json",
            InputFormat::AvroConfluent => "avro-confluent",
            InputFormat::Avro => "avro",
        }
    }
}

/// A record that is not a valid usage event, with the reason for its dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The stage that rejected the record, for the dead-letter counter.
    pub kind: DeadLetterKind,
    /// The reason, naming the format, the field or schema id, and the value.
    pub reason: String,
}

/// The failure to decode a record, and whether a retry can help.
#[derive(Debug)]
pub enum DecodeFailure {
    /// The record itself is bad: send it to the dead-letter topic.
    Rejected(Rejection),
    /// The schema registry could not be asked: retry the record later.
    Transient(RegistryError),
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeFailure::Rejected(rejection) => formatter.write_str(&rejection.reason),
            DecodeFailure::Transient(error) => write!(formatter, "{error}"),
        }
    }
}

/// A decoder configuration that cannot decode its own default format.
#[derive(Debug, thiserror::Error)]
pub enum DecoderConfigError {
    /// The default format is `avro-confluent`, but no registry URL is set.
    #[error("input format avro-confluent needs a schema registry; set the schema registry URL or choose another format")]
    MissingRegistry,
    /// The default format is `avro`, but no writer schema file is set.
    #[error("input format avro needs the writer schema of the raw datums; set the writer schema file or choose another format")]
    MissingWriterSchema,
    /// The writer schema file cannot be read.
    #[error("cannot read writer schema file {path}: {source}")]
    ReadWriterSchema {
        /// The configured path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer schema file is not a valid Avro schema.
    #[error("writer schema file {path}: {source}")]
    InvalidWriterSchema {
        /// The configured path.
        path: String,
        /// The parser's error.
        source: AvroCodecError,
    },
}

/// Decodes record values into usage events.
#[derive(Debug)]
pub struct Decoder {
    default_format: InputFormat,
    registry: Option<Arc<SchemaRegistry>>,
    writer_schema: Option<Arc<Schema>>,
}

/// Reads and parses the writer schema file of raw Avro input.
pub fn read_writer_schema_file(path: &Path) -> Result<Schema, DecoderConfigError> {
    let display = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| DecoderConfigError::ReadWriterSchema {
            path: display.clone(),
            source,
        })?;
    parse_writer_schema(&text).map_err(|source| DecoderConfigError::InvalidWriterSchema {
        path: display,
        source,
    })
}

impl Decoder {
    /// Creates a decoder, checking that the default format has what it needs.
    ///
    /// `registry` serves `avro-confluent` records and `writer_schema` raw `avro`
    /// records. Either may be set for a format other than the default, because the
    /// content-type header of a record may pick Avro.
    pub fn new(
        default_format: InputFormat,
        registry: Option<Arc<SchemaRegistry>>,
        writer_schema: Option<Arc<Schema>>,
    ) -> Result<Decoder, DecoderConfigError> {
        match default_format {
            InputFormat::AvroConfluent if registry.is_none() => {
                return Err(DecoderConfigError::MissingRegistry)
            }
            InputFormat::Avro if writer_schema.is_none() => {
                return Err(DecoderConfigError::MissingWriterSchema)
            }
            _ => {}
        }
        Ok(Decoder {
            default_format,
            registry,
            writer_schema,
        })
    }

    /// Decodes one record value. `content_type` is the value of the record's
    /// `content-type` header, if it has one.
    ///
    /// NOTE: CloudEvents binary mode (attributes in `ce_` headers, data in the value)
    /// is not read; such records are decoded as the default format and rejected.
    pub fn decode(
        &self,
        value: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Result<UsageEvent, DecodeFailure> {
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return Err(reject(
                DeadLetterKind::Decode,
                "record has no value; a usage event needs a value".to_owned(),
            ));
        };

        match self.format_for(value, content_type)? {
            InputFormat::CloudeventsJson => decode_cloudevent(value).map_err(json_rejection),
            InputFormat::AvroConfluent => self.decode_confluent(value),
            InputFormat::Avro => self.decode_raw(value),
        }
    }

    /// Picks the format of a record from its content type, else the default.
    fn format_for(
        &self,
        value: &[u8],
        content_type: Option<&str>,
    ) -> Result<InputFormat, DecodeFailure> {
        // Parameters such as `; charset=utf-8` do not change the format.
        let media_type = content_type.map(|text| {
            text.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        match media_type.as_deref() {
            Some("application/cloudevents+json" | "application/json") => {
                Ok(InputFormat::CloudeventsJson)
            }
            Some(
                avro @ ("application/vnd.confluent.avro" | "avro/binary" | "application/avro"),
            ) => {
                // Both Avro forms share content types, so the magic byte and the
                // configuration decide.
                if value.first() == Some(&MAGIC_BYTE) && self.registry.is_some() {
                    Ok(InputFormat::AvroConfluent)
                } else if self.writer_schema.is_some() {
                    Ok(InputFormat::Avro)
                } else if self.registry.is_some() {
                    Ok(InputFormat::AvroConfluent)
                } else {
                    Err(reject(
                        DeadLetterKind::Decode,
                        format!(
                            "content-type {avro}: Avro input needs a schema registry or a writer schema file, and neither is configured"
                        ),
                    ))
                }
            }
            _ => Ok(self.default_format),
        }
    }

    fn decode_confluent(&self, value: &[u8]) -> Result<UsageEvent, DecodeFailure> {
        let format = InputFormat::AvroConfluent.as_str();
        let Some(registry) = &self.registry else {
            // `new` and `format_for` pick this format only with a registry.
            return Err(reject(
                DeadLetterKind::Decode,
                format!("{format}: no schema registry is configured"),
            ));
        };

        let (schema_id, datum) =
            decode_confluent_frame(value).map_err(|error| avro_rejection(format, &error))?;
        let writer_schema = match registry.writer_schema(schema_id) {
            Ok(schema) => schema,
            Err(error) if error.kind() == FailureKind::Transient => {
                return Err(DecodeFailure::Transient(error))
            }
            Err(error) => return Err(reject(DeadLetterKind::Decode, format!("{format}: {error}"))),
        };
        decode_datum(datum, &writer_schema).map_err(|error| avro_rejection(format, &error))
    }

    fn decode_raw(&self, value: &[u8]) -> Result<UsageEvent, DecodeFailure> {
        let format = InputFormat::Avro.as_str();
        let Some(writer_schema) = &self.writer_schema else {
            return Err(reject(
                DeadLetterKind::Decode,
                format!("{format}: no writer schema file is configured"),
            ));
        };
        decode_datum(value, writer_schema).map_err(|error| avro_rejection(format, &error))
    }
}

fn reject(kind: DeadLetterKind, reason: String) -> DecodeFailure {
    DecodeFailure::Rejected(Rejection { kind, reason })
}

fn json_rejection(error: DecodeError) -> DecodeFailure {
    let kind = match error {
        DecodeError::Json { .. } | DecodeError::Missing(_) => DeadLetterKind::Decode,
        DecodeError::Invalid { .. } | DecodeError::Event(_) => DeadLetterKind::Invalid,
    };
    reject(
        kind,
        format!("{}: {error}", InputFormat::CloudeventsJson.as_str()),
    )
}

/// Turns an Avro codec error into a rejection.
///
/// Errors that point to a bug in burnrate's mapping are rejected too, because a retry
/// gives the same result and the partition has to keep moving. The dead letter keeps
/// the bytes for a replay after the fix.
fn avro_rejection(format: &str, error: &AvroCodecError) -> DecodeFailure {
    let kind = match error {
        AvroCodecError::InvalidValue { .. } | AvroCodecError::InvalidEvent(_) => {
            DeadLetterKind::Invalid
        }
        _ => DeadLetterKind::Decode,
    };
    if !error.is_input_fault() {
        tracing::error!(%error, "Avro decoding failed in burnrate's mapping; the record goes to the dead-letter topic.");
    }
    reject(kind, format!("{format}: {error}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::TcpListener;
    use std::str::FromStr;
    use std::time::Duration;

    use apache_avro::types::Value;
    use apache_avro::writer::datum::GenericDatumWriter;
    use burnrate_codec::avro::{
        encode_confluent_frame, encode_datum, AvroRecord, USAGE_EVENT_SCHEMA_JSON,
    };
    use burnrate_model::EventKind;
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    use super::*;
    use crate::registry_stub::RegistryStub;

    /// The usage event schema with the fields of both records in another order.
    const REORDERED_SCHEMA: &str = r#"{"type": "record", "name": "UsageEvent", "namespace": "io.burnrate", "fields": [
        {"name": "data", "type": {"type": "record", "name": "UsageData", "fields": [
            {"name": "dimensions", "type": {"type": "map", "values": "string"}, "default": {}},
            {"name": "quantity", "type": "string"},
            {"name": "product", "type": ["null", "string"], "default": null},
            {"name": "meter", "type": "string"}]}},
        {"name": "subject", "type": "string"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "type", "type": "string"},
        {"name": "source", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "specversion", "type": "string"}]}"#;

    /// A writer schema without the required `subject` field.
    const NO_SUBJECT_SCHEMA: &str = r#"{"type": "record", "name": "UsageEvent", "namespace": "io.burnrate", "fields": [
        {"name": "specversion", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "source", "type": "string"},
        {"name": "type", "type": "string"},
        {"name": "time", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "data", "type": {"type": "record", "name": "UsageData", "fields": [
            {"name": "meter", "type": "string"},
            {"name": "quantity", "type": "string"}]}}]}"#;

    const JSON_EVENT: &str = r#"{"specversion": "1.0", "id": "e-1", "source": "openai", "type": "burnrate.usage",
        "time": "2026-05-06T10:00:00Z", "subject": "acme",
        "data": {"meter": "input_tokens", "quantity": 0.0000025, "product": "gpt-4o", "dimensions": {"team": "search"}}}"#;

    fn event() -> UsageEvent {
        UsageEvent {
            id: "e-1".to_owned(),
            source: "openai".to_owned(),
            kind: EventKind::Usage,
            time: DateTime::parse_from_rfc3339("2026-05-06T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            account: "acme".to_owned(),
            meter: "input_tokens".to_owned(),
            quantity: Decimal::from_str("0.0000025").unwrap(),
            product: Some("gpt-4o".to_owned()),
            dimensions: BTreeMap::from([("team".to_owned(), "search".to_owned())]),
            cost: None,
        }
    }

    fn registry(stub: &RegistryStub) -> Arc<SchemaRegistry> {
        Arc::new(SchemaRegistry::new(&stub.url(), Duration::from_secs(5)).unwrap())
    }

    fn rejection(failure: DecodeFailure) -> Rejection {
        match failure {
            DecodeFailure::Rejected(rejection) => rejection,
            DecodeFailure::Transient(error) => {
                panic!("expected a rejection, found transient {error}")
            }
        }
    }

    fn json_decoder() -> Decoder {
        Decoder::new(InputFormat::CloudeventsJson, None, None).unwrap()
    }

    /// Encodes `value` as a raw datum of `schema`, which may order fields unlike burnrate.
    fn datum_with(schema: &Schema, value: &Value) -> Vec<u8> {
        let writer = GenericDatumWriter::builder(schema).build().unwrap();
        let mut datum = Vec::new();
        writer.write_value_ref(&mut datum, value).unwrap();
        datum
    }

    /// Drops the vendor cost fields, which [`REORDERED_SCHEMA`], an older writer, lacks.
    fn before_costs(value: Value) -> Value {
        let Value::Record(fields) = value else {
            panic!("expected a record, found {value:?}")
        };
        let remaining = fields
            .into_iter()
            .filter(|(name, _)| !matches!(name.as_str(), "cost" | "currency"))
            .map(|(name, field)| match field {
                Value::Record(_) => (name, before_costs(field)),
                other => (name, other),
            })
            .collect();
        Value::Record(remaining)
    }

    /// Drops the fields that [`NO_SUBJECT_SCHEMA`] lacks from a usage event value.
    fn without_fields(value: Value) -> Value {
        let Value::Record(fields) = value else {
            panic!("expected a record, found {value:?}")
        };
        let kept = fields
            .into_iter()
            .filter(|(name, _)| {
                !matches!(
                    name.as_str(),
                    "subject" | "product" | "dimensions" | "cost" | "currency"
                )
            })
            .map(|(name, field)| match field {
                Value::Record(_) => (name, without_fields(field)),
                other => (name, other),
            })
            .collect();
        Value::Record(kept)
    }

    #[test]
    fn format_names_are_kebab_case() {
        for format in [
            InputFormat::CloudeventsJson,
            InputFormat::AvroConfluent,
            InputFormat::Avro,
        ] {
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
            assert_eq!(serde_json::from_str::<InputFormat>(&json).unwrap(), format);
        }
    }

    #[test]
    fn valid_json_decodes() {
        let decoded = json_decoder()
            .decode(Some(JSON_EVENT.as_bytes()), None)
            .unwrap();
        assert_eq!(decoded, event());
    }

    #[test]
    fn invalid_json_is_rejected() {
        let failure = json_decoder()
            .decode(Some(b"{\"specversion\": "), None)
            .unwrap_err();
        let rejection = rejection(failure);
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection
                .reason
                .starts_with("cloudevents-json: invalid JSON"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn negative_usage_is_invalid() {
        let text = JSON_EVENT.replace("0.0000025", "-1");
        let rejection = rejection(
            json_decoder()
                .decode(Some(text.as_bytes()), None)
                .unwrap_err(),
        );
        assert_eq!(rejection.kind, DeadLetterKind::Invalid);
        assert!(
            rejection.reason.contains("negative quantity -1"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn missing_value_is_rejected() {
        for value in [None, Some(&b""[..])] {
            let rejection = rejection(json_decoder().decode(value, None).unwrap_err());
            assert_eq!(rejection.kind, DeadLetterKind::Decode);
            assert!(
                rejection.reason.contains("no value"),
                "{}",
                rejection.reason
            );
        }
    }

    #[test]
    fn confluent_avro_round_trip() {
        let stub = RegistryStub::start(1);
        stub.add_schema(42, USAGE_EVENT_SCHEMA_JSON);
        let decoder =
            Decoder::new(InputFormat::AvroConfluent, Some(registry(&stub)), None).unwrap();

        let record = encode_confluent_frame(42, &encode_datum(&event()).unwrap());
        assert_eq!(decoder.decode(Some(&record), None).unwrap(), event());
        assert_eq!(decoder.decode(Some(&record), None).unwrap(), event());
        assert_eq!(
            stub.request_count(),
            1,
            "the schema should come from the cache the second time"
        );
    }

    #[test]
    fn unknown_schema_id_is_rejected() {
        let stub = RegistryStub::start(1);
        let decoder =
            Decoder::new(InputFormat::AvroConfluent, Some(registry(&stub)), None).unwrap();

        let record = encode_confluent_frame(99, &encode_datum(&event()).unwrap());
        let rejection = rejection(decoder.decode(Some(&record), None).unwrap_err());
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection.reason.contains("schema id 99 not found"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn unreachable_registry_is_transient() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let registry = Arc::new(SchemaRegistry::new(&url, Duration::from_secs(5)).unwrap());
        let decoder = Decoder::new(InputFormat::AvroConfluent, Some(registry), None).unwrap();

        let record = encode_confluent_frame(1, &encode_datum(&event()).unwrap());
        let failure = decoder.decode(Some(&record), None).unwrap_err();
        assert!(
            matches!(
                failure,
                DecodeFailure::Transient(RegistryError::Unreachable { .. })
            ),
            "{failure}"
        );
    }

    #[test]
    fn reordered_writer_schema_decodes_same_event() {
        let stub = RegistryStub::start(1);
        stub.add_schema(5, REORDERED_SCHEMA);
        let decoder =
            Decoder::new(InputFormat::AvroConfluent, Some(registry(&stub)), None).unwrap();

        let schema = Schema::parse_str(REORDERED_SCHEMA).unwrap();
        let datum = datum_with(&schema, &before_costs(event().to_avro_value().unwrap()));
        assert_ne!(
            datum,
            encode_datum(&event()).unwrap(),
            "the test needs a datum in another field order"
        );

        let record = encode_confluent_frame(5, &datum);
        assert_eq!(decoder.decode(Some(&record), None).unwrap(), event());
    }

    #[test]
    fn writer_schema_without_required_field_is_rejected() {
        let stub = RegistryStub::start(1);
        stub.add_schema(6, NO_SUBJECT_SCHEMA);
        let decoder =
            Decoder::new(InputFormat::AvroConfluent, Some(registry(&stub)), None).unwrap();

        let schema = Schema::parse_str(NO_SUBJECT_SCHEMA).unwrap();
        let datum = datum_with(&schema, &without_fields(event().to_avro_value().unwrap()));
        let record = encode_confluent_frame(6, &datum);
        let rejection = rejection(decoder.decode(Some(&record), None).unwrap_err());
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection.reason.contains("no field `subject`"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn short_confluent_frame_is_rejected() {
        let stub = RegistryStub::start(1);
        let decoder =
            Decoder::new(InputFormat::AvroConfluent, Some(registry(&stub)), None).unwrap();

        let rejection = rejection(decoder.decode(Some(&[0, 0, 1]), None).unwrap_err());
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection.reason.contains("too short"),
            "{}",
            rejection.reason
        );
        assert_eq!(stub.request_count(), 0);
    }

    #[test]
    fn raw_avro_decodes_with_configured_schema() {
        let schema = Arc::new(Schema::parse_str(REORDERED_SCHEMA).unwrap());
        let decoder = Decoder::new(InputFormat::Avro, None, Some(Arc::clone(&schema))).unwrap();

        let datum = datum_with(&schema, &before_costs(event().to_avro_value().unwrap()));
        assert_eq!(decoder.decode(Some(&datum), None).unwrap(), event());

        let rejection = rejection(
            decoder
                .decode(Some(&datum[..datum.len() - 3]), None)
                .unwrap_err(),
        );
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection.reason.starts_with("avro: "),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn content_type_overrides_default_format() {
        let stub = RegistryStub::start(1);
        stub.add_schema(42, USAGE_EVENT_SCHEMA_JSON);
        let schema = Arc::new(burnrate_codec::avro::usage_event_schema().clone());
        let decoder = Decoder::new(
            InputFormat::AvroConfluent,
            Some(registry(&stub)),
            Some(schema),
        )
        .unwrap();

        let json = decoder.decode(
            Some(JSON_EVENT.as_bytes()),
            Some("application/cloudevents+json; charset=utf-8"),
        );
        assert_eq!(json.unwrap(), event());

        let datum = encode_datum(&event()).unwrap();
        assert_ne!(
            datum[0], MAGIC_BYTE,
            "a raw datum of this event must not look like a Confluent frame"
        );
        assert_eq!(
            decoder.decode(Some(&datum), Some("avro/binary")).unwrap(),
            event()
        );

        let framed = encode_confluent_frame(42, &datum);
        assert_eq!(
            decoder
                .decode(Some(&framed), Some("application/vnd.confluent.avro"))
                .unwrap(),
            event()
        );
    }

    #[test]
    fn avro_content_type_without_schema_is_rejected() {
        let rejection = rejection(
            json_decoder()
                .decode(Some(&[0, 0, 0, 0, 1]), Some("application/avro"))
                .unwrap_err(),
        );
        assert_eq!(rejection.kind, DeadLetterKind::Decode);
        assert!(
            rejection.reason.contains("neither is configured"),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn default_format_needs_its_source() {
        let error = Decoder::new(InputFormat::AvroConfluent, None, None).unwrap_err();
        assert!(
            matches!(error, DecoderConfigError::MissingRegistry),
            "{error}"
        );
        let error = Decoder::new(InputFormat::Avro, None, None).unwrap_err();
        assert!(
            matches!(error, DecoderConfigError::MissingWriterSchema),
            "{error}"
        );
    }

    #[test]
    fn writer_schema_file_is_read() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("usage.avsc");
        std::fs::write(&path, REORDERED_SCHEMA).unwrap();
        assert_eq!(
            read_writer_schema_file(&path).unwrap(),
            Schema::parse_str(REORDERED_SCHEMA).unwrap()
        );

        std::fs::write(&path, "{").unwrap();
        let error = read_writer_schema_file(&path).unwrap_err();
        assert!(
            matches!(error, DecoderConfigError::InvalidWriterSchema { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("usage.avsc"), "{error}");
    }
}
