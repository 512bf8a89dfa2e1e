//! The Azure LLM inference trace (`TIMESTAMP,ContextTokens,GeneratedTokens`, one row
//! per request, published by Microsoft as AzurePublicDataset) as token usage events.
//!
//! Each request becomes two events: its context tokens as `input_tokens` and its
//! generated tokens as `output_tokens`. The trace has no tenants, so requests are
//! spread over a fixed list of accounts, teams and users by row number. The same
//! file always gives the same events and ids.

use std::io::Read;

use burnrate_model::{EventKind, UsageEvent};
use chrono::{NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::FeedError;

/// Accounts that requests are spread over, in turn.
pub const ACCOUNTS: [&str; 3] = ["acme", "globex", "initech"];

/// Teams that requests are spread over.
pub const TEAMS: [&str; 4] = ["search", "support", "research", "platform"];

/// The vendor the trace's requests are billed by.
pub const VENDOR: &str = "azure-openai";

/// The product (model) every request is billed under.
pub const PRODUCT: &str = "gpt-4";

/// Returns the account that request `request_index` (0-based) is billed to.
pub fn account_of(request_index: u64) -> &'static str {
    ACCOUNTS[(request_index % ACCOUNTS.len() as u64) as usize]
}

/// One request of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    /// 1-based row number in the file, header included.
    pub row: u64,
    /// The input-token event and the output-token event.
    pub events: [UsageEvent; 2],
}

/// Reads the trace and returns, per request row, its two usage events or the row's problem.
///
/// `trace_name` (such as `code` or `conv`) prefixes event ids, so that two traces
/// replayed together do not look like duplicates of each other.
pub fn read_events<'a>(
    input: impl Read + 'a,
    trace_name: &'a str,
) -> impl Iterator<Item = Result<TraceRequest, FeedError>> + 'a {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header_problem = match reader.headers() {
        Ok(headers)
            if headers.iter().map(str::trim).eq([
                "TIMESTAMP",
                "ContextTokens",
                "GeneratedTokens",
            ]) =>
        {
            None
        }
        Ok(headers) => Some(format!(
            "expected the header TIMESTAMP,ContextTokens,GeneratedTokens, found {:?}",
            headers.iter().collect::<Vec<_>>().join(",")
        )),
        Err(error) => Some(format!("cannot read the header: {error}")),
    };

    let header_error = header_problem.map(|problem| Err(FeedError { row: 1, problem }));
    let rows = reader
        .into_records()
        .enumerate()
        .map(move |(index, record)| {
            let row = index as u64 + 2;
            let record = record.map_err(|error| FeedError {
                row,
                problem: format!("invalid CSV: {error}"),
            })?;
            let events = request_events(&record, index as u64, row, trace_name)?;
            Ok(TraceRequest { row, events })
        });
    header_error.into_iter().chain(rows)
}

fn request_events(
    record: &csv::StringRecord,
    request_index: u64,
    row: u64,
    trace_name: &str,
) -> Result<[UsageEvent; 2], FeedError> {
    let field = |position: usize, name: &str| -> Result<&str, FeedError> {
        record
            .get(position)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| FeedError {
                row,
                problem: format!("missing {name}"),
            })
    };

    let timestamp = field(0, "TIMESTAMP")?;
    let time = NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%S%.f")
        .map(|naive| Utc.from_utc_datetime(&naive))
        .map_err(|error| FeedError {
            row,
            problem: format!("invalid TIMESTAMP {timestamp:?}: {error}; expected 2023-11-16 18:17:03.9799600 (UTC)"),
        })?;
    let tokens = |position: usize, name: &str| -> Result<Decimal, FeedError> {
        let text = field(position, name)?;
        text.parse::<u64>()
            .map(Decimal::from)
            .map_err(|_| FeedError {
                row,
                problem: format!("invalid {name} {text:?}: expected a whole number of tokens"),
            })
    };
    let context_tokens = tokens(1, "ContextTokens")?;
    let generated_tokens = tokens(2, "GeneratedTokens")?;

    let account = account_of(request_index);
    let team = TEAMS[((request_index / ACCOUNTS.len() as u64) % TEAMS.len() as u64) as usize];
    let user = format!("u-{}", request_index % 17);
    let make = |suffix: &str, meter: &str, quantity: Decimal| UsageEvent {
        id: format!("{trace_name}-{request_index}-{suffix}"),
        source: VENDOR.to_owned(),
        kind: EventKind::Usage,
        time,
        account: account.to_owned(),
        meter: meter.to_owned(),
        quantity,
        product: Some(PRODUCT.to_owned()),
        dimensions: [("team", team), ("user", user.as_str())]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        cost: None,
    };
    Ok([
        make("in", "input_tokens", context_tokens),
        make("out", "output_tokens", generated_tokens),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n";

    #[test]
    fn each_request_becomes_two_events() {
        let rows: Vec<_> = read_events(SAMPLE.as_bytes(), "code")
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        let [input, output] = &rows[0].events;
        assert_eq!(input.id, "code-0-in");
        assert_eq!(input.meter, "input_tokens");
        assert_eq!(input.quantity, Decimal::from(4808));
        assert_eq!(output.meter, "output_tokens");
        assert_eq!(output.quantity, Decimal::from(10));
        assert_eq!(input.account, "acme");
        assert_eq!(rows[1].events[0].account, "globex");
        assert_eq!(input.time.to_rfc3339(), "2023-11-16T18:17:03.979960+00:00");
    }

    #[test]
    fn bad_rows_are_reported_and_skipped() {
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,abc,10\n2023-11-16 18:17:04.0319600,3180,8\n";
        let rows: Vec<_> = read_events(text.as_bytes(), "code").collect();
        assert_eq!(rows.len(), 2);
        let error = rows[0].as_ref().unwrap_err();
        assert_eq!(error.row, 2);
        assert!(error.problem.contains("ContextTokens \"abc\""), "{error}");
        assert!(rows[1].is_ok());
    }

    #[test]
    fn wrong_header_is_rejected() {
        let rows: Vec<_> = read_events("time,tokens\n1,2\n".as_bytes(), "code").collect();
        assert!(rows[0]
            .as_ref()
            .unwrap_err()
            .problem
            .contains("expected the header"));
    }
}
