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
}
