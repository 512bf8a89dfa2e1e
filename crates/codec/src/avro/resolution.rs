//! Schema resolution by field name: reading data written with a producer's schema
//! (the writer schema) as burnrate's schema (the reader schema).
//!
//! apache-avro 0.22 matches record fields by name, so field order does not matter,
//! fills a field the writer lacks from the reader's default, and drops writer fields
//! the reader does not declare. Before that, [`check_required_fields`] looks for a
//! reader field without a default that the writer lacks, so that the error names the
//! field by its full path (`data.meter`) rather than by its last name only.

use apache_avro::types::Value;
use apache_avro::Schema;

use super::error::AvroCodecError;

/// Checks that `writer` has every field of `reader` that has no default, in nested
/// records, array items, map values and union branches too.
///
/// Path segments of array items are written `[]` (`prices[].meter`), because the
/// check looks at schemas, not at data.
pub(crate) fn check_required_fields(
    record: &'static str,
    writer: &Schema,
    reader: &Schema,
) -> Result<(), AvroCodecError> {
    check_at(record, writer, reader, "")
}

fn check_at(
    record: &'static str,
    writer: &Schema,
    reader: &Schema,
    path: &str,
) -> Result<(), AvroCodecError> {
    match (writer, reader) {
        (Schema::Record(writer_record), Schema::Record(reader_record)) => {
            for reader_field in &reader_record.fields {
                let field_path = if path.is_empty() {
                    reader_field.name.clone()
                } else {
                    format!("{path}.{}", reader_field.name)
                };
                let writer_field = writer_record
                    .lookup
                    .get(&reader_field.name)
                    .map(|&index| &writer_record.fields[index]);
                match writer_field {
                    Some(writer_field) => check_at(
                        record,
                        &writer_field.schema,
                        &reader_field.schema,
                        &field_path,
                    )?,
                    None if reader_field.default.is_none() => {
                        return Err(AvroCodecError::MissingField {
                            record,
                            field: field_path,
                        })
                    }
                    None => {}
                }
            }
            Ok(())
        }
        (Schema::Array(writer_array), Schema::Array(reader_array)) => check_at(
            record,
            &writer_array.items,
            &reader_array.items,
            &format!("{path}[]"),
        ),
        (Schema::Map(writer_map), Schema::Map(reader_map)) => {
            check_at(record, &writer_map.types, &reader_map.types, path)
        }
        // A nullable record (`["null", Prepaid]`) on either side: compare the record branches.
        (Schema::Union(_), _) | (_, Schema::Union(_)) => {
            match (record_branch(writer), record_branch(reader)) {
                (Some(writer_branch), Some(reader_branch)) => {
                    check_at(record, writer_branch, reader_branch, path)
                }
                _ => Ok(()),
            }
        }
        // NOTE: a `Schema::Ref` in the writer schema (a named type defined elsewhere in
        // it) is not followed here. The resolver still rejects a missing field inside
        // it, but names only the field's last segment.
        _ => Ok(()),
    }
}

/// Returns the record schema itself, or the only record branch of a union.
fn record_branch(schema: &Schema) -> Option<&Schema> {
    match schema {
        Schema::Record(_) => Some(schema),
        Schema::Union(union) => {
            let mut records = union
                .variants()
                .iter()
                .filter(|variant| matches!(variant, Schema::Record(_)));
            match (records.next(), records.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Resolves a value decoded with `writer` against burnrate's `reader` schema.
pub(crate) fn resolve(
    record: &'static str,
    writer: &Schema,
    reader: &Schema,
    value: Value,
) -> Result<Value, AvroCodecError> {
    check_required_fields(record, writer, reader)?;
    resolve_checked(record, reader, value)
}

/// Resolves a value against `reader` when [`check_required_fields`] has already
/// passed for its writer schema.
pub(crate) fn resolve_checked(
    record: &'static str,
    reader: &Schema,
    value: Value,
) -> Result<Value, AvroCodecError> {
    value
        .resolve(reader)
        .map_err(|source| AvroCodecError::Incompatible { record, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    const READER: &str = r#"{"type": "record", "name": "Outer", "fields": [
        {"name": "id", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "size", "type": "string"}]}}},
        {"name": "extra", "type": ["null", {"type": "record", "name": "Extra", "fields": [
            {"name": "level", "type": "int"}]}], "default": null}
    ]}"#;

    #[test]
    fn fields_with_defaults_may_be_missing() {
        let writer = schema(
            r#"{"type": "record", "name": "Outer", "fields": [
            {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
                {"name": "size", "type": "string"}]}}},
            {"name": "id", "type": "string"}]}"#,
        );
        check_required_fields("test", &writer, &schema(READER)).unwrap();
    }

    #[test]
    fn missing_top_level_field_is_named() {
        let writer = schema(
            r#"{"type": "record", "name": "Outer", "fields": [{"name": "note", "type": "string"}]}"#,
        );
        let error = check_required_fields("test", &writer, &schema(READER)).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::MissingField { ref field, .. } if field == "id"),
            "{error}"
        );
    }

    #[test]
    fn missing_field_in_array_item_is_named() {
        let writer = schema(
            r#"{"type": "record", "name": "Outer", "fields": [
            {"name": "id", "type": "string"},
            {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
                {"name": "weight", "type": "string"}]}}}]}"#,
        );
        let error = check_required_fields("test", &writer, &schema(READER)).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::MissingField { ref field, .. } if field == "items[].size"),
            "{error}"
        );
    }

    #[test]
    fn missing_field_in_nullable_record_is_named() {
        let writer = schema(
            r#"{"type": "record", "name": "Outer", "fields": [
            {"name": "id", "type": "string"},
            {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
                {"name": "size", "type": "string"}]}}},
            {"name": "extra", "type": ["null", {"type": "record", "name": "Extra", "fields": []}], "default": null}]}"#,
        );
        let error = check_required_fields("test", &writer, &schema(READER)).unwrap_err();
        assert!(
            matches!(error, AvroCodecError::MissingField { ref field, .. } if field == "extra.level"),
            "{error}"
        );
    }
}
