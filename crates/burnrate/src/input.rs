//! Reading usage events from JSON-lines files or standard input, line by line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One input line with where it came from.
pub struct InputLine {
    /// The file, or `-` for standard input.
    pub file: PathBuf,
    /// 1-based line number.
    pub line_number: u64,
    /// The line without its terminator.
    pub text: String,
}

/// Calls `handle` for every non-blank line of every file in order; `-` reads standard input.
///
/// Bytes that are not UTF-8 are replaced by U+FFFD, so such a line fails to decode
/// as an event and is reported instead of stopping the run.
pub fn for_each_line(
    paths: &[PathBuf],
    mut handle: impl FnMut(InputLine) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for path in paths {
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(io::stdin().lock()))
        } else {
            let file = File::open(path)
                .with_context(|| format!("cannot open events file {}", path.display()))?;
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        let mut lines = RawLines::new(reader);
        while let Some((line_number, text)) = lines
            .next_line()
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            if text.trim().is_empty() {
                continue;
            }
            handle(InputLine {
                file: path.clone(),
                line_number,
                text,
            })?;
        }
    }
    Ok(())
}

/// Lines of a byte stream without their terminator (`\n` or `\r\n`) and without
/// a UTF-8 byte order mark at the start.
pub struct RawLines<R: BufRead> {
    reader: R,
    buffer: Vec<u8>,
    line_number: u64,
}

impl<R: BufRead> RawLines<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        RawLines {
            reader,
            buffer: Vec::new(),
            line_number: 0,
        }
    }

    /// Returns the next line with its 1-based number, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, String)>> {
        self.buffer.clear();
        if self.reader.read_until(b'\n', &mut self.buffer)? == 0 {
            return Ok(None);
        }
        self.line_number += 1;

        let mut bytes = self.buffer.as_slice();
        if self.line_number == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        Ok(Some((
            self.line_number,
            String::from_utf8_lossy(bytes).into_owned(),
        )))
    }
}
