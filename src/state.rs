//! `/run/impermctl/state.json`: what `boot` put in place (bound or linked),
//! from which config and when. The next `boot` of the same boot reads it to
//! stay idempotent and to undo entries removed from the config.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Kind;

/// The format version of `state.json`.
pub const VERSION: u32 = 1;

/// How an entry is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// Bind-mounted from its source.
    Bound,
    /// A symlink to its source.
    Linked,
}

/// One entry `boot` put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The path on the ephemeral root.
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type", alias = "kind")]
    pub kind: Kind,
    /// Its persistent source.
    pub source: PathBuf,
    /// Bound or linked.
    pub how: How,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootState {
    /// [`VERSION`].
    pub version: u32,
    /// The config file the last run used.
    pub config: PathBuf,
    /// When the last run finished (seconds since the epoch).
    pub time: u64,
    /// Runs of `boot` in this boot.
    pub runs: u64,
    /// Everything in place after the last run.
    pub entries: Vec<Recorded>,
}

/// Read the state file; `Ok(None)` when there is none (first run of the boot).
pub fn read(path: &Path) -> anyhow::Result<Option<BootState>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let s: BootState = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a state file impermctl understands; remove it to start over (it only records this boot's mounts)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        s.version == VERSION,
        "{} has version {}, expected {VERSION}; remove it to start over",
        path.display(),
        s.version
    );
    Ok(Some(s))
}

/// Write the state file atomically.
pub fn write(path: &Path, s: &BootState) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(s)?;
    text.push(b'\n');
    crate::sys::fs::write_file_atomic(path, &text, 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("run/impermctl/state.json");
        assert_eq!(read(&p).unwrap(), None);
        let s = BootState {
            version: VERSION,
            config: "/etc/impermctl/config.toml".into(),
            time: 1,
            runs: 1,
            entries: vec![Recorded {
                path: "/etc/nixos".into(),
                kind: Kind::Directory,
                source: "/persistent/etc/nixos".into(),
                how: How::Bound,
            }],
        };
        write(&p, &s).unwrap();
        assert_eq!(read(&p).unwrap(), Some(s));
        std::fs::write(&p, "{").unwrap();
        let e = format!("{:#}", read(&p).unwrap_err());
        assert!(e.contains("state.json") && e.contains("remove it"), "{e}");
    }
}
