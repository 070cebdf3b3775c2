//! The operations of a plan step, each one fd-relative: directories are
//! created level by level beneath the root or a persistence root, binds go
//! from an opened source to an opened target, nothing follows a symlink.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd as Fd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::fs::{FileType, OFlags};
use tracing::{info, warn};

use super::Cx;
use super::dirs::{Side, ensure_dir};
use super::facts::explain;
use crate::config::{Entry, Kind};
use crate::copy::End;
use crate::plan::Op;
use crate::root::rel;
use crate::sys::dir;
use crate::sys::fs::{self, Owner};
use crate::sys::meta::{stat_at, stat_fd};
use crate::sys::mount;

/// An `O_PATH` directory handle.
pub(super) const DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY);

/// Turn an I/O error on `rel` beneath `dir` into a clear message.
pub(super) fn ctx<T>(r: io::Result<T>, dir: Fd, rel: &Path, shown: &Path) -> Result<T> {
    r.map_err(|e| anyhow::anyhow!(explain(dir, rel, shown, &e)))
}

/// `fs::open_beneath` with [`ctx`]'s message.
pub(super) fn open(dir: Fd, rel: &Path, flags: OFlags, shown: &Path) -> Result<OwnedFd> {
    ctx(fs::open_beneath(dir, rel, flags), dir, rel, shown)
}

/// The persistence root of `e`, held open.
pub(super) fn persist_fd<'h>(cx: &Cx<'h>, e: &Entry) -> Result<Fd<'h>> {
    cx.h.persist(&e.root).map_err(anyhow::Error::msg)
}

/// The source relative to its persistence root.
pub(super) fn srel(e: &Entry) -> &Path {
    e.source.strip_prefix(&e.root).unwrap_or(&e.source)
}

/// The directory holding `e`'s source beneath its persistence root, and
/// the source's name.
pub(super) fn source_parent<'e>(cx: &Cx, e: &'e Entry) -> Result<(OwnedFd, &'e OsStr)> {
    let (pfd, srel) = (persist_fd(cx, e)?, srel(e));
    ctx(crate::copy::open_parent(pfd, srel), pfd, srel, &e.source)
}

pub(super) fn parent_of(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new(""))
}

/// Does seeding `e` merge its live data into a source that holds entries
/// already (the sources of entries declared inside it: the plan seeds such
/// a one, see `facts::only_nested`)? A partial copy a killed fill left is
/// not such an entry.
pub(super) fn merges(cx: &Cx, e: &Entry) -> bool {
    let Ok((ddir, dname)) = source_parent(cx, e) else {
        return false;
    };
    let srel = Path::new(dname);
    e.kind == Kind::Directory
        && dir::is_empty(ddir.as_fd(), srel).is_ok_and(|empty| !empty)
        && !crate::copy::fill::only_partial(ddir.as_fd(), srel)
}

/// Seed `e`'s source from its live data (merged around the sources of
/// nested entries when it [`merges`]).
pub(super) fn seed(cx: &mut Cx, e: &Entry) -> Result<()> {
    ensure_dir(cx, e, parent_of(srel(e)), false, Side::Source)?;
    // The data must be reachable without symlinks before we read it.
    let rfd = cx.h.root.as_fd();
    let trel = rel(&e.path);
    open(rfd, trel, OFlags::PATH, &e.path)?;
    // From here on, every step is fd-relative to the held root and
    // persistence root: a symlink swapped in anywhere fails, never followed.
    let (sdir, sname) = ctx(crate::copy::open_parent(rfd, trel), rfd, trel, &e.path)?;
    let (ddir, dname) = source_parent(cx, e)?;
    let (from, to) = (cx.root.host(&e.path), cx.root.host(&e.source));
    let src = End::new(sdir.as_fd(), sname, &from);
    let dst = End::new(ddir.as_fd(), dname, &to);
    let (p, s) = (e.path.display(), e.source.display());
    // Best effort: a tree that cannot be read fails the copy below anyway.
    let usage = crate::copy::measure(&from).ok();
    let separated = (usage.as_ref())
        .map(|u| crate::copy::separated(cx.root, &e.path, u))
        .unwrap_or_default();
    let nothing =
        || format!("cannot seed {s} from {p} (nothing was mounted; the data is still at {p})");
    // Refused before the copy when it cannot fit (trial-s10 F7).
    if let Some(u) = &usage {
        crate::copy::room(&e.path, &to, u, "impermctl boot").with_context(nothing)?;
    }
    // A merge is not recorded as a seed: a pending save replaces the whole
    // source, the nested entries' sources with it (so with writers it is
    // refused before it starts: `step`). A rerun after a kill finds the
    // merge complete (then equal to the live data: bound, nothing kept
    // aside) or completes it (`finish_fill`).
    let nested = merges(cx, e);
    if !nested {
        seeding_marks(cx, e, ddir.as_fd())?;
    }
    cx.seeded
        .push((e.path.clone(), crate::state::now_coarse_ns()));
    // A directory's source may be an empty directory (see `plan`): replaced
    // by the copy only while it stays empty.
    let stats = match e.kind {
        Kind::Directory if nested => crate::copy::fill::merge_at(src, dst, &mut |_| {}),
        Kind::Directory => crate::copy::copy_tree_over_empty_at(src, dst, &mut |_| {}),
        Kind::File => crate::copy::copy_tree_at(src, dst, &mut |_| {}),
    }
    .with_context(nothing);
    let stats = stats.inspect_err(|_| crate::live::unsaved::unmark_logged(cx.root, e))?;
    info!(
        path = %p,
        source = %s,
        entries = stats.entries,
        bytes = stats.bytes,
        "seeded persistent storage with the data already at {p}"
    );
    for l in separated {
        let msg = l.message(&e.path, &e.source);
        warn!(path = %p, "{msg}");
        cx.warnings.push(msg);
    }
    Ok(())
}

/// Before a seed's copy: record it (`state::seeding`), mark it unsaved
/// beside its source (`live::unsaved`, in `ddir`).
fn seeding_marks(cx: &mut Cx, e: &Entry, ddir: Fd<'_>) -> Result<()> {
    // Known before the copy: a run killed after it leaves the seed known
    // as ours, never taken for older persistent data (`state::seeding`).
    crate::state::add_seeding(cx.root, e)?;
    // And durably beside it until it is bound or saved: a boot after a
    // hard reset knows the seed may be old (`live::unsaved`).
    let mark = crate::live::unsaved::Mark {
        path: e.path.clone(),
        since: crate::state::now(),
        saved: None,
    };
    crate::live::unsaved::mark_at(ddir.as_fd(), e, &mark)
}

/// Before a directory's source is bound (or compared with the live data):
/// complete a fill of it that a killed run left ([`crate::copy::fill`]).
pub(super) fn finish_fill(cx: &Cx, e: Option<&Entry>, ops: &[Op]) -> Result<()> {
    let creates = |o: &Op| matches!(o, Op::Seed | Op::CreateSource);
    let binds = ops.iter().any(|o| matches!(o, Op::Mount { .. }));
    let Some(e) = e.filter(|e| e.kind == Kind::Directory && binds && !ops.iter().any(creates))
    else {
        return Ok(());
    };
    // No parent, nothing to finish (the step's own operations say why).
    let Ok((d, n)) = source_parent(cx, e) else {
        return Ok(());
    };
    if crate::copy::fill::finish(d.as_fd(), n, &e.source)? {
        info!(path = %e.source.display(), "finished filling {} from the complete copy an interrupted run left", e.source.display());
    }
    Ok(())
}

pub(super) fn init_machine_id(cx: &mut Cx, e: &Entry) -> Result<()> {
    ensure_dir(cx, e, parent_of(srel(e)), false, Side::Source)?;
    let (dfd, name) = source_parent(cx, e)?;
    fs::write_atomic_at(dfd.as_fd(), name, b"uninitialized\n", root_owned(0o444))
        .with_context(|| format!("cannot write {}", e.source.display()))?;
    info!(path = %e.source.display(), "wrote \"uninitialized\" to {}: systemd commits the machine ID through the bind on this first boot", e.source.display());
    Ok(())
}

/// Root-owned with `mode`.
pub(super) fn root_owned(mode: u32) -> Owner {
    Owner {
        uid: 0,
        gid: 0,
        mode,
    }
}

fn open_kind(dir: Fd, rel: &Path, shown: &Path, kind: Kind) -> Result<OwnedFd> {
    let file = kind == Kind::File;
    let fd = open(dir, rel, if file { OFlags::PATH } else { DIR }, shown)?;
    if file && stat_fd(fd.as_fd())?.file_type != FileType::RegularFile {
        bail!("{} is not a regular file", shown.display());
    }
    Ok(fd)
}

/// Bind the entry's source onto its target, both opened beneath the held
/// fds. `expect_empty`: the plan saw no data at the target; data found
/// there now (swapped in while planning) refuses the entry, unmounted.
pub(super) fn bind(
    cx: &mut Cx,
    e: &Entry,
    options: &[String],
    hides: bool,
    expect_empty: bool,
) -> Result<()> {
    let sfd = open_kind(persist_fd(cx, e)?, srel(e), &e.source, e.kind)?;
    let rfd = cx.h.root.as_fd();
    let trel = rel(&e.path);
    let tfd = open_kind(rfd, trel, &e.path, e.kind)?;
    let (p, s) = (e.path.display(), e.source.display());
    if mount::is_mount_root(tfd.as_fd())? {
        bail!(
            "something is already mounted on {p}; impermctl never stacks mounts: unmount it and run `impermctl boot` again"
        );
    }
    // Below a parent bound in this run, target and source can be the same directory.
    let (sm, tm) = (stat_fd(sfd.as_fd())?, stat_fd(tfd.as_fd())?);
    let same = (sm.dev, sm.ino) == (tm.dev, tm.ino);
    if !same {
        super::dirs::tighten_to_live(cx, e, sfd.as_fd(), &sm, &tm);
    }
    let holds_data = || -> Result<bool> {
        Ok(match e.kind {
            Kind::Directory => !dir::is_empty(tfd.as_fd(), Path::new(""))?,
            Kind::File => stat_fd(tfd.as_fd())?.size > 0,
        })
    };
    if expect_empty && !same && holds_data()? {
        bail!(
            "{p} gained data while boot was planning; nothing was mounted over it: run `impermctl boot` again"
        );
    }
    let kept = cx.kept.iter().find(|(p, _)| *p == e.path);
    let kept = kept.map(|(_, k)| k.clone());
    if hides && !same && kept != Some(None) {
        let what = match e.kind {
            Kind::Directory => {
                let s = dir::summarize_tree(tfd.as_fd(), Path::new(""), 3)?;
                let sample = s
                    .sample
                    .iter()
                    .map(|p| e.path.join(p).display().to_string());
                let sample: Vec<String> = sample.collect();
                let entries = crate::human::count(s.entries as u64, "entry", "entries");
                let bytes = crate::human::counted(s.bytes, "byte");
                format!("{entries}, {bytes} (e.g. {})", sample.join(", "))
            }
            Kind::File => format!("a file of {} bytes", stat_fd(tfd.as_fd())?.size),
        };
        let msg = match kept.flatten() {
            Some(k) => format!(
                "{p} already held data on the ephemeral root: {what}; it is kept at {} (owner, mode and times preserved) and hidden under the bind of {s}, whose version is used: merge by hand what you need",
                k.display()
            ),
            None => format!(
                "{p} already held data on the ephemeral root: {what}; it is now hidden under the bind of {s} (persistent data wins; unmount to reach it)"
            ),
        };
        warn!(path = %p, "{msg}");
        cx.warnings.push(msg);
    }
    let below = match e.kind {
        Kind::Directory => held_below(
            rfd,
            cx.mounts,
            (e.path.as_path(), e.source.as_path()),
            sfd.as_fd(),
        )?,
        Kind::File => Vec::new(),
    };
    mount::bind(sfd.as_fd(), tfd.as_fd(), cx.mount_api)
        .with_context(|| format!("cannot bind {s} onto {p}"))?;
    on_top(rfd, &e.path, below)?;
    if !options.is_empty() {
        let line = (e.path.clone(), e.source.clone(), options.join(","));
        cx.utab_add.push(line);
    }
    Ok(())
}

/// A filesystem mounted below a directory about to be bound: its mount
/// point, the original mount and a detached clone of it (with what is
/// mounted inside it) to attach on top of the bind ([`on_top`]).
#[derive(Debug)]
pub struct Below {
    path: std::path::PathBuf,
    original: OwnedFd,
    clone: OwnedFd,
}

/// Before binding the directory `source` (open at `sfd`) onto `target`
/// (logical paths; `rfd`: the root): hold every filesystem mounted below
/// `target` (as the mount table `mounts` read before planning shows them)
/// so that [`on_top`] mounts it back on top of the bind, and make its
/// mount point in the source (an empty directory, as a seed copies it; a
/// file's must be there). Binding over them would hide them and send
/// their writes into persistence; when one cannot be held (the new mount
/// API refused), nothing is mounted: the error says so.
pub fn held_below(
    rfd: Fd,
    mounts: Option<&crate::mountinfo::MountTable>,
    (target, source): (&Path, &Path),
    sfd: Fd,
) -> Result<Vec<Below>> {
    let Some(t) = mounts else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in t.visible_below(target) {
        let path = m.mount_point.clone();
        let refuse = |why: String| {
            anyhow::anyhow!(
                "{} is NOT bound: {} ({} {}) is mounted below it and {why}; binding over it would hide it and send its writes into {}: unmount it (or mount it elsewhere), then run `impermctl boot`",
                target.display(),
                path.display(),
                m.fstype,
                crate::names::printable(&m.source),
                source.display()
            )
        };
        let Ok(original) = fs::open_beneath(rfd, rel(&path), OFlags::PATH) else {
            continue; // gone since
        };
        if !mount::is_mount_root(original.as_fd())? {
            continue;
        }
        let clone = mount::clone_tree(original.as_fd()).map_err(|err| {
            refuse(format!(
                "cannot be mounted again on top of the bind ({err})"
            ))
        })?;
        let inside = path.strip_prefix(target).unwrap_or(&path);
        if stat_fd(original.as_fd())?.file_type == FileType::Directory {
            let mut owner = |_| Ok::<_, std::io::Error>(root_owned(0o755));
            dir::mkdir_beneath(sfd, inside, &mut owner).map_err(|err| {
                refuse(format!(
                    "{} cannot hold its mount point ({err})",
                    source.display()
                ))
            })?;
        } else if !fs::lstat_beneath(sfd, inside).is_ok_and(|m| m.is_some()) {
            return Err(refuse(format!(
                "{} has no file to mount it on",
                source.display()
            )));
        }
        out.push(Below {
            path,
            original,
            clone,
        });
    }
    Ok(out)
}

/// After the bind onto `target` (logical; `rfd`: the root): attach each
/// filesystem [`held_below`] held on top of it at its own path, then
/// detach the original, now hidden under the bind (best effort: one
/// locked to its parent stays, a harmless twin). When one cannot be
/// attached, the bind is undone: nothing stays hidden.
pub fn on_top(rfd: Fd, target: &Path, below: Vec<Below>) -> Result<()> {
    for b in &below {
        let r = open(rfd, rel(&b.path), OFlags::PATH, &b.path)
            .and_then(|dst| Ok(mount::attach(b.clone.as_fd(), dst.as_fd())?));
        if let Err(err) = r {
            let undone = open(rfd, rel(target), OFlags::PATH, target)
                .and_then(|t| Ok(mount::detach(t.as_fd())?));
            bail!(
                "{} is NOT bound: {} is mounted below it and could not be mounted again on top of the bind ({err:#}); {}",
                target.display(),
                b.path.display(),
                match undone {
                    Ok(()) => "the bind was undone, so nothing is hidden: unmount it (or mount it elsewhere), then run `impermctl boot`".to_string(),
                    Err(u) => format!("the bind could not be undone ({u:#}): `umount {}` shows it again", target.display()),
                }
            );
        }
    }
    for b in below {
        if let Err(err) = mount::detach(b.original.as_fd()) {
            tracing::debug!(path = %b.path.display(), "the original mount stays under the bind: {err}");
        }
        info!(path = %b.path.display(), "{} is mounted below {}: mounted again on top of its bind, so its writes still go to that filesystem", b.path.display(), target.display());
    }
    Ok(())
}

/// For `e`, bound already: mount back on top of its bind what it hides
/// (a filesystem mounted below its path before the bind was made, by a
/// run killed before [`bind`] re-mounted it, or by an older version).
/// `hidden`: what the mount table read before planning shows hidden
/// (`layout::hidden_mounts`).
pub(super) fn unhide(cx: &mut Cx, hidden: &[crate::layout::HiddenMount], e: &Entry) {
    for h in hidden.iter().filter(|h| h.under == e.path) {
        let r = (|| -> Result<()> {
            let inside = h.path.strip_prefix(&e.path).unwrap_or(&h.path);
            let pfd = persist_fd(cx, e)?;
            let sfd = open(pfd, srel(e), DIR, &e.source)?;
            let mut owner = |_| Ok::<_, std::io::Error>(root_owned(0o755));
            // A file mount point must exist already (else the attach fails).
            if !fs::lstat_beneath(sfd.as_fd(), inside).is_ok_and(|m| m.is_some()) {
                dir::mkdir_beneath(sfd.as_fd(), inside, &mut owner)?;
            }
            let clone = mount::clone_hidden(cx.root.dir(), rel(&e.path), rel(&h.path))?;
            let rfd = cx.h.root.as_fd();
            let dst = open(rfd, rel(&h.path), OFlags::PATH, &h.path)?;
            Ok(mount::attach(clone.as_fd(), dst.as_fd())?)
        })();
        let p = h.path.display();
        match r {
            Ok(()) => {
                info!(path = %p, "{p} ({}) was hidden under the bind of {}: mounted again on top of it", h.what, e.path.display())
            }
            Err(err) => {
                let msg = format!("{}; mounting it back failed: {err:#}", h.text());
                tracing::error!(path = %p, "{msg}");
                cx.warnings.push(msg);
                cx.errors += 1;
            }
        }
    }
}

pub(super) fn link(cx: &mut Cx, e: &Entry, seeded: bool) -> Result<()> {
    let (parent, name) = fs::split(rel(&e.path))?;
    ensure_dir(cx, e, parent, false, Side::Target)?;
    let rfd = cx.h.root.as_fd();
    let dfd = open(rfd, parent, DIR, &e.path)?;
    if let Ok(m) = stat_at(dfd.as_fd(), name) {
        // Already the right link (its persistent parent was just recreated).
        let to = fs::readlink_at(dfd.as_fd(), name);
        if m.file_type == FileType::Symlink
            && to.is_ok_and(|to| to == e.source.as_os_str().as_bytes())
        {
            return Ok(());
        }
        if m.file_type != FileType::RegularFile || (m.size != 0 && !seeded) {
            bail!("{} appeared while planning; left alone", e.path.display());
        }
    }
    fs::symlink_replace_at(dfd.as_fd(), name, &e.source)
        .with_context(|| format!("cannot link {} to {}", e.path.display(), e.source.display()))
}

/// Detach the mount on `path` and drop its utab line. `gone`: the error
/// when nothing is mounted there any more; `failed`: when the detach fails.
pub(super) fn detach_at(cx: &mut Cx, path: &Path, gone: String, failed: String) -> Result<()> {
    let tfd = open(cx.h.root.as_fd(), rel(path), OFlags::PATH, path)?;
    if !mount::is_mount_root(tfd.as_fd())? {
        bail!(gone);
    }
    mount::detach(tfd.as_fd()).context(failed)?;
    cx.utab_drop.push(path.to_path_buf());
    Ok(())
}
