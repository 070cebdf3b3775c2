//! The live-change steps of `apply` (see `crate::live`): seeding under
//! running writers (pending instead of bound), completing a pending entry,
//! reconciling writes that raced the bind, keeping hidden live data, and
//! the copy-method operations.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::OFlags;
use tracing::{info, warn};

use super::{Cx, Outcome, ops};
use crate::config::{Entry, Kind};
use crate::live as lv;
use crate::live::reconcile::{self, Snapshot};
use crate::root::rel;
use crate::state::{Pending, WriterInfo};
use crate::sys::fs;

/// What a seed step needs to bind safely: the writers seen before seeding,
/// and, once seeded, an fd on the original (to reach it under the bind) and
/// the snapshot of the copy.
#[derive(Debug, Default)]
pub(super) struct SeedGuard {
    pub writers: Vec<WriterInfo>,
    hidden: Option<OwnedFd>,
    snap: Option<Snapshot>,
}

impl SeedGuard {
    /// Scan for writers when the step seeds and then binds or links.
    pub fn before(cx: &Cx, e: Option<&Entry>, ops: &[crate::plan::Op]) -> SeedGuard {
        use crate::plan::Op;
        let seeds =
            ops.contains(&Op::Seed) && ops.iter().any(|o| matches!(o, Op::Mount { .. } | Op::Link));
        let writers = e.filter(|_| seeds).map(|e| writers_below(cx, e));
        SeedGuard {
            writers: writers.unwrap_or_default(),
            ..SeedGuard::default()
        }
    }

    /// After the seed, before the bind: should it stay pending?
    pub fn pending(&self) -> bool {
        lv::pending::after_seed(&self.writers) == lv::pending::AfterSeed::Pending
    }

    /// Right before the bind: hold the original and snapshot the copy
    /// (never carrying from where a filesystem mounted below is mounted
    /// again on top of the bind: `ops::bind`).
    pub fn arm(&mut self, cx: &Cx, e: &Entry) {
        self.hidden = open_original(cx, e);
        let below = (cx.mounts.iter()).flat_map(|t| reconcile::below(t, &e.path));
        let snap = Snapshot::take(&cx.root.host(&e.source));
        self.snap = snap.ok().map(|s| s.skipping(below));
    }

    /// After the bind: queue the original so that what raced the bind is
    /// carried over by [`settle`], together with the other seeds of the run.
    pub fn reconcile(&mut self, cx: &mut Cx, e: &Entry) {
        let (Some(hidden), Some(snap)) = (self.hidden.take(), self.snap.take()) else {
            return;
        };
        cx.settling.push(Settling {
            entry: e.clone(),
            hidden,
            snap,
        });
    }
}

/// The processes writing below `e`'s target (`live::pending::writers`),
/// but for those writing into a filesystem mounted below it (a nested
/// entry's bind): that one is mounted again on top of the bind
/// (`ops::bind`), their writes keep going there, never hidden.
fn writers_below(cx: &Cx, e: &Entry) -> Vec<WriterInfo> {
    let below = cx.mounts.iter().flat_map(|t| t.visible_below(&e.path));
    let below: Vec<&std::path::Path> = below.map(|m| m.mount_point.as_path()).collect();
    let mut w = lv::pending::writers(cx.root, &e.path);
    w.retain(|w| !below.iter().any(|b| w.file.starts_with(b)));
    w
}

/// A bind that would hide live data (`Op::KeepLive`, or
/// `Op::NothingToKeep` whose files may change: the persistent source holds
/// data too) while processes write there: their next writes
/// would land on the hidden original, which the reboot discards, after the
/// copy kept aside was taken. Neither side can be chosen for them (a seed
/// left by a `boot` killed before it recorded the entry as pending looks
/// the same as older persistent data), so the step is refused and nothing
/// is touched: the error names the writers and the fix. `None`: no such
/// bind, or nobody writes there.
pub(super) fn written_hidden(
    cx: &Cx,
    e: Option<&Entry>,
    ops: &[crate::plan::Op],
) -> Option<String> {
    use crate::plan::Op;
    let keeps = |o: &Op| matches!(o, Op::KeepLive | Op::NothingToKeep { .. });
    let e =
        e.filter(|_| ops.iter().any(keeps) && ops.iter().any(|o| matches!(o, Op::Mount { .. })))?;
    let writers = writers_below(cx, e);
    if writers.is_empty() {
        return None;
    }
    let (list, stop) = writers_and_fix(&writers);
    let hides = match writers.iter().any(|w| w.listening) {
        true => " and hide the unix sockets they listen on from their clients",
        false => "",
    };
    Some(format!(
        "{} is NOT bound: running processes {} ({}) and {} holds data too, so binding now would send their next writes to the original hidden under the bind, which the reboot discards{hides}; both are left as they are: {stop}, then run `impermctl boot` (the live data is kept aside in {}/{}/, the persistent version bound: `impermctl status` says how to keep the live data instead)",
        e.path.display(),
        lv::pending::activity(&writers),
        list,
        e.source.display(),
        e.root.display(),
        lv::keep::KEPT_DIR,
    ))
}

/// The writers, listed, and how to stop them (their units, when known).
fn writers_and_fix(writers: &[WriterInfo]) -> (String, String) {
    let list: Vec<String> = writers.iter().map(ToString::to_string).collect();
    let stop = lv::pending::units(writers).map_or_else(
        || "stop them".to_string(),
        |u| format!("stop them (`systemctl stop {u}`)"),
    );
    (list.join(", "), stop)
}

/// The error of a directory `e` declared over bound entries (its source
/// holds their sources: `facts::only_nested`) while processes write
/// there: its live data would be merged into that source, which cannot
/// stay pending (a pending save replaces the whole source, the nested
/// entries' sources with it), so nothing is copied nor bound.
pub(super) fn merge_written(e: &Entry, writers: &[WriterInfo]) -> String {
    let (list, stop) = writers_and_fix(writers);
    let (p, s) = (e.path.display(), e.source.display());
    format!(
        "{p} is NOT bound: running processes {} ({list}) and {s} holds the data of entries declared inside it; nothing was copied or bound, its live data stays where it is (the reboot discards it): {stop}, then run `impermctl boot`, which copies the live data of {p} into {s} around them and binds it",
        lv::pending::activity(writers)
    )
}

/// A bound seed whose hidden original is still to be reconciled.
#[derive(Debug)]
pub(super) struct Settling {
    entry: Entry,
    hidden: OwnedFd,
    snap: Snapshot,
}

/// At most this many originals wait to be settled (each holds an fd).
pub(super) const SETTLE_BATCH: usize = 256;

/// Does a queued original lie above `path` (its bind covers `path`, so
/// it must be settled before `path` is looked at)?
pub(super) fn settling_above(cx: &Cx, path: &std::path::Path) -> bool {
    cx.settling
        .iter()
        .any(|q| path.starts_with(&q.entry.path) && path != q.entry.path)
}

/// Reconcile every queued original at once (one settle wait for all of
/// them, see `crate::live::reconcile::reconcile_all`) and report each.
pub(super) fn settle(cx: &mut Cx) {
    let mut queued = std::mem::take(&mut cx.settling);
    if queued.is_empty() {
        return;
    }
    let copies: Vec<_> = (queued.iter())
        .map(|q| cx.root.host(&q.entry.source))
        .collect();
    let mut all: Vec<reconcile::Original<'_>> = (queued.iter_mut().zip(&copies))
        .map(|(q, copy)| reconcile::Original {
            hidden: q.hidden.as_fd(),
            copy,
            snap: &mut q.snap,
            shown: &q.entry.path,
        })
        .collect();
    let results = reconcile::reconcile_all(&mut all, &[]);
    drop(all);
    for (q, r) in queued.iter().zip(results) {
        carried(cx, &q.entry, r);
    }
}

/// An fd on the live data at `e`'s target that stays on the original once
/// a bind covers it (a directory opened for reading, a file for reading).
fn open_original(cx: &Cx, e: &Entry) -> Option<OwnedFd> {
    let flags = match e.kind {
        Kind::Directory => OFlags::RDONLY | OFlags::DIRECTORY,
        Kind::File => OFlags::RDONLY | OFlags::NONBLOCK,
    };
    fs::open_beneath(cx.h.root.as_fd(), rel(&e.path), flags).ok()
}

fn carried(cx: &mut Cx, e: &Entry, r: anyhow::Result<reconcile::Carried>) {
    match r {
        Ok(c) if c.files == 0 => {}
        Ok(c) => {
            info!(path = %e.path.display(), files = c.files, bytes = c.bytes, passes = c.passes,
                "{}", c.said(&e.path, &e.source));
            for k in c.kept {
                let (p, k) = (e.path.display(), cx.root.logical(&k).unwrap_or(k));
                let msg = format!(
                    "{p} changed both in the original and in the bound copy meanwhile: the original's version is kept at {}; merge it by hand",
                    k.display()
                );
                warn!(path = %e.path.display(), "{msg}");
                cx.warnings.push(msg);
            }
        }
        Err(err) => {
            let msg = format!("{err:#}");
            tracing::error!(path = %e.path.display(), "{msg}");
            cx.warnings.push(msg);
            cx.errors += 1;
            cx.unsettled.push(e.path.clone());
        }
    }
}

/// Keep the live data at the target in persistence before it is hidden or replaced.
pub(super) fn keep_live(cx: &mut Cx, e: &Entry) -> anyhow::Result<()> {
    let kept = lv::keep::keep(cx.root, e)?;
    if e.method != crate::config::FileMethod::Copy {
        // A bind follows: its warning says where the data was kept.
        cx.kept.push((e.path.clone(), kept));
        return Ok(());
    }
    let Some(kept) = kept else {
        return Ok(());
    };
    let (p, s, k) = (e.path.display(), e.source.display(), kept.display());
    let msg = format!(
        "{p} held data on the ephemeral root while {s} exists too: the live data is kept at {k} (owner, mode and times preserved); the persistent version is used; merge by hand what you need"
    );
    warn!(path = %e.path.display(), kept = %kept.display(), "{msg}");
    cx.warnings.push(msg);
    Ok(())
}

/// A pending entry: still written → stays pending; else save the live data
/// over the seed, bind, reconcile.
pub(super) fn complete_pending(cx: &mut Cx, e: &Entry) -> anyhow::Result<Outcome> {
    let writers = lv::pending::writers(cx.root, &e.path);
    if !writers.is_empty() {
        let list: Vec<String> = writers.iter().map(ToString::to_string).collect();
        info!(path = %e.path.display(), "{} is still pending: running processes {} ({})", e.path.display(), lv::pending::activity(&writers), list.join(", "));
        return Ok(Outcome::Pending { writers });
    }
    let p = Pending {
        path: e.path.clone(),
        kind: e.kind,
        source: e.source.clone(),
        writers: Vec::new(),
        since: 0,
        saved: None,
    };
    lv::pending::save_over_seed(cx.root, &p)?;
    let mut g = SeedGuard::default();
    g.arm(cx, e);
    ops::bind(cx, e, &crate::plan::mount_options(e), false, false)?;
    g.reconcile(cx, e);
    cx.unmark.push(e.clone());
    info!(path = %e.path.display(), "{} is no longer written: its live data was saved over the seed and it is bound now", e.path.display());
    Ok(Outcome::Bound)
}

/// A bind of `e` over existing persistent data (no seed in this step)
/// where a mark (`live::unsaved`) says an earlier boot left it pending and
/// never saved it: WARNING, naming the path, since when, and the fix. The
/// seed is still the newest data there is: it is bound. What the killed
/// save left beside it is cleaned where provably nothing more
/// (`live::pending::clean_interrupted_save`; trial s11 N26), else named.
pub(super) fn unsaved_seed(cx: &mut Cx, e: Option<&Entry>, ops: &[crate::plan::Op]) {
    use crate::plan::Op;
    let binds = ops.iter().any(|o| matches!(o, Op::Mount { .. } | Op::Link));
    let Some(e) =
        e.filter(|e| binds && !ops.contains(&Op::Seed) && !cx.this_boot.contains(&e.path))
    else {
        return;
    };
    let Some(m) = crate::live::unsaved::read(cx.root, e) else {
        return;
    };
    let msg = crate::live::unsaved::warning(e, &m);
    warn!(path = %e.path.display(), since = m.since, "{msg}");
    cx.warnings.push(msg);
    // The sync that never completed may have left its copy beside the seed.
    let Ok((dir, name)) = ops::source_parent(cx, e) else {
        return;
    };
    match lv::pending::clean_interrupted_save(dir.as_fd(), name, &e.source) {
        Ok(None) => {}
        Ok(Some(staged)) => {
            let (p, s, c) = (e.path.display(), e.source.display(), staged.display());
            let msg = format!(
                "{c} holds a complete copy of the live data of {p} that an interrupted `impermctl sync` made after the seed; {s}, bound now, is the older seed: to use the copy, stop what uses {p}, then `umount {p}; mv {s} {s}.old; mv {c} {s}` and run `impermctl boot`"
            );
            warn!(path = %p, "{msg}");
            cx.warnings.push(msg);
        }
        Err(err) => warn!(path = %e.path.display(), "{err:#}"),
    }
}

/// With `defer_unknown_owners`: the declared owner (`user:group`) of an
/// entry whose operations create something, when it cannot be resolved.
pub(super) fn deferred_owner(
    cx: &mut Cx,
    e: Option<&Entry>,
    ops: &[crate::plan::Op],
) -> Option<String> {
    use crate::plan::Op;
    let e = e.filter(|_| cx.defer_unknown_owners)?;
    let creates = ops.iter().any(|o| {
        matches!(
            o,
            Op::CreateSource | Op::CreateTarget | Op::Seed | Op::SaveCopy | Op::Link
        )
    });
    if !creates {
        return None;
    }
    for p in [&e.perms, &e.parent] {
        if cx.ids.owner(cx.root, p).is_err() {
            return Some(format!("{}:{}", p.user, p.group));
        }
    }
    let home = cx.unknown_homes.iter().find(|h| e.path.starts_with(h));
    home.filter(|_| e.home.is_none())
        .map(|h| format!("of {}", h.display()))
}
