//! Applying a boot plan: each step's operations run in order through `sys`
//! (fd-relative, no symlink followed); a failing step is reported and the
//! others proceed. Afterwards utab gets the userspace options of the new
//! binds and the record for `state.json` is built.

mod facts;
mod levels;
mod links;
mod live;
mod moved;
mod ops;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tracing::{debug, error, warn};

use crate::ids::Ids;
pub use facts::{Handles, MountIndex, observe, probe_entry};

use crate::config::{Entry, Kind, Settings};
use crate::mountinfo::MountTable;
use crate::plan::{Op, Plan, Step, What, Why};
use crate::root::Root;
use crate::state::{How, Pending, Recorded, WriterInfo};
use crate::sys::utab::{self, UtabEntry};

/// Mutable context of one apply run.
#[derive(Debug)]
pub struct Cx<'a> {
    root: &'a Root,
    h: &'a Handles,
    ids: Ids,
    utab_add: Vec<(PathBuf, PathBuf, String)>,
    utab_drop: Vec<PathBuf>,
    warnings: Vec<String>,
    mount_api: crate::sys::mount::Api,
    /// Skip entries whose declared owner does not exist yet (see [`LiveOptions`]).
    defer_unknown_owners: bool,
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
    /// users/groups applies it.
    pub defer_unknown_owners: bool,
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Bind-mounted now.
    Bound,
    /// Symlinked now.
    Linked,
    /// A removed entry was unmounted.
    Unmounted,
    /// A removed entry's symlink was removed.
    Unlinked,
    /// `method = "copy"`: copied in (or saved) now.
    Copied,
    /// Seeded, but not bound: processes write there (see `crate::live::pending`).
    Pending {
        /// The processes found writing.
        writers: Vec<WriterInfo>,
    },
    /// Nothing to do.
    Skipped(Why),
    /// It failed; nothing after the failing operation ran.
    Failed {
        /// What went wrong and how to fix it.
        error: String,
    },
}

/// The report of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The path on the ephemeral root.
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Its persistent source.
    pub source: PathBuf,
    /// The operations that ran (complete ones only).
    pub done: Vec<Op>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Newly bound.
    pub bound: usize,
    /// Newly linked.
    pub linked: usize,
    /// Already in place, or a foreign mount left alone.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Removed entries undone.
    pub undone: usize,
    /// `method = "copy"` files copied in or saved.
    pub copied: usize,
    /// Seeded but left pending (processes write there).
    pub pending: usize,
}

/// What an apply run did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Per step.
    pub steps: Vec<StepReport>,
    /// Totals.
    pub counts: Counts,
    /// Data hidden by new binds, and foreign mounts skipped.
    pub warnings: Vec<String>,
    /// What is in place now (for `state.json`).
    #[serde(skip)]
    pub record: Vec<Recorded>,
    /// Entries left pending (for `state.json`).
    pub pending: Vec<Pending>,
}

/// Execute `plan`. `previous` is the record of the last run of this boot.
pub fn apply(
    root: &Root,
    settings: &Settings,
    h: &Handles,
    plan: &Plan,
    previous: &[Recorded],
) -> Applied {
    apply_with_pending(root, settings, h, plan, previous, LiveOptions::default())
}

/// [`apply`], knowing the entries an earlier run left pending (their
/// `since` is kept, and they are not warned about again).
pub fn apply_with_pending(
    root: &Root,
    settings: &Settings,
    h: &Handles,
    plan: &Plan,
    previous: &[Recorded],
    live_opts: LiveOptions<'_>,
) -> Applied {
    let previous_pending_list = live_opts.previous_pending;
    let mut cx = Cx {
        defer_unknown_owners: live_opts.defer_unknown_owners,
        root,
        h,
        ids: Ids::default(),
        utab_add: Vec::new(),
        utab_drop: Vec::new(),
        warnings: Vec::new(),
        mount_api: crate::sys::mount::Api::from_env(),
    };
    let entries: HashMap<&Path, &Entry> = settings
        .entries
        .iter()
        .map(|e| (e.path.as_path(), e))
        .collect();
    // A run killed between a bind and its utab line left the bind without
    // its options: binds already in place get their line back.
    let in_utab = utab::targets(&root.host(Path::new("/run/mount"))).unwrap_or_default();
    let mut steps = Vec::with_capacity(plan.steps.len());
    let mut counts = Counts::default();
    let mut record = Vec::new();
    let mut pending = Vec::new();
    // Paths bound by this run: an entry below one of them was observed
    // before its ancestor's bind covered it, so it is looked at again.
    let mut bound_now: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for planned in &plan.steps {
        let entry = entries.get(planned.path.as_path()).copied();
        let replanned;
        let st = match entry {
            Some(e)
                if !matches!(planned.what, What::Skip(Why::Covered { .. }))
                    && e.path.ancestors().skip(1).any(|a| bound_now.contains(a)) =>
            {
                let (target, source) = facts::probe_entry(h, e);
                let f = crate::plan::Facts {
                    target,
                    source,
                    mounted: crate::plan::Mounted::No,
                };
                replanned = Step {
                    what: crate::plan::plan_entry(e, &f),
                    ..planned.clone()
                };
                debug!(path = %e.path.display(), what = ?replanned.what, "replanned below a new bind");
                &replanned
            }
            _ => planned,
        };
        let (done, outcome) = run_step(&mut cx, entry, st);
        if let (Outcome::Skipped(Why::AlreadyBound), Some(e)) = (&outcome, entry) {
            repair_utab(&mut cx, e, &in_utab);
        }
        if outcome == Outcome::Bound && st.kind == Kind::Directory {
            bound_now.insert(st.path.clone());
        }
        match &outcome {
            Outcome::Bound => counts.bound += 1,
            Outcome::Linked => counts.linked += 1,
            Outcome::Unmounted | Outcome::Unlinked => counts.undone += 1,
            Outcome::Copied => counts.copied += 1,
            Outcome::Pending { writers } => {
                counts.pending += 1;
                let earlier = previous_pending(previous_pending_list, &st.path);
                let since = earlier.unwrap_or_else(now);
                if earlier.is_none()
                    && let Some(e) = entry
                {
                    let msg = crate::live::pending::warning(e, writers);
                    warn!(path = %st.path.display(), "{msg}");
                    cx.warnings.push(msg);
                }
                pending.push(Pending {
                    path: st.path.clone(),
                    kind: st.kind,
                    source: st.source.clone(),
                    writers: writers.clone(),
                    since,
                    saved: None,
                });
            }
            Outcome::Skipped(why) => {
                counts.skipped += 1;
                if let Why::Foreign { source, root } = why {
                    let msg = format!(
                        "{} is already mounted from {source} ({}), not from {}: left alone, never stacked",
                        st.path.display(),
                        root.display(),
                        st.source.display()
                    );
                    warn!(path = %st.path.display(), "{msg}");
                    cx.warnings.push(msg);
                }
                if let Why::NotOurs { reason } = why {
                    let msg = format!(
                        "{} left the config but is not undone: {reason}; left alone (unmount it yourself if it should go)",
                        st.path.display()
                    );
                    warn!(path = %st.path.display(), "{msg}");
                    cx.warnings.push(msg);
                }
            }
            Outcome::Failed { error } => {
                counts.failed += 1;
                error!(path = %st.path.display(), "{error}");
            }
        }
        let how = match &outcome {
            Outcome::Bound | Outcome::Skipped(Why::AlreadyBound) => Some(How::Bound),
            Outcome::Linked | Outcome::Skipped(Why::AlreadyLinked | Why::LinkInPlace) => {
                Some(How::Linked)
            }
            Outcome::Copied | Outcome::Skipped(Why::AlreadyCopied | Why::NothingToCopy) => {
                Some(How::Copied)
            }
            Outcome::Pending { .. } => Some(How::Pending),
            // A failure keeps what the last run recorded: it may still be in place.
            Outcome::Failed { .. } => previous.iter().find(|r| r.path == st.path).map(|r| r.how),
            _ => None,
        };
        if let Some(how) = how {
            record.push(Recorded {
                path: st.path.clone(),
                kind: st.kind,
                source: st.source.clone(),
                how,
                mount_id: None,
            });
        }
        steps.push(StepReport {
            path: st.path.clone(),
            kind: st.kind,
            source: st.source.clone(),
            done,
            outcome,
        });
    }
    if let Err(e) = write_utab(&cx) {
        let msg = format!("{e:#}");
        warn!("{msg}");
        cx.warnings.push(msg);
    }
    Applied {
        steps,
        counts,
        warnings: cx.warnings,
        record,
        pending,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn previous_pending(list: &[Pending], path: &Path) -> Option<u64> {
    list.iter().find(|p| p.path == path).map(|p| p.since)
}

fn run_step(cx: &mut Cx, entry: Option<&Entry>, st: &Step) -> (Vec<Op>, Outcome) {
    let ops = match &st.what {
        What::Skip(why) => return (Vec::new(), Outcome::Skipped(why.clone())),
        What::Fail { error } => {
            return (
                Vec::new(),
                Outcome::Failed {
                    error: error.clone(),
                },
            );
        }
        What::Do { ops } => ops,
    };
    if let Some(owner) = live::deferred_owner(cx, entry, ops) {
        tracing::info!(path = %st.path.display(), "{} deferred: its owner {owner} does not exist yet (created later in this activation); the pass after users and groups applies it", st.path.display());
        return (Vec::new(), Outcome::Skipped(Why::DeferredOwner { owner }));
    }
    let mut done = Vec::new();
    let mut outcome = Outcome::Failed {
        error: "nothing to do".into(),
    };
    let (mut seeded, mut detached) = (false, false);
    let mut guard = live::SeedGuard::before(cx, entry, ops);
    for op in ops {
        debug!(path = %st.path.display(), ?op, "apply");
        let binds = matches!(op, Op::Mount { .. } | Op::Link);
        if seeded && binds && guard.pending() {
            // Seeded, not bound: processes write there (see crate::live::pending).
            return (
                done,
                Outcome::Pending {
                    writers: std::mem::take(&mut guard.writers),
                },
            );
        }
        if let (true, Op::Mount { .. }, Some(e)) = (seeded, op, entry) {
            guard.arm(cx, e);
        }
        let r = match (op, entry) {
            (Op::Unmount, _) => ops::unmount(cx, &st.path, st.kind).map(|()| Outcome::Unmounted),
            (Op::RemoveLink, _) => {
                ops::remove_link(cx, &st.path, &st.source).map(|()| Outcome::Unlinked)
            }
            (_, None) => Err(anyhow::anyhow!(
                "{} is not in the config",
                st.path.display()
            )),
            (Op::CreateSource, Some(e)) => ops::create_source(cx, e).map(|()| outcome.clone()),
            (Op::Seed, Some(e)) => {
                seeded = true;
                ops::seed(cx, e).map(|()| outcome.clone())
            }
            (Op::InitMachineId, Some(e)) => ops::init_machine_id(cx, e).map(|()| outcome.clone()),
            (Op::CreateTarget, Some(e)) => ops::create_target(cx, e).map(|()| outcome.clone()),
            (Op::Mount { options, hides }, Some(e)) => {
                // Planned over an empty or missing target: it must still be empty.
                let expect_empty = !*hides && !seeded && !detached;
                let r = ops::bind(cx, e, options, *hides, expect_empty).map(|()| Outcome::Bound);
                if r.is_ok() && seeded {
                    guard.reconcile(cx, e);
                }
                r
            }
            (Op::CopyIn, Some(e)) => {
                crate::live::files::copy_in(cx.root, e).map(|_| Outcome::Copied)
            }
            (Op::SaveCopy, Some(e)) => {
                crate::live::files::save(cx.root, e).map(|_| Outcome::Copied)
            }
            (Op::KeepLive, Some(e)) => live::keep_live(cx, e).map(|()| outcome.clone()),
            (Op::CompletePending, Some(e)) => live::complete_pending(cx, e),
            (Op::Link, Some(e)) => ops::link(cx, e, seeded).map(|()| Outcome::Linked),
            (Op::Migrate { from }, Some(e)) => {
                moved::migrate(cx, e, from).map(|()| outcome.clone())
            }
            (Op::Detach { from }, Some(e)) => {
                detached = true;
                moved::detach(cx, e, from).map(|()| outcome.clone())
            }
            (Op::StoreLink, Some(e)) => links::store_link(cx, e).map(|()| Outcome::Linked),
            (Op::RestoreLink, Some(e)) => links::restore_link(cx, e).map(|()| Outcome::Linked),
        };
        match r {
            Ok(o) => {
                outcome = o;
                done.push(op.clone());
            }
            Err(e) => {
                return (
                    done,
                    Outcome::Failed {
                        error: format!("{e:#}"),
                    },
                );
            }
        }
    }
    (done, outcome)
}

/// Queue the utab line of `e`'s existing bind when it has options and
/// utab (`in_utab`: its targets) has no line for it.
fn repair_utab(cx: &mut Cx, e: &Entry, in_utab: &std::collections::HashSet<PathBuf>) {
    let options = crate::plan::mount_options(e);
    if !options.is_empty() && !in_utab.contains(&e.path) {
        debug!(path = %e.path.display(), "bound without its utab line: adding it");
        cx.utab_add
            .push((e.path.clone(), e.source.clone(), options.join(",")));
    }
}

/// Record the userspace options of the new binds in `<root>/run/mount/utab`,
/// with the source and root the kernel reports for each mount, and drop the
/// lines of unmounted entries.
fn write_utab(cx: &Cx) -> anyhow::Result<()> {
    if cx.utab_add.is_empty() && cx.utab_drop.is_empty() {
        return Ok(());
    }
    let mut add = Vec::new();
    if !cx.utab_add.is_empty() {
        let table = MountTable::read(Path::new("/proc/self/mountinfo"))?.rebase(cx.root.dir());
        let idx = MountIndex::new(&table);
        for (target, source, opts) in &cx.utab_add {
            let m = idx.at(target).with_context(|| {
                format!(
                    "{} is not in the mount table after binding it",
                    target.display()
                )
            })?;
            add.push(UtabEntry {
                src: m.source.clone(),
                target: target.clone(),
                root: m.root.clone(),
                bindsrc: Some(source.clone()),
                opts: opts.clone(),
            });
        }
    }
    let dir = cx.root.host(Path::new("/run/mount"));
    utab::update(&dir, &cx.utab_drop, &add)
        .with_context(|| format!("cannot record mount options in {}/utab", dir.display()))
}
