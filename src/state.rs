//! `/run/impermctl/state.json`: what `boot` put in place (bound or linked),
//! from which config and when. The next `boot` of the same boot reads it to
//! stay idempotent and to tell what it leaves in place for entries removed
//! from the config (never undone on a running system: trial-s10 F10).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Kind;

/// The document's `kind`.
pub const KIND: &str = "BootState";

/// How an entry is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// Bind-mounted from its source.
    Bound,
    /// A symlink to its source.
    Linked,
    /// `method = "copy"`: a plain file on the ephemeral root, copied in at
    /// boot and saved back by `impermctl sync`.
    Copied,
    /// Seeded while processes were writing there: not bound yet; the
    /// shutdown sync saves it after they stopped, the next boot binds it.
    Pending,
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
    /// When `boot` began seeding the source from the root's original
    /// (nanoseconds since the epoch on `CLOCK_REALTIME_COARSE`, the clock
    /// file ctimes come from): a hidden original with an older ctime is
    /// the seed source, unchanged since (`diff --shadowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_ns: Option<u64>,
}

/// Now on `CLOCK_REALTIME_COARSE` (the clock the kernel stamps ctimes
/// with), nanoseconds since the epoch: a file changed later has a ctime
/// no older than this.
pub fn now_coarse_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// [`now_coarse_ns`] as a time.
pub fn now_coarse() -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(now_coarse_ns())
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootState {
    /// The config file the last run used.
    pub config: PathBuf,
    /// When the last run finished (seconds since the epoch).
    pub time: u64,
    /// Runs of `boot` in this boot.
    pub runs: u64,
    /// Everything in place after the last run.
    pub entries: Vec<Recorded>,
    /// Entries seeded but left unbound because processes were writing
    /// there (their `how` in `entries` is `pending`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
    /// Entries the last run failed, and why: `status` and `diff` name the
    /// cause rather than advise a rerun that fails the same way (trial-s10
    /// F7: no room in `/persistent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Failed>,
}

/// An entry the last `boot` failed (nothing after the failing operation
/// ran).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    /// The live path.
    pub path: PathBuf,
    /// The error, with its fix.
    pub error: String,
}

/// The entries the last `boot` of this boot failed, by path, with why
/// (from `root`'s `state.json`; none when it cannot be read).
pub fn failed(root: &crate::root::Root) -> std::collections::BTreeMap<PathBuf, String> {
    let s = read(&root.state_file()).ok().flatten();
    let failed = s.map(|s| s.failed).unwrap_or_default();
    failed.into_iter().map(|f| (f.path, f.error)).collect()
}

/// A process found writing below an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterInfo {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// Its systemd unit, when it runs in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The file it holds open for writing (logical path); with
    /// `listening`, the unix socket it serves.
    pub file: PathBuf,
    /// It does not write there but serves the unix socket `file`
    /// (`sys::proc::Hold::Listening`): a bind would hide the socket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listening: bool,
}

impl std::fmt::Display for WriterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            0 => write!(f, "a process not visible here")?,
            pid => write!(f, "{}[{pid}]", self.comm)?,
        }
        if let Some(u) = &self.unit {
            write!(f, " in {u}")?;
        }
        let doing = if self.listening {
            "listening on"
        } else {
            "writing"
        };
        write!(f, " {doing} {}", self.file.display())
    }
}

/// One pending entry (in `state.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The live path (logical).
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Its persistent source (logical), seeded when it became pending.
    pub source: PathBuf,
    /// The writers seen then.
    pub writers: Vec<WriterInfo>,
    /// When it became pending (seconds since the epoch).
    pub since: u64,
    /// When the shutdown sync last saved the live data over the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<u64>,
}

/// Now, in whole seconds since the epoch (the times `state.json` records).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Read the state file; `Ok(None)` when there is none (first run of the boot).
pub fn read(path: &Path) -> anyhow::Result<Option<BootState>> {
    crate::output::read_file(
        path,
        KIND,
        "remove it to start over (it only records this boot's mounts)",
    )
}

/// The document kind of `seeding.json` (see [`seeding`]).
const SEEDING: &str = "Seeding";

/// `/run/impermctl/seeding.json`.
fn seeding_file(root: &crate::root::Root) -> PathBuf {
    root.run_dir().join("seeding.json")
}

/// The entries a `boot` began to seed and that no `state.json` recorded
/// since (`/run/impermctl/seeding.json`): each is added before its copy
/// starts ([`add_seeding`]), the file goes once `state.json` holds how
/// they ended ([`clear_seeding`]). A run killed in between leaves it, and
/// the next run counts those entries as left pending ([`How::Pending`]):
/// their sources hold a seed of the live data, which stays the truth
/// (saved over the seed once nobody writes there), not older persistent
/// data to bind over it. Unreadable: none (logged).
pub fn seeding(root: &crate::root::Root) -> Vec<Recorded> {
    let file = seeding_file(root);
    crate::output::read_file(&file, SEEDING, "remove it")
        .unwrap_or_else(|e| {
            tracing::warn!("{e:#}");
            None
        })
        .map(|s: Seeding| s.entries)
        .unwrap_or_default()
}

/// The body of `seeding.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Seeding {
    entries: Vec<Recorded>,
}

fn write_seeding(root: &crate::root::Root, entries: Vec<Recorded>) -> anyhow::Result<()> {
    let doc = Seeding { entries };
    crate::output::write_file(&seeding_file(root), SEEDING, &doc, 0o644)
}

/// Add `e` to the entries being seeded (see [`seeding`]), durably, before
/// its copy starts.
pub fn add_seeding(root: &crate::root::Root, e: &crate::config::Entry) -> anyhow::Result<()> {
    let mut all = seeding(root);
    // Seeded again after a kill: once.
    all.retain(|r| r.path != e.path);
    all.push(Recorded {
        path: e.path.clone(),
        kind: e.kind,
        source: e.source.clone(),
        how: How::Pending,
        seeded_ns: None,
    });
    write_seeding(root, all)
}

/// Forget the entries being seeded that `state.json` now records
/// (`recorded`); the others (their step failed) stay known as seeded.
pub fn clear_seeding(root: &crate::root::Root, recorded: &[Recorded]) {
    let file = seeding_file(root);
    let mut left = seeding(root);
    left.retain(|s| !recorded.iter().any(|r| r.path == s.path));
    let r = if left.is_empty() {
        std::fs::remove_file(&file).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e).with_context(|| format!("cannot remove {}", file.display())),
        })
    } else {
        write_seeding(root, left)
    };
    if let Err(e) = r {
        tracing::warn!("{e:#}");
    }
}

/// Write the state file atomically.
pub fn write(path: &Path, s: &BootState) -> anyhow::Result<()> {
    crate::output::write_file(path, KIND, s, 0o644)
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
            config: "/etc/impermctl/config.toml".into(),
            time: 1,
            runs: 1,
            entries: vec![Recorded {
                path: "/etc/nixos".into(),
                kind: Kind::Directory,
                source: "/persistent/etc/nixos".into(),
                how: How::Bound,
                seeded_ns: None,
            }],
            pending: Vec::new(),
            failed: vec![Failed {
                path: "/var/lib/big".into(),
                error: "not enough free space".into(),
            }],
        };
        write(&p, &s).unwrap();
        assert_eq!(read(&p).unwrap(), Some(s.clone()));
        // Written by an earlier version (mount IDs, since dropped): read the same.
        let old = std::fs::read_to_string(&p).unwrap();
        let old = old.replacen("\"how\"", "\"mount_id\": 42, \"how\"", 1);
        assert!(old.contains("mount_id"), "{old}");
        std::fs::write(&p, old).unwrap();
        assert_eq!(read(&p).unwrap(), Some(s));
        std::fs::write(&p, "{").unwrap();
        let e = format!("{:#}", read(&p).unwrap_err());
        assert!(e.contains("state.json") && e.contains("remove it"), "{e}");
    }
}
