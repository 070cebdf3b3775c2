//! `impermctl persist`: move live data into persistence now. Each path is
//! observed and decided first (copy, bind a finished copy, already done, or
//! a refusal with its reason); nothing changes unless every path can go.
//! Then: atomic copy, bind mount over the live path, record. Killed at any
//! point, the live data is intact and a rerun completes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Kind;

mod carry;
mod decide;
mod prepare;
mod record;
#[cfg(test)]
mod tests;

pub use carry::carry_out;
pub use prepare::prepare;
pub use record::Record;

/// `/run/impermctl/persisted.json` on the host: the paths `persist` bound
/// during this boot (for `boot` to fold into `state.json`).
pub fn records_file(root: &crate::root::Root) -> PathBuf {
    root.run_dir().join("persisted.json")
}

/// The paths `persist` bound during this boot (none when the file is absent).
pub fn records(root: &crate::root::Root) -> anyhow::Result<Vec<Record>> {
    record::read(&records_file(root))
}
/// The files `persist` copied without binding during this boot that `recorded`
/// (`boot`'s own records) lacks, as records of copies: `boot` then leaves
/// the live file alone as after its own copy-in (the live version is the
/// newer one; the shutdown sync saves it) instead of replacing it by the
/// persistent copy.
pub fn copied(
    root: &crate::root::Root,
    recorded: &[crate::state::Recorded],
) -> Vec<crate::state::Recorded> {
    let known = |r: &Record| recorded.iter().any(|p| p.path == r.path);
    let records = records(root).unwrap_or_default();
    (records.into_iter())
        .filter(|r| r.copy && !known(r))
        .map(|r| crate::state::Recorded {
            path: r.path,
            kind: r.kind,
            source: r.source,
            how: crate::state::How::Copied,
            seeded_ns: None,
        })
        .collect()
}

pub use crate::sys::proc::{OpenWriter, writers_under};

/// What `persist` does (or did) for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Copy the live data to the persistence root, then bind it.
    Copy,
    /// A complete copy exists and matches the live data: bind it.
    Bind,
    /// The persistent copy is already bound over the live path.
    Done,
}

/// How the persisted path is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The copy is bind-mounted over the live path.
    Bind,
    /// A file programs replace by rename (`classify::replaced`, or seen
    /// replaced as `diff` sees it: `persist::prepare::replaced_file`), declared
    /// `method = "copy"` or given `--method copy`: copied, never bound (a rename over a bind fails
    /// with EBUSY); the shutdown sync saves it once declared.
    Copy,
}

/// The plan for one path.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The live path (logical).
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The persistence root (logical).
    pub root: PathBuf,
    /// Where the data goes (logical): `root` + `path`.
    pub source: PathBuf,
    /// What to do.
    pub action: Action,
    /// Bound, or only copied.
    pub method: Method,
    /// A temporary copy from an interrupted run exists (removed first).
    pub stale_tmp: bool,
    /// Entries and bytes of the live data.
    pub entries: u64,
    /// Bytes of regular files in the live data.
    pub bytes: u64,
    /// Already declared in the config.
    pub declared: bool,
    /// Writers found and overridden with `--force`.
    pub writers: Vec<OpenWriter>,
    /// Files hard-linked from outside the path: two separate files once
    /// it is bound ([`crate::copy::separated`]), said with the step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub separated: Vec<crate::copy::Separated>,
    /// The copy's place holds the sources of entries declared inside
    /// (bound from there): the live data is merged in around them.
    #[serde(skip)]
    merge: bool,
    #[serde(skip)]
    host: PathBuf,
    #[serde(skip)]
    source_host: PathBuf,
}

/// Why a path is not persisted.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The path as given.
    pub path: PathBuf,
    /// What is wrong and how to fix it.
    pub reason: String,
    /// Processes writing there, when that is the reason.
    pub writers: Vec<OpenWriter>,
}

/// Choices from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Persistence root to use instead of the config's first.
    pub to: Option<&'a Path>,
    /// Proceed despite writers.
    pub force: bool,
    /// Where `/proc` is (for the writers scan).
    pub proc: &'a Path,
    /// `--method`: bind or copy a file, instead of deciding as `diff` does.
    pub method: Option<Method>,
}
