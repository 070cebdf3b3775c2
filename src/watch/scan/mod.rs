//! The watcher's scope (the root's filesystem, mount points pruned, our own
//! run directory skipped) and its walks over [`crate::walk`], statting
//! directories only (`d_type`), for adding watches and catching up on new
//! directories.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use anyhow::Context;

use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::sys::meta::{Kind, stat_at};
use crate::walk;

/// What the watcher looks at.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The root directory (host path).
    pub root: PathBuf,
    /// Its device: other filesystems are out.
    pub dev: u64,
    /// Mount points strictly below the root (host paths): never descended.
    pub prune: HashSet<PathBuf>,
    /// Host paths skipped entirely (our own `/run/impermctl`).
    pub skip: Vec<PathBuf>,
    /// The root's filesystem counts subdirectories in a directory's link
    /// count ([`nlink_counts_subdirs`]).
    pub leaves_known: bool,
}

/// Is `m` the filesystem of `host` bound onto the same path (a mount point
/// that hides nothing)?
fn self_bind(host: &crate::mountinfo::Mount, m: &crate::mountinfo::Mount) -> bool {
    let Ok(rel) = m.mount_point.strip_prefix(&host.mount_point) else {
        return false;
    };
    m.dev() == host.dev() && m.root == host.root.join(rel)
}

impl Scope {
    /// The scope of `root`, from the live mount table.
    pub fn new(root: &Root) -> anyhow::Result<Scope> {
        let dir = root.dir().to_path_buf();
        let meta = std::fs::metadata(&dir)
            .with_context(|| format!("cannot stat the root {}", dir.display()))?;
        let table = MountTable::read(Path::new("/proc/self/mountinfo"))?;
        // A directory bound onto itself (systemd's ProtectSystem=strict does
        // it to /home, /root and /run/user in the unit's namespace) shows
        // the root's own files: watched, not pruned.
        let host = table.containing(&dir).cloned();
        let prune = table
            .below(&dir)
            .filter(|m| !host.as_ref().is_some_and(|h| self_bind(h, m)))
            .map(|m| m.mount_point.clone())
            .collect();
        let leaves_known = rustix::fs::statfs(&dir).is_ok_and(|s| nlink_counts_subdirs(s.f_type));
        Ok(Scope {
            skip: vec![root.run_dir()],
            root: dir,
            dev: meta.dev(),
            prune,
            leaves_known,
        })
    }

    /// Is this host path a pruned mount point or skipped?
    pub fn pruned(&self, host: &Path) -> bool {
        self.prune.contains(host) || self.skip.iter().any(|s| s == host)
    }

    /// Is this host path at or under a pruned or skipped path? (For backends
    /// that see the whole filesystem, like fanotify.)
    pub fn excluded(&self, host: &Path) -> bool {
        self.skip.iter().any(|s| host.starts_with(s))
            || (!self.prune.is_empty()
                && (host.ancestors())
                    .take_while(|p| *p != self.root)
                    .any(|p| self.prune.contains(p)))
    }

    /// The logical path of a host path (None if outside the root).
    pub fn logical(&self, host: &Path) -> Option<PathBuf> {
        if self.root == Path::new("/") {
            return host.is_absolute().then(|| host.to_path_buf());
        }
        let rel = host.strip_prefix(&self.root).ok()?;
        Some(Path::new("/").join(rel))
    }
}

/// An entry met by [`walk`].
#[derive(Debug)]
pub enum Visit<'a> {
    /// A directory on the root's filesystem, about to be read.
    Dir(&'a Path),
    /// A non-directory entry (only when `files` is set).
    File(&'a Path),
}

impl Scope {
    /// The walker's scope: the root, its pruned and skipped paths.
    fn walk_scope(&self) -> walk::Scope {
        let mut w = walk::Scope::tree(&self.root);
        // Directories are checked by `on_fs` before they are visited.
        w.check_dev = false;
        for p in self.prune.iter().chain(&self.skip) {
            if let Some(l) = self.logical(p) {
                w.prune(&l);
            }
        }
        w
    }

    /// Is the directory `name` in `dir` on the root's filesystem?
    fn on_fs(&self, e: &walk::Entry<'_>) -> bool {
        stat_at(e.dir, e.name).is_ok_and(|m| m.dev == self.dev)
    }

    /// The host path of a walked entry.
    fn host(&self, e: &walk::Entry<'_>) -> PathBuf {
        self.root.join(OsStr::from_bytes(&e.path[1..]))
    }
}

/// Walk `start` (a host directory), staying on the scope's filesystem and
/// out of pruned paths; `start` is visited first, then what is below it,
/// each directory before its content. `visit` returns false to skip a
/// directory. Vanished or unreadable directories are skipped. Returns the
/// number of directories visited.
pub fn walk(
    scope: &Scope,
    start: &Path,
    files: bool,
    visit: &mut dyn FnMut(Visit<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<usize> {
    let Some(logical) = scope.logical(start) else {
        return Ok(0);
    };
    let dir = std::fs::symlink_metadata(start);
    if scope.pruned(start) || !dir.is_ok_and(|m| m.is_dir() && m.dev() == scope.dev) {
        return Ok(0);
    }
    if !visit(Visit::Dir(start))? {
        return Ok(0);
    }
    let (mut dirs, mut failed) = (1, None);
    walk::serial(&scope.walk_scope(), logical.as_os_str().as_bytes(), |e| {
        let r = match e.kind {
            _ if failed.is_some() => return Ok(false),
            Kind::Dir if !scope.on_fs(e) => return Ok(false),
            Kind::Dir => visit(Visit::Dir(&scope.host(e))).inspect(|&d| dirs += usize::from(d)),
            _ if files => visit(Visit::File(&scope.host(e))),
            _ => Ok(true),
        };
        Ok(r.unwrap_or_else(|err| {
            failed = Some(err);
            false
        }))
    })?;
    failed.map_or(Ok(dirs), Err)
}

/// `statfs` types whose directories have a link count of 2 plus their
/// subdirectories: tmpfs, ext2/3/4, XFS, ZFS. On these a directory with a
/// link count of exactly 2 has no subdirectory (GNU find's "leaf
/// optimisation"). Others are always read: btrfs and overlayfs say 1,
/// NFS, CIFS and FUSE say what their server says.
const NLINK_COUNTS_SUBDIRS: [u32; 4] = [0x0102_1994, 0xEF53, 0x5846_5342, 0x2FC1_2FC1];

/// Does a filesystem of this `statfs` type count subdirectories in a
/// directory's link count?
pub fn nlink_counts_subdirs(f_type: impl TryInto<u32>) -> bool {
    f_type
        .try_into()
        .is_ok_and(|t| NLINK_COUNTS_SUBDIRS.contains(&t))
}

/// Must the directory-only walk read a directory (already watched) to find
/// its subdirectories? Not when its link count says it has none.
pub fn must_read(leaves_known: bool, nlink: u32) -> bool {
    !(leaves_known && nlink == 2)
}

/// Directories only, on `threads` threads (start-up of the inotify backend:
/// `inotify_add_watch` is safe to call concurrently). Per directory: `watch`
/// (by host path; `None` leaves it and what is below alone), then one
/// `statx` of it: on another filesystem `unwatch` undoes the watch; a leaf
/// ([`must_read`]) is not opened. Watching before looking makes a
/// subdirectory created meanwhile either counted or an event. Returns the
/// number watched, the root included.
pub fn walk_dirs_parallel<W: Copy>(
    scope: &Scope,
    threads: usize,
    watch: &(dyn Fn(PathBuf) -> Option<W> + Sync),
    unwatch: &(dyn Fn(W) + Sync),
) -> usize {
    struct Dirs<'a, W> {
        scope: &'a Scope,
        watch: &'a (dyn Fn(PathBuf) -> Option<W> + Sync),
        unwatch: &'a (dyn Fn(W) + Sync),
    }
    impl<W: Copy> walk::Visit for Dirs<'_, W> {
        type Acc = usize;
        fn visit(&self, e: &walk::Entry<'_>, n: &mut usize) -> std::io::Result<bool> {
            if e.kind != Kind::Dir {
                return Ok(false);
            }
            let Some(w) = (self.watch)(self.scope.host(e)) else {
                return Ok(false);
            };
            match stat_at(e.dir, e.name) {
                Ok(m) if m.dev == self.scope.dev => {
                    *n += 1;
                    Ok(must_read(self.scope.leaves_known, m.nlink))
                }
                _ => {
                    (self.unwatch)(w);
                    Ok(false)
                }
            }
        }
    }
    if watch(scope.root.clone()).is_none() {
        return 0;
    }
    let count = AtomicU64::new(0);
    let dirs = Dirs {
        scope,
        watch,
        unwatch,
    };
    let walked = walk::walk(&scope.walk_scope(), &dirs, threads, &count);
    1 + walked.map_or(0, |o| o.accs.iter().sum::<usize>())
}

#[cfg(test)]
mod tests;
