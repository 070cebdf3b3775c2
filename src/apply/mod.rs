//! Applying a boot plan: each step's operations run in order through `sys`
//! (fd-relative, no symlink followed); a failing step is reported and the
//! others proceed. Afterwards utab gets the userspace options of the new
//! binds and the record for `state.json` is built.

mod dirs;
mod facts;
mod homes;
mod levels;
mod links;
mod live;
mod moved;
mod ops;
mod report;
mod step;
mod utab;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::ids::Ids;
pub use facts::{Handles, advice, gather, in_place, link_data, only_nested_at, probe_entry};
pub use ops::{Below, held_below, on_top};

use report::Tally;
pub use report::{Applied, Outcome, named};

use crate::config::{Entry, Kind, Settings};
use crate::plan::{self, Plan, Step, Why};
use crate::root::Root;
use crate::state::{Pending, Recorded};

/// Mutable context of one apply run.
#[derive(Debug)]
pub struct Cx<'a> {
    root: &'a Root,
    h: &'a Handles,
    ids: Ids,
    /// The users' homes (`plan::homes`), observed once per run.
    homes: Vec<plan::homes::Home>,
    /// `/home/<name>` above entries that are nobody's yet (deferred, see
    /// [`LiveOptions::defer_unknown_owners`]).
    unknown_homes: Vec<PathBuf>,
    utab_add: Vec<(PathBuf, PathBuf, String)>,
    utab_drop: Vec<PathBuf>,
    warnings: Vec<String>,
    /// Entries to be bound whose live data `KeepLive` made safe: where it
    /// was kept (`impermctl-kept/…`), or `None` when persistence already
    /// held it. The bind's one warning says so.
    kept: Vec<(PathBuf, Option<PathBuf>)>,
    mount_api: crate::sys::mount::Api,
    /// Skip entries whose declared owner does not exist yet (see [`LiveOptions`]).
    defer_unknown_owners: bool,
    /// Seeds bound by this run whose hidden originals are reconciled
    /// together (`live::settle`): once per batch, before anything below
    /// one of them is looked at, and at the end.
    settling: Vec<live::Settling>,
    /// Entries seeded by this run: when the seed began (`state::now_coarse_ns`).
    seeded: Vec<(PathBuf, u64)>,
    /// Bound entries whose hidden original could not be reconciled
    /// (`live::settle`): counted in `Counts::errors`.
    errors: usize,
    /// Entries an earlier run of this boot began to seed or left pending:
    /// their marks (`live::unsaved`) are this boot's own.
    this_boot: HashSet<PathBuf>,
    /// Entries whose seed is bound or saved now: their marks go once
    /// every seed of the run is settled (unless in `unsettled`).
    unmark: Vec<Entry>,
    /// Entries whose hidden original could not be reconciled.
    unsettled: Vec<PathBuf>,
    /// The mount table read before planning: the filesystems mounted below
    /// a directory about to be bound are mounted back on top of its bind
    /// (`ops::bind`), those an earlier run left hidden too (`ops::unhide`).
    mounts: Option<&'a crate::mountinfo::MountTable>,
}

/// What `apply` knows besides the plan (see `crate::live`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveOptions<'a> {
    /// The entries an earlier run left pending (their `since` is kept, and
    /// they are not warned about again).
    pub previous_pending: &'a [Pending],
    /// An entry that would create something owned by a user or group that
    /// does not exist yet (created by the same activation) is skipped
    /// quietly (`deferred_owner`) instead of failing; the pass after
    /// users/groups applies it. So is a plain entry below a `/home/<name>`
    /// that is nobody's yet (`plan::homes::unresolved`).
    pub defer_unknown_owners: bool,
    /// Where each entry is declared: a failed step's error names it
    /// (`FILE:LINE:COL: …`, as config errors do).
    pub places: Option<&'a crate::config::Places>,
    /// The mount table the plan was made from (see [`Cx`]'s `mounts`);
    /// without it, nothing below a bound directory is looked at.
    pub mounts: Option<&'a crate::mountinfo::MountTable>,
}

/// Execute `plan`. `previous` is the record of the last run of this boot;
/// `live_opts` what else it knows (the entries left pending, deferral).
pub fn apply(
    root: &Root,
    settings: &Settings,
    h: &Handles,
    plan: &Plan,
    previous: &[Recorded],
    live_opts: LiveOptions<'_>,
) -> Applied {
    let (homes, unknown_homes) = homes::observe(root, h, settings);
    let mut cx = Cx {
        defer_unknown_owners: live_opts.defer_unknown_owners,
        root,
        h,
        ids: Ids::default(),
        homes,
        unknown_homes,
        utab_add: Vec::new(),
        utab_drop: Vec::new(),
        warnings: Vec::new(),
        kept: Vec::new(),
        seeded: Vec::new(),
        mount_api: crate::sys::mount::Api::from_env(),
        settling: Vec::new(),
        errors: 0,
        this_boot: (previous.iter())
            .filter(|r| r.how == crate::state::How::Pending)
            .map(|r| r.path.clone())
            .collect(),
        unmark: Vec::new(),
        unsettled: Vec::new(),
        mounts: live_opts.mounts,
    };
    homes::repair(&mut cx, settings);
    let entries: HashMap<&Path, &Entry> = settings.entries.iter().map(|e| (&*e.path, e)).collect();
    // A run killed between a bind and its utab line left the bind without
    // its options: binds already in place get their line back.
    let in_utab =
        crate::sys::utab::targets(&root.host(Path::new("/run/mount"))).unwrap_or_default();
    let mut tally = Tally::new(plan.steps.len(), previous, live_opts.previous_pending);
    tally.places = live_opts.places.map(|p| (settings.file.as_path(), p));
    // Paths bound by this run: an entry below one of them was observed
    // before its ancestor's bind covered it, so it is looked at again.
    let mut bound_now: HashSet<PathBuf> = HashSet::new();
    // Filesystems hidden under binds already in place: mounted back on top.
    let hidden = (cx.mounts)
        .map(|t| crate::layout::hidden_mounts(settings, t))
        .unwrap_or_default();
    for planned in &plan.steps {
        let entry = entries.get(planned.path.as_path()).copied();
        if cx.settling.len() >= live::SETTLE_BATCH || live::settling_above(&cx, &planned.path) {
            live::settle(&mut cx);
        }
        let st = current(h, entry, planned, &bound_now);
        let (done, outcome) = step::run(&mut cx, entry, &st);
        if let (Outcome::Skipped(Why::AlreadyBound), Some(e)) = (&outcome, entry) {
            utab::repair(&mut cx, e, &in_utab);
            // Bound by a run killed before it recorded the seed.
            if cx.this_boot.contains(&e.path) {
                cx.unmark.push(e.clone());
            }
            ops::unhide(&mut cx, &hidden, e);
        }
        if outcome == Outcome::Bound && st.kind == Kind::Directory {
            bound_now.insert(st.path.clone());
        }
        let seeded = cx.seeded.iter().find(|(p, _)| *p == st.path).map(|s| s.1);
        tally.add(&mut cx.warnings, entry, &st, (done, seeded), outcome);
    }
    live::settle(&mut cx);
    for e in std::mem::take(&mut cx.unmark) {
        if !cx.unsettled.contains(&e.path) {
            crate::live::unsaved::unmark_logged(root, &e);
        }
    }
    if let Err(e) = utab::write(&cx) {
        let msg = format!("{e:#}");
        warn!("{msg}");
        cx.warnings.push(msg);
    }
    tally.done.counts.errors = cx.errors;
    Applied {
        warnings: cx.warnings,
        ..tally.done
    }
}

/// The step to run for `planned`: planned again from fresh facts when a
/// bind of this run covered the entry after it was observed.
fn current<'a>(
    h: &Handles,
    entry: Option<&Entry>,
    planned: &'a Step,
    bound_now: &HashSet<PathBuf>,
) -> Cow<'a, Step> {
    match entry {
        Some(e) if plan::below_new_bind(e, planned, bound_now) && !on_top_again(h, planned) => {
            let (target, source) = facts::probe_entry(h, e);
            let st = plan::replan(e, planned, target, source);
            debug!(path = %e.path.display(), what = ?st.what, "replanned below a new bind");
            Cow::Owned(st)
        }
        _ => Cow::Borrowed(planned),
    }
}

/// Was `planned` bound already and is it mounted at its path again: the
/// bind of a directory above it, made by this run, mounted it back on top
/// (`ops::bind`), so it stays as it was.
fn on_top_again(h: &Handles, planned: &Step) -> bool {
    use std::os::fd::AsFd;
    matches!(planned.what, plan::What::Skip(Why::AlreadyBound))
        && crate::sys::fs::open_beneath(
            h.root.as_fd(),
            crate::root::rel(&planned.path),
            rustix::fs::OFlags::PATH,
        )
        .is_ok_and(|fd| crate::sys::mount::is_mount_root(fd.as_fd()).unwrap_or(false))
}
