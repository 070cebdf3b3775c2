//! The walker shared by `diff` and the baseline: a small work queue of
//! directories served by a few threads (std only). Directories are opened
//! relative to their parent's fd without following symlinks; entries come
//! from raw `getdents64` (names, `d_type`, `d_ino`), and the visitor decides
//! what needs a `statx`. What is out of scope is pruned here: other
//! filesystems, mount points (even same-device binds, from mountinfo), the
//! declared persistence targets, `/nix`, `/proc`, `/sys`, `/dev`, `/run`,
//! symlinks into a persistence root, and (unless asked) `watch.ignore`.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::config::{FORBIDDEN_PREFIXES, Settings};
use crate::mountinfo::MountTable;
use crate::sys::walk::{self as sw, DirBuf, Kind};

/// What the walk covers and what it prunes (logical paths as bytes).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The host directory of the root.
    pub host_root: PathBuf,
    /// Check each directory's device (the mount table may not match the
    /// tree, e.g. `--mountinfo`). With the live table, mount points are
    /// known and this costs a syscall per directory for nothing.
    pub check_dev: bool,
    prune: HashSet<Vec<u8>>,
    prune_parents: HashSet<Vec<u8>>,
    persist_roots: Vec<Vec<u8>>,
    subtrees: Vec<Vec<u8>>,
}

impl Scope {
    /// The scope for `settings` on a root at `host_root` whose mount table
    /// (logical mount points) is `mounts`. `ignored` adds `watch.ignore`;
    /// `subtrees` (logical, normalised) restricts the walk when not empty.
    pub fn new(
        host_root: &Path,
        settings: &Settings,
        mounts: &MountTable,
        ignored: bool,
        subtrees: &[PathBuf],
    ) -> Scope {
        let mut prune: HashSet<Vec<u8>> = HashSet::new();
        let mut add = |p: &Path| {
            if p != Path::new("/") {
                prune.insert(p.as_os_str().as_bytes().to_vec());
            }
        };
        mounts.mounts().iter().for_each(|m| add(&m.mount_point));
        settings.entries.iter().for_each(|e| add(&e.path));
        FORBIDDEN_PREFIXES.iter().for_each(|p| add(Path::new(p)));
        if ignored {
            settings.watch.ignore.iter().for_each(|p| add(p));
        }
        let prune_parents = prune.iter().map(|p| parent(p).to_vec()).collect();
        Scope {
            host_root: host_root.to_path_buf(),
            check_dev: true,
            prune,
            prune_parents,
            persist_roots: settings
                .roots
                .iter()
                .map(|r| r.path.as_os_str().as_bytes().to_vec())
                .collect(),
            subtrees: subtrees
                .iter()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .collect(),
        }
    }

    /// Is `path` a mount point, a declared entry or otherwise pruned?
    pub fn is_pruned(&self, path: &[u8]) -> bool {
        self.prune.contains(path)
    }

    /// A symlink into a persistence root (its data is persisted), or one
    /// of NixOS's `/etc` links into `/etc/static`: skipped.
    fn skipped_symlink(&self, dir: BorrowedFd<'_>, name: &CStr, path: &[u8]) -> bool {
        let Ok(target) = sw::read_link_at(dir, name) else {
            return false;
        };
        let joined = if target.starts_with(b"/") {
            target
        } else {
            [parent(path), b"/", &target].concat()
        };
        let norm = normalize(&joined);
        self.persist_roots.iter().any(|r| under(r, &norm))
            // NixOS regenerates these from /etc/static at every activation.
            || (path.starts_with(b"/etc/") && under(b"/etc/static", &norm))
    }
}

/// `a` is `b` or an ancestor of `b` (path-wise, bytes).
pub fn under(a: &[u8], b: &[u8]) -> bool {
    a == b"/" || (b.starts_with(a) && (b.len() == a.len() || b[a.len()] == b'/'))
}

/// The parent of a logical path (`/` for top-level entries).
pub fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &p[..i],
    }
}

/// Lexically normalise an absolute byte path (`.`, `..`, `//`).
fn normalize(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for c in parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + name.len() + 1);
    if dir != b"/" {
        p.extend_from_slice(dir);
    }
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// One entry handed to a visitor.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The directory holding it.
    pub dir: BorrowedFd<'a>,
    /// Its name in `dir`.
    pub name: &'a CStr,
    /// Its logical path.
    pub path: &'a [u8],
    /// What it is (never `Unknown`).
    pub kind: Kind,
    /// `d_ino`.
    pub ino: u64,
    /// Identifies the directory: the same for all its entries, different
    /// for the next directory a thread reads.
    pub dir_seq: u64,
}

/// Decides, per entry, what to stat and what to keep.
pub trait Visit: Sync {
    /// Per-thread results.
    type Acc: Send + Default;
    /// Look at one entry (called for directories too, before their content).
    fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> io::Result<()>;
}

/// What a walk saw.
#[derive(Debug)]
pub struct Outcome<A> {
    /// The visitors' results, one per thread.
    pub accs: Vec<A>,
    /// Directories or entries that could not be read, with the error.
    pub unreadable: Vec<(Vec<u8>, String)>,
    /// Entries looked at.
    pub entries: u64,
}

struct Job {
    parent: Option<Arc<OwnedFd>>,
    name: CString,
    path: Vec<u8>,
    inside: bool,
}

struct Shared {
    jobs: Vec<Job>,
    active: usize,
    /// Threads blocked in `wait` (std's condvar always makes a syscall to
    /// notify, so only notify when someone waits).
    waiting: usize,
}

struct Walker<'a, V: Visit> {
    scope: &'a Scope,
    visit: &'a V,
    dev: (u32, u32),
    queue: Mutex<Shared>,
    cv: Condvar,
    unreadable: Mutex<Vec<(Vec<u8>, String)>>,
    count: &'a AtomicU64,
    seq: AtomicU64,
}

/// Walk `scope` with `threads` threads; `count` is bumped per entry (progress).
pub fn walk<V: Visit>(
    scope: &Scope,
    visit: &V,
    threads: usize,
    count: &AtomicU64,
) -> anyhow::Result<Outcome<V::Acc>> {
    use anyhow::Context;
    let root = &scope.host_root;
    let dev = sw::stat_path(root)
        .with_context(|| format!("cannot stat the root {}", root.display()))?
        .dev;
    let inside = scope.subtrees.is_empty() || scope.subtrees.iter().any(|s| s == b"/");
    let w = Walker {
        scope,
        visit,
        dev,
        queue: Mutex::new(Shared {
            jobs: vec![Job {
                parent: None,
                name: CString::new(root.as_os_str().as_bytes())
                    .context("the root path contains a NUL byte")?,
                path: b"/".to_vec(),
                inside,
            }],
            active: 0,
            waiting: 0,
        }),
        cv: Condvar::new(),
        unreadable: Mutex::new(Vec::new()),
        count,
        seq: AtomicU64::new(1),
    };
    let accs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(|| w.work())).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    Ok(Outcome {
        accs,
        unreadable: w.unreadable.into_inner().unwrap_or_default(),
        entries: count.load(Ordering::Relaxed),
    })
}

impl<V: Visit> Walker<'_, V> {
    fn work(&self) -> V::Acc {
        let mut acc = V::Acc::default();
        let mut buf = DirBuf::default();
        let mut children = Vec::new();
        loop {
            let job = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(j) = q.jobs.pop() {
                        q.active += 1;
                        break j;
                    }
                    if q.active == 0 {
                        if q.waiting > 0 {
                            self.cv.notify_all();
                        }
                        return acc;
                    }
                    q.waiting += 1;
                    q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.waiting -= 1;
                }
            };
            self.dir(job, &mut buf, &mut acc, &mut children);
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.active -= 1;
            let woke = !children.is_empty();
            q.jobs.append(&mut children);
            if q.waiting > 0 && (woke || q.active == 0) {
                self.cv.notify_all();
            }
        }
    }

    fn unreadable(&self, path: &[u8], e: &io::Error) {
        let mut u = self.unreadable.lock().unwrap_or_else(|e| e.into_inner());
        u.push((path.to_vec(), e.to_string()));
    }

    fn dir(&self, job: Job, buf: &mut DirBuf, acc: &mut V::Acc, out: &mut Vec<Job>) {
        let fd = match &job.parent {
            Some(p) => sw::open_dir_at(p.as_fd(), &job.name),
            None => sw::open_dir(Path::new(std::ffi::OsStr::from_bytes(job.name.as_bytes()))),
        };
        let fd = match fd {
            Ok(fd) => Arc::new(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return self.unreadable(&job.path, &e),
        };
        // Another filesystem (a mount the table did not show): out of scope.
        if self.scope.check_dev || job.parent.is_none() {
            match sw::stat_fd(fd.as_fd()) {
                Ok(m) if m.dev != self.dev => return,
                Ok(_) => {}
                Err(e) => return self.unreadable(&job.path, &e),
            }
        }
        drop(job.parent);
        let check = self.scope.prune_parents.contains(&job.path);
        let job_seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let scope = self.scope;
        // Counted per directory: one shared atomic per entry bounces its
        // cache line between the cores.
        let mut seen = 0;
        // One buffer for the children's paths (no allocation per entry).
        let mut path = child_path(&job.path, b"");
        let base = path.len();
        let res = sw::read_dir(fd.as_fd(), buf, |name, kind, ino| {
            path.truncate(base);
            path.extend_from_slice(name.to_bytes());
            let path = &path;
            if check && scope.is_pruned(path) {
                return;
            }
            let inside = job.inside || scope.subtrees.iter().any(|s| under(s, path));
            if !inside && !scope.subtrees.iter().any(|s| under(path, s)) {
                return;
            }
            let kind = match kind {
                Kind::Unknown => match sw::stat_at(fd.as_fd(), name) {
                    Ok(m) => m.kind,
                    Err(_) => return,
                },
                k => k,
            };
            if kind == Kind::Symlink && scope.skipped_symlink(fd.as_fd(), name, path) {
                return;
            }
            seen += 1;
            if inside {
                let e = Entry {
                    dir: fd.as_fd(),
                    name,
                    path,
                    kind,
                    ino,
                    dir_seq: job_seq,
                };
                match self.visit.visit(&e, acc) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                    Err(e) => self.unreadable(path, &e),
                }
            }
            if kind == Kind::Dir {
                out.push(Job {
                    parent: Some(fd.clone()),
                    name: name.to_owned(),
                    path: path.clone(),
                    inside,
                });
            }
        });
        self.count.fetch_add(seen, Ordering::Relaxed);
        if let Err(e) = res {
            self.unreadable(&job.path, &e);
        }
    }
}

/// The number of walker threads: `IMPERMCTL_THREADS`, else the CPUs (at most 4).
pub fn default_threads() -> usize {
    std::env::var("IMPERMCTL_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(2)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_helpers() {
        assert!(under(b"/persistent", b"/persistent/etc"));
        assert!(under(b"/persistent", b"/persistent"));
        assert!(!under(b"/persistent", b"/persistent2"));
        assert!(under(b"/", b"/x"));
        assert_eq!(parent(b"/etc/x"), b"/etc");
        assert_eq!(parent(b"/etc"), b"/");
        assert_eq!(normalize(b"/etc/../persistent/./a//b"), b"/persistent/a/b");
        assert_eq!(normalize(b"/../.."), b"/");
        assert_eq!(child_path(b"/", b"a"), b"/a");
        assert_eq!(child_path(b"/a", b"b"), b"/a/b");
    }
}
