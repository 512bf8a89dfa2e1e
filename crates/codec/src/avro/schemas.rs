//! burnrate's Avro schemas: the `.avsc` files in `schemas/` at the workspace root,
//! compiled into the binary and parsed once on first use.
//!
//! They are the reader schemas of decoding and the writer schemas of encoding.

use std::sync::LazyLock;

use apache_avro::Schema;

use super::error::AvroCodecError;

/// JSON text of `schemas/usage_event.avsc`, for registering with a schema registry.
pub const USAGE_EVENT_SCHEMA_JSON: &str = include_str!("../../../../schemas/usage_event.avsc");
/// JSON text of `schemas/contract.avsc`.
pub const CONTRACT_SCHEMA_JSON: &str = include_str!("../../../../schemas/contract.avsc");
/// JSON text of `schemas/spend_aggregate.avsc`.
pub const SPEND_AGGREGATE_SCHEMA_JSON: &str =
    include_str!("../../../../schemas/spend_aggregate.avsc");
/// JSON text of `schemas/alert.avsc`.
pub const ALERT_SCHEMA_JSON: &str = include_str!("../../../../schemas/alert.avsc");
/// JSON text of `schemas/dead_letter.avsc`.
pub const DEAD_LETTER_SCHEMA_JSON: &str = include_str!("../../../../schemas/dead_letter.avsc");

static USAGE_EVENT: LazyLock<Schema> =
    LazyLock::new(|| parse_embedded("usage_event.avsc", USAGE_EVENT_SCHEMA_JSON));
static CONTRACT: LazyLock<Schema> =
    LazyLock::new(|| parse_embedded("contract.avsc", CONTRACT_SCHEMA_JSON));
static SPEND_AGGREGATE: LazyLock<Schema> =
    LazyLock::new(|| parse_embedded("spend_aggregate.avsc", SPEND_AGGREGATE_SCHEMA_JSON));
static ALERT: LazyLock<Schema> = LazyLock::new(|| parse_embedded("alert.avsc", ALERT_SCHEMA_JSON));
static DEAD_LETTER: LazyLock<Schema> =
    LazyLock::new(|| parse_embedded("dead_letter.avsc", DEAD_LETTER_SCHEMA_JSON));

/// Returns the parsed schema of `io.burnrate.UsageEvent`.
pub fn usage_event_schema() -> &'static Schema {
    &USAGE_EVENT
}

/// Returns the parsed schema of `io.burnrate.Contract`.
pub fn contract_schema() -> &'static Schema {
    &CONTRACT
}

/// Returns the parsed schema of `io.burnrate.SpendAggregate`.
pub fn spend_aggregate_schema() -> &'static Schema {
    &SPEND_AGGREGATE
}

/// Returns the parsed schema of `io.burnrate.Alert`.
pub fn alert_schema() -> &'static Schema {
    &ALERT
}

/// Returns the parsed schema of `io.burnrate.DeadLetter`.
pub fn dead_letter_schema() -> &'static Schema {
    &DEAD_LETTER
}

/// Parses a writer schema, such as one fetched from a schema registry.
pub fn parse_writer_schema(json: &str) -> Result<Schema, AvroCodecError> {
    Schema::parse_str(json).map_err(|source| AvroCodecError::InvalidSchema { source })
}

/// Parses a schema compiled into the binary. The tests below parse every one, so a
/// failure here means the build shipped a broken `.avsc` file.
fn parse_embedded(file: &str, json: &str) -> Schema {
    match Schema::parse_str(json) {
        Ok(schema) => schema,
        Err(error) => panic!("schemas/{file} is not a valid Avro schema: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::schema::{RecordField, RecordSchema};

    fn record(schema: &Schema) -> &RecordSchema {
        match schema {
            Schema::Record(record) => record,
            other => panic!("expected a record schema, found {other:?}"),
        }
    }

    /// Visits every record field of a schema tree, nested records included.
    fn visit_fields<'a>(schema: &'a Schema, found: &mut Vec<&'a RecordField>) {
        match schema {
            Schema::Record(record) => {
                for field in &record.fields {
                    found.push(field);
                    visit_fields(&field.schema, found);
                }
            }
            Schema::Array(array) => visit_fields(&array.items, found),
            Schema::Map(map) => visit_fields(&map.types, found),
            Schema::Union(union) => union
                .variants()
                .iter()
                .for_each(|variant| visit_fields(variant, found)),
            _ => {}
        }
    }

    fn all_schemas() -> [(&'static str, &'static Schema); 5] {
        [
            ("UsageEvent", usage_event_schema()),
            ("Contract", contract_schema()),
            ("SpendAggregate", spend_aggregate_schema()),
            ("Alert", alert_schema()),
            ("DeadLetter", dead_letter_schema()),
        ]
    }

    #[test]
    fn schemas_parse_with_burnrate_namespace() {
        for (name, schema) in all_schemas() {
            let record = record(schema);
            assert_eq!(record.name.name(), name);
            assert_eq!(record.name.namespace(), Some("io.burnrate"), "{name}");
            assert!(record.doc.is_some(), "{name} has no doc");
        }
    }

    #[test]
    fn every_field_has_a_doc() {
        for (name, schema) in all_schemas() {
            let mut fields = Vec::new();
            visit_fields(schema, &mut fields);
            assert!(!fields.is_empty(), "{name} has no fields");
            for field in fields {
                assert!(field.doc.is_some(), "{name}.{} has no doc", field.name);
            }
        }
    }

    #[test]
    fn nullable_fields_default_to_null() {
        for (name, schema) in all_schemas() {
            let mut fields = Vec::new();
            visit_fields(schema, &mut fields);
            for field in fields {
                if let Schema::Union(union) = &field.schema {
                    assert_eq!(
                        union.variants()[0],
                        Schema::Null,
                        "{name}.{}: null must come first",
                        field.name
                    );
                    assert_eq!(
                        field.default,
                        Some(serde_json::Value::Null),
                        "{name}.{}: default must be null",
                        field.name
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_writer_schema_is_rejected() {
        let error = parse_writer_schema(r#"{"type": "record", "name": "X"}"#).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::InvalidSchema { .. }),
            "{error}"
        );
    }
}
