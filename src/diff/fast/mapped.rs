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
//! Observe ([`observe`]) → decide (`watch::mapped::place`, pure, which
//! the watcher's own scan shares) → apply ([`add`]).

use std::path::Path;

use super::List;
use crate::baseline::Baseline;
use crate::mountinfo::MountTable;
use crate::sys::proc::maps::{self, Scan};
use crate::watch::mapped::{Place, devs, placed};

/// Every process's shared writable file mappings, or why they are unknown.
pub fn observe() -> Result<Scan, String> {
    maps::shared_writable(Path::new("/proc")).map_err(|e| {
        format!("cannot read /proc ({e}): files written through a shared mapping send no event")
    })
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
    if scan.mappings.is_empty() && scan.unreadable.is_empty() {
        return Ok(());
    }
    let proc = Path::new("/proc");
    let devs = devs(host_root, mounts)?;
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
    let mut extra = Vec::new();
    for (m, place) in placed(scan, host_root, devs, left_out)? {
        match place {
            Place::Add(p) => extra.push(p),
            _ => {
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
