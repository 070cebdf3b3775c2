//! The work queue behind [`walk`](super::walk) and [`serial`](super::serial):
//! directories as jobs, served by a few threads; each directory opened
//! relative to its parent's fd (no symlinks followed), read with raw
//! `getdents64`, its entries filtered by the [`Scope`] and handed to the
//! visitor.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::sys::dir::{self, DirBuf};
use crate::sys::fs;
use crate::sys::meta::{Kind, stat_at, stat_fd, stat_path};

use super::scope::child_path;
use super::{Entry, Scope, Visit, under};

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

pub(super) struct Walker<'a, V: Visit> {
    scope: &'a Scope,
    visit: &'a V,
    dev: u64,
    queue: Mutex<Shared>,
    cv: Condvar,
    pub(super) unreadable: Mutex<Vec<(Vec<u8>, String)>>,
    count: &'a AtomicU64,
    seq: AtomicU64,
}

impl<'a, V: Visit> Walker<'a, V> {
    pub(super) fn new(
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

    pub(super) fn work(&self) -> V::Acc {
        let mut acc = V::Acc::default();
        self.work_on(&mut acc, usize::MAX);
        acc
    }

    /// Read directories into `acc` until the walk is over (`true`) or
    /// `limit` directories were read (`false`: jobs may be left).
    pub(super) fn work_on(&self, acc: &mut V::Acc, limit: usize) -> bool {
        let mut buf = DirBuf::default();
        let mut children = Vec::new();
        let mut read = 0;
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
                        return true;
                    }
                    q.waiting += 1;
                    q = self.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                    q.waiting -= 1;
                }
            };
            self.dir(job, &mut buf, acc, &mut children);
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.active -= 1;
            let woke = !children.is_empty();
            q.jobs.append(&mut children);
            if q.waiting > 0 && (woke || q.active == 0) {
                self.cv.notify_all();
            }
            read += 1;
            if read >= limit {
                return q.jobs.is_empty() && q.active == 0;
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
        let check = self.scope.prune_parents.contains(&job.path);
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
