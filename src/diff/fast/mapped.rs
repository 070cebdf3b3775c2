//! Files written through a shared mapping: a write to memory mapped
//! `MAP_SHARED` and writable (LMDB, SQLite's `-shm`, Prometheus' TSDB…)
//! reaches the file with no write system call, so neither fanotify nor
//! inotify reports it; only the last close of a descriptor opened for
//! writing is heard, and none when it was closed before the writes. So the
//! list cannot stand for a walk unless every such file on the compared
//! filesystem is looked at too: [`observe`] reads every process's
//! mappings (`/proc/PID/maps`) before the watcher is asked (a mapping gone
//! by then was closed before its answer, and that close is listed), and
//! [`add`] puts the mapped files' logical paths into the list, or says why
//! it cannot.
//!
//! Observe ([`observe`]) → decide ([`place`], pure) → apply ([`add`]).

use std::path::Path;

use super::List;
use crate::baseline::Baseline;
use crate::mountinfo::MountTable;
use crate::sys::proc::maps::{self, Mapping, Scan};

/// Every process's shared writable file mappings, or why they are unknown.
pub fn observe() -> Result<Scan, String> {
    maps::shared_writable(Path::new("/proc")).map_err(|e| {
        format!("cannot read /proc ({e}): files written through a shared mapping send no event")
    })
}

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
    /// Nothing: another filesystem, an unlinked name, or a path diff leaves out.
    Skip,
    /// Look at this logical path.
    Add(Vec<u8>),
    /// On the compared filesystem, but not found where its path says
    /// (another mount namespace's view): the list cannot vouch.
    Unresolved,
}

/// Where mapping `m` goes, for a root at the host path `host_root` (as
/// `/proc` prints paths: canonical) with devices `devs`. `stat` gives a
/// host path's `(st_dev, st_ino)` (not following a last symlink);
/// `left_out` says whether diff leaves a logical path out.
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

/// Insert `extra` (logical paths) into the sorted `list.paths`, each once;
/// into `list.recs` too (their records from `rec`) when it goes with the
/// paths one to one.
pub fn merge(
    list: &mut List,
    extra: Vec<Vec<u8>>,
    rec: &dyn Fn(&[u8]) -> Option<crate::baseline::Rec>,
) {
    let with_recs = list.recs.len() == list.paths.len();
    for p in extra {
        if let Err(i) = list.paths.binary_search(&p) {
            if with_recs {
                list.recs.insert(i, rec(&p));
            }
            list.paths.insert(i, p);
        }
    }
}

/// Put into `list` every file of the root (its host path and mount table)
/// that `scan` found mapped shared and writable, where diff does not leave
/// it out (`left_out`); their records from `baseline`. `Err`: why the list
/// cannot vouch — a mapped file it cannot find on the root, or a process
/// whose mappings are unknown and whose mount namespace has the root's
/// filesystem.
pub fn add(
    list: &mut List,
    scan: &Scan,
    (host_root, mounts): (&Path, &MountTable),
    baseline: &Baseline,
    left_out: &dyn Fn(&[u8]) -> bool,
) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    if scan.mappings.is_empty() && scan.unreadable.is_empty() {
        return Ok(());
    }
    let proc = Path::new("/proc");
    let devs = Devs {
        stat: crate::sys::meta::stat_path(host_root)
            .map_err(|e| format!("cannot stat the root {} ({e})", host_root.display()))?
            .dev,
        sb: mounts.root().map(|m| rustix::fs::makedev(m.major, m.minor)),
    };
    let comm = |pid: i32| {
        crate::sys::proc::of_pid(proc, pid)
            .comm
            .unwrap_or_else(|| "?".into())
    };
    let mounted: Vec<(u32, u32)> = [Some(devs.stat), devs.sb]
        .into_iter()
        .flatten()
        .map(|d| (rustix::fs::major(d), rustix::fs::minor(d)))
        .collect();
    for u in &scan.unreadable {
        if maps::mounts_any(proc, u.pid, &mounted).unwrap_or(true) {
            return Err(format!(
                "cannot read /proc/{}/maps ({}: {}), and it has the root's filesystem mounted: a file written through a shared mapping sends no event",
                u.pid,
                comm(u.pid),
                u.error
            ));
        }
    }
    if scan.mappings.is_empty() {
        return Ok(());
    }
    // `/proc` prints canonical paths.
    let canonical;
    let root = match host_root == Path::new("/") {
        true => &b"/"[..],
        false => {
            canonical = std::fs::canonicalize(host_root)
                .map_err(|e| format!("cannot resolve the root {} ({e})", host_root.display()))?;
            canonical.as_os_str().as_bytes()
        }
    };
    let stat = |p: &[u8]| {
        let m = crate::sys::meta::lstat_path(Path::new(std::ffi::OsStr::from_bytes(p)));
        m.ok().map(|m| (m.dev, m.ino))
    };
    let mut extra = Vec::new();
    for m in &scan.mappings {
        match place(m, root, devs, &stat, left_out) {
            Place::Skip => {}
            Place::Add(p) => extra.push(p),
            Place::Unresolved => {
                return Err(format!(
                    "pid {} ({}) has {} mapped shared and writable, and it is not that file on the root (another mount namespace's path?): a write through a mapping sends no event",
                    m.pid,
                    comm(m.pid),
                    crate::names::human(&m.path)
                ));
            }
        }
    }
    if !extra.is_empty() {
        tracing::debug!(
            "diff: {} files mapped shared and writable added to the list",
            extra.len()
        );
        merge(list, extra, &|p| baseline.get(p));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
