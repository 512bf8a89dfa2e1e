//! Loading the contracts table from a file (`.jsonl`, `.json`, `.yaml` or `.yml`).

use std::path::Path;

use anyhow::{bail, Context};
use burnrate_model::{parse_contracts_jsonl, parse_contracts_yaml};
use burnrate_pricing::ContractTable;

/// Reads and validates a contracts file, failing with every problem found.
pub fn load_contract_table(path: &Path) -> anyhow::Result<ContractTable> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read contracts file {}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or_default();
    let parsed = match extension {
        "yaml" | "yml" => parse_contracts_yaml(&text),
        "jsonl" | "json" | "ndjson" => parse_contracts_jsonl(&text),
        other => bail!(
            "contracts file {} has extension {other:?}; use .jsonl (one contract per line) or .yaml",
            path.display()
        ),
    };

    let contracts = match parsed {
        Ok(contracts) => contracts,
        Err(errors) => {
            let listing: Vec<String> = errors.iter().map(|error| format!("  {error}")).collect();
            bail!(
                "invalid contracts file {} ({} problems):\n{}",
                path.display(),
                errors.len(),
                listing.join("\n")
            );
        }
    };

    ContractTable::new(contracts).map_err(|errors| {
        let listing: Vec<String> = errors.iter().map(|error| format!("  {error}")).collect();
        anyhow::anyhow!(
            "conflicting contracts in {}:\n{}",
            path.display(),
            listing.join("\n")
        )
    })
}
