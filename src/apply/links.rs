//! Symlinks as data (see `plan::links`): store the link found at a target as
//! its persistent source, and recreate a stored link at a missing target.
//! Both keep the link's text and owner, work beneath held directory fds,
//! follow nothing, and are atomic: a temporary link is created, given its
//! owner, then renamed into place (killed midway, the old state is intact
//! and a stale temporary is replaced by the next run).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use rustix::fs::{FileType, RenameFlags};
use tracing::info;

use super::Cx;
use super::dirs::{Side, ensure_dir};
use super::ops::{DIR, open, parent_of, source_parent, srel};
use crate::config::Entry;
use crate::root::rel;
use crate::sys::fs;
use crate::sys::meta::stat_at;

/// The text and owner of the symlink `name` in `dir`.
fn read_link(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
) -> anyhow::Result<(PathBuf, u32, u32)> {
    let m = stat_at(dir, name).with_context(|| format!("cannot look at {}", shown.display()))?;
    if m.file_type != FileType::Symlink {
        bail!("{} is no longer a symlink; left alone", shown.display());
    }
    let text = fs::readlink_at(dir, name)
        .with_context(|| format!("cannot read the link {}", shown.display()))?;
    Ok((PathBuf::from(OsStr::from_bytes(&text)), m.uid, m.gid))
}

/// Create the link `name` → `text` owned by `uid:gid` in `dir`, atomically;
/// `flags`: empty to replace an existing name, `NOREPLACE` to fail on one.
fn place_link(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    text: &Path,
    (uid, gid): (u32, u32),
    flags: RenameFlags,
) -> std::io::Result<()> {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".impermctl-link-{}", std::process::id()));
    let _ = fs::unlink_at(dir, &tmp, false);
    rustix::fs::symlinkat(text, dir, &tmp)?;
    let placed = fs::chown(fs::At::Name(dir, &tmp), uid, gid)
        .and_then(|()| fs::rename(dir, &tmp, name, flags));
    if placed.is_err() {
        let _ = fs::unlink_at(dir, &tmp, false);
    }
    placed
}

/// Store the symlink at the target as the entry's source (replacing a
/// stored link; never a file or directory: the plan refused those).
pub(super) fn store_link(cx: &mut Cx, e: &Entry) -> anyhow::Result<()> {
    let rfd = cx.h.root.as_fd();
    let (tparent, tname) = fs::split(rel(&e.path))?;
    let tdir = open(rfd, tparent, DIR, &e.path)?;
    let (text, uid, gid) = read_link(tdir.as_fd(), tname, &e.path)?;
    let sparent = parent_of(srel(e));
    ensure_dir(cx, e, sparent, false, Side::Source)?;
    let (sdir, name) = source_parent(cx, e)?;
    if let Ok(m) = stat_at(sdir.as_fd(), name)
        && m.file_type != FileType::Symlink
    {
        bail!("{} appeared while planning; left alone", e.source.display());
    }
    let (p, s) = (e.path.display(), e.source.display());
    place_link(sdir.as_fd(), name, &text, (uid, gid), RenameFlags::empty())
        .with_context(|| format!("cannot store the symlink {p} as {s}"))?;
    rustix::fs::fsync(&sdir).with_context(|| format!("cannot sync {s}"))?;
    info!(path = %p, source = %s, "stored the symlink (to {}) in persistence", text.display());
    Ok(())
}

/// Recreate at the missing target the symlink stored as the source.
pub(super) fn restore_link(cx: &mut Cx, e: &Entry) -> anyhow::Result<()> {
    let (sdir, name) = source_parent(cx, e)?;
    let (text, uid, gid) = read_link(sdir.as_fd(), name, &e.source)?;
    let (tparent, tname) = fs::split(rel(&e.path))?;
    ensure_dir(cx, e, tparent, false, Side::Target)?;
    let tdir = open(cx.h.root.as_fd(), tparent, DIR, &e.path)?;
    let (p, to) = (e.path.display(), text.display());
    let placed = place_link(
        tdir.as_fd(),
        tname,
        &text,
        (uid, gid),
        RenameFlags::NOREPLACE,
    );
    placed.map_err(|err| match err.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow!("{p} appeared while planning; left alone"),
        _ => anyhow!("cannot recreate the symlink {p} (to {to}): {err}"),
    })
}
