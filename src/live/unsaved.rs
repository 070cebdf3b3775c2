//! The durable mark of a seed whose live data is not saved yet (trial-s10
//! F14): `.<name>.impermctl-pending` beside an entry's persistent source,
//! written (fsynced) before `boot` starts seeding it, removed once the seed
//! is bound or the live data saved over it with nobody writing any more.
//! A pending entry keeps it until the shutdown `impermctl sync` saves it;
//! when that sync never ran (hard reset, power loss, a crash), the next
//! boot finds the mark and says loudly that the seed it binds is old, and
//! `status` and `diff` say so for as long as the mark is there.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Entry;
use crate::root::Root;

/// The document kind of a mark.
const KIND: &str = "UnsavedSeed";

/// What a mark records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The live path (logical).
    pub path: PathBuf,
    /// When seeding began (seconds since the epoch): the seed holds the
    /// live data of about then.
    pub since: u64,
    /// When `impermctl sync` last saved the live data over the seed while
    /// processes still wrote there (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<u64>,
}

/// The mark's name beside a source named `name`.
pub fn name(source_name: &std::ffi::OsStr) -> std::ffi::OsString {
    crate::sys::fs::sibling_name(source_name, ".impermctl-pending")
}

/// The mark of `e` (logical path).
pub fn path_of(e: &Entry) -> PathBuf {
    beside(&e.source)
}

/// The mark beside the source `source`.
pub fn beside(source: &Path) -> PathBuf {
    let n = source.file_name().map(name).unwrap_or_default();
    source.with_file_name(n)
}

/// Write the mark of `e` in `dir` (the held directory of its source),
/// durably (fsynced, and its directory).
pub fn mark_at(dir: BorrowedFd<'_>, e: &Entry, m: &Mark) -> anyhow::Result<()> {
    let shown = path_of(e);
    let n = shown.file_name().unwrap_or_default();
    let text = crate::output::to_json(KIND, m)? + "\n";
    let owner = crate::sys::fs::Owner::root(0o644);
    crate::sys::fs::write_atomic_at(dir, n, text.as_bytes(), owner)
        .with_context(|| format!("cannot write {}", shown.display()))
}

/// The mark of `e`, if there is one (unreadable: none, logged).
pub fn read(root: &Root, e: &Entry) -> Option<Mark> {
    let file = root.host(&path_of(e));
    // A planted symlink is not ours: never followed.
    let meta = std::fs::symlink_metadata(&file).ok()?;
    if !meta.is_file() {
        return None;
    }
    crate::output::read_file(&file, KIND, "remove it")
        .unwrap_or_else(|e| {
            tracing::warn!("{e:#}");
            None
        })
        .map(|m: Mark| Mark {
            path: e.path.clone(),
            ..m
        })
}

/// Remove the mark of `e` (none there: fine), durably.
pub fn unmark(root: &Root, e: &Entry) -> anyhow::Result<()> {
    let file = root.host(&path_of(e));
    let (parent, n) = crate::sys::fs::split(&file)?;
    let Ok(dir) = crate::sys::fs::open_dir(parent) else {
        return Ok(());
    };
    // A temporary of a mark write a kill interrupted (`.<mark>.impermctl-tmp-PID`).
    let tmp = crate::sys::fs::sibling_name(n, ".impermctl-tmp");
    let names = crate::sys::dir::names(dir.as_fd()).unwrap_or_default();
    for t in names
        .iter()
        .filter(|t| t.as_bytes().starts_with(tmp.as_bytes()))
    {
        let _ = crate::sys::fs::unlink_at(dir.as_fd(), t, false);
    }
    match crate::sys::fs::unlink_at(dir.as_fd(), n, false) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r
            .and_then(|()| Ok(crate::sys::fs::fsync(dir.as_fd())?))
            .with_context(|| format!("cannot remove {}", path_of(e).display())),
    }
}

/// [`unmark`], logging a failure (the next boot then warns needlessly).
pub fn unmark_logged(root: &Root, e: &Entry) {
    if let Err(err) = unmark(root, e) {
        tracing::warn!(path = %e.path.display(), "{err:#}");
    }
}

/// Record in the mark of `e` that `impermctl sync` saved it at `t` while
/// processes still wrote there (logged on failure).
pub fn saved_while_written(root: &Root, e: &Entry, t: u64) {
    let Some(m) = read(root, e) else { return };
    let r = (|| {
        let (parent, _) = crate::sys::fs::split(&e.source)?;
        let dir = crate::sys::fs::open_dir(&root.host(parent))?;
        let m = Mark {
            saved: Some(t),
            ..m
        };
        mark_at(dir.as_fd(), e, &m)
    })();
    if let Err(err) = r {
        tracing::warn!(path = %e.path.display(), "{err:#}");
    }
}

fn when(t: u64) -> String {
    crate::human::local_time(i64::try_from(t).unwrap_or(i64::MAX))
}

/// The WARNING for a mark found where no run of this boot seeded `e`:
/// an earlier boot left the entry pending and never saved it. Names the
/// path, since when, that the seed of then is bound, and what to do.
pub fn warning(e: &Entry, m: &Mark) -> String {
    let (p, s) = (e.path.display(), e.source.display());
    let since = when(m.since);
    let last = m.saved.map_or(String::new(), |t| {
        format!(
            " (last saved {} while processes still wrote there)",
            when(t)
        )
    });
    format!(
        "{p} was PENDING since {since} (seeded while processes wrote there) and its live data was never saved over the seed{last}: the shutdown `impermctl sync` did not run (hard reset, power loss or crash), so what is bound now is the seed {s} of {since}, and what was written to {p} after that is lost; if you have a newer copy (a snapshot or backup of {r}), stop its service and restore it into {s}; then remove {m} to silence this warning",
        r = e.root.display(),
        m = path_of(e).display(),
    )
}

/// The marks of the declared entries of `settings` that this boot does
/// not know as being seeded or pending (`state.json`, `seeding.json`):
/// left by an earlier boot, never saved.
pub fn stale<'s>(root: &Root, settings: &'s crate::config::Settings) -> Vec<(&'s Entry, Mark)> {
    let st = crate::state::read(&root.state_file()).ok().flatten();
    let pending = st
        .iter()
        .flat_map(|s| s.pending.iter().map(|p| p.path.clone()));
    let seeding = crate::state::seeding(root).into_iter().map(|r| r.path);
    let this_boot: Vec<PathBuf> = pending.chain(seeding).collect();
    (settings.entries.iter())
        .filter(|e| !this_boot.contains(&e.path))
        .filter_map(|e| Some((e, read(root, e)?)))
        .collect()
}

/// `status`'s text for an entry bound from a seed an earlier boot left
/// unsaved (`source`: its persistent source).
pub fn describe(source: &Path, since: u64, saved: Option<u64>) -> String {
    let last = saved.map_or(String::new(), |t| format!(", last saved {}", when(t)));
    format!(
        "bound from {s}, an OLD SEED: pending since {since}{last}, never saved (no shutdown sync: hard reset or crash); what was written after that is lost: restore a newer copy if you have one, then remove {m}",
        s = crate::names::show(source),
        since = when(since),
        m = crate::names::show(&beside(source)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_sits_beside_the_source() {
        let n = name(std::ffi::OsStr::new("live"));
        assert_eq!(n, ".live.impermctl-pending");
    }
}
