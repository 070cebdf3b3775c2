//! Machine output: every `--json` document, and every record in
//! `/run/impermctl`, is `{"api_version":"impermctl/v2","kind":"<Kind>", …}`,
//! with one vocabulary (see `schemas/README.md`): keys and enum values in
//! snake_case, `kind` only for the document kind, `type` (`directory` or
//! `file`, or a file type) for what a path is. Each `--json` kind has a
//! JSON Schema in `schemas/`.

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The API version of every JSON document impermctl prints.
pub const API_VERSION: &str = "impermctl/v2";

/// A versioned document wrapping a payload.
#[derive(Debug, Serialize)]
pub struct Document<'a, T: Serialize> {
    api_version: &'static str,
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

/// Print `body` as a versioned JSON document of `kind` to stdout.
pub fn print_json<T: Serialize>(kind: &str, body: &T) -> anyhow::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{}", to_json(kind, body)?)?;
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

/// Write `body` to `file` (a record in `/run/impermctl`) as a versioned
/// document of `kind`, atomically (temp file, fsync, rename), with `mode`.
pub fn write_file<T: Serialize>(
    file: &Path,
    kind: &str,
    body: &T,
    mode: u32,
) -> anyhow::Result<()> {
    let text = to_json(kind, body)? + "\n";
    crate::sys::fs::write_file_atomic(file, text.as_bytes(), mode)
        .with_context(|| format!("cannot write {}", file.display()))
}

/// Read a versioned document of `kind` from `file` (a record in
/// `/run/impermctl`); `Ok(None)` when there is none. A document of another
/// API version or kind, or one that does not parse, is an error naming the
/// file and `remedy`.
pub fn read_file<T: DeserializeOwned>(
    file: &Path,
    kind: &str,
    remedy: &str,
) -> anyhow::Result<Option<T>> {
    #[derive(Deserialize)]
    struct Envelope<B> {
        // v1 records (an older impermctl earlier in the same boot) still read.
        #[serde(alias = "apiVersion")]
        api_version: String,
        kind: String,
        #[serde(flatten)]
        body: B,
    }
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let shown = file.display();
    let doc: Envelope<T> = serde_json::from_slice(&text).with_context(|| {
        format!("{shown} is not a {kind} document impermctl understands; {remedy}")
    })?;
    let (version, found) = (doc.api_version.as_str(), doc.kind.as_str());
    anyhow::ensure!(
        [API_VERSION, "impermctl/v1"].contains(&version) && found == kind,
        "{shown} is a {version} {found} document, expected {API_VERSION} {kind}; {remedy}"
    );
    Ok(Some(doc.body))
}
