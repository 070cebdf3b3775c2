//! Seeding an empty directory that cannot be renamed over: a mount point
//! (a dataset or bind of its own at `/persistent/var/lib/x`; `rename(2)`
//! onto it fails with `EBUSY`). The copy is built inside it under
//! [`BUILDING`], renamed to [`FILLING`] once complete and fsynced, then
//! its entries are moved up one by one and the directory gets the copy's
//! owner, mode and xattrs. Removing [`FILLING`] changes the directory's
//! mtime, so the copy's times go first to a file beside the directory
//! (`.<name>.impermctl-times`, in its parent, whose own times they are),
//! then [`FILLING`] goes, the directory gets the times, and that file
//! goes last. Killed while building, the directory holds only the partial
//! copy (the live data is untouched; the next seed removes it and starts
//! over); killed after, [`finish`] completes the job from [`FILLING`] or
//! the times file, whichever is there: every kill point leaves a state
//! the next run completes (test `persist::persist_killed_before_each_*`).
//! A pending entry's seed in such a directory is saved again the same way
//! ([`refill_at`]): its old entries move aside into [`OLD`] only once the
//! new copy is complete ([`READY`]), and go just before [`FILLING`] does
//! (tests `boot::unsaved::*_fill_under_a_writer_*`).

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use rustix::fs::RenameFlags;

use super::{CopyStats, End, Pair, remove_tree_at, tree};
use crate::sys::fs::At;
use crate::sys::meta::{Meta, stat_at, stat_fd};
use crate::sys::{dir, fs};

/// The partial copy inside the directory being filled.
pub const BUILDING: &str = ".impermctl-tmp";
/// The complete copy inside the directory being filled, its entries
/// being moved up.
pub const FILLING: &str = ".impermctl-fill";
/// In a directory being refilled ([`refill_at`]): the complete new copy,
/// before the old entries move aside.
pub const READY: &str = ".impermctl-ready";
/// In a directory being refilled: its old entries, removed once the new
/// copy is in place.
pub const OLD: &str = ".impermctl-old";
/// In [`FILLING`]: an empty file with the copy's times (the moves change
/// the directory's). Beside the directory, as `.<name>` + this: the same,
/// while [`FILLING`] is removed and until the directory has the times.
const TIMES: &str = ".impermctl-times";

/// The times file beside the directory `name` (see the module).
fn times_beside(name: &OsStr) -> std::ffi::OsString {
    super::sibling_name(name, TIMES)
}

/// Fill the empty directory `to` with a copy of the directory `from`
/// (see the module). Fails, changing nothing in `to` but [`BUILDING`],
/// when `to` holds anything else.
pub fn fill_at(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let shown = to.shown.display();
    let t = dir::open(to.dir, to.name).with_context(|| format!("cannot open {shown}"))?;
    fs::lock(t.as_fd()).with_context(|| format!("cannot lock {shown}"))?;
    remove_tree_at(t.as_fd(), OsStr::new(BUILDING))?;
    if !dir::names(t.as_fd())?.is_empty() {
        bail!("{shown} is not empty (it gained entries meanwhile and is left as it is)");
    }
    remove_tree_at(to.dir, &times_beside(to.name))?;
    let stats = build(from, to, t.as_fd(), progress)?;
    rename_synced(t.as_fd(), BUILDING, FILLING)?;
    move_up(to, t.as_fd())?;
    Ok(stats)
}

/// [`fill_at`] into a directory `to` that already holds entries: the
/// sources of entries declared inside it (bound live from there) and their
/// parents (see `apply::facts::only_nested`). The copy of `from` is built
/// and moved up as a fill's, merged into what is there: a directory on
/// both sides is merged in turn and takes the copy's metadata; of a file
/// on both sides the newer stays (a copy file's live version; a bound
/// file's persistent one, never the empty mount point the copy holds for
/// it); of a link on both sides the copy's (an earlier merge left the
/// other); any other clash fails the move, changing nothing already there.
/// Killed at any point, the next [`merge_at`] or [`finish`] completes or
/// redoes it (a merged directory's times then are those after the kill).
pub fn merge_at(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let (t, stats) = build_beside(from, to, progress)?;
    rename_synced(t.as_fd(), BUILDING, FILLING)?;
    move_up(to, t.as_fd())?;
    Ok(stats)
}

/// Open and lock `to` (a directory with entries), complete what a killed
/// run left ([`finish`]), then [`build`] a copy of `from` in it; `to`
/// held open and locked.
fn build_beside(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<(OwnedFd, CopyStats)> {
    let shown = to.shown.display();
    let t = dir::open(to.dir, to.name).with_context(|| format!("cannot open {shown}"))?;
    fs::lock(t.as_fd()).with_context(|| format!("cannot lock {shown}"))?;
    finish_locked(to, t.as_fd())?;
    remove_tree_at(t.as_fd(), OsStr::new(BUILDING))?;
    remove_tree_at(to.dir, &times_beside(to.name))?;
    let stats = build(from, to, t.as_fd(), progress)?;
    Ok((t, stats))
}

/// Move every entry of `f` up into `t` (shown as `shown`), merging
/// directories present on both sides and leaving a file that is there
/// already as the copy has it (see [`merge_at`]); `top`: `f` is
/// [`FILLING`] (its [`TIMES`] stays). Each move can be redone after a kill.
fn merge_up(f: BorrowedFd<'_>, t: BorrowedFd<'_>, shown: &Path, top: bool) -> anyhow::Result<()> {
    for n in dir::names(f)? {
        let n = n.as_os_str();
        if top && n == TIMES {
            continue;
        }
        let err = match rustix::fs::renameat_with(f, n, t, n, RenameFlags::NOREPLACE) {
            Ok(()) => continue,
            Err(e) => e,
        };
        let clash = || {
            format!(
                "cannot move {} up into {} (remove what is at {} and run again)",
                shown.join(FILLING).join(n).display(),
                shown.display(),
                shown.join(n).display()
            )
        };
        if err != rustix::io::Errno::EXIST {
            return Err(err).with_context(clash);
        }
        let (a, b) = (stat_at(f, n)?, stat_at(t, n)?);
        let dirs = a.file_type == rustix::fs::FileType::Directory && b.file_type == a.file_type;
        // Two versions of a file: the copy's (the live file) is newer only
        // for a copy file's saved copy (a bound file's live view is the
        // persistent file itself, copied before: never newer).
        let files = a.file_type == rustix::fs::FileType::RegularFile && b.file_type == a.file_type;
        // A link (or special file) there came from an earlier merge (a
        // nested entry's source is a directory or a regular file): the
        // copy's is the newer.
        let other = !dirs && !files && b.file_type == a.file_type;
        if (files && a.mtime > b.mtime) || other {
            rustix::fs::renameat_with(f, n, t, n, RenameFlags::empty()).with_context(clash)?;
            continue;
        }
        if dirs {
            // Merged, then given the copy's (the live directory's) owner,
            // mode, xattrs and times, as it was before its entries moved.
            let (fa, tb) = (dir::open(f, n)?, dir::open(t, n)?);
            merge_up(fa.as_fd(), tb.as_fd(), &shown.join(n), false)?;
            let mut quiet = |_| {};
            let (from, to) = (shown.join(FILLING).join(n), shown.join(n));
            let mut copier = tree::Copier::new(&from, &to, &mut quiet);
            copier.set_meta(At::Fd(fa.as_fd()), At::Fd(tb.as_fd()), &a, Path::new(""))?;
            drop(fa);
            fs::unlink_at(f, n, true)?;
        } else if files {
            fs::unlink_at(f, n, false)?;
        } else {
            anyhow::bail!("{}: both differ", clash());
        }
    }
    Ok(())
}

/// Replace what the directory `to` holds (a mount point, which no rename
/// can replace: a pending entry's seed saved again) with a copy of the
/// directory `from`: the copy is built in [`BUILDING`] and fsynced, then
/// renamed [`READY`]; the old entries move into [`OLD`]; [`READY`]
/// becomes [`FILLING`] and is moved up as a fill's, [`OLD`] removed just
/// before [`FILLING`]. Killed before [`READY`], `to` holds its old
/// entries (and a partial copy [`finish`] removes); after, [`finish`]
/// completes it: `to` ends as the old tree or the new one, never a mix.
pub fn refill_at(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let (t, stats) = build_beside(from, to, progress)?;
    rename_synced(t.as_fd(), BUILDING, READY)?;
    aside(to, t.as_fd())?;
    Ok(stats)
}

/// Copy `from` into [`BUILDING`] in `t` (the directory `to`) with a
/// [`TIMES`] file holding the copy's times; fsynced.
fn build(
    from: End<'_>,
    to: End<'_>,
    t: BorrowedFd<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let mut copier = tree::Copier::new(from.shown, &to.shown.join(BUILDING), progress);
    if let Err(e) = copier.copy_top(Pair::top(from, t, OsStr::new(BUILDING))) {
        let _ = remove_tree_at(t, OsStr::new(BUILDING));
        let (f, shown) = (from.shown.display(), to.shown.display());
        return Err(e.context(format!("copying {f} into {shown}")));
    }
    // The moves change the copy's times: kept on a file of their own.
    let b = dir::open(t, BUILDING)?;
    let m = stat_fd(b.as_fd())?;
    fs::create_file_at(b.as_fd(), OsStr::new(TIMES), fs::Owner::root(0o600))?;
    fs::set_times(At::Name(b.as_fd(), OsStr::new(TIMES)), m.atime, m.mtime)?;
    fs::set_times(At::Fd(b.as_fd()), m.atime, m.mtime)?;
    fs::fsync(b.as_fd())?;
    fs::fsync(t)?;
    Ok(copier.finish())
}

fn rename_synced(t: BorrowedFd<'_>, from: &str, to: &str) -> anyhow::Result<()> {
    let (a, b) = (OsStr::new(from), OsStr::new(to));
    fs::rename(t, a, b, RenameFlags::NOREPLACE)?;
    Ok(fs::fsync(t)?)
}

/// A refill from [`READY`] on: every other entry of `t` into [`OLD`],
/// [`READY`] renamed [`FILLING`], moved up. Redone after a kill.
fn aside(to: End<'_>, t: BorrowedFd<'_>) -> anyhow::Result<()> {
    match fs::mkdir_at(t, OsStr::new(OLD), 0o700) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        r => r.with_context(|| format!("cannot make {}", to.shown.join(OLD).display()))?,
    }
    let old = dir::open(t, OLD)?;
    // A fresh fd: `t`'s own read position may be at its end already.
    for n in dir::names(dir::open(t, ".")?.as_fd())? {
        let n = n.as_os_str();
        if n == READY || n == OLD {
            continue;
        }
        rustix::fs::renameat_with(t, n, old.as_fd(), n, RenameFlags::NOREPLACE)
            .with_context(|| format!("cannot move {} aside", to.shown.join(n).display()))?;
    }
    fs::fsync(old.as_fd())?;
    fs::fsync(t)?;
    rename_synced(t, READY, FILLING)?;
    move_up(to, t)
}

/// Does the directory `rel` beneath `dir` hold nothing but a partial
/// fill ([`BUILDING`])? (It counts as empty: the next seed starts over.)
pub fn only_partial(dir: BorrowedFd<'_>, rel: &Path) -> bool {
    let names = dir::open(dir, rel).and_then(|d| dir::names(d.as_fd()));
    matches!(names.as_deref(), Ok([n]) if n == BUILDING)
}

/// Is a fill of the directory `rel` beneath `dir` to be completed by
/// [`finish`] ([`FILLING`] inside it or its times file beside it)?
pub fn unfinished(dir: BorrowedFd<'_>, rel: &Path) -> bool {
    let there = |p: &Path| fs::lstat_beneath(dir, p).is_ok_and(|m| m.is_some());
    let beside = rel.file_name().map(|n| rel.with_file_name(times_beside(n)));
    there(&rel.join(FILLING)) || there(&rel.join(READY)) || beside.is_some_and(|b| there(&b))
}

/// Complete a fill or a refill of the directory `name` in `dir` that a
/// killed run left with its copy complete ([`READY`] or [`FILLING`]
/// inside, or only the times file beside it), or remove the partial copy
/// of a refill (old entries beside it). Returns whether there was one.
pub fn finish(dir: BorrowedFd<'_>, name: &OsStr, shown: &Path) -> anyhow::Result<bool> {
    let t = match dir::open(dir, name) {
        Ok(t) => t,
        Err(_) => return Ok(false),
    };
    let there = |n: &str| stat_at(t.as_fd(), OsStr::new(n)).is_ok();
    if ![READY, FILLING, BUILDING].into_iter().any(there)
        && stat_at(dir, times_beside(name)).is_err()
    {
        return Ok(false);
    }
    fs::lock(t.as_fd()).with_context(|| format!("cannot lock {}", shown.display()))?;
    finish_locked(End::new(dir, name, shown), t.as_fd())
}

/// [`finish`] with `t` (the directory `to`) open and locked.
fn finish_locked(to: End<'_>, t: BorrowedFd<'_>) -> anyhow::Result<bool> {
    let there = |n: &str| stat_at(t, OsStr::new(n)).is_ok();
    if there(READY) {
        aside(to, t)?;
    } else if there(FILLING) {
        move_up(to, t)?;
    } else if let Ok(times) = stat_at(to.dir, times_beside(to.name)) {
        settle(to, t, &times)?;
    } else if there(BUILDING) && dir::names(dir::open(t, ".")?.as_fd())?.len() > 1 {
        // A refill's partial copy beside the old entries.
        remove_tree_at(t, OsStr::new(BUILDING))?;
        fs::fsync(t)?;
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Move every entry of `t/FILLING` up into `t` (the directory `to`; never
/// over an existing name), give `t` the copy's metadata, remove
/// `FILLING`, fsync. Each step can be redone after a kill (see the module).
fn move_up(to: End<'_>, t: BorrowedFd<'_>) -> anyhow::Result<()> {
    let shown = to.shown;
    let f: OwnedFd = dir::open(t, FILLING)?;
    let m = stat_fd(f.as_fd())?;
    let beside = times_beside(to.name);
    // TIMES, while there; once gone, the file beside `t` is complete.
    let inside = stat_at(f.as_fd(), TIMES).ok();
    let times = match inside {
        Some(m) => m,
        None => stat_at(to.dir, &beside).unwrap_or(m),
    };
    merge_up(f.as_fd(), t, shown, true)?;
    fs::fsync(f.as_fd())?;
    fs::fsync(t)?;
    let mut quiet = |_| {};
    let mut copier = tree::Copier::new(&shown.join(FILLING), shown, &mut quiet);
    copier.set_meta(At::Fd(f.as_fd()), At::Fd(t), &m, Path::new(""))?;
    if inside.is_some() {
        // Made anew (a kill may have left one without the times yet),
        // complete and fsynced before TIMES goes.
        remove_tree_at(to.dir, &beside)?;
        let b = fs::create_at(to.dir, &beside)?;
        fs::set_owner(b.as_fd(), fs::Owner::root(0o600))?;
        fs::set_times(At::Fd(b.as_fd()), times.atime, times.mtime)?;
        fs::fsync(b.as_fd())?;
        fs::fsync(to.dir)?;
        fs::unlink_at(f.as_fd(), OsStr::new(TIMES), false)?;
    }
    drop(f);
    // A refill's old entries go before the directory gets its times.
    remove_tree_at(t, OsStr::new(OLD))?;
    fs::unlink_at(t, OsStr::new(FILLING), true)?;
    settle(to, t, &times)
}

/// The last step of a fill: give `t` (the directory `to`) the copy's
/// `times`, fsync it, remove the times file beside it.
fn settle(to: End<'_>, t: BorrowedFd<'_>, times: &Meta) -> anyhow::Result<()> {
    fs::set_times(At::Fd(t), times.atime, times.mtime)?;
    fs::fsync(t)?;
    remove_tree_at(to.dir, &times_beside(to.name))?;
    fs::fsync(to.dir)?;
    Ok(())
}
