//! Input files of `replay` and `import`: CloudEvents JSON lines, Avro object container
//! files of usage events, the Azure LLM inference trace, and vendor exports (OpenAI
//! usage pages, Anthropic usage and cost reports, Twilio usage records, Datadog usage
//! and cost responses, FOCUS rows, Snowflake metering history).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burnrate_codec::avro::UsageEventFileReader;
use burnrate_codec::decode_cloudevent;
use burnrate_model::UsageEvent;
use clap::ValueEnum;

use crate::input::RawLines;

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// CloudEvents 1.0 structured JSON, one event per line (`.jsonl`).
    Cloudevents,
    /// Avro object container file of usage events (`.avro`).
    Avro,
    /// Azure LLM inference trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`).
    AzureLlmTrace,
    /// OpenAI Usage API pages (JSON), one event per bucket, meter and grouping.
    OpenaiUsage,
    /// Anthropic Admin API usage or cost report pages (JSON), one event per bucket,
    /// meter and grouping, or per cost item.
    AnthropicUsage,
    /// Twilio usage-records pages (JSON), one event per record.
    TwilioUsage,
    /// Datadog hourly usage or cost responses (JSON), or recorded cassettes of them.
    DatadogUsage,
    /// FOCUS cost and usage rows (CSV), one event per row with its billed cost.
    Focus,
    /// Snowflake METERING_DAILY_HISTORY or METERING_HISTORY rows (CSV), one event of
    /// credits per row.
    SnowflakeMetering,
}

impl InputFormat {
    /// Picks the format from a file's extension, unless one was given.
    pub fn for_path(path: &Path, given: Option<InputFormat>) -> anyhow::Result<InputFormat> {
        if let Some(format) = given {
            return Ok(format);
        }
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("jsonl" | "json" | "ndjson") => Ok(InputFormat::Cloudevents),
            Some("avro") => Ok(InputFormat::Avro),
            _ if path == Path::new("-") => Ok(InputFormat::Cloudevents),
            _ => bail!(
                "cannot tell the format of {} from its extension; pass --format cloudevents, avro, azure-llm-trace, openai-usage, anthropic-usage, twilio-usage, datadog-usage, focus or snowflake-metering",
                path.display()
            ),
        }
    }
}

/// One input record: a decoded event, or the reason it could not be decoded.
pub struct InputRecord {
    /// The file it came from.
    pub file: PathBuf,
    /// Line (JSON lines, CSV) or record (Avro) number, 1-based. For a vendor JSON
    /// payload, an invalid record gives the number of the payload record and a valid
    /// event its number among the events of the file.
    pub position: u64,
    /// The original text, when the format is line-based.
    pub raw: Option<String>,
    /// The event, or why the record is invalid.
    pub event: Result<UsageEvent, String>,
    /// Bytes of the file consumed so far, for progress reporting.
    pub bytes_read: u64,
}

/// Calls `handle` for each record of `path` in order.
pub fn for_each_record(
    path: &Path,
    format: InputFormat,
    mut handle: impl FnMut(InputRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let open =
        || File::open(path).with_context(|| format!("cannot open events file {}", path.display()));
    match format {
        InputFormat::Cloudevents => {
            let reader: Box<dyn BufRead> = if path == Path::new("-") {
                Box::new(BufReader::new(std::io::stdin().lock()))
            } else {
                Box::new(BufReader::with_capacity(1 << 16, open()?))
            };
            let mut bytes_read = 0u64;
            let mut lines = RawLines::new(reader);
            while let Some((line_number, line)) = lines
                .next_line()
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                bytes_read += line.len() as u64 + 1;
                if line.trim().is_empty() {
                    continue;
                }
                let event = decode_cloudevent(line.as_bytes()).map_err(|error| error.to_string());
                handle(InputRecord {
                    file: path.to_owned(),
                    position: line_number,
                    raw: Some(line),
                    event,
                    bytes_read,
                })?;
            }
        }
        InputFormat::Avro => {
            let reader = UsageEventFileReader::new(BufReader::new(open()?))
                .with_context(|| format!("cannot read Avro container file {}", path.display()))?;
            for (index, event) in reader.enumerate() {
                handle(InputRecord {
                    file: path.to_owned(),
                    position: index as u64 + 1,
                    raw: None,
                    event: event.map_err(|error| error.to_string()),
                    bytes_read: 0,
                })?;
            }
        }
        InputFormat::OpenaiUsage => {
            let records = burnrate_feeds::openai_usage::read_events(BufReader::new(open()?));
            handle_payload(path, records, &mut handle)?;
        }
        InputFormat::AnthropicUsage => {
            let records = burnrate_feeds::anthropic_usage::read_events(BufReader::new(open()?));
            handle_payload(path, records, &mut handle)?;
        }
        InputFormat::TwilioUsage => {
            let records = burnrate_feeds::twilio_usage::read_events(BufReader::new(open()?));
            handle_payload(path, records, &mut handle)?;
        }
        InputFormat::DatadogUsage => {
            let records = burnrate_feeds::datadog_usage::read_events(BufReader::new(open()?));
            handle_payload(path, records, &mut handle)?;
        }
        InputFormat::Focus => {
            let rows = burnrate_feeds::focus::read_events(BufReader::new(open()?))
                .map_err(|error| anyhow::anyhow!("{}: {}", path.display(), error.problem))?;
            // Each CSV record is one row, and the header is row 1.
            for (index, row) in rows.enumerate() {
                let position = index as u64 + 2;
                let event = row.map_err(|error| error.problem);
                handle(InputRecord {
                    file: path.to_owned(),
                    position,
                    raw: None,
                    event,
                    bytes_read: 0,
                })?;
            }
        }
        InputFormat::SnowflakeMetering => {
            let rows = burnrate_feeds::snowflake_metering::read_events(BufReader::new(open()?))
                .map_err(|error| anyhow::anyhow!("{}: {}", path.display(), error.problem))?;
            for (row, record) in rows {
                handle(InputRecord {
                    file: path.to_owned(),
                    position: row,
                    raw: None,
                    event: record.map_err(|error| error.problem),
                    bytes_read: 0,
                })?;
            }
        }
        InputFormat::AzureLlmTrace => {
            let trace_name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("trace")
                .to_owned();
            for row in
                burnrate_feeds::azure_llm_trace::read_events(BufReader::new(open()?), &trace_name)
            {
                match row {
                    Ok(request) => {
                        for event in request.events {
                            handle(InputRecord {
                                file: path.to_owned(),
                                position: request.row,
                                raw: None,
                                event: Ok(event),
                                bytes_read: 0,
                            })?;
                        }
                    }
                    Err(error) => handle(InputRecord {
                        file: path.to_owned(),
                        position: error.row,
                        raw: None,
                        event: Err(error.problem),
                        bytes_read: 0,
                    })?,
                }
            }
        }
    }
    Ok(())
}

/// Passes the records of a whole vendor JSON payload to `handle`, or fails when the
/// file is not such a payload.
fn handle_payload(
    path: &Path,
    records: Result<Vec<burnrate_feeds::FeedRecord>, burnrate_feeds::FeedError>,
    handle: &mut impl FnMut(InputRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let records =
        records.map_err(|error| anyhow::anyhow!("{}: {}", path.display(), error.problem))?;
    let mut event_number = 0u64;
    for record in records {
        let (position, event) = match record {
            Ok(event) => {
                event_number += 1;
                (event_number, Ok(event))
            }
            Err(error) => (error.row, Err(error.problem)),
        };
        handle(InputRecord {
            file: path.to_owned(),
            position,
            raw: None,
            event,
            bytes_read: 0,
        })?;
    }
    Ok(())
}
