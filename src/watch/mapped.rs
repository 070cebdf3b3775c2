//! Files written through a shared mapping (LMDB, SQLite's `-shm`,
//! Prometheus' TSDB…): such a write reaches the file with no write system
//! call, so neither fanotify nor inotify reports it; only the last close
//! of a descriptor opened for writing is heard, and a database keeps its
//! file mapped for as long as it runs. So the watcher, like `diff`, reads
//! every process's shared writable file mappings
//! ([`crate::sys::proc::maps::shared_writable`]): every [`EVERY`], when
//! `status` asks for exact counts (SIGUSR2) or SIGHUP recounts, and before
//! the shutdown summary ([`Mapped::poll`]). Each mapped file on the root
//! that changed since the baseline (judged as a rescan judges a path) is
//! recorded as a write by the mapping process: its warning, its group,
//! the summary. A mapping unmapped before the scan while its descriptor
//! stays open leaves no mapping to see: so the same scan also takes every
//! changed file of the root open for writing
//! ([`crate::sys::proc::writable::open_for_writing`]; the write fault moved
//! its ctime), judged alike.
//!
//! [`place`] (pure) puts one mapping on the root; [`placed`] places a whole
//! scan. `diff` uses both (`diff::fast::mapped`).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::core::Core;
use super::tally::Change;
use crate::mountinfo::MountTable;
use crate::sys::proc::maps::{Mapping, Scan};

/// How often the watcher scans the mappings (about 1 ms of CPU per 100
/// processes with `PROCMAP_QUERY`; several times that from the text) and
/// the files open for writing (about 1.5 ms more per 100 processes:
/// `bench/watch_idle.sh`, 0.10% → 0.23% of a core idle with 390).
pub const EVERY: Duration = Duration::from_secs(5);

/// The compared filesystem's devices: `stat`'s (`st_dev` of the root) and
/// its superblock's, as the mount table and `/proc/PID/maps` give it (the
/// same but on btrfs, whose `stat` gives the subvolume's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Devs {
    /// `st_dev` of the root directory.
    pub stat: u64,
    /// The root mount's device (mount table), when known.
    pub sb: Option<u64>,
}

/// `(st_dev, st_ino)`.
pub type DevIno = (u64, u64);

/// What a mapping means for the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Nothing: another filesystem, an unlinked name, or a path left out.
    Skip,
    /// Look at this logical path.
    Add(Vec<u8>),
    /// On the compared filesystem, but not found where its path says
    /// (another mount namespace's view): the list cannot vouch.
    Unresolved,
}

/// The devices of the root at `host_root` whose (rebased) mount table is
/// `mounts`. `Err`: the root cannot be stat'ed.
pub fn devs(host_root: &Path, mounts: &MountTable) -> Result<Devs, String> {
    Ok(Devs {
        stat: crate::sys::meta::stat_path(host_root)
            .map_err(|e| format!("cannot stat the root {} ({e})", host_root.display()))?
            .dev,
        sb: mounts.root().map(|m| rustix::fs::makedev(m.major, m.minor)),
    })
}

/// Where mapping `m` goes, for a root at the host path `host_root` (as
/// `/proc` prints paths: canonical) with devices `devs`. `stat` gives a
/// host path's `(st_dev, st_ino)` (not following a last symlink);
/// `left_out` says whether a logical path is left out.
pub fn place(
    m: &Mapping,
    host_root: &[u8],
    devs: Devs,
    stat: &dyn Fn(&[u8]) -> Option<DevIno>,
    left_out: &dyn Fn(&[u8]) -> bool,
) -> Place {
    let ours = m.dev == devs.stat || Some(m.dev) == devs.sb;
    // Another filesystem, or a name unlinked since it was mapped (not on
    // the tree the next reboot discards; see the README's limits).
    if m.deleted || !ours {
        return Place::Skip;
    }
    let Some(logical) = logical(host_root, &m.path) else {
        return Place::Unresolved;
    };
    match stat(&m.path) {
        Some((_, ino)) if ino == m.ino && left_out(&logical) => Place::Skip,
        Some((dev, ino)) if ino == m.ino && dev == devs.stat => Place::Add(logical),
        // A filesystem below the root that is no mount point (a nested
        // btrfs subvolume): neither diff nor its walk compares it.
        Some((_, ino)) if ino == m.ino => Place::Skip,
        _ => Place::Unresolved,
    }
}

/// The logical path of the host path `p` below `host_root` (canonical).
fn logical(host_root: &[u8], p: &[u8]) -> Option<Vec<u8>> {
    if host_root == b"/" {
        return p.starts_with(b"/").then(|| p.to_vec());
    }
    match p.strip_prefix(host_root)? {
        [] => Some(b"/".to_vec()),
        rest if rest[0] == b'/' => Some(rest.to_vec()),
        _ => None,
    }
}

/// Every mapping of `scan` that is not skipped, with its [`place`] on the
/// root at `host_root` (devices `devs`), `left_out` as there. `Err`: the
/// root's path cannot be resolved.
pub fn placed<'s>(
    scan: &'s Scan,
    host_root: &Path,
    devs: Devs,
    left_out: &dyn Fn(&[u8]) -> bool,
) -> Result<Vec<(&'s Mapping, Place)>, String> {
    if scan.mappings.is_empty() {
        return Ok(Vec::new());
    }
    // `/proc` prints canonical paths.
    let canonical = std::fs::canonicalize(host_root)
        .map_err(|e| format!("cannot resolve the root {} ({e})", host_root.display()))?;
    let stat = |p: &[u8]| {
        let m = crate::sys::meta::lstat_path(Path::new(std::ffi::OsStr::from_bytes(p)));
        m.ok().map(|m| (m.dev, m.ino))
    };
    let root = canonical.as_os_str().as_bytes();
    let each = scan.mappings.iter();
    let placed = each.map(|m| (m, place(m, root, devs, &stat, left_out)));
    Ok(placed.filter(|(_, p)| *p != Place::Skip).collect())
}

/// The watcher's scans of the mappings (none yet by default).
#[derive(Debug, Default)]
pub struct Mapped {
    /// The root's devices (read at the first scan: they do not change).
    devs: Option<Devs>,
    /// The last scan.
    last: Option<Instant>,
}

impl Mapped {
    /// Scan now if `force` or [`EVERY`] has passed; record in `core` each
    /// file of the root (`root`) mapped shared and writable that changed
    /// since the baseline, written by the mapping process.
    pub fn poll(&mut self, core: &mut Core, root: &crate::root::Root, force: bool) {
        if !force && self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        if self.devs.is_none() {
            let table = root.mount_table().map_err(|e| format!("{e:#}"));
            self.devs = table.and_then(|t| devs(root.dir(), &t)).ok();
        }
        let t0 = Instant::now();
        let (Some(devs), Ok(mut scan)) = (self.devs, maps_now()) else {
            return;
        };
        let n = scan.mappings.len();
        // A mapping gone before this scan (`munmap`, the fd kept open)
        // left its file changed and open for writing, and no event.
        let since = super::report::unix(core.since) as i64;
        let ours = |st: &rustix::fs::Stat| {
            (st.st_dev == devs.stat || Some(st.st_dev) == devs.sb) && st.st_ctime >= since
        };
        match crate::sys::proc::writable::open_for_writing(Path::new("/proc"), &ours) {
            Ok(open) => scan.mappings.extend(open),
            Err(e) => tracing::debug!("cannot read the open files in /proc: {e}"),
        }
        tracing::debug!(
            "{n} shared writable file mappings and {} changed files open for writing read in {:?}",
            scan.mappings.len() - n,
            t0.elapsed()
        );
        let scope = core.scope.clone();
        let host = |l: &[u8]| scope.root.join(std::ffi::OsStr::from_bytes(&l[1..]));
        let left_out = |l: &[u8]| scope.excluded(&host(l));
        for (m, place) in placed(&scan, root.dir(), devs, &left_out).unwrap_or_default() {
            match place {
                Place::Add(l) => record(core, &host(&l), m.pid),
                _ => tracing::debug!(
                    "pid {} has {} mapped shared and writable, not that file on the root",
                    m.pid,
                    crate::names::human(&m.path)
                ),
            }
        }
    }
}

/// Every process's shared writable file mappings (`/proc`).
fn maps_now() -> Result<Scan, ()> {
    let scan = crate::sys::proc::maps::shared_writable(Path::new("/proc"));
    scan.map_err(|e| tracing::debug!("cannot read the mappings in /proc: {e}"))
}

/// Record the file at `host`, mapped by `pid`, if it changed at or after
/// the core's `since` and differs from the baseline (a rescan's judgement).
fn record(core: &mut Core, host: &Path, pid: i32) {
    let Ok(m) = crate::sys::meta::lstat_path(host) else {
        return;
    };
    let changed = super::rescan::ctime(&m) >= core.since && !core.as_recorded(host, &m);
    if m.dev == core.scope.dev && changed {
        let size = Some(m.size);
        core.record(
            host,
            Change::Write {
                size,
                created: false,
            },
            Some(pid),
        );
    }
}

#[cfg(test)]
mod tests;
