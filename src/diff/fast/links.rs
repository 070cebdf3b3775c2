//! The hard-link checks of the fast path: an ignored directory on the
//! compared filesystem, or one the watcher stopped hearing name by name,
//! where a link to a compared file could be made without an event.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::walk::parent;

/// An ignored path (`watch.ignore`; not the watcher's own run directory)
/// on the root's filesystem (`dev`), itself or, when it does not exist, its
/// nearest existing ancestor: a hard link made there to a compared file,
/// and a write through it, would change that file without an event the
/// watcher sees (inotify does not watch there, fanotify ignores it). `None`:
/// every ignored path is on another filesystem (e.g. a tmpfs `/tmp`).
pub(super) fn linkable_ignored(
    root: BorrowedFd<'_>,
    dev: u64,
    ignore: &[Vec<u8>],
) -> Option<String> {
    ignore
        .iter()
        .filter(|i| i.as_slice() != crate::root::RUN_DIR.as_bytes())
        .find(|i| {
            let mut a: &[u8] = i;
            loop {
                let rel = a.strip_prefix(b"/").unwrap_or(a);
                let rel = if rel.is_empty() { &b"."[..] } else { rel };
                match crate::sys::fs::open_beneath(
                    root,
                    Path::new(OsStr::from_bytes(rel)),
                    OFlags::PATH,
                ) {
                    Ok(fd) => {
                        return crate::sys::meta::stat_fd(fd.as_fd()).is_ok_and(|m| m.dev == dev);
                    }
                    Err(_) if a != b"/" && !a.is_empty() => a = parent(a),
                    Err(_) => return true,
                }
            }
        })
        .map(|i| {
            format!(
                "the watcher does not watch {} (watch.ignore), on the filesystem diff compares: a hard link made there to a compared file goes unseen",
                crate::names::human(i)
            )
        })
}

/// A regular file with other links below the ignored directories whose
/// creations the watcher stopped hearing one by one (`link_trees`, logical;
/// `host_root` the root's host path), on the root's filesystem (`dev`):
/// why the list cannot stand for a walk. Symlinks are not followed.
pub(super) fn linked_below(host_root: &Path, dev: u64, trees: &[Vec<u8>]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let host = |l: &[u8]| host_root.join(OsStr::from_bytes(l.strip_prefix(b"/").unwrap_or(l)));
    let mut stack: Vec<PathBuf> = trees.iter().map(|t| host(t)).collect();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && m.nlink() > 1 {
                let p = e.path();
                let rel = p.strip_prefix(host_root).unwrap_or(&p);
                return Some(format!(
                    "a file in a watch.ignore directory whose new names the watcher stopped hearing one by one has other hard links: /{}",
                    rel.display()
                ));
            }
        }
    }
    None
}
