//! Machine output: every `--json` document is
//! `{"api_version":"impermctl/v2","kind":"<Kind>", …}`, with one vocabulary
//! (see `schemas/README.md`): keys and enum values in snake_case, `kind`
//! only for the document kind, `type` (`directory` or `file`, or a file type)
//! for what a path is. Each kind has a JSON Schema in `schemas/`.

use serde::Serialize;

/// The API version of every JSON document impermctl prints.
pub const API_VERSION: &str = "impermctl/v2";

/// A versioned document wrapping a payload.
#[derive(Debug, Serialize)]
pub struct Document<'a, T: Serialize> {
    #[serde(rename = "api_version")]
    api_version: &'static str,
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Print `body` as a versioned JSON document of `kind` to stdout.
pub fn print_json<T: Serialize>(kind: &str, body: &T) -> anyhow::Result<()> {
    let doc = Document {
        api_version: API_VERSION,
        kind,
        body,
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc)?;
    use std::io::Write;
    writeln!(out)?;
    Ok(())
}

/// Render `body` as a versioned JSON document string.
pub fn to_json<T: Serialize>(kind: &str, body: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Document {
        api_version: API_VERSION,
        kind,
        body,
    })
}
