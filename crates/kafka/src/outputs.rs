//! Encoding of the records burnrate publishes: JSON, or Avro in the Confluent
//! wire format under schema ids registered at start.

use burnrate_codec::avro::{encode_confluent_frame, encode_datum, AvroRecord};
use burnrate_model::{Alert, SpendAggregate};
use serde::Serialize;

use crate::config::OutputFormat;

/// Schema ids of the Avro outputs, from the schema registry.
#[derive(Debug, Clone, Copy)]
pub struct AvroSchemaIds {
    /// Subject `<aggregates topic>-value`.
    pub aggregate: u32,
    /// Subject `<alerts topic>-value`.
    pub alert: u32,
}

/// Encodes aggregates and alerts for their topics.
#[derive(Debug, Clone)]
pub struct OutputEncoder {
    avro: Option<AvroSchemaIds>,
}

impl OutputEncoder {
    /// JSON outputs.
    pub fn json() -> OutputEncoder {
        OutputEncoder { avro: None }
    }

    /// Avro outputs under the given schema ids.
    pub fn avro(ids: AvroSchemaIds) -> OutputEncoder {
        OutputEncoder { avro: Some(ids) }
    }

    /// Returns the format.
    pub fn format(&self) -> OutputFormat {
        match self.avro {
            Some(_) => OutputFormat::Avro,
            None => OutputFormat::Json,
        }
    }

    /// Returns the `content-type` header value of the records.
    pub fn content_type(&self) -> &'static str {
        match self.avro {
            Some(_) => "application/vnd.confluent.avro",
            None => "application/json",
        }
    }

    /// Encodes an aggregate.
    pub fn aggregate(&self, aggregate: &SpendAggregate) -> Vec<u8> {
        self.encode(aggregate, |ids| ids.aggregate)
    }

    /// Encodes an alert.
    pub fn alert(&self, alert: &Alert) -> Vec<u8> {
        self.encode(alert, |ids| ids.alert)
    }

    fn encode<T: AvroRecord + Serialize>(
        &self,
        record: &T,
        schema_id: impl Fn(&AvroSchemaIds) -> u32,
    ) -> Vec<u8> {
        match &self.avro {
            Some(ids) => {
                // burnrate's own records always fit its own schemas; a failure here
                // is a bug in the codec, not bad input.
                let datum = encode_datum(record).unwrap_or_else(|error| {
                    panic!("{} does not fit its own Avro schema: {error}", T::RECORD)
                });
                encode_confluent_frame(schema_id(ids), &datum)
            }
            None => serde_json::to_vec(record).expect("aggregates and alerts serialize to JSON"),
        }
    }
}
