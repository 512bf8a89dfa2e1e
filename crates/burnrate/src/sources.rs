//! Input files of `replay`: CloudEvents JSON lines, Avro object container files of
//! usage events, and the Azure LLM inference trace.

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
                "cannot tell the format of {} from its extension; pass --format cloudevents, avro or azure-llm-trace",
                path.display()
            ),
        }
    }
}

/// One input record: a decoded event, or the reason it could not be decoded.
pub struct InputRecord {
    /// The file it came from.
    pub file: PathBuf,
    /// Line (JSON, CSV) or record (Avro) number, 1-based.
    pub position: u64,
    /// The original text, when the format is line-based.
    pub raw: Option<String>,
    /// The event, or why the record is invalid.
    pub event: Result<UsageEvent, String>,
    /// Bytes of the file consumed so far, for progress reporting.
    pub bytes_read: u64,
}

/// Calls `handle` for each record of `path` in order.
pub fn for_each_record(path: &Path, format: InputFormat, mut handle: impl FnMut(InputRecord) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let open = || File::open(path).with_context(|| format!("cannot open events file {}", path.display()));
    match format {
        InputFormat::Cloudevents => {
            let reader: Box<dyn BufRead> = if path == Path::new("-") {
                Box::new(BufReader::new(std::io::stdin().lock()))
            } else {
                Box::new(BufReader::with_capacity(1 << 16, open()?))
            };
            let mut bytes_read = 0u64;
            let mut lines = RawLines::new(reader);
            while let Some((line_number, line)) = lines.next_line().with_context(|| format!("cannot read {}", path.display()))? {
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
        InputFormat::AzureLlmTrace => {
            let trace_name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("trace").to_owned();
            for row in burnrate_feeds::azure_llm_trace::read_events(BufReader::new(open()?), &trace_name) {
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
