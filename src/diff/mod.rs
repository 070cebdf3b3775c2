//! What the next reboot will discard: walk the ephemeral root's filesystem,
//! classify entries against the baseline (or the boot time), group and
//! render them. `shadowed` and `orphans` look at data the walk cannot see.

pub mod compare;
pub mod copies;
pub mod fast;
pub mod grouped;
pub mod ignored;
pub mod json;
pub mod judge;
pub mod moved;
pub mod orphans;
pub mod render;
pub mod sections;
pub mod shadowed;
pub mod unbound;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::baseline::Baseline;
use crate::config::Settings;
use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::walk;
pub use compare::{Basis, Change, Item};
pub use fast::Source;

/// What to compute.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Include `watch.ignore` paths and unchanged entries.
    pub all: bool,
    /// Restrict to these logical subtrees (empty: everything).
    pub subtrees: Vec<PathBuf>,
    /// Show progress on stderr.
    pub progress: bool,
    /// Walk even when the watcher could say what changed (`--no-watcher`).
    pub walk: bool,
}

/// The result of a diff.
#[derive(Debug)]
pub struct Diff {
    /// What it compared against.
    pub basis: Basis,
    /// How it found the changed entries (walk or the watcher's list).
    pub source: Source,
    /// Entries that differ (with `--all`, every entry), sorted by path.
    pub items: Vec<Item>,
    /// Paths that could not be read, with the error.
    pub unreadable: Vec<(Vec<u8>, String)>,
    /// Entries looked at.
    pub entries: u64,
    /// From the watcher's list: what it says about `watch.ignore`, when it
    /// vouches for it (`ignored::from_list` counts what changed there).
    pub ignored: Option<ignored::Listed>,
}

/// The watcher's list, when it can stand for a walk; else why not.
fn watcher_list(
    root: &Root,
    baseline: Option<&Baseline>,
    mounts: &MountTable,
    scope: &walk::Scope,
    opts: &Options,
) -> Result<fast::List, String> {
    if root.mountinfo_override().is_some() {
        return Err("a mount table was given (--mountinfo)".into());
    }
    // Read before the watcher is asked: a mapping gone by then was closed
    // before its answer, and a close after writing is listed.
    let mapped = (!opts.walk && !opts.all && baseline.is_some()).then(fast::mapped::observe);
    // Asked even to walk: answering, the watcher brings watch.json (who
    // wrote each group) up to date, so both bases attribute alike.
    let asked = fast::ask(&crate::watch::changes::file(root));
    let b = match (opts.walk, opts.all, baseline) {
        (true, _, _) => return Err("--no-watcher".into()),
        (_, true, _) => return Err(fast::ALL_WALKS.into()),
        (_, _, None) => {
            return Err("there is no baseline to hold the watcher's list against".into());
        }
        (_, _, Some(b)) => b,
    };
    let mut list = asked?;
    fast::vouch(&fast::Frame {
        all: opts.all,
        baseline: Some((b.origin, &b.mounts)),
        list: &list,
        mounted: &|p| fast::mounted(mounts, p),
        left_out: &|p| fast::left_out(scope, p),
    })?;
    if let Some(scan) = mapped {
        fast::mapped::add(&mut list, &scan?, (root.dir(), mounts), b, &|p| {
            fast::left_out(scope, p)
        })?;
    }
    Ok(list)
}

/// Find what differs from the basis: from the watcher's list when it can
/// stand for a walk ([`fast`]), else by walking the root.
pub fn compute(root: &Root, settings: &Settings, opts: &Options) -> anyhow::Result<Diff> {
    let t0 = std::time::Instant::now();
    // A PATH in watch.ignore is compared, as `--all` compares it.
    let narrowed = ignored::narrowed(settings, opts);
    let settings = narrowed.as_ref().unwrap_or(settings);
    // Opened before the table is read: a change from then on is seen.
    let remount = crate::mountinfo::Changes::open().ok();
    let mounts = root.mount_table()?;
    // Read on demand: the watcher's list needs only a few directories.
    let file = root.baseline_file();
    let before = fast::file_id(&file);
    let baseline = Baseline::open(root)?;
    // The file opened: the same before and after (a retake renames another
    // file into place).
    let opened = before.filter(|id| fast::file_id(&file) == Some(*id));
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
    let count = AtomicU64::new(0);
    let mut listed_ignored = None;
    let listed = match watcher_list(root, baseline.as_ref(), &mounts, &scope, opts) {
        Ok(list) => {
            let visit = compare::Classify::new(baseline.as_ref(), btime, opts.all);
            let known = fast::known(&list, opened);
            fast::classify(&scope, &visit, &list, known, &opts.subtrees, &count)?.map(|(o, n)| {
                listed_ignored = list.ignored_names.clone().map(|names| ignored::Listed {
                    names,
                    trees: list.link_trees.clone(),
                });
                let source = Source::Watcher {
                    pid: list.pid,
                    paths: (list.paths.len() + list.trees.len()) as u64,
                    subtrees: n,
                    rescanned: baseline.as_ref().and_then(|b| b.origin) == Some(list.since),
                };
                (owned(o), source)
            })
        }
        Err(why) => Err(why),
    };
    let (out, source) = match listed {
        Ok(done) => done,
        Err(reason) => {
            tracing::debug!("diff: walking the root: {reason}");
            // A walk looks up every directory: read the baseline whole.
            let baseline = baseline.map(Baseline::into_resident).transpose()?;
            let visit = compare::Classify::new(baseline.as_ref(), btime, opts.all);
            count.store(0, Ordering::Relaxed);
            let done = AtomicBool::new(false);
            let out = std::thread::scope(|s| {
                if opts.progress {
                    s.spawn(|| sections::progress(&count, &done));
                }
                let r = walk::walk(&scope, &visit, walk::default_threads(), &count);
                done.store(true, Ordering::Relaxed);
                r
            })?;
            (owned(out), Source::Walk { reason })
        }
    };
    let (mut items, mut unreadable, entries) = out;
    tracing::debug!("diff: {entries} entries in {:?}", t0.elapsed());
    // Read and compared only when the kernel says the table changed.
    if root.mountinfo_override().is_none()
        && remount.is_none_or(|c| c.changed())
        && root.mount_table().ok().as_ref() != Some(&mounts)
    {
        tracing::warn!(
            "the mount table changed during the walk: what was mounted meanwhile may be listed; run diff again"
        );
    }
    items.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    unreadable.sort();
    Ok(Diff {
        basis,
        source,
        items,
        unreadable,
        entries,
        ignored: listed_ignored,
    })
}

/// A walk's or the list's outcome, no longer borrowing the baseline:
/// (items, unreadable paths, entries looked at).
type Owned = (Vec<Item>, Vec<(Vec<u8>, String)>, u64);

fn owned(o: walk::Outcome<compare::Found<'_>>) -> Owned {
    // The first thread's items grow: no copy of them (the list basis has one).
    let mut accs = o.accs.into_iter().map(|f| f.items);
    let mut items = accs.next().unwrap_or_default();
    accs.for_each(|more| items.extend(more));
    (items, o.unreadable, o.entries)
}
