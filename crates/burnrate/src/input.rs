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
pub fn for_each_line(paths: &[PathBuf], mut handle: impl FnMut(InputLine) -> anyhow::Result<()>) -> anyhow::Result<()> {
    for path in paths {
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(io::stdin().lock()))
        } else {
            let file = File::open(path).with_context(|| format!("cannot open events file {}", path.display()))?;
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        for (index, line) in reader.lines().enumerate() {
            let text = line.with_context(|| format!("cannot read {} at line {}", path.display(), index + 1))?;
            if text.trim().is_empty() {
                continue;
            }
            handle(InputLine {
                file: path.clone(),
                line_number: index as u64 + 1,
                text,
            })?;
        }
    }
    Ok(())
}
