//! The one tree walker (`diff`, the baseline, the watcher's scans,
//! `persist`'s measure, `--orphans`, `--shadowed`): a small work queue of
//! directories served by a few threads (std only). Directories are opened
//! relative to their parent's fd without following symlinks; entries come
//! from raw `getdents64` (names, `d_type`, `d_ino`), and the visitor decides
//! what needs a `statx`. What is out of scope ([`Scope`]) is pruned here:
//! other filesystems, pruned paths (mount points, even same-device binds),
//! and for `diff` the declared targets and links into persistence.

mod scope;

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::sys::dir::{self, DirBuf};
use crate::sys::fs;
use crate::sys::meta::{Kind, stat_at, stat_fd, stat_path};

use self::scope::child_path;
pub use self::scope::{Scope, normalize, parent, under};

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
pub trait Visit {
    /// Per-thread results.
    type Acc: Default;
    /// Look at one entry (called for directories too, before their
    /// content). For a directory, `Ok(false)` skips its content; an error
    /// is recorded as unreadable (the content is still read).
    fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> io::Result<bool>;
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
    dev: u64,
    queue: Mutex<Shared>,
    cv: Condvar,
    unreadable: Mutex<Vec<(Vec<u8>, String)>>,
    count: &'a AtomicU64,
    seq: AtomicU64,
}

/// Walk `scope` with `threads` threads; `count` is bumped per entry (progress).
pub fn walk<V: Visit + Sync>(
    scope: &Scope,
    visit: &V,
    threads: usize,
    count: &AtomicU64,
) -> anyhow::Result<Outcome<V::Acc>>
where
    V::Acc: Send,
{
    let w = Walker::new(scope, b"/", visit, count)?;
    let accs = if threads <= 1 {
        vec![w.work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| w.work())).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    Ok(Outcome {
        accs,
        unreadable: w.unreadable.into_inner().unwrap_or_default(),
        entries: count.load(Ordering::Relaxed),
    })
}

/// A closure as a visitor, for walks on the calling thread that change
/// state as they go (the watcher adding watches and recording files).
struct Serial<F>(RefCell<F>);

impl<F: FnMut(&Entry<'_>) -> io::Result<bool>> Visit for Serial<F> {
    type Acc = ();
    fn visit(&self, e: &Entry<'_>, _: &mut ()) -> io::Result<bool> {
        (self.0.borrow_mut())(e)
    }
}

/// Walk `scope` below the logical directory `start` on the calling thread,
/// calling `f` for each entry (see [`Visit::visit`]; `start` itself is not
/// visited). Returns what could not be read.
pub fn serial(
    scope: &Scope,
    start: &[u8],
    f: impl FnMut(&Entry<'_>) -> io::Result<bool>,
) -> anyhow::Result<Vec<(Vec<u8>, String)>> {
    let count = AtomicU64::new(0);
    let visit = Serial(RefCell::new(f));
    let w = Walker::new(scope, start, &visit, &count)?;
    w.work();
    Ok(w.unreadable.into_inner().unwrap_or_default())
}

/// What [`usage`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries, the top included.
    pub entries: u64,
    /// Bytes of regular files.
    pub file_bytes: u64,
    /// Bytes of symlinks (their targets' lengths).
    pub link_bytes: u64,
}

impl Usage {
    fn add(&mut self, kind: Kind, size: u64) {
        self.entries += 1;
        match kind {
            Kind::File => self.file_bytes += size,
            Kind::Symlink => self.link_bytes += size,
            _ => {}
        }
    }
}

struct CountUsage;

impl Visit for CountUsage {
    type Acc = Usage;
    fn visit(&self, e: &Entry<'_>, acc: &mut Usage) -> io::Result<bool> {
        let size = match e.kind {
            Kind::File | Kind::Symlink => stat_at(e.dir, e.name)?.size,
            _ => 0,
        };
        acc.add(e.kind, size);
        Ok(true)
    }
}

/// Entries and bytes of the tree at the host path `p`, on its filesystem,
/// without following symlinks. Fails on the first entry it cannot read.
pub fn usage(p: &Path) -> anyhow::Result<Usage> {
    use anyhow::Context;
    let m = stat_path(p).with_context(|| format!("cannot stat {}", p.display()))?;
    let mut total = Usage::default();
    total.add(m.kind(), m.size);
    if m.kind() == Kind::Dir {
        let out = walk(
            &Scope::tree(p),
            &CountUsage,
            default_threads(),
            &AtomicU64::new(0),
        )?;
        if let Some((path, e)) = out.unreadable.first() {
            let shown = p.join(OsStr::from_bytes(&path[1..]));
            anyhow::bail!("cannot read {}: {e}", shown.display());
        }
        for u in out.accs {
            total.entries += u.entries;
            total.file_bytes += u.file_bytes;
            total.link_bytes += u.link_bytes;
        }
    }
    Ok(total)
}

impl<'a, V: Visit> Walker<'a, V> {
    fn new(
        scope: &'a Scope,
        start: &[u8],
        visit: &'a V,
        count: &'a AtomicU64,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let root = &scope.host_root;
        let dev = stat_path(root)
            .with_context(|| format!("cannot stat the root {}", root.display()))?
            .dev;
        let host = root.join(OsStr::from_bytes(start.strip_prefix(b"/").unwrap_or(start)));
        let inside = scope.subtrees.is_empty() || scope.subtrees.iter().any(|s| under(s, start));
        Ok(Walker {
            scope,
            visit,
            dev,
            queue: Mutex::new(Shared {
                jobs: vec![Job {
                    parent: None,
                    name: CString::new(host.as_os_str().as_bytes())
                        .context("the root path contains a NUL byte")?,
                    path: start.to_vec(),
                    inside,
                }],
                active: 0,
                waiting: 0,
            }),
            cv: Condvar::new(),
            unreadable: Mutex::new(Vec::new()),
            count,
            seq: AtomicU64::new(1),
        })
    }

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
            Some(p) => dir::open(p.as_fd(), std::ffi::OsStr::from_bytes(job.name.as_bytes())),
            None => fs::open_dir(Path::new(std::ffi::OsStr::from_bytes(job.name.as_bytes()))),
        };
        let fd = match fd {
            Ok(fd) => Arc::new(fd),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => return self.unreadable(&job.path, &e),
        };
        // Another filesystem (a mount the table did not show): out of scope.
        if self.scope.check_dev || job.parent.is_none() {
            match stat_fd(fd.as_fd()) {
                Ok(m) if m.dev != self.dev => return,
                Ok(_) => {}
                Err(e) => return self.unreadable(&job.path, &e),
            }
        }
        drop(job.parent);
        let check = self.scope.may_prune_in(&job.path);
        let job_seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let scope = self.scope;
        // Counted per directory: one shared atomic per entry bounces its
        // cache line between the cores.
        let mut seen = 0;
        // One buffer for the children's paths (no allocation per entry).
        let mut path = child_path(&job.path, b"");
        let base = path.len();
        let res = dir::read(fd.as_fd(), buf, |name, kind, ino| {
            let kind = Kind::from(kind);
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
                Kind::Unknown => match stat_at(fd.as_fd(), name) {
                    Ok(m) => m.kind(),
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
                    Ok(true) => {}
                    Ok(false) => return,
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
