//! Reading contracts from JSON-lines and YAML text.
//!
//! Contracts are configuration that money depends on, so loading reports every
//! problem in the text at once, each with its line (or YAML document) and contract
//! id, and the caller decides whether to start.

use serde_json::Value;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::{Yaml, YamlLoader};

use crate::contract::{Contract, ContractSpec};

/// One problem found while loading contracts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ContractLoadError {
    /// Location of the problem: `line 3` for JSON lines, `document 1, item 2` for YAML.
    pub location: String,
    /// The problem, naming the contract and field when known.
    pub message: String,
}

/// Parses one contract from JSON, reporting every problem of it.
pub fn parse_contract_json(text: &str) -> Result<Contract, Vec<String>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let spec: ContractSpec = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(spec) => spec,
        Err(error) => return Err(vec![describe_syntax_error(text, &error)]),
    };
    Contract::from_spec(spec).map_err(|problems| problems.iter().map(ToString::to_string).collect())
}

/// Parses contracts from JSON lines: one contract object per line, blank lines and
/// lines starting with `#` ignored.
pub fn parse_contracts_jsonl(text: &str) -> Result<Vec<Contract>, Vec<ContractLoadError>> {
    let mut contracts = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_contract_json(trimmed) {
            Ok(contract) => contracts.push(contract),
            Err(messages) => errors.extend(messages.into_iter().map(|message| ContractLoadError {
                location: format!("line {}", index + 1),
                message,
            })),
        }
    }
    finish(contracts, errors)
}

/// Parses contracts from YAML: each document is one contract mapping or a sequence of them.
///
/// Numbers keep their source text, so `unit_price: 0.0000025` is as exact as the
/// quoted form.
pub fn parse_contracts_yaml(text: &str) -> Result<Vec<Contract>, Vec<ContractLoadError>> {
    reject_aliases(text)?;
    let documents = YamlLoader::load_from_str(text).map_err(|error| {
        vec![ContractLoadError {
            location: format!("line {}", error.marker().line()),
            message: format!("invalid YAML: {error}"),
        }]
    })?;

    let mut contracts = Vec::new();
    let mut errors = Vec::new();
    for (document_index, document) in documents.iter().enumerate() {
        let items: Vec<&Yaml> = match document {
            Yaml::Array(items) => items.iter().collect(),
            Yaml::Null => Vec::new(),
            other => vec![other],
        };
        for (item_index, item) in items.into_iter().enumerate() {
            let location = format!("document {}, item {}", document_index + 1, item_index + 1);
            let json = match yaml_to_json(item) {
                Ok(json) => json,
                Err(message) => {
                    errors.push(ContractLoadError { location, message });
                    continue;
                }
            };
            match parse_contract_json(&json.to_string()) {
                Ok(contract) => contracts.push(contract),
                Err(messages) => {
                    errors.extend(messages.into_iter().map(|message| ContractLoadError {
                        location: location.clone(),
                        message,
                    }))
                }
            }
        }
    }
    finish(contracts, errors)
}

/// Rejects YAML aliases before loading, because the loader expands them and a few
/// nested aliases can grow into gigabytes (the "billion laughs" document).
fn reject_aliases(text: &str) -> Result<(), Vec<ContractLoadError>> {
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return Ok(()),
            Ok((Event::Alias(_), marker)) => {
                return Err(vec![ContractLoadError {
                    location: format!("line {}", marker.line()),
                    message:
                        "YAML aliases (*name) are not supported in contracts; write the value out"
                            .to_owned(),
                }])
            }
            Ok(_) => {}
            Err(error) => {
                return Err(vec![ContractLoadError {
                    location: format!("line {}", error.marker().line()),
                    message: format!("invalid YAML: {error}"),
                }])
            }
        }
    }
}

fn finish(
    contracts: Vec<Contract>,
    mut errors: Vec<ContractLoadError>,
) -> Result<Vec<Contract>, Vec<ContractLoadError>> {
    for (index, contract) in contracts.iter().enumerate() {
        if contracts[..index]
            .iter()
            .any(|other| other.id == contract.id)
        {
            errors.push(ContractLoadError {
                location: "file".to_owned(),
                message: format!(
                    "contract {:?}: id: defined twice; contract ids must be unique",
                    contract.id
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(contracts)
    } else {
        Err(errors)
    }
}

/// Names the contract and the field of a JSON error, as far as they can be found.
fn describe_syntax_error(
    text: &str,
    error: &serde_path_to_error::Error<serde_json::Error>,
) -> String {
    let contract_id = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| value.get("id").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "<unknown>".to_owned());
    let path = error.path().to_string();
    let field = if path == "." {
        "(contract)".to_owned()
    } else {
        path
    };
    format!("contract {contract_id:?}: {field}: {}", error.inner())
}

/// Converts a YAML node to JSON, keeping numbers as their source text.
fn yaml_to_json(node: &Yaml) -> Result<Value, String> {
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(value) => Value::Bool(*value),
        Yaml::Integer(value) => Value::from(*value),
        Yaml::Real(text) => match serde_json::from_str::<serde_json::Number>(text) {
            Ok(number) => Value::Number(number),
            // Forms JSON lacks (`.5`, `.inf`) go on as text for the decimal parser to judge.
            Err(_) => Value::String(text.clone()),
        },
        Yaml::String(text) => Value::String(text.clone()),
        Yaml::Array(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(entries) => {
            let mut object = serde_json::Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(text) | Yaml::Real(text) => text.clone(),
                    Yaml::Integer(number) => number.to_string(),
                    Yaml::Boolean(flag) => flag.to_string(),
                    other => {
                        return Err(format!(
                            "unsupported YAML mapping key {other:?}; use plain text keys"
                        ))
                    }
                };
                object.insert(key, yaml_to_json(value)?);
            }
            Value::Object(object)
        }
        Yaml::Alias(_) => {
            return Err(
                "YAML aliases are not supported in contracts; write the value out".to_owned(),
            )
        }
        Yaml::BadValue => return Err("invalid YAML value".to_owned()),
    })
}
