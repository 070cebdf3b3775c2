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
    let separated = crate::copy::measure(&from)
        .map(|u| crate::copy::separated(cx.root, &e.path, &u))
        .unwrap_or_default();
    let now = crate::state::now_coarse_ns();
    cx.seeded.push((e.path.clone(), now));
    // A directory's source may be an empty directory (see `plan`): replaced
    // by the copy only while it stays empty.
    let stats = match e.kind {
        Kind::Directory => crate::copy::copy_tree_over_empty_at(src, dst, &mut |_| {}),
        Kind::File => crate::copy::copy_tree_at(src, dst, &mut |_| {}),
    }
    .with_context(|| {
        format!("cannot seed {s} from {p} (nothing was mounted; the data is still at {p})")
    })?;
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
    let same = {
        let (a, b) = (stat_fd(sfd.as_fd())?, stat_fd(tfd.as_fd())?);
        (a.dev, a.ino) == (b.dev, b.ino)
    };
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
    mount::bind(sfd.as_fd(), tfd.as_fd(), cx.mount_api)
        .with_context(|| format!("cannot bind {s} onto {p}"))?;
    if !options.is_empty() {
        let line = (e.path.clone(), e.source.clone(), options.join(","));
        cx.utab_add.push(line);
    }
    Ok(())
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
