//! The directories of the listed paths, each opened once: the paths come
//! sorted, so the open directories form a chain from the root down to the
//! last one used (`O_PATH`, one component at a time relative to its
//! parent, never through a symlink), and the next path reuses its longest
//! prefix. `fast::classify` stats most listed paths by their whole path,
//! with no directory opened; it uses the chain for paths past `PATH_MAX`.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::OFlags;

use crate::walk::under;

/// Open directories from below the root down to the last one asked for.
pub(super) struct Chain<'a> {
    root: BorrowedFd<'a>,
    /// Logical path of the last open directory (`""`: the root).
    path: Vec<u8>,
    /// Each open directory with the length of its path in `path`.
    open: Vec<(usize, OwnedFd)>,
}

impl<'a> Chain<'a> {
    /// A chain below `root` (the root's directory fd).
    pub(super) fn new(root: BorrowedFd<'a>) -> Chain<'a> {
        Chain {
            root,
            path: Vec::new(),
            open: Vec::new(),
        }
    }

    /// An `O_PATH` descriptor of the logical directory `dir`; `None` when
    /// it is gone, not a directory, or a symlink is on the way (the walk
    /// would not look there either).
    pub(super) fn get(&mut self, dir: &[u8]) -> Option<BorrowedFd<'_>> {
        while let Some(&(len, _)) = self.open.last() {
            if under(&self.path[..len], dir) {
                break;
            }
            self.open.pop();
        }
        self.path.truncate(self.open.last().map_or(0, |o| o.0));
        let rest = &dir[self.path.len()..];
        for c in rest.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            let at = self.open.last().map_or(self.root, |o| o.1.as_fd());
            let fd = crate::sys::fs::open_beneath(
                at,
                Path::new(OsStr::from_bytes(c)),
                OFlags::PATH | OFlags::DIRECTORY,
            )
            .ok()?;
            self.path.push(b'/');
            self.path.extend_from_slice(c);
            self.open.push((self.path.len(), fd));
        }
        Some(self.open.last().map_or(self.root, |o| o.1.as_fd()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each directory is reached whatever the order; a symlink on the way,
    /// a file, or a missing name gives none; the chain recovers after.
    #[test]
    fn opens_each_directory_and_never_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("a/b/c")).unwrap();
        std::fs::create_dir_all(r.join("a/bb")).unwrap();
        std::fs::write(r.join("a/f"), "").unwrap();
        std::os::unix::fs::symlink(r.join("a/b"), r.join("link")).unwrap();
        let root = crate::sys::fs::open_dir(r).unwrap();
        let mut chain = Chain::new(root.as_fd());
        let ino = |fd: BorrowedFd<'_>| crate::sys::meta::stat_fd(fd).unwrap().ino;
        let want = |p: &str| crate::sys::meta::stat_path(&r.join(&p[1..])).unwrap().ino;
        for d in ["/a/b/c", "/a/b", "/a/bb", "/a", "/a/b/c", "/"] {
            let got = chain.get(d.as_bytes()).map(ino);
            let want = if d == "/" { ino(root.as_fd()) } else { want(d) };
            assert_eq!(got, Some(want), "{d}");
        }
        for d in ["/link", "/link/c", "/a/f", "/a/missing", "/a/missing/x"] {
            assert!(chain.get(d.as_bytes()).is_none(), "{d}");
        }
        assert_eq!(chain.get(b"/a/b/c").map(ino), Some(want("/a/b/c")));
    }
}
