//! The dead letter as `io.burnrate.DeadLetter`, the value format of the dead-letter
//! topic. The original key, value and headers travel as Avro `bytes`, unchanged.

use apache_avro::types::Value;
use apache_avro::Schema;
use burnrate_model::DeadLetter;

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::schemas::dead_letter_schema;
use super::value::{
    bytes, bytes_map, bytes_map_value, int, long, nullable_value, record_value, string,
    RecordFields,
};

impl AvroRecord for DeadLetter {
    const RECORD: &'static str = "dead letter";

    fn schema() -> &'static Schema {
        dead_letter_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        Ok(record_value(vec![
            ("source_topic", Value::String(self.source_topic.clone())),
            ("partition", nullable_value(self.partition.map(Value::Int))),
            ("offset", nullable_value(self.offset.map(Value::Long))),
            ("reason", Value::String(self.reason.clone())),
            ("key", nullable_value(self.key.clone().map(Value::Bytes))),
            ("value", Value::Bytes(self.value.clone())),
            ("headers", bytes_map_value(&self.headers)),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let mut fields = RecordFields::new("", value)?;
        Ok(DeadLetter {
            source_topic: fields.required("source_topic", string)?,
            partition: fields.optional("partition", int)?,
            offset: fields.optional("offset", long)?,
            reason: fields.required("reason", string)?,
            key: fields.optional("key", bytes)?,
            value: fields.required("value", bytes)?,
            headers: fields.required("headers", bytes_map)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum};

    fn dead_letter() -> DeadLetter {
        DeadLetter {
            source_topic: "usage".to_owned(),
            partition: Some(3),
            offset: Some(9_007_199_254_740_993),
            reason: "invalid data.quantity \"1e400\": out of range".to_owned(),
            key: Some(vec![0, 159, 146, 150]),
            value: b"{\"specversion\": \"1.0\", \"data\": {\"quantity\": 1e400}}".to_vec(),
            headers: BTreeMap::from([
                (
                    "content-type".to_owned(),
                    b"application/cloudevents+json".to_vec(),
                ),
                ("trace".to_owned(), vec![0xff, 0x00, 0x7f]),
            ]),
        }
    }

    #[test]
    fn dead_letter_round_trip_keeps_bytes() {
        let original = dead_letter();
        let datum = encode_datum(&original).unwrap();
        let decoded: DeadLetter = decode_datum(&datum, dead_letter_schema()).unwrap();
        assert_eq!(decoded, original);
    }

    #[test]
    fn file_record_without_key_round_trips() {
        let original = DeadLetter {
            source_topic: "events.jsonl".to_owned(),
            partition: None,
            offset: Some(17),
            key: None,
            value: Vec::new(),
            headers: BTreeMap::new(),
            ..dead_letter()
        };
        let datum = encode_datum(&original).unwrap();
        let decoded: DeadLetter = decode_datum(&datum, dead_letter_schema()).unwrap();
        assert_eq!(decoded, original);
    }
}
