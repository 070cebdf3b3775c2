//! What the next reboot will discard: walk the ephemeral root's filesystem,
//! classify entries against the baseline (or the boot time), group and
//! render them. `shadowed` and `orphans` look at data the walk cannot see.

pub mod compare;
pub mod groups;
pub mod judge;
pub mod orphans;
pub mod render;
pub mod shadowed;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::baseline::Baseline;
use crate::config::Settings;
use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::walk;
pub use compare::{Basis, Change, Item};

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Include `watch.ignore` paths and unchanged entries.
    pub all: bool,
    /// Restrict to these logical subtrees (empty: everything).
    pub subtrees: Vec<PathBuf>,
    /// Show progress on stderr.
    pub progress: bool,
}

/// The result of a diff.
#[derive(Debug)]
pub struct Diff {
    /// What it compared against.
    pub basis: Basis,
    /// Entries that differ (with `--all`, every entry), sorted by path.
    pub items: Vec<Item>,
    /// Paths that could not be read, with the error.
    pub unreadable: Vec<(Vec<u8>, String)>,
    /// Entries looked at.
    pub entries: u64,
    /// The mount table used.
    pub mounts: MountTable,
}

impl Diff {
    /// Is anything going to be lost?
    pub fn loses_data(&self) -> bool {
        self.items.iter().any(|i| i.change != Change::Unchanged)
    }
}

/// Walk and classify.
pub fn compute(root: &Root, settings: &Settings, opts: &Options) -> anyhow::Result<Diff> {
    let t0 = std::time::Instant::now();
    let mounts = root.mount_table()?;
    let baseline = Baseline::load(root)?;
    tracing::debug!(
        "diff: mount table and baseline ({} entries) read in {:?}",
        baseline.as_ref().map_or(0, Baseline::len),
        t0.elapsed()
    );
    let btime = compare::boot_time()?;
    let basis = match &baseline {
        Some(b) => Basis::Baseline { created: b.created },
        None => Basis::BootTime { btime },
    };
    let mut scope =
        walk::Scope::ephemeral(root.dir(), settings, &mounts, !opts.all, &opts.subtrees);
    scope.check_dev = root.mountinfo_override().is_some();
    let visit = compare::Classify {
        baseline: baseline.as_ref(),
        btime,
        keep_unchanged: opts.all,
    };
    let count = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        if opts.progress {
            s.spawn(|| render::progress(&count, &done));
        }
        let r = walk::walk(&scope, &visit, walk::default_threads(), &count);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    tracing::debug!("diff: walked {} entries in {:?}", out.entries, t0.elapsed());
    if root.mountinfo_override().is_none() && root.mount_table().ok().as_ref() != Some(&mounts) {
        tracing::warn!(
            "the mount table changed during the walk: what was mounted meanwhile may be listed; run diff again"
        );
    }
    let mut items: Vec<Item> = out.accs.into_iter().flat_map(|f| f.items).collect();
    items.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut unreadable = out.unreadable;
    unreadable.sort();
    Ok(Diff {
        basis,
        items,
        unreadable,
        entries: out.entries,
        mounts,
    })
}
