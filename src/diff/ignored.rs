//! What plain `diff` leaves out under `watch.ignore` (`/tmp`, `/var/tmp`):
//! not compared with the baseline, but lost at the next reboot all the
//! same. Counted for the hint under the totals: entries below them whose
//! ctime is after the basis, on the compared filesystem only (a separate
//! mount there is not the ephemeral root's). A walk counts them by reading
//! those directories ([`count`]); a diff from the watcher's list looks
//! only at the names the watcher kept there and walks only the directories
//! it stopped hearing ([`from_list`]): the same entries, the same count.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::sys::meta::Time;
use crate::walk::{parent, under};

/// The `watch.ignore` paths left out and what changed there.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The ignored paths on the compared filesystem (logical).
    pub paths: Vec<PathBuf>,
    /// Entries below them changed after the basis.
    pub changed: u64,
}

/// What the watcher's list says about the ignored directories
/// (`changes::List::ignored_names`, `link_trees`), logical paths.
#[derive(Debug, Default, Clone)]
pub struct Listed {
    /// Every name below them there at the watcher's start or made since
    /// (but below `trees`), sorted.
    pub names: Vec<Vec<u8>>,
    /// Directories it stopped hearing: walked whole.
    pub trees: Vec<Vec<u8>>,
}

/// An ignored directory counted: (logical path, host path, its device).
type Counted = (PathBuf, PathBuf, u64);

/// The ignored paths of `ignore` that lie in `subtrees` (all when empty),
/// are not mount points, and exist as directories on `root`.
fn counted(
    root: &Root,
    ignore: &[PathBuf],
    mounts: &MountTable,
    subtrees: &[PathBuf],
) -> Vec<Counted> {
    let mut out = Vec::new();
    for p in ignore {
        if !(subtrees.is_empty() || subtrees.iter().any(|s| p.starts_with(s))) {
            continue;
        }
        let host = root.host(p);
        if mounts.is_mount_point(p) || mounts.is_mount_point(&host) {
            continue;
        }
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => out.push((p.clone(), host, m.dev())),
            _ => {}
        }
    }
    out
}

/// Changed after `since` (Unix seconds)?
fn after(ctime: Time, since: i64) -> bool {
    ctime.0 > since || (ctime.0 == since && ctime.1 > 0)
}

/// Count what changed after `since` (Unix seconds) by walking the ignored
/// paths ([`counted`]).
pub fn count(
    root: &Root,
    ignore: &[PathBuf],
    mounts: &MountTable,
    subtrees: &[PathBuf],
    since: i64,
) -> Ignored {
    let mut out = Ignored::default();
    for (p, host, dev) in counted(root, ignore, mounts, subtrees) {
        out.paths.push(p);
        out.changed += changed_below(&host, dev, since);
    }
    out
}

/// [`count`] from the watcher's list: the listed names below the ignored
/// paths, and a walk of the listed trees. `None` when a mount point lies
/// below an ignored path (a bind of the same filesystem shows its entries
/// twice to a walk): then only a walk counts alike.
pub fn from_list(
    root: &Root,
    ignore: &[PathBuf],
    mounts: &MountTable,
    subtrees: &[PathBuf],
    since: i64,
    listed: &Listed,
) -> Option<Ignored> {
    let dirs = counted(root, ignore, mounts, subtrees);
    if dirs
        .iter()
        .any(|(p, h, _)| mounts.below(p).chain(mounts.below(h)).next().is_some())
    {
        return None;
    }
    let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();
    let dev_of = |p: &[u8]| {
        let top = dirs
            .iter()
            .find(|(d, _, _)| under(&bytes(d), p) && bytes(d) != p)?;
        Some(top.2)
    };
    let below = |a: &[u8], p: &[u8]| a.len() < p.len() && under(a, p);
    let mut trees: Vec<&[u8]> = listed.trees.iter().map(Vec::as_slice).collect();
    trees.retain(|t| dirs.iter().any(|(d, _, _)| under(&bytes(d), t)));
    let all = trees.clone();
    trees.retain(|t| !all.iter().any(|a| below(a, t)));
    let mut out = Ignored {
        paths: dirs.iter().map(|d| d.0.clone()).collect(),
        changed: 0,
    };
    for t in &trees {
        let dev = dirs.iter().find(|(d, _, _)| under(&bytes(d), t))?.2;
        out.changed += changed_below(
            &root.host(Path::new(std::ffi::OsStr::from_bytes(t))),
            dev,
            since,
        );
    }
    // The names, and the trees themselves (entries too), each once.
    let mut names: Vec<&[u8]> = listed
        .names
        .iter()
        .map(Vec::as_slice)
        .chain(trees.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    let root_fd = crate::sys::fs::open_dir(root.dir()).ok()?;
    let mut chain = crate::diff::fast::dirs::Chain::new(root_fd.as_fd());
    for n in names {
        let Some(dev) = dev_of(n) else { continue };
        if trees.iter().any(|t| below(t, n)) {
            continue;
        }
        let up = parent(n);
        let Some(fd) = chain.get(up) else { continue };
        let Ok(name) = CString::new(&n[up.len() + usize::from(up != b"/")..]) else {
            continue;
        };
        match crate::sys::meta::stat_at(fd, name.as_c_str()) {
            Ok(m) if m.dev == dev && after(m.ctime, since) => out.changed += 1,
            _ => {}
        }
    }
    Some(out)
}

/// Entries below `dir` on device `dev` whose ctime is after `since`.
fn changed_below(dir: &Path, dev: u64, since: i64) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if after((m.ctime(), m.ctime_nsec() as u32), since) {
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
        // From a list: the names (one gone, one outside, one below a
        // tree) and the trees, each entry once.
        let v = |s: &[&str]| s.iter().map(|p| p.as_bytes().to_vec()).collect();
        let listed = Listed {
            names: v(&["/tmp/a/f", "/tmp/g", "/tmp/gone", "/srv/h"]),
            trees: v(&["/tmp/a"]),
        };
        let from = from_list(&root, &ignore, &mounts, &[], 0, &listed);
        assert_eq!(from, Some(got));
        let just_g = Listed {
            names: v(&["/tmp/g"]),
            trees: vec![],
        };
        let from = from_list(&root, &ignore, &mounts, &[], 0, &just_g).unwrap();
        assert_eq!(from.changed, 1);
    }
}
