//! The one tree walker (`diff`, the baseline, the watcher's scans,
//! `persist`'s measure, `--orphans`, `--shadowed`): a small work queue of
//! directories served by a few threads (std only). Directories are opened
//! relative to their parent's fd without following symlinks; entries come
//! from raw `getdents64` (names, `d_type`, `d_ino`), and the visitor decides
//! what needs a `statx`. What is out of scope ([`Scope`]) is pruned here:
//! other filesystems, pruned paths (mount points, even same-device binds),
//! and for `diff` the declared targets and links into persistence.

mod dirlink;
mod queue;
mod scope;
mod usage;

use std::cell::RefCell;
use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::meta::Kind;

pub use self::dirlink::{data_behind_link, entry_link_data, systemd_private_link};
use self::queue::Walker;
pub use self::scope::{Scope, link_target, normalize, parent, under};
pub use self::usage::{LinkedOut, Usage, other_names, usage};

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

/// Directories the calling thread reads alone before other threads start:
/// a small walk (the few subtrees of `diff`'s list basis) pays for no thread.
const ALONE: usize = 32;

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
    walk_with(scope, visit, || threads, count)
}

/// [`walk`] with [`default_threads`], looked up only when the walk outgrows
/// the calling thread (it reads the cgroup's CPU quota).
pub fn walk_auto<V: Visit + Sync>(
    scope: &Scope,
    visit: &V,
    count: &AtomicU64,
) -> anyhow::Result<Outcome<V::Acc>>
where
    V::Acc: Send,
{
    walk_with(scope, visit, default_threads, count)
}

/// The calling thread reads the first [`ALONE`] directories; what is left
/// is shared with `threads() - 1` more.
fn walk_with<V: Visit + Sync>(
    scope: &Scope,
    visit: &V,
    threads: impl FnOnce() -> usize,
    count: &AtomicU64,
) -> anyhow::Result<Outcome<V::Acc>>
where
    V::Acc: Send,
{
    let w = Walker::new(scope, b"/", visit, count)?;
    let mut first = V::Acc::default();
    let mut accs = Vec::new();
    if !w.work_on(&mut first, ALONE) {
        let more = threads().saturating_sub(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..more).map(|_| s.spawn(|| w.work())).collect();
            w.work_on(&mut first, usize::MAX);
            accs.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
        });
    }
    accs.insert(0, first);
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
