//! What plain `diff` leaves out under `watch.ignore` (`/tmp`, `/var/tmp`):
//! not compared with the baseline, but lost at the next reboot all the
//! same. Counted cheaply for the hint under the totals: entries whose
//! ctime is after the basis, on the compared filesystem only (a separate
//! mount there is not the ephemeral root's), at most [`CAP`] looked at.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::mountinfo::MountTable;
use crate::root::Root;

/// At most this many entries are looked at (the count is then a floor).
pub const CAP: u64 = 100_000;

/// The `watch.ignore` paths left out and what changed there.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The ignored paths on the compared filesystem (logical).
    pub paths: Vec<PathBuf>,
    /// Entries below them changed after the basis.
    pub changed: u64,
    /// [`CAP`] was reached: `changed` is a floor.
    pub capped: bool,
}

/// Count what changed after `since` (Unix seconds) under the ignored
/// paths of `ignore` that lie in `subtrees` (all when empty), are not
/// mount points, and exist as directories on `root`.
pub fn count(
    root: &Root,
    ignore: &[PathBuf],
    mounts: &MountTable,
    subtrees: &[PathBuf],
    since: i64,
) -> Ignored {
    let mut out = Ignored::default();
    let mut budget = CAP;
    for p in ignore {
        if !(subtrees.is_empty() || subtrees.iter().any(|s| p.starts_with(s))) {
            continue;
        }
        let host = root.host(p);
        if mounts.is_mount_point(p) || mounts.is_mount_point(&host) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if !m.is_dir() {
            continue;
        }
        out.paths.push(p.clone());
        out.changed += changed_below(&host, m.dev(), since, &mut budget);
    }
    out.capped = budget == 0;
    out
}

/// Entries below `dir` on device `dev` whose ctime is after `since`.
fn changed_below(dir: &Path, dev: u64, since: i64, budget: &mut u64) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if *budget == 0 {
                return n;
            }
            *budget -= 1;
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.ctime() > since || (m.ctime() == since && m.ctime_nsec() > 0) {
                n += 1;
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_changed_below_ignored_directories_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("tmp/a")).unwrap();
        std::fs::write(r.join("tmp/a/f"), "x").unwrap();
        std::fs::write(r.join("tmp/g"), "x").unwrap();
        std::fs::create_dir_all(r.join("srv")).unwrap();
        std::fs::write(r.join("srv/h"), "x").unwrap();
        let root = Root::new(Some(r.to_path_buf()), None);
        let mounts = MountTable::default();
        let ignore = [PathBuf::from("/tmp"), PathBuf::from("/var/tmp")];
        let got = count(&root, &ignore, &mounts, &[], 0);
        assert_eq!(
            got,
            Ignored {
                paths: vec![PathBuf::from("/tmp")],
                changed: 3,
                capped: false
            }
        );
        let future = i64::MAX;
        assert_eq!(count(&root, &ignore, &mounts, &[], future).changed, 0);
        let only_srv = [PathBuf::from("/srv")];
        assert!(
            count(&root, &ignore, &mounts, &only_srv, 0)
                .paths
                .is_empty()
        );
    }
}
