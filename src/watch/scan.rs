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

/// Directories only, on `threads` threads (start-up of the inotify backend:
/// `inotify_add_watch` is safe to call concurrently). `visit` returns false
/// to skip a directory. Returns the number visited, the root included.
pub fn walk_dirs_parallel(
    scope: &Scope,
    threads: usize,
    visit: &(dyn Fn(&Path) -> bool + Sync),
) -> usize {
    struct Dirs<'a>(&'a Scope, &'a (dyn Fn(&Path) -> bool + Sync));
    impl walk::Visit for Dirs<'_> {
        type Acc = usize;
        fn visit(&self, e: &walk::Entry<'_>, n: &mut usize) -> std::io::Result<bool> {
            let go = e.kind == Kind::Dir && self.0.on_fs(e) && (self.1)(&self.0.host(e));
            *n += usize::from(go);
            Ok(go)
        }
    }
    if !visit(&scope.root) {
        return 0;
    }
    let count = AtomicU64::new(0);
    let walked = walk::walk(&scope.walk_scope(), &Dirs(scope, visit), threads, &count);
    1 + walked.map_or(0, |o| o.accs.iter().sum::<usize>())
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
        let n = walk_dirs_parallel(&scope, 3, &|p| {
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
