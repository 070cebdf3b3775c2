//! [`ConfigError`]: an error located in the config file (line, column,
//! field) with its fix, and the file's other errors with it.

use std::path::Path;

use super::locate;
use crate::names::printable;

/// A config error, located in the file. `also` holds the file's other
/// errors, in file order, so that one run reports them all. Shown as two
/// lines each, control characters escaped (`names::printable`): a value
/// quoted from the file cannot forge a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{file}{loc}: {field}: {message}\n  fix: {fix}{more}", file = printable(&file.display().to_string()), loc = location(*line, *column), field = printable(field), message = printable(message), fix = printable(fix), more = more(also))]
pub struct ConfigError {
    /// The config file (boxed: with `also`, the error stays small enough
    /// to return by value).
    pub file: Box<Path>,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The dotted field name, e.g. `persistence[0].directories[2].path`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// The other errors of the same file, after this one.
    #[serde(skip)]
    pub also: Box<[ConfigError]>,
}

impl ConfigError {
    /// One error for several, in file order (`None` for none).
    pub fn combine(mut all: Vec<ConfigError>) -> Option<ConfigError> {
        all.sort_by_key(|e| (e.line == 0, e.line, e.column));
        let mut it = all.into_iter();
        let mut first = it.next()?;
        first.also = it.collect();
        Some(first)
    }
}

fn more(also: &[ConfigError]) -> String {
    also.iter().map(|e| format!("\n{e}")).collect()
}

fn location(line: usize, column: usize) -> String {
    match line {
        0 => String::new(),
        _ => format!(":{line}:{column}"),
    }
}

/// The config text, or an error at the line and column of the first byte
/// that is not UTF-8 (TOML files are UTF-8).
pub fn utf8(bytes: Vec<u8>, file: &Path) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let (at, b) = (e.utf8_error().valid_up_to(), e.as_bytes());
        let text = &String::from_utf8_lossy(&b[..at]);
        locate::Locator { text, file }.error(
            Some(at..at),
            "(file)",
            format!("byte {:#04x} is not UTF-8; TOML files must be UTF-8 text", b[at]),
            format!(
                "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 {0} > {0}.new`, check it, then move it over)",
                file.display()
            ),
        )
    })
}
