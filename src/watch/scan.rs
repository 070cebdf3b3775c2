//! The watcher's scope (the root's filesystem, mount points pruned, our own
//! run directory skipped) and a directory walk that stats directories only
//! (`d_type`), for adding watches and catching up on new directories.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;

use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::sys::dir::{self, DirBuf};
use crate::sys::fs::open_dir;
use crate::sys::meta::stat_fd;

/// Is the entry `path` with `d_type` `t` a directory (stat when unknown)?
fn is_dir(path: &Path, t: FileType) -> bool {
    match t {
        FileType::Unknown => std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()),
        t => t == FileType::Directory,
    }
}

/// Open the directory `dir` when it is on the scope's filesystem.
fn open_in_scope(scope: &Scope, dir: &Path) -> Option<std::os::fd::OwnedFd> {
    let fd = open_dir(dir).ok()?;
    stat_fd(fd.as_fd())
        .is_ok_and(|m| m.dev == scope.dev)
        .then_some(fd)
}

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
}

impl Scope {
    /// The scope of `root`, from the live mount table.
    pub fn new(root: &Root) -> anyhow::Result<Scope> {
        let dir = root.dir().to_path_buf();
        let meta = std::fs::metadata(&dir)
            .with_context(|| format!("cannot stat the root {}", dir.display()))?;
        let table = MountTable::read(Path::new("/proc/self/mountinfo"))?;
        let prune = table.below(&dir).map(|m| m.mount_point.clone()).collect();
        Ok(Scope {
            skip: vec![root.run_dir()],
            root: dir,
            dev: meta.dev(),
            prune,
        })
    }

    /// Is this host path a pruned mount point or skipped?
    pub fn pruned(&self, host: &Path) -> bool {
        self.prune.contains(host) || self.skip.iter().any(|s| s == host)
    }

    /// Is this host path at or under a pruned or skipped path? (For backends
    /// that see the whole filesystem, like fanotify.)
    pub fn excluded(&self, host: &Path) -> bool {
        if self.skip.iter().any(|s| host.starts_with(s)) {
            return true;
        }
        if !self.prune.is_empty() {
            let mut a = host.parent();
            if self.prune.contains(host) {
                return true;
            }
            while let Some(p) = a {
                if p == self.root {
                    break;
                }
                if self.prune.contains(p) {
                    return true;
                }
                a = p.parent();
            }
        }
        false
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

/// Walk `start` (a host directory) depth-first, staying on the scope's
/// filesystem and out of pruned paths. `visit` returns false to skip a
/// directory. Vanished or unreadable directories are skipped. Returns the
/// number of directories read.
pub fn walk(
    scope: &Scope,
    start: &Path,
    files: bool,
    visit: &mut dyn FnMut(Visit<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<usize> {
    let mut stack = vec![start.to_path_buf()];
    let mut dirs = 0;
    let mut buf = DirBuf::default();
    let mut names: Vec<(Vec<u8>, FileType)> = Vec::new();
    while let Some(dir) = stack.pop() {
        if scope.pruned(&dir) {
            continue;
        }
        let Some(fd) = open_in_scope(scope, &dir) else {
            continue;
        };
        if !visit(Visit::Dir(&dir))? {
            continue;
        }
        dirs += 1;
        names.clear();
        let _ = dir::read(fd.as_fd(), &mut buf, |n, t, _| {
            names.push((n.to_bytes().to_vec(), t))
        });
        drop(fd);
        for (n, t) in names.drain(..) {
            let path = dir.join(OsStr::from_bytes(&n));
            if is_dir(&path, t) {
                stack.push(path);
            } else if files && !scope.pruned(&path) {
                // A file mount point (a persisted file's bind) is not ours.
                visit(Visit::File(&path))?;
            }
        }
    }
    Ok(dirs)
}

/// Directories only, on `threads` threads sharing one stack (start-up of
/// the inotify backend: `inotify_add_watch` is safe to call concurrently).
/// `visit` returns false to skip a directory. Returns the number read.
pub fn walk_dirs_parallel(
    scope: &Scope,
    start: &Path,
    threads: usize,
    visit: &(dyn Fn(&Path) -> bool + Sync),
) -> usize {
    use std::sync::{Condvar, Mutex};
    struct Work {
        stack: Vec<PathBuf>,
        busy: usize,
    }
    let work = Mutex::new(Work {
        stack: vec![start.to_path_buf()],
        busy: 0,
    });
    let cv = Condvar::new();
    let total = std::sync::atomic::AtomicUsize::new(0);
    let worker = || {
        let mut buf = DirBuf::default();
        let mut found: Vec<PathBuf> = Vec::new();
        loop {
            let dir = {
                let mut w = work.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(d) = w.stack.pop() {
                        w.busy += 1;
                        break Some(d);
                    }
                    if w.busy == 0 {
                        break None;
                    }
                    w = cv.wait(w).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(dir) = dir else {
                cv.notify_all();
                return;
            };
            found.clear();
            if read_one(scope, &dir, &mut buf, &mut found, visit) {
                total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let mut w = work.lock().unwrap_or_else(|e| e.into_inner());
            w.stack.append(&mut found);
            w.busy -= 1;
            drop(w);
            cv.notify_all();
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            s.spawn(worker);
        }
        worker();
    });
    total.into_inner()
}

fn read_one(
    scope: &Scope,
    dir: &Path,
    buf: &mut DirBuf,
    found: &mut Vec<PathBuf>,
    visit: &(dyn Fn(&Path) -> bool + Sync),
) -> bool {
    if scope.pruned(dir) {
        return false;
    }
    let Some(fd) = open_in_scope(scope, dir) else {
        return false;
    };
    if !visit(dir) {
        return false;
    }
    let _ = dir::read(fd.as_fd(), buf, |n, t, _| {
        let path = dir.join(OsStr::from_bytes(n.to_bytes()));
        if is_dir(&path, t) {
            found.push(path);
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_directories_and_skips_pruned_ones() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["a/b/c", "m/x", "run/impermctl"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("a/b/f"), b"x").unwrap();
        std::fs::write(r.join("m/x/g"), b"x").unwrap();
        let root = Root::new(Some(r.to_path_buf()), None);
        let mut scope = Scope::new(&root).unwrap();
        scope.prune.insert(r.join("m"));
        let mut seen = Vec::new();
        let n = walk(&scope, r, true, &mut |v| {
            let (k, p) = match v {
                Visit::Dir(p) => ("d", p),
                Visit::File(p) => ("f", p),
            };
            seen.push(format!("{k} {}", scope.logical(p).unwrap().display()));
            Ok(true)
        })
        .unwrap();
        seen.sort();
        assert_eq!(
            seen,
            ["d /", "d /a", "d /a/b", "d /a/b/c", "d /run", "f /a/b/f"]
        );
        assert_eq!(n, 5);
        assert!(scope.excluded(&r.join("m/x/g")));
        assert!(scope.excluded(&r.join("run/impermctl/watch.json")));
        assert!(!scope.excluded(&r.join("a/b/f")));
    }

    #[test]
    fn the_parallel_walk_sees_the_same_directories() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for a in 0..5 {
            for b in 0..7 {
                std::fs::create_dir_all(r.join(format!("a{a}/b{b}/c"))).unwrap();
            }
        }
        std::fs::create_dir_all(r.join("m/x")).unwrap();
        let root = Root::new(Some(r.to_path_buf()), None);
        let mut scope = Scope::new(&root).unwrap();
        scope.prune.insert(r.join("m"));
        let seen = std::sync::Mutex::new(Vec::new());
        let n = walk_dirs_parallel(&scope, r, 3, &|p| {
            seen.lock().unwrap().push(p.to_path_buf());
            true
        });
        let mut serial = Vec::new();
        walk(&scope, r, false, &mut |v| {
            if let Visit::Dir(p) = v {
                serial.push(p.to_path_buf());
            }
            Ok(true)
        })
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        serial.sort();
        assert_eq!(n, 1 + 5 + 35 + 35);
        assert_eq!(seen, serial);
    }
}
